"""Silero VAD loaded once per process and called on a batch of sessions at once.

The ONNX model shipped in the ``silero-vad`` package takes ``input [B, 576]``
(64 samples of context + a 512-sample frame at 16 kHz) and ``state [2, B, 128]``;
each row is independent, so one call scores one frame of many sessions.

The package also ships the same network unrolled over time,
``silero_vad_16k_sequence.onnx``: ``input [n, 576]`` (n consecutive frames of one
session, each with its context) and the LSTM's ``h``, ``c`` ``[1, 1, 128]``, which
are ``state[0]`` and ``state[1]`` of the per-frame model. One call scores all of a
session's new frames, with the same probabilities as n per-frame calls (bit for
bit on CPU) at about a third of the CPU: that is how a recording is scored, whose
round brings ~50 frames of one session.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from common.endpointing import FRAME
from common.errors import ModelError
from common.records import SAMPLE_RATE

log = logging.getLogger(__name__)

CONTEXT = 64
STATE_SHAPE = (2, 128)
MODEL_FILE = "silero_vad.onnx"
SEQUENCE_MODEL_FILE = "silero_vad_16k_sequence.onnx"
# The sequence model is used only where it gives the per-frame model's
# probabilities on a probe (the same weights); bit-identical in practice.
_PROBE_FRAMES = 12
_PROBE_TOLERANCE = 1e-6


def bundled_model_path(name: str = MODEL_FILE) -> Path:
    """The model file inside the installed ``silero-vad`` package, found without importing the
    package: its ``__init__`` imports torch (2.8 against 0.6 CPU s to ready: python -m bench.service_start),
    which the ONNX models do not need."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the silero-vad package is not installed: pip install silero-vad, "
                         "or give a model file with --vad-model")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


class SileroVad:
    """A thread-safe batched Silero VAD (ONNX Runtime releases the GIL while it runs).

    ``sequence`` (default on) also loads the package's sequence model for
    :meth:`score_sequence`, if the package has one and it agrees with the
    per-frame model (:attr:`has_sequence`); off, or where it does not, callers
    score frame by frame.
    """

    def __init__(self, *, model_path: str | None = None, threads: int = 1, sequence: bool = True) -> None:
        path = Path(model_path) if model_path else bundled_model_path()
        if not path.is_file():
            raise ModelError(f"Silero VAD model {path} does not exist (flag --vad-model)")
        self._threads = threads
        self._session = self._load(path)
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self._sequence = self._load_sequence(path) if sequence else None

    @property
    def has_sequence(self) -> bool:
        """Whether :meth:`score_sequence` may be called."""
        return self._sequence is not None

    def __call__(self, frames: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score ``frames [B, 576]`` float32 with ``state [2, B, 128]``; return (probs [B], new state)."""
        probs, new_state = self._session.run(None, {"input": frames, "state": state, "sr": self._sr})
        return probs[:, 0], new_state

    def score_sequence(self, frames: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score consecutive frames of one session, ``frames [n, 576]`` float32 (n >= 1), from
        ``state [2, 128]`` (the per-frame model's layout); return (probs [n], state after the last)."""
        assert self._sequence is not None, "no sequence model (has_sequence)"
        probs, h, c = self._sequence.run(None, {"input": frames, "h": state[0][None, None], "c": state[1][None, None]})
        return probs, np.concatenate([h[0], c[0]])

    def probabilities(self, pcm: np.ndarray) -> list[float]:
        """The speech probability of each whole 512-sample frame of ``pcm`` (int16 at 16 kHz, a
        session's audio from its start), scored a frame a call from a fresh state, as the stage
        scores a live session's: for benches and tests that segment a clip as the stage would."""
        count = len(pcm) // FRAME
        audio = pcm[:count * FRAME].astype(np.float32)
        audio *= 1 / 32768  # as the stage does: exact
        context = np.zeros(CONTEXT, np.float32)
        state = np.zeros((STATE_SHAPE[0], 1, STATE_SHAPE[1]), np.float32)
        probs = []
        for frame in audio.reshape(count, FRAME):
            scored = np.concatenate([context, frame])[None]
            prob, state = self(scored, state)
            probs.append(float(prob[0]))
            context = frame[-CONTEXT:]
        return probs

    def _load(self, path: Path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    def _load_sequence(self, model_path: Path):
        """The package's sequence model if it has one and it scores like ``model_path``; else None.

        A model given with --vad-model may hold other weights than the package's
        sequence model: the probe catches that, and recordings are then scored
        frame by frame, as live calls are.
        """
        try:
            path = bundled_model_path(SEQUENCE_MODEL_FILE)
        except ModelError:
            return None
        if not path.is_file():
            log.info("no Silero sequence model in the silero-vad package (%s): recordings are scored frame by "
                     "frame", path)
            return None
        sequence = self._load(path)
        frames = _probe_frames()
        state = np.zeros((STATE_SHAPE[0], 1, STATE_SHAPE[1]), np.float32)
        expected = []
        for frame in frames:  # self._session, not self(): a subclass may watch its calls
            probs, state = self._session.run(None, {"input": frame[None], "state": state, "sr": self._sr})
            expected.append(probs[0, 0])
        zeros = np.zeros((1, 1, STATE_SHAPE[1]), np.float32)
        got, h, c = sequence.run(None, {"input": frames, "h": zeros, "c": zeros})
        gap = max(np.abs(got - np.array(expected)).max(), np.abs(np.concatenate([h, c]) - state).max())
        if not gap <= _PROBE_TOLERANCE:
            log.warning("the Silero sequence model %s does not score like %s (probability gap %.3g): recordings "
                        "are scored frame by frame", path, model_path, gap)
            return None
        return sequence


def _probe_frames() -> np.ndarray:
    """A few frames ``[n, 576]`` of a chirp with noise (deterministic), each with its context."""
    t = np.arange(_PROBE_FRAMES * 512) / SAMPLE_RATE
    audio: np.ndarray = 0.3 * np.sin(2 * np.pi * (150 + 900 * t) * t) + np.random.default_rng(0).normal(0, 0.02, len(t))
    audio = audio.astype(np.float32).reshape(_PROBE_FRAMES, 512)
    context = np.concatenate([np.zeros((1, CONTEXT), np.float32), audio[:-1, -CONTEXT:]])
    return np.concatenate([context, audio], axis=1)
