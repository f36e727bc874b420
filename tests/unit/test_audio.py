"""Client audio conversion: codecs, resampling, chunking."""

import numpy as np
import pytest

from common.errors import ProtocolError
from gateway.core.audio import BATCH_MAX_CHUNK, MAX_CHUNK, MIN_CHUNK, AudioConverter, CallAudio, decode_frame


def tone(freq, rate, seconds, amplitude=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)]


def convert(samples_bytes_frames, **kwargs):
    converter = AudioConverter(**kwargs)
    chunks = []
    for frame in samples_bytes_frames:
        chunks += converter.push(frame)
    chunks += converter.flush()
    return chunks


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000])
def test_resampling_keeps_length_pitch_and_offsets(rate):
    signal = tone(440, rate, 2.0)
    step = rate // 50  # 20 ms frames
    chunks = convert([signal[i:i + step].tobytes() for i in range(0, len(signal), step)],
                     sample_rate=rate, encoding="float32")
    pcm = np.concatenate([c for _, c in chunks])
    assert abs(len(pcm) - 32000) <= 1
    assert abs(dominant_frequency(pcm.astype(np.float32), 16000) - 440) < 2
    offsets = [o for o, _ in chunks]
    assert offsets == list(np.cumsum([0] + [len(c) for _, c in chunks[:-1]]))
    assert all(MIN_CHUNK <= len(c) <= MAX_CHUNK for _, c in chunks[:-1])
    # A real resampler, not sample dropping: no energy appears above the tone.
    spectrum = np.abs(np.fft.rfft(pcm[1000:-1000].astype(np.float32)))
    assert spectrum[np.fft.rfftfreq(len(pcm) - 2000, 1 / 16000) > 1000].max() < spectrum.max() * 1e-2


def test_16k_pcm16_passes_through_unchanged():
    pcm = (tone(300, 16000, 1.0) * 32767).astype(np.int16)
    chunks = convert([pcm[i:i + 480].tobytes() for i in range(0, len(pcm), 480)], sample_rate=16000,
                     encoding="pcm16")
    assert np.array_equal(np.concatenate([c for _, c in chunks]), pcm)


def test_telephony_mulaw_at_8k():
    audioop = pytest.importorskip("audioop")  # the reference codec (stdlib until 3.13)

    pcm = (tone(300, 8000, 1.0) * 20000).astype(np.int16)
    encoded = audioop.lin2ulaw(pcm.tobytes(), 2)
    chunks = convert([encoded[i:i + 160] for i in range(0, len(encoded), 160)], sample_rate=8000,
                     encoding="mulaw")
    out = np.concatenate([c for _, c in chunks]).astype(np.float32)
    assert abs(len(out) - 16000) <= 1
    assert abs(dominant_frequency(out, 16000) - 300) < 2


@pytest.mark.parametrize("data, encoding, message", [
    (b"\x00" * 5, "pcm16", "odd byte count"),
    (b"\x00" * 6, "float32", "not a multiple of 4"),
    (np.array([0.1, np.nan], np.float32).tobytes(), "float32", "NaN"),
    (np.array([np.inf], np.float32).tobytes(), "float32", "NaN or infinite"),
])
def test_malformed_frames_raise_clear_errors(data, encoding, message):
    with pytest.raises(ProtocolError, match=message) as info:
        decode_frame(data, encoding)
    assert info.value.code == "bad_audio"


def test_float32_is_clipped_not_wrapped():
    samples = decode_frame(np.array([2.0, -3.0, 0.5], np.float32).tobytes(), "float32")
    assert samples[:, 0].tolist() == [1.0, -1.0, 0.5]


def test_two_channels_are_split_into_their_own_streams():
    rate = 8000
    t = np.arange(rate) / rate
    left, right = 0.5 * np.sin(2 * np.pi * 300 * t), 0.5 * np.sin(2 * np.pi * 700 * t)
    interleaved = (np.stack([left, right], axis=1) * 32767).astype("<i2").tobytes()
    audio = CallAudio(sample_rate=rate, encoding="pcm16", channels=2)
    outputs = [a + b for a, b in zip(audio.push(interleaved), audio.flush())]
    assert len(outputs) == 2
    for chunks, frequency in zip(outputs, (300, 700)):
        assert [offset for offset, _ in chunks] == list(np.cumsum([0] + [len(c) for _, c in chunks[:-1]]))
        out = np.concatenate([c for _, c in chunks]).astype(np.float32)
        assert abs(len(out) - 16000) <= 1
        assert abs(dominant_frequency(out, 16000) - frequency) < 2


def test_mix_down_gives_one_stream():
    interleaved = np.array([1000, -1000, 3000, 1000] * 400, "<i2").tobytes()
    audio = CallAudio(sample_rate=16000, encoding="pcm16", channels=2, mix_down=True)
    (chunks,) = audio.push(interleaved)
    assert np.concatenate([c for _, c in chunks])[:2].tolist() == [0, 2000]


def test_a_partial_multichannel_sample_is_refused():
    audio = CallAudio(sample_rate=8000, encoding="mulaw", channels=2)
    with pytest.raises(ProtocolError, match="2-channel mulaw frame of 3 bytes") as info:
        audio.push(b"\x00" * 3)
    assert info.value.code == "bad_audio"


@pytest.mark.parametrize("encoding, rate", [("pcm16", 16000), ("float32", 44100)])
def test_a_recordings_audio_goes_in_chunks_of_up_to_500_ms(encoding, rate):
    signal = tone(300, rate, 3.0)
    data = (signal * 32767).astype(np.int16).tobytes() if encoding == "pcm16" else signal.tobytes()
    step = len(data) // 3  # frames of 1 s, as a recording is sent
    audio = CallAudio(sample_rate=rate, encoding=encoding, max_chunk=BATCH_MAX_CHUNK)
    chunks = [c for i in range(0, len(data), step) for c in audio.push(data[i:i + step])[0]] + audio.flush()[0]
    sizes = [len(c) for _, c in chunks]
    assert max(sizes) == BATCH_MAX_CHUNK and len(sizes) <= 48000 // BATCH_MAX_CHUNK + 2, sizes  # the resampler's delay
    assert abs(sum(sizes) - 48000) <= 1
    # A frame of 400 ms is one chunk, as a live call's frame of 100 ms is.
    pcm = np.zeros(6400, np.int16).tobytes()
    assert [len(c) for _, c in AudioConverter(sample_rate=16000, encoding="pcm16",
                                              max_chunk=BATCH_MAX_CHUNK).push(pcm)] == [6400]
    assert [len(c) for _, c in AudioConverter(sample_rate=16000, encoding="pcm16").push(pcm)] == [MAX_CHUNK] * 4
