"""Speakers from embeddings: windows inside speech, clustering, a label per 10 ms frame (pure).

The steps, each a function with a unit test on synthetic embeddings:

1. :func:`windows`: windows of :data:`WINDOW_SEC` every :data:`HOP_SEC` inside each speech
   region (the speech the finals' words hold: :func:`.words.spoken`); a region shorter than a
   window is one window of its own length.
2. :func:`cluster`: average-linkage agglomerative clustering of the windows' unit embeddings
   on cosine distance (scipy), cut where the clusters are :data:`THRESHOLD` apart, so the
   number of speakers is estimated, at most ``max_speakers``. A cluster of fewer than
   :data:`MIN_WINDOWS` windows joins the nearest other (on the mixes of the bench, such
   strays were windows half in a pause, not speakers; a party who says less than ~3 s in
   the whole call is lost so). Beyond :data:`MAX_LINKED`
   windows an evenly spaced subset is clustered and every window goes to the nearest
   cluster centre (the linkage's memory grows with the square of the windows).
   Then each cluster may be split in two by turns (:func:`split_turns`): two voices closer than
   the cut (two male voices: 0.2 apart) are one cluster, but they take turns, so the cluster's
   two halves by linkage each hold long runs of consecutive windows. A split is kept when both
   halves have :data:`SPLIT_MIN_WINDOWS` windows, their centres are :data:`SPLIT_DISTANCE` apart,
   and :data:`SPLIT_COHERENCE` of the cluster's consecutive windows (in time) fall in one half:
   a voice split by chance (its windows scattered over both halves) is not.
3. :func:`frame_labels`: every 10 ms frame of a region takes the label most of its windows
   carry, with the share of them that carry it (the ``speaker_confidence``); frames
   outside the regions are -1.

Labels are renumbered in order of first speech, so speaker 0 is who speaks first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 16_000
FRAME = 160  # 10 ms at 16 kHz: the labels' resolution
WINDOW_SEC = 1.6  # the encoder's trained window
HOP_SEC = 0.4
THRESHOLD = 0.4  # cosine distance between clusters that separates speakers (bench/diarization.py: 0.3-0.4)
MIN_WINDOWS = 5  # a cluster of fewer windows (~3 s of speech) is a stray, joined to its nearest
MAX_SPEAKERS = 8
MAX_LINKED = 2000  # windows clustered directly (~16 MB of distances); the rest join the nearest centre
SPLIT_MIN_WINDOWS = 15  # each half of a cluster split by turns (~6 s of speech at the 0.4 s hop)
SPLIT_DISTANCE = 0.15  # cosine distance between the halves' centres (two male espeak-ng voices: 0.2)
SPLIT_COHERENCE = 0.8  # share of the cluster's consecutive windows in one half: turns of 5 windows (~3 s) or more; a chance split ~0.5


@dataclass(frozen=True, slots=True)
class Labels:
    """A speaker per 10 ms frame (-1: not speech) and how many of the frame's windows agree (0-1)."""

    speaker: np.ndarray  # int, [frames]
    confidence: np.ndarray  # float32, [frames]

    @property
    def speakers(self) -> int:
        return int(self.speaker.max()) + 1 if len(self.speaker) else 0


def windows(regions: list[tuple[int, int]], *, window: int = int(WINDOW_SEC * RATE),
            hop: int = int(HOP_SEC * RATE)) -> list[tuple[int, int]]:
    """(start, end) samples of the windows inside ``regions`` (sorted, non-overlapping sample spans)."""
    out: list[tuple[int, int]] = []
    for start, end in regions:
        if end - start <= window:
            if end > start:
                out.append((start, end))
            continue
        out += [(t, t + window) for t in range(start, end - window + 1, hop)]
        if out[-1][1] < end:  # the region's tail gets a window of its own
            out.append((end - window, end))
    return out


def cluster(embeddings: np.ndarray, *, threshold: float = THRESHOLD, max_speakers: int = MAX_SPEAKERS,
            max_linked: int = MAX_LINKED) -> np.ndarray:
    """A cluster index (0-based, arbitrary order) for each unit embedding [n, d]."""
    # scipy is the diarize extra's: imported where it is used, so the gateway imports without it.
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(embeddings)
    if n == 0:
        return np.zeros(0, int)
    if n == 1:
        return np.zeros(1, int)
    picked = np.linspace(0, n - 1, min(n, max_linked)).round().astype(int)
    tree = linkage(embeddings[picked].astype(np.float64), method="average", metric="cosine")
    found = fcluster(tree, threshold, "distance")
    if found.max() > max_speakers:
        found = fcluster(tree, max_speakers, "maxclust")
    found = found - 1
    counts = np.bincount(found)
    kept = np.flatnonzero(counts >= min(MIN_WINDOWS, counts.max()))
    if len(picked) == n and len(kept) == len(counts):
        return split_turns(embeddings, found, max_speakers=max_speakers, max_linked=max_linked)
    centres = _centres(embeddings[picked], found, kept)
    joined = kept[np.argmax(embeddings @ centres.T, axis=1)]
    return split_turns(embeddings, np.unique(joined, return_inverse=True)[1],
                       max_speakers=max_speakers, max_linked=max_linked)


def split_turns(embeddings: np.ndarray, found: np.ndarray, *, max_speakers: int = MAX_SPEAKERS,
                max_linked: int = MAX_LINKED) -> np.ndarray:
    """``found`` (a cluster per window, windows in time order) with each cluster that holds two speakers'
    turns split in two (see the module's docstring); once per cluster, at most ``max_speakers`` in all."""
    from scipy.cluster.hierarchy import fcluster, linkage

    out = found.copy()
    following = int(found.max()) + 1 if len(found) else 0
    for k in range(following):
        members = np.flatnonzero(found == k)
        if len(members) < 2 * SPLIT_MIN_WINDOWS or following >= max_speakers:
            continue
        picked = members[np.linspace(0, len(members) - 1, min(len(members), max_linked)).round().astype(int)]
        tree = linkage(embeddings[picked].astype(np.float64), method="average", metric="cosine")
        # The tree's top split may peel off a few odd windows (a turn's edge) rather than a voice: the two
        # largest groups of the first cut into 2-6 that has two of SPLIT_MIN_WINDOWS seed the halves.
        for parts in range(2, 7):
            groups = fcluster(tree, parts, "maxclust") - 1
            largest = np.argsort(np.bincount(groups))[::-1][:2]
            if len(largest) == 2 and np.bincount(groups)[largest[1]] >= SPLIT_MIN_WINDOWS:
                break
        else:
            continue
        centres = _centres(embeddings[picked], groups, largest)
        for _ in range(3):  # each window to the nearer half, the centres moved (k-means steps)
            half = np.argmax(embeddings[members] @ centres.T, axis=1)
            if np.bincount(half, minlength=2).min() == 0:
                break
            centres = _centres(embeddings[members], half, np.arange(2))
        if (np.bincount(half, minlength=2).min() < SPLIT_MIN_WINDOWS
                or 1.0 - float(centres[0] @ centres[1]) < SPLIT_DISTANCE
                or np.mean(half[1:] == half[:-1]) < SPLIT_COHERENCE):
            continue
        out[members[half == 1]] = following
        following += 1
    return out


def _centres(embeddings: np.ndarray, found: np.ndarray, kept: np.ndarray) -> np.ndarray:
    centres = np.stack([embeddings[found == k].mean(axis=0) for k in kept])
    return centres / np.linalg.norm(centres, axis=1, keepdims=True).clip(1e-12)


def frame_labels(spans: list[tuple[int, int]], clusters: np.ndarray, regions: list[tuple[int, int]],
                 samples: int) -> Labels:
    """Each frame of ``regions`` takes the cluster most of its windows (``spans``) carry; renumbered by first speech."""
    frames = -(-samples // FRAME)
    speaker = -np.ones(frames, int)
    confidence = np.zeros(frames, np.float32)
    if not spans:
        return Labels(speaker, confidence)
    votes = np.zeros((frames, int(clusters.max()) + 1), np.float32)
    for (start, end), k in zip(spans, clusters):
        votes[start // FRAME:-(-end // FRAME), k] += 1
    for start, end in regions:
        a, b = start // FRAME, -(-end // FRAME)
        total = votes[a:b].sum(axis=1)
        speaker[a:b] = votes[a:b].argmax(axis=1)
        confidence[a:b] = np.where(total > 0, votes[a:b].max(axis=1) / np.maximum(total, 1), 0)
    return Labels(by_first_speech(speaker), confidence)


def by_first_speech(speaker: np.ndarray) -> np.ndarray:
    """Labels renumbered 0, 1, ... in the order they first occur (-1 kept)."""
    found, first = np.unique(speaker[speaker >= 0], return_index=True)
    mapping = -np.ones(int(speaker.max()) + 2, int)  # index -1 (the last) maps -1 to itself
    mapping[found[np.argsort(first)]] = np.arange(len(found))
    return mapping[speaker]
