"""Speakers for a live call's finals as they come (pure numpy/scipy).

At each final, every window of the call so far is clustered again (:func:`.cluster.cluster`,
as a recording's are) and the clusters are mapped onto the speakers already delivered: the
one-to-one assignment (Hungarian) that keeps the most earlier windows on the speaker they
were delivered with. A cluster no earlier window maps to is a new speaker, numbered next
(so speaker 0 speaks first, as in a recording). The final's words take the speaker most
of their windows got. A final is labelled once and never corrected: what was delivered
stays, and what the re-clustering learns later only labels later finals.
(bench/diarization.py ``re-clustered``: within 0.6 points of the offline DER on every mix;
a variant without look-back, each window to the nearest centre so far, scored 10.7-33.9 %.)

The state a call keeps (:class:`History`) is its windows' embeddings and the speaker each
was delivered with. It is capped at :data:`MAX_WINDOWS` (800 s of speech at the 0.4 s
hop, 2 MB): past the cap every other window is dropped (:func:`capped`), so the history
thins evenly over the whole call and a speaker heard only early keeps windows; the
clustering's cost stays that of :data:`MAX_WINDOWS` windows (<= 0.28 s CPU, bench).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import cluster

MAX_WINDOWS = cluster.MAX_LINKED


@dataclass(frozen=True, slots=True)
class History:
    """A call's windows so far: unit embeddings [n, d] and the speaker each was delivered with [n]."""

    embeddings: np.ndarray
    delivered: np.ndarray
    speakers: int  # speakers delivered so far (0 .. speakers-1)

    @classmethod
    def empty(cls) -> History:
        return cls(np.zeros((0, 0), np.float32), np.zeros(0, int), 0)


@dataclass(frozen=True, slots=True)
class Labelled:
    """A final's speakers: one per word (and each one's confidence), and the call's history after it."""

    speakers: list[int]
    confidences: list[float]
    history: History


def assign(found: np.ndarray, delivered: np.ndarray, speakers: int) -> tuple[np.ndarray, int]:
    """Speakers for every window of ``found`` (cluster per window, the earlier ones first, then the new
    final's), the earlier ``delivered`` ones mapped onto the speakers they were delivered with; and how
    many speakers there are now."""
    from scipy.optimize import linear_sum_assignment  # the diarize extra's, as cluster's scipy

    mapping: dict[int, int] = {}
    if len(delivered):
        shared = np.zeros((int(found.max()) + 1, speakers))
        np.add.at(shared, (found[:len(delivered)], delivered), 1)
        rows, cols = linear_sum_assignment(-shared)
        mapping = {int(r): int(c) for r, c in zip(rows, cols) if shared[r, c] > 0}
    said = found[len(delivered):]
    for k in said[np.sort(np.unique(said, return_index=True)[1])]:
        if int(k) not in mapping:  # new speakers numbered in the order the final says them
            mapping[int(k)] = speakers
            speakers += 1
    return np.array([mapping.get(int(k), -1) for k in found], int), speakers


def word_speakers(spans: list[tuple[int, int]], labels: np.ndarray,
                  words: list[tuple[int, int]]) -> tuple[list[int], list[float]]:
    """Each word's speaker: the one most of the windows over it carry, weighted by their overlap with
    it, and the share of that weight it has (1.0 inside a turn, lower where windows disagree). A word
    no window overlaps takes the nearest window's speaker, at confidence 0.5. Spans and words in the
    same unit (samples)."""
    if not spans:
        return [], []
    starts = np.array([a for a, _ in spans])
    ends = np.array([b for _, b in spans])
    speakers: list[int] = []
    confidences: list[float] = []
    for start, end in words:
        overlap = np.clip(np.minimum(ends, end) - np.maximum(starts, start), 0, None).astype(float)
        if overlap.sum() <= 0:
            nearest = int(np.argmin(np.abs((starts + ends) / 2 - (start + end) / 2)))
            speakers.append(int(labels[nearest]))
            confidences.append(0.5)
            continue
        votes = np.bincount(labels, weights=overlap)
        speakers.append(int(votes.argmax()))
        confidences.append(round(float(votes.max() / votes.sum()), 3))
    return speakers, confidences


def label(history: History, embeddings: np.ndarray, spans: list[tuple[int, int]],
          words: list[tuple[int, int]], *, max_windows: int = MAX_WINDOWS) -> Labelled:
    """A final's words labelled: ``embeddings`` [m, d] of its windows ``spans``, ``words`` their spans
    (samples of the final's audio, as ``spans``). The history gains the final's windows (then capped)."""
    if not len(embeddings):
        return Labelled([], [], history)
    everything = embeddings if not len(history.delivered) else np.concatenate([history.embeddings, embeddings])
    found = cluster.cluster(everything)
    labels, speakers = assign(found, history.delivered, history.speakers)
    new = labels[len(history.delivered):]
    said, confidences = word_speakers(spans, new, words)
    after = History(everything.astype(np.float32), np.concatenate([history.delivered, new]), speakers)
    return Labelled(said, confidences, capped(after, max_windows=max_windows))


def capped(history: History, *, max_windows: int = MAX_WINDOWS) -> History:
    """``history`` with every other window dropped until it holds at most ``max_windows``."""
    embeddings, delivered = history.embeddings, history.delivered
    while len(delivered) > max_windows:
        embeddings, delivered = embeddings[::2], delivered[::2]
    return History(embeddings, delivered, history.speakers)
