"""The encoder window's padding: the log-mel of silence after narrowband (telephone) audio, as
whisper was trained on; zeros, as faster-whisper pads, after wideband audio."""

from __future__ import annotations

import numpy as np
import soxr

from asr_worker.engines.whisper import HOP, fitted_windows, narrowband
from tests.kit.extras import require

require("whisper")
from faster_whisper.feature_extractor import FeatureExtractor  # noqa: E402


def sound() -> np.ndarray:
    """1.5 s of a tone in broadband noise (energy in every mel band)."""
    seconds = np.arange(24000) / 16000
    noise = np.random.default_rng(0).standard_normal(24000)
    return (0.3 * np.sin(2 * np.pi * 440 * seconds) + 0.01 * noise).astype(np.float32)


def telephone(audio: np.ndarray) -> np.ndarray:
    """Down to 8 kHz and up again, as the telephone doors hand audio on."""
    return soxr.resample(soxr.resample(audio, 16000, 8000), 8000, 16000).astype(np.float32)


def test_after_telephone_audio_the_padding_is_what_the_extractor_gives_zero_samples() -> None:
    extract = FeatureExtractor()
    audio = telephone(sound())
    feature = extract(audio)
    content = len(audio) // HOP
    assert narrowband(feature[:, :content])
    [window] = fitted_windows([feature], [content], 500)
    silent = extract(np.pad(audio, (0, 500 * HOP - len(audio))))[:, :500]
    assert np.array_equal(window[:, :content], feature[:, :content])
    # Past the frames whose STFT window still reaches the sound, the two are the same.
    np.testing.assert_allclose(window[:, content + 2:], silent[:, content + 2:], atol=1e-6)
    assert (window[:, content:] < 0).all()  # zeros would be louder than the audio's bands over 4 kHz


def test_after_wideband_audio_the_padding_stays_zeros() -> None:
    feature = FeatureExtractor()(sound())
    content = 24000 // HOP
    assert not narrowband(feature[:, :content])
    [window] = fitted_windows([feature], [content], 500)
    assert np.array_equal(window[:, :content], feature[:, :content])
    assert not window[:, content:].any()


def test_each_request_pads_with_its_own_floor() -> None:
    """Batched requests: a quiet one's silence is its own (the extractor's clamp is per request)."""
    loud, quiet = np.full((80, 300), 1.0, np.float32), np.full((80, 100), -0.5, np.float32)
    loud[62:], quiet[62:] = -1.0, -2.5  # nothing over 4 kHz
    windows = fitted_windows([loud, quiet], [300, 100], 500)
    assert windows.shape == (2, 80, 500)
    assert (windows[0, :, 300:] == -1.0).all()
    assert (windows[1, :, 100:] == -2.5).all()
    assert not narrowband(np.zeros((80, 0), np.float32))  # no audio: nothing to tell
