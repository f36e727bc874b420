"""Resemblyzer's speaker encoder with the weights its wheel ships, and its mel front end.

The network is Resemblyzer's ``VoiceEncoder`` (a 3-layer LSTM over 40 mel bands, a linear
layer to 256 values, ReLU, L2 norm; Apache-2.0, ``resemblyzer`` 0.1.4 on PyPI, trained by
its authors on LibriSpeech, VoxCeleb 1 and 2). Its weights, ``pretrained.pt`` (17 MB), are
read from the installed wheel and their sha256 checked before use; nothing is downloaded.

Why the package is not imported: ``import resemblyzer`` imports librosa and webrtcvad, which
the wheel's metadata pulls in with numba, llvmlite, a C build of webrtcvad and the ``typing``
backport. The wheel is installed without its dependencies (``requirements/diarize.txt``) and
this module rebuilds the two things it needs: the network (ten lines of torch) and its front
end, librosa's mel power spectrogram (slaney mel scale and area norm, a periodic Hann window
of 25 ms every 10 ms, centred with zero padding), in numpy.

Imports torch: only the diarizer's process (:mod:`.pool`) imports this module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common.errors import ConfigError

from . import MISSING

RATE = 16_000
N_FFT, HOP, MELS, HIDDEN = 400, 160, 40, 256  # Resemblyzer's hparams (25 ms, 10 ms, 40 bands)
WINDOW_FRAMES = 160  # 1.6 s: the partial utterance the encoder was trained on
TARGET_DBFS = -30.0  # Resemblyzer raises quiet audio to this level (and never lowers it)
MAX_GAIN = 10.0  # a window of near silence is not raised into noise beyond 20 dB
WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"  # resemblyzer 0.1.4


def weights_path() -> Path:
    """``pretrained.pt`` of the installed ``resemblyzer`` wheel; :class:`ConfigError` when it is absent."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(MISSING)
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise ConfigError(MISSING)
    return path


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep,
                    hz / f_sp)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filterbank() -> np.ndarray:
    """``librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)``: [40, 201], slaney scale and area norm."""
    fft = np.linspace(0, RATE / 2, 1 + N_FFT // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(RATE / 2)), MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft[None, :]
    bank = np.maximum(0, np.minimum(-ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]))
    return bank * (2.0 / (edges[2:] - edges[:-2]))[:, None]


_BANK = mel_filterbank()
_HANN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic, as librosa's


def mel_frames(wav: np.ndarray) -> np.ndarray:
    """The encoder's input for float samples at 16 kHz: mel power frames, float32 [frames, 40]."""
    x = np.pad(wav.astype(np.float64), N_FFT // 2)
    count = 1 + (len(x) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(x, (count, N_FFT), (x.strides[0] * HOP, x.strides[0]))
    return ((np.abs(np.fft.rfft(frames * _HANN, axis=1)) ** 2) @ _BANK.T).astype(np.float32)


def window_input(wav: np.ndarray) -> np.ndarray:
    """One window's encoder input: raised to -30 dBFS (at most :data:`MAX_GAIN`), 160 frames (zero-padded)."""
    rms = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2) + 1e-12))
    gain = min(MAX_GAIN, max(1.0, 10 ** (TARGET_DBFS / 20) / rms))
    mels = mel_frames(wav * gain)[:WINDOW_FRAMES]
    return np.pad(mels, ((0, WINDOW_FRAMES - len(mels)), (0, 0)))


class Encoder(nn.Module):
    """Resemblyzer's network with the wheel's weights: mel windows [B, 160, 40] -> unit embeddings [B, 256]."""

    def __init__(self, weights: Path) -> None:
        super().__init__()
        self.lstm = nn.LSTM(MELS, HIDDEN, 3, batch_first=True)
        self.linear = nn.Linear(HIDDEN, HIDDEN)
        data = weights.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != WEIGHTS_SHA256:
            raise ConfigError(f"{weights}: sha256 {digest} is not resemblyzer 0.1.4's pretrained.pt; " + MISSING)
        # Loaded from the bytes that were hashed, not the file again.
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)["model_state"]
        # strict=False as Resemblyzer loads it: the checkpoint also holds its training-time
        # similarity weight and bias, which inference does not use.
        self.load_state_dict(state, strict=False)
        self.eval()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        embeds = torch.relu(self.linear(hidden[-1]))
        return embeds / torch.norm(embeds, dim=1, keepdim=True).clamp_min(1e-12)

    def embed(self, windows: list[np.ndarray], *, batch: int = 64) -> np.ndarray:
        """Unit embeddings [len(windows), 256] of float windows at 16 kHz (each up to 1.6 s)."""
        out = np.zeros((len(windows), HIDDEN), np.float32)
        with torch.inference_mode():
            for start in range(0, len(windows), batch):
                inputs = np.stack([window_input(w) for w in windows[start:start + batch]])
                out[start:start + len(inputs)] = self(torch.from_numpy(inputs)).numpy()
        return out
