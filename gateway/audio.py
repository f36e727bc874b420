"""Client audio to canonical audio: decode, resample to 16 kHz, chunk as PCM16.

Clients send float32 (default), PCM16, mu-law or A-law at 8-48 kHz in frames of
any size. :class:`AudioConverter` keeps per-connection resampler state so that
frame boundaries leave no seams, and emits chunks of 20-100 ms.
"""

from __future__ import annotations

import numpy as np
import soxr

from common.errors import ProtocolError

CANONICAL_RATE = 16_000
MIN_CHUNK = CANONICAL_RATE // 50  # 20 ms
MAX_CHUNK = CANONICAL_RATE // 10  # 100 ms
ENCODINGS = ("float32", "pcm16", "mulaw", "alaw")


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.uint8)
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    value = magnitude - 0x84
    return np.where(sign != 0, -value, value).astype(np.float32) / 32768.0


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.uint8) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = (codes & 0x0F).astype(np.int32)
    value = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    return np.where(sign != 0, value, -value).astype(np.float32) / 32768.0


_TABLES: dict[str, np.ndarray] = {}


def decode_frame(data: bytes, encoding: str) -> np.ndarray:
    """Decode one client frame to float32 samples; raise :class:`ProtocolError` if malformed."""
    if encoding == "float32":
        if len(data) % 4:
            raise ProtocolError("bad_audio", f"float32 frame of {len(data)} bytes is not a multiple of 4")
        samples = np.frombuffer(data, dtype="<f4")
        if not np.all(np.isfinite(samples)):
            raise ProtocolError("bad_audio", "float32 frame contains NaN or infinite samples")
        return np.clip(samples, -1.0, 1.0)
    if encoding == "pcm16":
        if len(data) % 2:
            raise ProtocolError("bad_audio", f"pcm16 frame of {len(data)} bytes has an odd byte count")
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if encoding in ("mulaw", "alaw"):
        if encoding not in _TABLES:
            _TABLES[encoding] = _mulaw_table() if encoding == "mulaw" else _alaw_table()
        return _TABLES[encoding][np.frombuffer(data, dtype=np.uint8)]
    raise ProtocolError("bad_config", f"unsupported encoding {encoding!r}")


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


class AudioConverter:
    """Per-connection converter: frames in, canonical PCM16 chunks with offsets out."""

    def __init__(self, *, sample_rate: int, encoding: str) -> None:
        self.encoding = encoding
        self.sample_rate = sample_rate
        self._resampler = (soxr.ResampleStream(sample_rate, CANONICAL_RATE, 1, dtype="float32", quality="HQ")
                           if sample_rate != CANONICAL_RATE else None)
        self._pending = np.zeros(0, np.int16)
        self.offset = 0  # canonical samples emitted so far

    def push(self, data: bytes) -> list[tuple[int, np.ndarray]]:
        """Convert one frame; return (offset, pcm16) chunks ready to publish."""
        samples = decode_frame(data, self.encoding)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        return self._chunks(to_pcm16(samples), final=False)

    def flush(self) -> list[tuple[int, np.ndarray]]:
        """Everything still buffered (resampler tail included), e.g. before finalize or end."""
        tail = np.zeros(0, np.int16)
        if self._resampler is not None:
            tail = to_pcm16(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
            self._resampler = soxr.ResampleStream(self.sample_rate, CANONICAL_RATE, 1, dtype="float32",
                                                  quality="HQ")
        return self._chunks(tail, final=True)

    def _chunks(self, pcm: np.ndarray, *, final: bool) -> list[tuple[int, np.ndarray]]:
        buffered = np.concatenate([self._pending, pcm]) if len(self._pending) else pcm
        chunks = []
        start = 0
        while len(buffered) - start >= MAX_CHUNK:
            chunks.append(buffered[start:start + MAX_CHUNK])
            start += MAX_CHUNK
        rest = buffered[start:]
        if len(rest) >= MIN_CHUNK or (final and len(rest)):
            chunks.append(rest)
            rest = rest[:0]
        self._pending = rest.copy()
        out = []
        for chunk in chunks:
            out.append((self.offset, chunk))
            self.offset += len(chunk)
        return out
