"""A final's span narrowed to its speech by level (asr_worker/span.py)."""

import numpy as np

from asr_worker.span import FRAME, MARGIN, speech_bounds

SR = 16_000


def tone(seconds: float, level: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (level * 32767 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def test_the_silence_around_speech_is_left_out_with_a_margin():
    rng = np.random.default_rng(0)
    hiss = lambda s: (rng.normal(0, 0.002 * 32767, int(s * SR))).astype(np.int16)  # noqa: E731
    pcm = np.concatenate([hiss(0.5), tone(0.4, 0.3), hiss(0.3)])
    first, last = speech_bounds(pcm)
    assert abs(first - (int(0.5 * SR) - MARGIN)) <= FRAME
    assert abs(last - (int(0.9 * SR) + MARGIN)) <= FRAME


def test_a_soft_onset_within_thirty_db_of_the_loud_part_stays_in():
    pcm = np.concatenate([np.zeros(SR // 2, np.int16), tone(0.1, 0.012), tone(0.4, 0.3), np.zeros(SR // 4, np.int16)])
    first, _ = speech_bounds(pcm)
    assert first <= SR // 2 - MARGIN + FRAME


def test_audio_with_nothing_over_the_floor_keeps_its_span():
    assert speech_bounds(np.zeros(SR, np.int16)) == (0, SR)
    assert speech_bounds(np.full(SR, 20, np.int16)) == (0, SR)
    assert speech_bounds(np.zeros(10, np.int16)) == (0, 10)


def test_level_alone_decides_so_a_replay_gets_the_same_span():
    pcm = np.concatenate([np.zeros(SR // 3, np.int16), tone(0.5, 0.2), np.zeros(SR // 3, np.int16)])
    assert speech_bounds(pcm) == speech_bounds(pcm.copy())
