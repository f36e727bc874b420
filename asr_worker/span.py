"""The span a final reports: its audio less the silence at its ends.

An utterance's audio is wider than its speech: the VAD's pre-roll (0.3 s) before it, its trailing
padding (0.2 s) and the speech detector's own hangover after it, and, for the speech after an
early final, the silence of the pause that split it. A final's ``start``/``end`` say where its
words were said: clients align audio with them, Genesys' AudioHook suite checks them within
0.5 s, and a one-word reply ("Sure." said at 4.10-4.57 s) reported as 3.87-4.90 s is 0.33 s off.
So a final's span is narrowed to its speech by level: the frames within :data:`RELATIVE` of the
utterance's loud frames, with :data:`MARGIN` kept at each end for a soft onset or decay. Audio
with no such frame keeps its whole span. Pure: the same audio gives the same span on a replay.
"""

from __future__ import annotations

import numpy as np

from common.records import SAMPLE_RATE

FRAME = SAMPLE_RATE // 50  # 20 ms
# A frame is speech when its RMS is at least this fraction of the utterance's loud frames' (-30 dB:
# a fricative onset and a word's decay stay in, as a talk-time measure counts them; a quiet room's
# noise stays out; a louder line's hiss keeps the whole span) ...
RELATIVE = 0.03
# ... and over this floor (-50 dBFS): digital silence and dither never count.
FLOOR = 0.003 * 32768
LOUD_PERCENTILE = 95  # the utterance's loud frames: robust to one click
MARGIN = int(0.1 * SAMPLE_RATE)


def loud_frames(pcm: np.ndarray) -> np.ndarray:
    """Which 20 ms frames (:data:`FRAME`) of ``pcm`` (int16, or float samples on the int16 scale) are speech by
    level (bool, one per whole frame)."""
    count = len(pcm) // FRAME
    if count == 0:
        return np.zeros(0, bool)
    frames = pcm[:count * FRAME].astype(np.float32).reshape(count, FRAME)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    return rms >= max(FLOOR, RELATIVE * float(np.percentile(rms, LOUD_PERCENTILE)))


def speech_extent(pcm: np.ndarray) -> tuple[int, int] | None:
    """The first and last sample of ``pcm`` (int16, or float samples on the int16 scale) in a frame
    that is speech by level, without margins; None when no frame is."""
    loud = np.flatnonzero(loud_frames(pcm))
    if loud.size == 0:
        return None
    return int(loud[0]) * FRAME, (int(loud[-1]) + 1) * FRAME


def speech_bounds(pcm: np.ndarray) -> tuple[int, int]:
    """The first and last sample of ``pcm`` (int16) that are speech by level, :data:`MARGIN` kept
    around them; ``(0, len(pcm))`` when no frame is."""
    extent = speech_extent(pcm)
    if extent is None:
        return 0, len(pcm)
    return max(0, extent[0] - MARGIN), min(len(pcm), extent[1] + MARGIN)


def final_span(pcm: np.ndarray, start: int) -> tuple[int, int]:
    """The span (session samples) of a final whose audio ``pcm`` starts at sample ``start``: its
    speech by level (:func:`speech_bounds`). Its timed words, clamped into the span, say the rest."""
    first, last = speech_bounds(pcm)
    return start + first, start + last
