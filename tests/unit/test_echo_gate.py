"""The echo gate (gateway/core/echo.py): a channel's echo of the other party is silenced, the party's
own speech is not, and per-track audio is gated as interleaved audio is."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.core.audio import CallAudio
from gateway.core.echo import MAX_LEAD, EchoGate

RATE = 8000


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def tone(hz: float, seconds: float, level: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def call(echo: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """Party A speaks 1 s, a 0.3 s pause, party B speaks 1 s; each channel holds the other at ``echo``."""
    a = np.concatenate([tone(220, 1.0, 0.3), np.zeros(int(1.3 * RATE), np.float32)])
    b = np.concatenate([np.zeros(int(1.3 * RATE), np.float32), tone(330, 1.0, 0.2)])
    return a + echo * b, b + echo * a


def by_tracks(gate: EchoGate, channels: tuple[np.ndarray, ...], frame: int = 160) -> list[np.ndarray]:
    """Twilio's way: each track's 20 ms frames on their own, alternating."""
    out: list[list[np.ndarray]] = [[] for _ in channels]
    for start in range(0, len(channels[0]), frame):
        for c, samples in enumerate(channels):
            for k, released in enumerate(gate.push(c, samples[start:start + frame])):
                out[k].append(released)
    for k, released in enumerate(gate.flush()):
        out[k].append(released)
    return [np.concatenate(pieces) for pieces in out]


def test_the_echo_is_silenced_and_each_party_kept() -> None:
    ch0, ch1 = call()
    gate = EchoGate(channels=2, rate=RATE, margin_db=20)
    out0, out1 = by_tracks(gate, (ch0, ch1))
    assert len(out0) == len(ch0) and len(out1) == len(ch1)  # nothing lost, nothing added
    a_talks, b_talks = slice(0, RATE), slice(int(1.3 * RATE), int(2.3 * RATE))
    assert rms(out1[a_talks]) < 0.1 * rms(ch1[a_talks])  # A's echo on B's channel (its first block ramps down)
    assert rms(out0[b_talks]) < 0.1 * rms(ch0[b_talks])  # B's echo on A's channel
    assert rms(out0[a_talks]) == pytest.approx(rms(ch0[a_talks]), rel=0.02)
    assert rms(out1[b_talks]) == pytest.approx(rms(ch1[b_talks]), rel=0.02)
    assert gate.gated_samples >= 1.9 * RATE


def test_interleaved_frames_are_gated_as_tracks_are() -> None:
    ch0, ch1 = call()
    tracks = by_tracks(EchoGate(channels=2, rate=RATE, margin_db=20), (ch0, ch1))
    gate = EchoGate(channels=2, rate=RATE, margin_db=20)
    frames = np.stack([ch0, ch1], axis=1)
    pieces = [gate.push_frames(frames[i:i + 800]) for i in range(0, len(frames), 800)] + [gate.flush()]
    interleaved = [np.concatenate([p[c] for p in pieces]) for c in range(2)]
    for a, b in zip(tracks, interleaved):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_both_talking_at_once_both_pass() -> None:
    a, b = tone(220, 1.0, 0.3), tone(330, 1.0, 0.1)  # B 9.5 dB under A: double talk, no echo
    out0, out1 = by_tracks(EchoGate(channels=2, rate=RATE, margin_db=20), (a + 0.03 * b, b + 0.03 * a))
    assert rms(out1) == pytest.approx(rms(b + 0.03 * a), rel=0.02) and gate_free(out0, a + 0.03 * b)


def gate_free(out: np.ndarray, source: np.ndarray) -> bool:
    return bool(np.allclose(out, source, atol=1e-6))


def test_a_quiet_line_gates_nothing() -> None:
    hiss = tone(3000, 1.0, 10 ** (-50 / 20))  # under the floor: no speech, so no source of echo
    soft = tone(220, 1.0, 10 ** (-75 / 20))
    out0, out1 = by_tracks(EchoGate(channels=2, rate=RATE, margin_db=20), (hiss, soft))
    assert gate_free(out0, hiss) and gate_free(out1, soft)


def test_a_channel_that_sends_nothing_holds_the_other_back_at_most_max_lead() -> None:
    gate = EchoGate(channels=2, rate=RATE, margin_db=20)
    released = sum(len(gate.push(0, tone(220, 0.02, 0.3))[0]) for _ in range(50))  # 1 s, channel 1 silent
    assert 1.0 * RATE - released <= (MAX_LEAD + 0.02) * RATE
    assert released >= 0.7 * RATE
    assert len(gate.flush()[0]) == RATE - released
    for _ in range(3000):  # a minute more: what it keeps of channel 0 stays bounded
        gate.push(0, tone(220, 0.02, 0.3))
    assert len(gate.levels[0]) < 200 and len(gate.pending[0]) <= (MAX_LEAD + 0.02) * RATE


@pytest.mark.parametrize("margin, channels", [(0.0, 2), (20.0, 1)])
def test_off_or_mono_passes_everything_at_once(margin: float, channels: int) -> None:
    gate = EchoGate(channels=channels, rate=RATE, margin_db=margin)
    samples = tone(220, 0.1, 0.3)
    assert not gate.active and gate_free(gate.push(0, samples)[0], samples)


def test_call_audio_gates_per_track_frames_and_flushes_the_rest() -> None:
    ch0, ch1 = call()
    audio = CallAudio(sample_rate=RATE, encoding="pcm16", channels=2, echo_margin_db=20)
    counts = [0, 0]
    for start in range(0, len(ch0), 160):
        for c, samples in enumerate((ch0, ch1)):
            pcm = (samples[start:start + 160] * 32767).astype("<i2").tobytes()
            for k, chunks in enumerate(audio.push_channel(pcm, c)):
                counts[k] += sum(len(chunk) for _, chunk in chunks)
    for k, chunks in enumerate(audio.flush()):
        counts[k] += sum(len(chunk) for _, chunk in chunks)
    assert counts == [converter.offset for converter in audio.converters]
    assert abs(counts[0] - len(ch0) * 2) <= 2 and abs(counts[1] - len(ch1) * 2) <= 2  # 16 kHz out
