"""Speaker labels snapped to the sound: the silence at a speaker change and at a turn's edges is nobody's (pure).

Why: the windows' votes label every frame of a final's speech, the pause between two speakers'
turns included, and put the change somewhere in it (a window is 1.6 s), and whisper's word
bounds run into the pauses. So, on each 10 ms frame's level (:func:`levels`), a frame far below
its run's loud level, or near the recording's noise floor, is silent; at each speaker change the
longest silent pause nearby becomes nobody's and the change moves into it; and each labelled run
loses its silent edges and grows into sound just outside it. A pause inside one speaker's turn
stays speech (DER's convention), and a run barely above the noise stays as the windows voted.
Noise that is not steady (music, babble) is not measured (BENCHMARKS.md, "Diarization").
"""

from __future__ import annotations

import numpy as np

from .cluster import FRAME, Labels, by_first_speech

SILENCE_DB = 35.0  # below a run's loud level: silence (the bench's truth bounds a turn's speech 35 dB below its loudest)
LOUD_PERCENTILE = 99  # a run's loud level: a percentile of its frames' levels, not their max (a click)
MIN_PAUSE = 20  # frames (0.2 s): the shortest pause a speaker change is moved into
REACH = 100  # frames (1 s) either side of the windows' change searched for the pause (a window is 1.6 s)
FLOOR_PERCENTILE = 5  # the recording's noise floor: a percentile of all its frames' levels (its pauses)
NOISE_MARGIN_DB = 6.0  # silence is at least this far above the floor wherever the floor is within SILENCE_DB of speech
MIN_SNR_DB = 15.0  # the least a run's loud level must be above the silence level for the run to be snapped
GROW = 30  # frames (0.3 s): how far a run's edge may grow into the sound next to it


def levels(mono: np.ndarray) -> np.ndarray:
    """The level of each 10 ms frame of ``mono`` (float, 16 kHz), in dB (full scale: 0)."""
    whole = len(mono) // FRAME
    tail = np.zeros(FRAME, np.float32)
    tail[:len(mono) - whole * FRAME] = mono[whole * FRAME:]
    frames = np.asarray(mono[:whole * FRAME], np.float32).reshape(whole, FRAME)
    power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / FRAME  # no squared copy of the audio
    if len(mono) > whole * FRAME:  # a last, partial frame: padded with silence
        power = np.append(power, float(tail @ tail) / FRAME)
    return 10 * np.log10(power + 1e-12)


def snapped(labels: Labels, level: np.ndarray, *, renumber: bool = True) -> Labels:
    """``labels`` with pauses at speaker changes and silent edges unlabelled (see the module's docstring);
    ``level``: :func:`levels` of the same audio (one value per frame). Renumbered by first speech unless
    ``renumber`` is False (a live final's labels are the call's speakers: :func:`.online.label`)."""
    speaker = labels.speaker.copy()
    confidence = labels.confidence.copy()
    floor = float(np.percentile(level, FLOOR_PERCENTILE)) + NOISE_MARGIN_DB if len(level) else 0.0
    for start, end in _runs(speaker >= 0):
        threshold = _silence(level[start:end], floor)
        if threshold is not None:
            _into_pauses(speaker, level, threshold, start, end)
    for start, end in _runs(speaker >= 0):
        threshold = _silence(level[start:end], floor)
        if threshold is not None:
            _to_edges(speaker, confidence, level, threshold, start, end)
    confidence[speaker < 0] = 0
    return Labels(by_first_speech(speaker) if renumber else speaker, confidence)


def _silence(level: np.ndarray, floor: float) -> float | None:
    """The level under which a frame is silent, for a run whose frames' levels are ``level``: SILENCE_DB
    under its loud level, and above the recording's ``floor``; None where that leaves less than
    MIN_SNR_DB under its loud level (its speech is not far enough above the floor to tell its pauses)."""
    loud = float(np.percentile(level, LOUD_PERCENTILE))
    threshold = max(loud - SILENCE_DB, floor)
    return threshold if threshold <= loud - MIN_SNR_DB else None


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in ``mask``."""
    steps = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(steps == 1).tolist(), np.flatnonzero(steps == -1).tolist()))


def _into_pauses(speaker: np.ndarray, level: np.ndarray, threshold: float, start: int, end: int) -> None:
    """Each speaker change in ``speaker[start:end]`` (one labelled run) moved into its nearby pause, in place."""
    silent = level[start:end] < threshold  # indexed from start
    changes = (np.flatnonzero(speaker[start + 1:end] != speaker[start:end - 1]) + start + 1).tolist()
    bounds = [start, *changes, end]  # the run's turns by the windows' votes: [bounds[i], bounds[i + 1])
    for i in range(1, len(bounds) - 1):
        before, change, after = bounds[i - 1], bounds[i], bounds[i + 1]
        if before >= change or change >= after:  # a turn the previous pause took whole
            continue
        earlier, later = int(speaker[change - 1]), int(speaker[change])
        lo, hi = max(before, change - REACH), min(after, change + REACH)
        pauses = [(lo + a, lo + b) for a, b in _runs(silent[lo - start:hi - start]) if b - a >= MIN_PAUSE]
        if not pauses:
            continue
        a, b = max(pauses, key=lambda p: (p[1] - p[0], -abs((p[0] + p[1]) / 2 - change)))  # longest, then nearest
        speaker[min(a, change):a] = earlier
        speaker[b:max(b, change)] = later
        speaker[a:b] = -1
        bounds[i] = b  # the later turn now starts after the pause


def _to_edges(speaker: np.ndarray, confidence: np.ndarray, level: np.ndarray, threshold: float,
              start: int, end: int) -> None:
    """The labelled run ``[start, end)`` without its silent edges and grown into the sound beside it, in place."""
    sound = np.flatnonzero(level[start:end] >= threshold)
    if not len(sound):
        return
    first, last = start + int(sound[0]), start + int(sound[-1]) + 1
    speaker[start:first] = -1
    speaker[last:end] = -1
    grown = first
    while grown > 0 and first - grown < GROW and speaker[grown - 1] < 0 and level[grown - 1] >= threshold:
        grown -= 1
    if first - grown < GROW:  # silence (or another run, or the audio's start) within reach
        speaker[grown:first], confidence[grown:first] = speaker[first], confidence[first]
    grown = last
    while grown < len(speaker) and grown - last < GROW and speaker[grown] < 0 and level[grown] >= threshold:
        grown += 1
    if grown - last < GROW:
        speaker[last:grown], confidence[last:grown] = speaker[last - 1], confidence[last - 1]
