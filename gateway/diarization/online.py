"""Speakers for a live call's finals as they come (pure numpy/scipy).

At each final, every window of the call so far is clustered again (:func:`.cluster.cluster`,
as a recording's are) and the clusters are mapped onto the speakers already delivered: the
one-to-one assignment (Hungarian) that keeps the most earlier windows on the speaker they
were delivered with. A cluster no earlier window maps to is a new speaker, numbered next
(so speaker 0 speaks first, as in a recording). The final's 10 ms frames take the speaker most
of their windows got, snapped to the final's sound as a recording's are (:mod:`.sound`: the
pause at a speaker change is nobody's and the change moves into it), and each word takes the
speaker of the labelled frames it overlaps most (:func:`.words.word_speaker`). Why: the windows
(1.6 s) put a change anywhere in the pause, so the words beside it took the wrong speaker. A
final is labelled once and never corrected: what was delivered stays, and what the
re-clustering learns later only labels later finals. Why re-cluster at every final rather than
assign each window to the nearest speaker so far: without look-back the speakers drift and
multiply (bench/diarization.py scores both; BENCHMARKS.md, "Diarization").

The state a call keeps (:class:`History`) is its windows' embeddings and the speaker each
was delivered with. It is capped at :data:`MAX_WINDOWS` (800 s of speech at the 0.4 s
hop, 2 MB): past the cap every other window is dropped (:func:`capped`), so the history
thins evenly over the whole call and a speaker heard only early keeps windows; the
clustering's cost stays that of :data:`MAX_WINDOWS` windows (<= 0.28 s CPU, bench).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import cluster, sound, words

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


def word_speakers(spans: list[tuple[int, int]], labels: np.ndarray, said: list[tuple[int, int]],
                  level: np.ndarray) -> tuple[list[int], list[float]]:
    """Each word's speaker and confidence: the windows' (``spans``, samples of the final's audio, with their
    speakers ``labels``) votes per 10 ms frame, snapped to ``level`` (:func:`.sound.levels` of that audio),
    and the speaker most of the word's labelled frames carry (:func:`.words.word_speaker`). ``said``: the
    words' (start, end) samples. The call's speaker numbers are kept (no renumbering by first speech)."""
    frames = cluster.frame_labels(spans, labels, [(0, len(level) * cluster.FRAME)], len(level) * cluster.FRAME,
                                  renumber=False)
    snapped = sound.snapped(frames, level, renumber=False)
    speakers: list[int] = []
    confidences: list[float] = []
    for start, end in said:
        found = words.word_speaker(snapped, start / cluster.RATE, end / cluster.RATE)
        speaker, confidence = found if found is not None else (int(labels[0]), 0.5)  # only with no frame at all
        speakers.append(speaker)
        confidences.append(round(confidence, 3))
    return speakers, confidences


def label(history: History, embeddings: np.ndarray, spans: list[tuple[int, int]],
          said: list[tuple[int, int]], level: np.ndarray, *, max_windows: int = MAX_WINDOWS) -> Labelled:
    """A final's words labelled: ``embeddings`` [m, d] of its windows ``spans``, ``said`` the words' spans
    (samples of the final's audio, as ``spans``), ``level`` the audio's :func:`.sound.levels`. The history
    gains the final's windows (then capped)."""
    if not len(embeddings):
        return Labelled([], [], history)
    everything = embeddings if not len(history.delivered) else np.concatenate([history.embeddings, embeddings])
    found = cluster.cluster(everything)
    labels, speakers = assign(found, history.delivered, history.speakers)
    new = labels[len(history.delivered):]
    speakers_said, confidences = word_speakers(spans, new, said, level)
    after = History(everything.astype(np.float32), np.concatenate([history.delivered, new]), speakers)
    return Labelled(speakers_said, confidences, capped(after, max_windows=max_windows))


def capped(history: History, *, max_windows: int = MAX_WINDOWS) -> History:
    """``history`` with every other window dropped until it holds at most ``max_windows``."""
    embeddings, delivered = history.embeddings, history.delivered
    while len(delivered) > max_windows:
        embeddings, delivered = embeddings[::2], delivered[::2]
    return History(embeddings, delivered, history.speakers)
