"""A call's audio in: the client's frames converted, then published to each channel's pipeline session
and handed to the call's features, until the input ends (a close, a disconnect)."""

from __future__ import annotations

from collections.abc import Sequence

from common.errors import ErrorCode, ProtocolError
from common.records import End, Flush

from ..core.audio import BATCH_MAX_CHUNK, MAX_CHUNK, CallAudio
from ..core.config import SessionConfig
from ..core.session import PipelineSession
from .feature import Chunks, Features


class AudioIn:
    def __init__(self, config: SessionConfig, sessions: Sequence[PipelineSession], features: Features, *,
                 batch: bool, echo_margin_db: float = 0.0) -> None:
        """``sessions``: one per channel (or one for the mixed-down audio); ``batch``: a recording, cut
        into longer records; ``echo_margin_db``: the echo gate's (:mod:`..core.echo`; 0: none)."""
        self.converted = CallAudio(sample_rate=config.sample_rate, encoding=config.encoding,
                                   channels=config.channels, mix_down=not config.multichannel,
                                   max_chunk=BATCH_MAX_CHUNK if batch else MAX_CHUNK, echo_margin_db=echo_margin_db)
        self.channels = config.channels
        self.sessions = sessions
        self.features = features
        self.finished = False  # End was published: no more input

    async def push(self, data: bytes, *, channel: int | None = None) -> float:
        """Publish one client frame (all channels interleaved, or one ``channel``'s own); its duration
        in seconds. Raise :class:`ProtocolError` if it is malformed or the input ended."""
        if self.finished:
            raise ProtocolError(ErrorCode.PROTOCOL, "audio after close")
        converted = self.converted
        outputs = converted.push(data) if channel is None else converted.push_channel(data, channel)
        for index, chunks in enumerate(outputs):
            if chunks:
                await self._publish(index, chunks)
        return len(data) * (1 if channel is None else self.channels) / converted.bytes_per_second

    async def flush(self, *then: Flush | End) -> None:
        """Publish what the converters hold (a resampler's tail) on every channel, then ``then``."""
        for channel, chunks in enumerate(self.converted.flush()):
            await self._publish(channel, chunks, *then)

    async def finish(self, reason: str) -> None:
        """End the input: what is held, then End (``reason``) on every channel; once."""
        if self.finished:
            return
        self.finished = True
        await self.flush(End(seq=0, reason=reason))

    def take_gated_seconds(self) -> float:
        """Seconds of audio the echo gate silenced since the last call (over all channels)."""
        echo = self.converted.echo
        samples, echo.gated_samples = echo.gated_samples, 0
        return samples / self.converted.sample_rate

    @property
    def offset_ms(self) -> int:
        """Audio received so far, in ms."""
        return self.converted.offset_ms

    @property
    def offsets(self) -> list[int]:
        """Each channel's samples converted so far (a parked call's state)."""
        return [converter.offset for converter in self.converted.converters]

    @offsets.setter
    def offsets(self, offsets: Sequence[int]) -> None:
        for converter, offset in zip(self.converted.converters, offsets):
            converter.offset = offset

    async def _publish(self, channel: int, chunks: Chunks, *then: Flush | End) -> None:
        await self.sessions[channel].publish_audio(chunks, *then)
        self.features.audio(channel, chunks)
