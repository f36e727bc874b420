"""The seed whisper-streaming protocol: WebSocket ``/ws/stream`` and its raw TCP twin.

WebSocket ``/ws/stream[?language=en]``: the server sends ``{"type": "ready",
"sample_rate": 16000}`` once the session is admitted; the client then sends
binary frames of PCM16 little-endian mono 16 kHz audio, and may send the text
message ``flush`` (end the current utterance now; answered, after its final,
by ``{"type": "flushed"}``) or ``close`` (no more audio: the server sends every
remaining result, then closes normally). Each committed utterance comes as
``{"type": "final", "beg_ms": 1200, "end_ms": 3400, "text": "..."}`` (audio
time from the start of the stream); errors as ``{"type": "error", "code",
"message"}``. Empty finals are not sent.

TCP (``--tcp-port``, :mod:`gateway.tcp`): the client sends PCM16LE mono 16 kHz
bytes, nothing else; the server writes one line ``<beg_ms> <end_ms> <text>\\n``
per committed final, as whisper_online_server did. A client that half-closes
its side (EOF) gets every remaining line before the server closes; an error is
one line ``error <code> <message>`` before the close.
"""

from __future__ import annotations

import json
from typing import ClassVar

from common.errors import ConfigError, ErrorCode, ProtocolError
from common.records import SAMPLE_RATE

from ..core import events
from ..core.config import SessionConfig
from . import kit
from .base import CloseFrame, Door, Outgoing

_CONTROL: dict[str, events.Operation] = {"flush": events.Finalize(), "close": events.Close()}


def _config(language: str | None) -> SessionConfig:
    return SessionConfig(sample_rate=SAMPLE_RATE, encoding="pcm16", language=language)


def _single_line(text: str) -> str:
    return " ".join(text.split())


class WhisperStreamDoor(Door):
    """``/ws/stream``: the session opens with the handshake."""

    name: ClassVar[str] = "whisper_stream"

    def __init__(self, handshake, **options) -> None:
        super().__init__(handshake, **options)
        query = kit.Query(handshake.query)
        unknown = query.names() - {"language"}
        if unknown:
            raise kit.refusal(400, {"error": str(ErrorCode.BAD_CONFIG),
                                    "message": f"unknown query parameter(s): {', '.join(sorted(unknown))}; "
                                               "/ws/stream takes only language"})
        try:
            self.config = _config(query.last("language") or None)
        except ConfigError as exc:
            raise kit.refusal(400, {"error": str(ErrorCode.BAD_CONFIG), "message": str(exc)}) from None

    def opening(self) -> list[events.Operation]:
        return [events.Open(self.config)]

    def receive(self, message: str | bytes) -> list[events.Operation]:
        if isinstance(message, bytes):
            return [events.Audio(message)]
        word = message.strip()
        if word not in _CONTROL:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown text message {word[:40]!r}; send binary "
                                                        "PCM16 audio, 'flush' or 'close'")
        return [_CONTROL[word]]

    def render(self, event: events.Event) -> list[Outgoing]:
        if isinstance(event, events.Ended):
            return [CloseFrame(event.close_code, event.reason[:120])]
        if isinstance(event, events.Opened):
            return [json.dumps({"type": "ready", "sample_rate": SAMPLE_RATE})]
        if isinstance(event, events.Final) and event.text:
            return [json.dumps({"type": "final", "beg_ms": event.start_ms, "end_ms": event.end_ms,
                                "text": event.text}, ensure_ascii=False)]
        if isinstance(event, events.Flushed):
            return [json.dumps({"type": "flushed"})]
        if isinstance(event, events.Error):
            return [json.dumps({"type": "error", "code": str(event.code), "message": event.message},
                               ensure_ascii=False)]
        return []


class TcpDoor(Door):
    """The raw TCP twin: bytes in, lines out. ``b""`` from the transport is the client's EOF."""

    name: ClassVar[str] = "tcp"

    def __init__(self, handshake, *, language: str | None = None, **options) -> None:
        super().__init__(handshake, **options)
        self.config = _config(language)
        self._odd = b""  # a sample split between two reads
        self._eof = False

    def opening(self) -> list[events.Operation]:
        return [events.Open(self.config)]

    def receive(self, message: str | bytes) -> list[events.Operation]:
        if isinstance(message, str):
            raise ProtocolError(ErrorCode.PROTOCOL, "the TCP stream carries bytes only")
        if not message:
            if self._eof:
                return []
            self._eof = True
            return [events.Close()]  # a trailing odd byte is half a sample: dropped
        data = self._odd + message
        whole = len(data) - len(data) % 2
        self._odd = data[whole:]
        return [events.Audio(data[:whole])] if whole else []

    def render(self, event: events.Event) -> list[Outgoing]:
        if isinstance(event, events.Ended):
            return [CloseFrame(event.close_code, event.reason[:120])]
        if isinstance(event, events.Final) and event.text:
            return [f"{event.start_ms} {event.end_ms} {_single_line(event.text)}\n"]
        if isinstance(event, events.Error):
            return [f"error {event.code} {_single_line(event.message)}\n"]
        return []
