"""The encoder window's padding is the log-mel of silence, as whisper was trained on."""

from __future__ import annotations

import numpy as np
import pytest

from asr_worker.engines.whisper import HOP, fitted_windows

FeatureExtractor = pytest.importorskip("faster_whisper.feature_extractor").FeatureExtractor


def test_padding_is_what_the_extractor_gives_zero_samples() -> None:
    """A window fitted to 1.5 s of sound, 5 s long, holds what the extractor computes for the
    sound followed by 3.5 s of digital silence; the old padding (zeros in the normalised log-mel)
    was a loud frame by comparison."""
    extract = FeatureExtractor()
    rng = np.random.default_rng(0)
    seconds = np.arange(24000) / 16000
    sound = (0.3 * np.sin(2 * np.pi * 440 * seconds) + 0.01 * rng.standard_normal(24000)).astype(np.float32)
    feature = extract(sound)
    content = len(sound) // HOP
    [window] = fitted_windows([feature], [content], 500)
    silent = extract(np.pad(sound, (0, 500 * HOP - len(sound))))[:, :500]
    assert np.array_equal(window[:, :content], feature[:, :content])
    # Past the frames whose STFT window still reaches the sound, the two are the same.
    np.testing.assert_allclose(window[:, content + 2:], silent[:, content + 2:], atol=1e-6)
    assert window[:, content:].max() < feature.max() - 1.9
    assert (window[:, content:] < 0).all()


def test_each_request_pads_with_its_own_floor() -> None:
    """Batched requests: a quiet one's silence is its own (the clamp is per request)."""
    loud, quiet = np.full((80, 300), 1.0, np.float32), np.full((80, 100), -0.5, np.float32)
    windows = fitted_windows([loud, quiet], [300, 100], 500)
    assert windows.shape == (2, 80, 500)
    assert (windows[0, :, 300:] == -1.0).all()
    assert (windows[1, :, 100:] == -2.5).all()
