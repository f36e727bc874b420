"""Client audio to canonical audio: decode, resample to 16 kHz, chunk as PCM16.

Clients send float32 (default), PCM16, mu-law or A-law at 8-48 kHz in frames of
any size. :class:`AudioConverter` keeps per-connection resampler state so that
frame boundaries leave no seams, and emits chunks of 20-100 ms: a live call's
audio goes on at once. A recording's (a batch session's, unpaced) goes in chunks of
up to :data:`BATCH_MAX_CHUNK`, 500 ms: its latency does not matter, and every
record costs each stage and Redis about the same whatever its size.
"""

from __future__ import annotations

import numpy as np
import soxr

from common.errors import ProtocolError
from common.records import SAMPLE_RATE as CANONICAL_RATE

from .echo import EchoGate

MIN_CHUNK = CANONICAL_RATE // 50  # 20 ms
MAX_CHUNK = CANONICAL_RATE // 10  # 100 ms
BATCH_MAX_CHUNK = CANONICAL_RATE // 2  # 500 ms
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
SAMPLE_WIDTH = {"float32": 4, "pcm16": 2, "mulaw": 1, "alaw": 1}


def decode_frame(data: bytes, encoding: str, channels: int = 1) -> np.ndarray:
    """Decode one client frame to float32 samples ``[n, channels]``; raise :class:`ProtocolError` if malformed."""
    width = SAMPLE_WIDTH.get(encoding)
    if width is None:
        raise ProtocolError("bad_config", f"unsupported encoding {encoding!r}")
    if len(data) % (width * channels):
        layout = f"{channels}-channel {encoding}" if channels > 1 else encoding
        if width * channels == 2:
            raise ProtocolError("bad_audio", f"{layout} frame of {len(data)} bytes has an odd byte count")
        raise ProtocolError("bad_audio", f"{layout} frame of {len(data)} bytes is not a multiple of "
                                         f"{width * channels}")
    if encoding == "float32":
        samples = np.frombuffer(data, dtype="<f4")
        if not np.all(np.isfinite(samples)):
            raise ProtocolError("bad_audio", "float32 frame contains NaN or infinite samples")
        samples = np.clip(samples, -1.0, 1.0)
    elif encoding == "pcm16":
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    else:
        if encoding not in _TABLES:
            _TABLES[encoding] = _mulaw_table() if encoding == "mulaw" else _alaw_table()
        samples = _TABLES[encoding][np.frombuffer(data, dtype=np.uint8)]
    return samples.reshape(-1, channels)


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


class AudioConverter:
    """Per-connection converter: frames in, canonical PCM16 chunks with offsets out.

    ``max_chunk``: samples per chunk at most (:data:`MAX_CHUNK`; a recording's:
    :data:`BATCH_MAX_CHUNK`).
    """

    def __init__(self, *, sample_rate: int, encoding: str, max_chunk: int = MAX_CHUNK) -> None:
        self.encoding = encoding
        self.sample_rate = sample_rate
        self.max_chunk = max_chunk
        self._resampler = (soxr.ResampleStream(sample_rate, CANONICAL_RATE, 1, dtype="float32", quality="HQ")
                           if sample_rate != CANONICAL_RATE else None)
        self._pending = np.zeros(0, np.int16)
        self.offset = 0  # canonical samples emitted so far

    def push(self, data: bytes) -> list[tuple[int, np.ndarray]]:
        """Convert one mono frame; return (offset, pcm16) chunks ready to publish."""
        if self.encoding == "pcm16" and self._resampler is None:
            # Already canonical: the float round trip would give back the same samples.
            if len(data) % 2:
                raise ProtocolError("bad_audio", f"pcm16 frame of {len(data)} bytes has an odd byte count")
            pcm = np.frombuffer(data, dtype="<i2")
            if not len(self._pending) and MIN_CHUNK <= len(pcm) <= self.max_chunk:
                # The common case (a client sending 20-100 ms frames): the frame is the chunk.
                offset = self.offset
                self.offset += len(pcm)
                return [(offset, pcm)]
            return self._chunks(pcm, final=False)
        return self.push_samples(decode_frame(data, self.encoding)[:, 0])

    def push_samples(self, samples: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Convert float32 mono samples at the client's rate."""
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
        while len(buffered) - start >= self.max_chunk:
            chunks.append(buffered[start:start + self.max_chunk])
            start += self.max_chunk
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


class CallAudio:
    """A call's audio in: decode interleaved frames, then split or mix down the channels.

    Each output (a channel, or the mix) has its own :class:`AudioConverter`, so
    every pipeline session gets gap-free canonical chunks with its own offsets. Channels kept
    apart go through an :class:`~.echo.EchoGate` first (``echo_margin_db``; 0: none).
    """

    def __init__(self, *, sample_rate: int, encoding: str, channels: int = 1, mix_down: bool = False,
                 max_chunk: int = MAX_CHUNK, echo_margin_db: float = 0.0) -> None:
        self.encoding = encoding
        self.channels = channels
        self.mix_down = mix_down
        self.sample_rate = sample_rate
        outputs = 1 if mix_down else channels
        self.converters = [AudioConverter(sample_rate=sample_rate, encoding=encoding, max_chunk=max_chunk)
                           for _ in range(outputs)]
        self.bytes_per_second = float(SAMPLE_WIDTH[encoding] * channels * sample_rate)
        self.echo = EchoGate(channels=outputs, rate=sample_rate, margin_db=echo_margin_db)

    def push(self, data: bytes) -> list[list[tuple[int, np.ndarray]]]:
        """Chunks ready to publish, one list per output; raise :class:`ProtocolError` if malformed."""
        if self.channels == 1:
            return [self.converters[0].push(data)]
        frames = decode_frame(data, self.encoding, self.channels)
        if self.mix_down:
            return [self.converters[0].push_samples(frames.mean(axis=1, dtype=np.float32))]
        return self._convert(self.echo.push_frames(frames))  # (a gate that is off passes them on)

    def push_channel(self, data: bytes, channel: int) -> list[list[tuple[int, np.ndarray]]]:
        """Chunks ready to publish, one list per output, after one channel's own mono frame (the
        echo gate may release other channels' audio of the same time with it)."""
        if not 0 <= channel < self.channels:
            raise ProtocolError("bad_audio", f"channel {channel} is not one of this call's {self.channels}")
        if self.mix_down:
            raise ProtocolError("protocol", "per-channel audio needs a multichannel session")
        return self._convert(self.echo.push(channel, decode_frame(data, self.encoding)[:, 0]))

    def flush(self) -> list[list[tuple[int, np.ndarray]]]:
        """What the echo gate and the converters hold, one list per output."""
        held = self._convert(self.echo.flush())
        return [chunks + converter.flush() for chunks, converter in zip(held, self.converters)]

    def _convert(self, outputs: list[np.ndarray]) -> list[list[tuple[int, np.ndarray]]]:
        return [converter.push_samples(np.ascontiguousarray(samples)) if len(samples) else []
                for converter, samples in zip(self.converters, outputs)]

    @property
    def offset_ms(self) -> int:
        """Audio received so far, in ms."""
        return self.converters[0].offset * 1000 // CANONICAL_RATE
