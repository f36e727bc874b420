"""Diarization error rate, plainly: frames of 10 ms, overlapped speech scored, an optional collar.

DER = (missed + false alarm + confusion) / reference speech, all counted in speaker-frames:
a frame where two reference speakers talk counts twice in the denominator. The hypothesis
gives one speaker per frame (-1: none), so in overlap at most one speaker can be right and
the other is missed. Hypothesis speakers map one to one onto reference speakers by the
assignment that maximises their shared frames (Hungarian, scipy); an unmapped hypothesis
speaker's frames are confusion (or false alarm where nobody speaks). ``collar``: frames
within that many seconds of a reference turn's start or end are not scored (NIST's md-eval
uses 0.25 s: boundaries are not sharp, and a VAD's padding is not a speaker error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True, slots=True)
class Der:
    missed: float
    false_alarm: float
    confusion: float

    @property
    def total(self) -> float:
        return self.missed + self.false_alarm + self.confusion


def reference_frames(turns: list[tuple[int, float, float]], frames: int, *, rate: int = 100) -> np.ndarray:
    """A bool [frames, speakers] matrix from (speaker, start s, end s) turns."""
    out = np.zeros((frames, max(s for s, _, _ in turns) + 1), bool)
    for speaker, start, end in turns:
        out[round(start * rate):round(end * rate), speaker] = True
    return out


def der(reference: np.ndarray, hypothesis: np.ndarray, *, collar: float = 0.0, rate: int = 100) -> Der:
    """DER of ``hypothesis`` (int [frames], -1: no speech) against ``reference`` (bool [frames, speakers])."""
    frames = min(len(reference), len(hypothesis))
    reference, hypothesis = reference[:frames], hypothesis[:frames]
    if collar > 0:
        scored = _outside_collar(reference, round(collar * rate))
        reference, hypothesis = reference[scored], hypothesis[scored]
        frames = len(hypothesis)
    total = int(reference.sum())
    if total == 0:
        raise ValueError("the reference has no speech: DER is undefined")
    found = sorted(int(h) for h in set(hypothesis[hypothesis >= 0].tolist()))
    shared = np.array([[np.sum(reference[hypothesis == h, s]) for h in found] for s in range(reference.shape[1])])
    mapped: dict[int, int] = {}
    if found:
        rows, cols = linear_sum_assignment(-shared)
        mapped = {found[c]: r for r, c in zip(rows, cols)}
    speaking = reference.sum(axis=1)
    labelled = hypothesis >= 0
    right = np.array([labelled[i] and hypothesis[i] in mapped and bool(reference[i, mapped[hypothesis[i]]])
                      for i in range(frames)], bool)
    missed = int(speaking[~labelled].sum()) + int(np.maximum(speaking[labelled] - 1, 0).sum())
    false_alarm = int(np.sum(labelled & (speaking == 0)))
    confusion = int(np.sum(labelled & (speaking > 0) & ~right))
    return Der(missed / total, false_alarm / total, confusion / total)


def _outside_collar(reference: np.ndarray, width: int) -> np.ndarray:
    """Frames further than ``width`` frames from every change of any reference speaker's activity."""
    padded = np.vstack([np.zeros((1, reference.shape[1]), bool), reference, np.zeros((1, reference.shape[1]), bool)])
    changes = np.flatnonzero(np.any(padded[1:] != padded[:-1], axis=1))  # frame index where a turn starts or ends
    scored = np.ones(len(reference), bool)
    for change in changes:
        scored[max(0, change - width):change + width] = False
    return scored
