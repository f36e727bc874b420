"""Feasibility of diarization (issue 31 item 4) with Resemblyzer's packaged encoder: DER on mono mixes.

Not product code: streamscribe has no ``diarize=true`` yet (docs/analytics.md says why). This
measures whether the speaker encoder that ships inside the ``resemblyzer`` wheel (0.1.4,
Apache-2.0, ``pretrained.pt`` 17 MB, sha256 checked below) and scipy's hierarchical
clustering separate speakers well enough to build on.

Why the probe loads the weights itself: ``import resemblyzer`` imports librosa and webrtcvad
(its ``__init__`` pulls in ``resemblyzer.audio``), and installing the wheel with its
dependencies brings librosa 0.11 with numba and llvmlite, webrtcvad 2.0.10 as a source
distribution (a C compiler at install time) and the ``typing`` 3.7.4.3 backport (into a
Python 3.11 environment); it keeps torch at our pin. So the wheel is installed apart, without
its dependencies, and this file rebuilds the encoder (a 3-layer LSTM, 40 mel bands in, 256
out) and its front end (librosa's slaney mel filterbank, 25 ms windows every 10 ms, power
spectrum) in numpy::

    .venv/bin/pip install --no-deps --target /tmp/rzsite resemblyzer==0.1.4 scipy==1.17.1
    PYTHONPATH=$PWD:/tmp/rzsite .venv/bin/python -m bench.diarize_probe

The mixes: two or three speakers taking turns on one channel, 6 turns each, 0.4-1.0 s apart
or overlapping by ``--overlap`` s: speaker 0 is the LibriVox reader (real speech), speakers
1 and 2 are espeak-ng voices (``en-us+m3``, ``en+f3``; synthetic, so easier to tell apart
than two people). Speech regions are the reference's (an oracle VAD: each turn's 10 ms
frames within 35 dB of its loudest); windows of 1.6 s every 0.4 s inside them are embedded,
clustered (average linkage, cosine distance; the number of speakers given, or cut at
``--threshold``), and each 10 ms frame takes its windows' majority. DER (no collar, overlap
scored) = (missed + false alarm + confusion) / reference speech, speakers mapped one to one
(Hungarian).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import soxr
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from torch import nn

from tests.kit.testdata import librivox_samples

RATE = 16_000
N_FFT, HOP, MELS, WINDOW_FRAMES = 400, 160, 40, 160  # Resemblyzer's hparams
WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"  # resemblyzer 0.1.4
VOICES = ("en-us+m3", "en+f3")
SENTENCES = ("Thank you for calling premier phone services, how can I help you today?",
             "I can certainly look into that for you, may I have your account number please?",
             "Let me check the billing history on your account for the last three months.",
             "I understand, and I am sorry for the trouble this has caused you.",
             "Is there anything else I can help you with today?",
             "Your refund will be processed within five working days.")


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear to 1 kHz, logarithmic above."""
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep,
                    hz / f_sp)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filterbank() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40) (slaney scale and area norm)."""
    fft = np.linspace(0, RATE / 2, 1 + N_FFT // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(RATE / 2)), MELS + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft[None, :]
    bank = np.maximum(0, np.minimum(-ramps[:-2] / widths[:-1, None], ramps[2:] / widths[1:, None]))
    return bank * (2.0 / (edges[2:] - edges[:-2]))[:, None]


BANK = mel_filterbank()
HANN = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic, as scipy's get_window


def mel_frames(wav: np.ndarray) -> np.ndarray:
    """Resemblyzer's input: mel power spectrogram frames (centred, zero-padded), float32 [frames, 40]."""
    x = np.pad(wav.astype(np.float64), N_FFT // 2)
    count = 1 + (len(x) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(x, (count, N_FFT), (x.strides[0] * HOP, x.strides[0]))
    return ((np.abs(np.fft.rfft(frames * HANN, axis=1)) ** 2) @ BANK.T).astype(np.float32)


class Encoder(nn.Module):
    """Resemblyzer's VoiceEncoder network with the wheel's weights (found without importing the package)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(MELS, 256, 3, batch_first=True)
        self.linear = nn.Linear(256, 256)
        spec = importlib.util.find_spec("resemblyzer")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("resemblyzer is not installed: see this file's docstring")
        weights = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        if digest != WEIGHTS_SHA256:
            raise SystemExit(f"{weights}: sha256 {digest}, not resemblyzer 0.1.4's")
        self.load_state_dict(torch.load(weights, map_location="cpu")["model_state"], strict=False)
        self.eval()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        embeds = torch.relu(self.linear(hidden[-1]))
        return embeds / torch.norm(embeds, dim=1, keepdim=True)


def espeak(voice: str, text: str) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as out:
        subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", out.name, text], check=True)
        samples, rate = soundfile.read(out.name, dtype="float32")
    return (soxr.resample(samples, rate, RATE) * 0.5).astype(np.float32)


def speech_of(x: np.ndarray) -> tuple[int, int]:
    """First and last sample of a turn's 10 ms frames within 35 dB of its loudest."""
    frames = x[:len(x) // HOP * HOP].reshape(-1, HOP).astype(np.float64)
    level = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
    voiced = np.flatnonzero(level > level.max() - 35)
    return int(voiced[0]) * HOP, (int(voiced[-1]) + 1) * HOP


def build_mix(speakers: int, overlap: float, seed: int) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """A mono mix of ``speakers`` taking turns, and each turn's (speaker, speech start, end) in samples."""
    rng = np.random.default_rng(seed)
    clips = [samples for samples, _ in librivox_samples()]
    turns = []
    for k in range(6 * speakers):
        speaker = k % speakers
        turns.append((speaker, clips[(k // speakers) % len(clips)] if speaker == 0 else
                      espeak(VOICES[speaker - 1], SENTENCES[(k // speakers + speaker) % len(SENTENCES)])))
    mix = np.zeros(sum(len(x) for _, x in turns) + (len(turns) + 2) * RATE, np.float32)
    truth: list[tuple] = []
    cursor = RATE // 2
    for speaker, x in turns:
        start = max(0, cursor - int(overlap * RATE)) if truth else cursor
        mix[start:start + len(x)] += x
        first, last = speech_of(x)
        truth.append((speaker, start + first, start + last))
        cursor = start + len(x) + int(rng.uniform(0.4, 1.0) * RATE)
    return mix[:cursor + RATE], truth


def windows_in(regions: list[tuple[int, int]], length: int, hop: int) -> list[tuple[int, int]]:
    out = []
    for start, end in regions:
        if end - start <= length:
            out.append((start, end))
            continue
        out += [(t, t + length) for t in range(start, end - length + 1, hop)]
        if out[-1][1] < end:
            out.append((end - length, end))
    return out


def diarize(encoder: Encoder, mix: np.ndarray, regions: list[tuple[int, int]], *, speakers: int | None,
            threshold: float) -> np.ndarray:
    """A speaker label per 10 ms frame (-1 outside ``regions``)."""
    windows = windows_in(regions, int(1.6 * RATE), int(0.4 * RATE))
    batch = []
    for start, end in windows:
        wav = mix[start:end]
        rms = float(np.sqrt((wav.astype(np.float64) ** 2).mean() + 1e-12))
        wav = wav * min(10.0, 10 ** (-30 / 20) / rms)  # Resemblyzer normalises to -30 dBFS (and only raises)
        mels = mel_frames(wav)[:WINDOW_FRAMES]
        batch.append(np.pad(mels, ((0, WINDOW_FRAMES - len(mels)), (0, 0))))
    with torch.no_grad():
        embeddings = encoder(torch.from_numpy(np.stack(batch))).numpy()
    tree = linkage(embeddings, method="average", metric="cosine")
    clusters = fcluster(tree, speakers, "maxclust") if speakers else fcluster(tree, threshold, "distance")
    frames = len(mix) // HOP
    votes = np.zeros((frames, clusters.max() + 1))
    for (start, end), cluster in zip(windows, clusters):
        votes[start // HOP:end // HOP, cluster] += 1
    labels = -np.ones(frames, int)
    for start, end in regions:
        labels[start // HOP:end // HOP] = votes[start // HOP:end // HOP].argmax(axis=1)
    return labels


def der(truth: list[tuple[int, int, int]], labels: np.ndarray) -> tuple[float, float, float, float]:
    """(DER, missed, false alarm, confusion), each over the reference's speech (frames x speakers)."""
    frames = len(labels)
    reference = np.zeros((frames, max(t[0] for t in truth) + 1), bool)
    for speaker, start, end in truth:
        reference[start // HOP:end // HOP, speaker] = True
    found = sorted(set(labels[labels >= 0].tolist()))
    overlap = np.array([[np.sum(reference[labels == h, s]) for h in found] for s in range(reference.shape[1])])
    rows, cols = linear_sum_assignment(-overlap)
    mapped = {found[c]: r for r, c in zip(rows, cols)}
    total = reference.sum()
    speaking = reference.sum(axis=1)
    labelled = labels >= 0
    missed = speaking[~labelled].sum() + np.maximum(speaking[labelled] - 1, 0).sum()
    false_alarm = np.sum(labelled & (speaking == 0))
    right = np.array([labels[i] in mapped and reference[i, mapped[labels[i]]] for i in range(frames)])
    confusion = np.sum(labelled & (speaking > 0) & ~right)
    return tuple(float(v) / total for v in (missed + false_alarm + confusion, missed, false_alarm, confusion))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overlap", type=float, nargs="+", default=[0.0, 0.5], help="seconds each turn overlaps")
    parser.add_argument("--threshold", type=float, default=0.35, help="cosine distance that cuts the clusters")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    encoder = Encoder()
    for speakers in (2, 3):
        for overlap in args.overlap:
            mix, truth = build_mix(speakers, overlap, args.seed)
            regions: list[list[int]] = []
            for _, start, end in sorted(truth, key=lambda t: t[1]):
                if regions and start <= regions[-1][1]:
                    regions[-1][1] = max(regions[-1][1], end)
                else:
                    regions.append([start, end])
            for known in (True, False):
                began = time.thread_time()
                labels = diarize(encoder, mix, [(s, e) for s, e in regions], speakers=speakers if known else None,
                                 threshold=args.threshold)
                spent = time.thread_time() - began
                total, missed, false_alarm, confusion = der(truth, labels)
                print(f"{speakers} speakers, overlap {overlap:g} s, {'count given' if known else 'threshold':11}: "
                      f"DER {total:6.1%} (missed {missed:.1%}, false alarm {false_alarm:.1%}, confusion "
                      f"{confusion:.1%}); {len(set(labels[labels >= 0].tolist()))} clusters; "
                      f"{len(mix) / RATE:.0f} s of audio, {spent:.1f} s CPU (1 thread)")


if __name__ == "__main__":
    main()
