"""Redacted audio of recordings, sans I/O: muting spans of samples, the query and the route's path."""

from __future__ import annotations

import io
import uuid

import numpy as np
import pytest
import soundfile

from common.errors import ConfigError
from common.redaction.audio import TONE_HZ, TONE_LEVEL, Span, mute, wav
from gateway.doors.deepgram_prerecorded import PrerecordedSettings
from gateway.http.prerecorded import audio_path, audio_request_id

RATE = 8000


def noise(frames: int, channels: int = 1) -> np.ndarray:
    """Loud random samples: none of them is zero."""
    samples = np.random.default_rng(7).integers(1000, 20000, size=(frames, channels), dtype=np.int16)
    return samples * np.where(np.arange(frames) % 2, 1, -1).astype(np.int16)[:, None]


def test_silence_replaces_the_span_and_its_padding_and_nothing_else():
    pcm = noise(RATE)  # one second
    out = mute(pcm, [Span(0, 400, 500)], sample_rate=RATE, padding_ms=50)
    first, last = 350 * RATE // 1000, 550 * RATE // 1000
    assert not out[first:last].any()
    assert np.array_equal(out[:first], pcm[:first]) and np.array_equal(out[last:], pcm[last:])
    assert np.array_equal(pcm, noise(RATE))  # a copy: the input is left as it was


def test_padding_stops_at_the_edges_of_the_recording():
    pcm = noise(RATE)
    out = mute(pcm, [Span(0, 0, 20), Span(0, 990, 1000)], sample_rate=RATE, padding_ms=100)
    assert not out[:120 * RATE // 1000].any() and not out[890 * RATE // 1000:].any()
    assert out[120 * RATE // 1000:890 * RATE // 1000].all()


def test_a_span_past_the_end_is_cut_there():
    pcm = noise(RATE)
    assert np.array_equal(mute(pcm, [Span(0, 1200, 1300)], sample_rate=RATE, padding_ms=100), pcm)
    assert not mute(pcm, [Span(0, 950, 1300)], sample_rate=RATE, padding_ms=0)[950 * RATE // 1000:].any()


def test_a_span_of_no_length_still_mutes_its_padding():
    out = mute(noise(RATE), [Span(0, 500, 500)], sample_rate=RATE, padding_ms=10)
    assert not out[490 * RATE // 1000:510 * RATE // 1000].any()


def test_tone_is_a_sine_at_the_tone_frequency_with_faded_edges():
    pcm = noise(RATE)
    out = mute(pcm, [Span(0, 200, 700)], sample_rate=RATE, mode="tone", padding_ms=0)
    tone = out[200 * RATE // 1000:700 * RATE // 1000, 0].astype(np.float64) / 32767
    spectrum = np.abs(np.fft.rfft(tone))
    assert np.fft.rfftfreq(len(tone), 1 / RATE)[spectrum.argmax()] == pytest.approx(TONE_HZ, abs=2)
    middle = tone[len(tone) // 4:3 * len(tone) // 4]
    assert np.abs(middle).max() == pytest.approx(TONE_LEVEL, rel=0.02)
    assert abs(tone[0]) < 0.01 and abs(tone[-1]) < 0.05  # faded in and out: no click
    assert np.array_equal(out[:200 * RATE // 1000], pcm[:200 * RATE // 1000])


def test_overlapping_tones_join_in_phase():
    one = mute(noise(RATE), [Span(0, 100, 600)], sample_rate=RATE, mode="tone", padding_ms=0)
    two = mute(noise(RATE), [Span(0, 100, 400), Span(0, 300, 600)], sample_rate=RATE, mode="tone", padding_ms=0)
    # Inside both spans the samples are the same tone (only the second span's fade-in differs).
    inner = slice(320 * RATE // 1000, 380 * RATE // 1000)
    assert np.array_equal(one[inner], two[inner])


def test_each_channel_is_muted_alone_when_each_was_its_own_pipeline():
    pcm = noise(RATE, channels=2)
    out = mute(pcm, [Span(1, 100, 200)], sample_rate=RATE, padding_ms=0)
    span = slice(100 * RATE // 1000, 200 * RATE // 1000)
    assert not out[span, 1].any() and np.array_equal(out[:, 0], pcm[:, 0])


def test_every_channel_is_muted_when_they_were_mixed_down():
    pcm = noise(RATE, channels=2)
    out = mute(pcm, [Span(0, 100, 200)], sample_rate=RATE, per_channel=False, padding_ms=0)
    assert not out[100 * RATE // 1000:200 * RATE // 1000].any()
    assert out[:100 * RATE // 1000].all() and out[200 * RATE // 1000:].all()


@pytest.mark.parametrize("span, message", [
    (Span(2, 0, 10), "channel 2"),
    (Span(0, 300, 200), "not a span"),
])
def test_spans_that_are_not_of_this_recording_are_refused(span, message):
    with pytest.raises(ValueError, match=message):
        mute(noise(RATE, channels=2), [span], sample_rate=RATE)


def test_bad_mode_and_samples_are_refused():
    with pytest.raises(ValueError, match="unknown mode"):
        mute(noise(RATE), [], sample_rate=RATE, mode="beep")
    with pytest.raises(ValueError, match="int16"):
        mute(noise(RATE)[:, 0], [], sample_rate=RATE)


def test_wav_keeps_rate_channels_and_samples():
    pcm = noise(RATE, channels=2)
    samples, rate = soundfile.read(io.BytesIO(wav(pcm, sample_rate=RATE)), dtype="int16", always_2d=True)
    assert rate == RATE and np.array_equal(samples, pcm)


def test_the_query_asks_for_silence_or_tone_only():
    assert PrerecordedSettings.from_query([("redact", "pci"), ("redact_audio", "Tone")]).redact_audio == "tone"
    assert PrerecordedSettings.from_query([("redact", "pci")]).redact_audio is None
    with pytest.raises(ConfigError, match="redact_audio: 'beep' \\(expected silence or tone\\)"):
        PrerecordedSettings.from_query([("redact", "pci"), ("redact_audio", "beep")])
    with pytest.raises(ConfigError, match="redact_audio: given more than once"):
        PrerecordedSettings.from_query([("redact", "pci"), ("redact_audio", "tone"), ("redact_audio", "silence")])


def test_the_audio_path_names_a_request_id_and_nothing_else():
    request_id = str(uuid.uuid4())
    assert audio_request_id(audio_path(request_id)) == request_id
    for path in ("/v1/listen", "/v1/listen/audio", f"/v1/listen/{request_id}", "/v1/listen/../x/audio",
                 f"/v1/listen/{request_id}/audio/x", "/v1/listen/{x}/audio"):
        assert audio_request_id(path) is None, path
