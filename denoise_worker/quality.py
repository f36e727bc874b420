"""Noise generators, mixing at a given SNR, and SI-SDR: to measure the denoiser.

Used by the denoise tests and by ``bench/denoise_bench.py``. Everything is
deterministic for a given ``seed`` and works on float arrays at any rate
(16 kHz in practice).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from common.records import SAMPLE_RATE

__all__ = [
    "NOISE_KINDS",
    "si_sdr",
    "mix_at_snr",
    "white_noise",
    "pink_noise",
    "hum",
    "babble",
    "make_noise",
]

#: Noise kinds understood by :func:`make_noise`.
NOISE_KINDS = ("white", "pink", "hum", "babble")


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019).

    Both signals are made zero-mean; ``estimate`` is projected on
    ``reference``, and the ratio of the projection's energy to the residual's
    energy is returned. Higher is better; it is insensitive to gain but
    penalises any misalignment, so it also checks that offsets are preserved.
    """
    est = np.asarray(estimate, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if est.shape != ref.shape:
        raise ValueError(f"shapes differ: {est.shape} vs {ref.shape}")
    est = est - est.mean()
    ref = ref - ref.mean()
    ref_energy = np.dot(ref, ref)
    if ref_energy == 0.0:
        raise ValueError("reference is silent")
    target = (np.dot(est, ref) / ref_energy) * ref
    residual = est - target
    return float(10.0 * np.log10(np.dot(target, target) / max(np.dot(residual, residual), 1e-20)))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Return ``speech + g * noise`` with ``g`` chosen so that the SNR is ``snr_db``.

    Power is measured over the whole signal; ``noise`` must be at least as
    long as ``speech`` (it is cut to length).
    """
    speech = np.asarray(speech, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)[: len(speech)]
    if len(noise) < len(speech):
        raise ValueError("noise is shorter than speech")
    p_speech = np.mean(speech**2)
    p_noise = np.mean(noise**2)
    gain = np.sqrt(p_speech / (p_noise * 10.0 ** (snr_db / 10.0)))
    mixture = speech + gain * noise
    peak = np.max(np.abs(mixture))
    if peak > 0.99:  # keep it representable as PCM16 without clipping
        mixture *= 0.99 / peak
    return mixture.astype(np.float32)


def white_noise(n: int, *, seed: int = 0) -> np.ndarray:
    """Gaussian white noise, unit variance."""
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def pink_noise(n: int, *, seed: int = 0) -> np.ndarray:
    """1/f ("pink") noise made by shaping white noise in the frequency domain."""
    white = np.random.default_rng(seed).standard_normal(n)
    spectrum = np.fft.rfft(white)
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    return (pink / np.std(pink)).astype(np.float32)


def hum(n: int, *, sample_rate: int = SAMPLE_RATE, mains_hz: float = 50.0, harmonics: int = 8,
        seed: int = 0) -> np.ndarray:
    """Mains hum: ``mains_hz`` and its harmonics with 1/k amplitudes and random phases,
    plus a slow amplitude wobble, as picked up by a poorly grounded line."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    signal = np.zeros(n)
    for k in range(1, harmonics + 1):
        if k * mains_hz >= sample_rate / 2:
            break
        signal += np.sin(2 * np.pi * k * mains_hz * t + rng.uniform(0, 2 * np.pi)) / k
    signal *= 1.0 + 0.1 * np.sin(2 * np.pi * 0.3 * t)
    return (signal / np.std(signal)).astype(np.float32)


def babble(n: int, talkers: Sequence[np.ndarray], *, voices: int = 8, seed: int = 0) -> np.ndarray:
    """Many-talker babble (a canteen, an open-plan office) made from ``talkers``.

    ``voices`` streams are summed, each one a talker clip looped from a random
    start and played at a random speed between 0.8x and 1.25x (which shifts
    its pitch too, so a few clips of one reader still sound like several
    people). Each stream has equal power. Pass clips other than the target.
    With few voices babble is competing speech, which no speech enhancer can
    remove; eight or more is the usual "babble noise".
    """
    if not talkers:
        raise ValueError("babble needs at least one talker")
    rng = np.random.default_rng(seed)
    signal = np.zeros(n)
    for v in range(voices):
        clip = np.asarray(talkers[v % len(talkers)], dtype=np.float64)
        speed = float(rng.uniform(0.8, 1.25))
        positions = np.arange(0.0, len(clip) - 1, speed)
        clip = np.interp(positions, np.arange(len(clip)), clip)
        clip = clip / (np.std(clip) or 1.0)
        looped = np.tile(clip, n // len(clip) + 2)
        start = int(rng.integers(0, len(clip)))
        signal += looped[start : start + n]
    return (signal / np.std(signal)).astype(np.float32)


def make_noise(
    kind: str, n: int, *, talkers: Sequence[np.ndarray] = (), voices: int = 8, seed: int = 0
) -> np.ndarray:
    """Noise of one of :data:`NOISE_KINDS`, ``n`` samples at 16 kHz.

    ``talkers`` and ``voices`` are for ``"babble"`` (see :func:`babble`).
    """
    makers: dict[str, Callable[[], np.ndarray]] = {
        "white": lambda: white_noise(n, seed=seed),
        "pink": lambda: pink_noise(n, seed=seed),
        "hum": lambda: hum(n, seed=seed),
        "babble": lambda: babble(n, talkers, voices=voices, seed=seed),
    }
    try:
        return makers[kind]()
    except KeyError:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {NOISE_KINDS}") from None
