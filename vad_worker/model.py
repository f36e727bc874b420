"""Silero VAD loaded once per process and called on a batch of sessions at once.

The ONNX model shipped in the ``silero-vad`` package takes ``input [B, 576]``
(64 samples of context + a 512-sample frame at 16 kHz) and ``state [2, B, 128]``;
each row is independent, so one call scores one frame of many sessions.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np

from common.errors import ModelError
from common.records import SAMPLE_RATE

CONTEXT = 64
STATE_SHAPE = (2, 128)


def bundled_model_path() -> Path:
    try:
        return Path(str(importlib.resources.files("silero_vad") / "data" / "silero_vad.onnx"))
    except ModuleNotFoundError:
        raise ModelError("the silero-vad package is not installed: pip install silero-vad, "
                         "or give a model file with --vad-model") from None


class SileroVad:
    """A thread-safe batched Silero VAD (ONNX Runtime releases the GIL while it runs)."""

    def __init__(self, *, model_path: str | None = None, threads: int = 1) -> None:
        import onnxruntime

        path = Path(model_path) if model_path else bundled_model_path()
        if not path.is_file():
            raise ModelError(f"Silero VAD model {path} does not exist (flag --vad-model)")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(path), sess_options=options,
                                                     providers=["CPUExecutionProvider"])
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    def __call__(self, frames: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score ``frames [B, 576]`` float32 with ``state [2, B, 128]``; return (probs [B], new state)."""
        probs, new_state = self._session.run(None, {"input": frames, "state": state, "sr": self._sr})
        return probs[:, 0], new_state
