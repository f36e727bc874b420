"""The seed RNN-T server's protocol at ``/ws/transcribe``, so its browser, Node and React clients work unchanged.

``/ws/transcribe?client_id=ID``; the server greets with ``connection``; the client sends
``start_recording`` (with an optional ``config``), binary PCM, ``stop_recording``, ``ping`` and
``configure`` (``silence_duration`` sets endpointing; the seed's energy ``vad_threshold`` means
nothing to a neural VAD and is ignored); the server answers ``recording_started``, ``partial``,
``transcription`` (with word times from the ASR's alignment and the utterance's ``start``/``end``
in audio seconds), ``recording_stopped``, ``pong`` and ``error``. One recording per connection.
docs/rnnt.md.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import ClassVar

from common.errors import ErrorCode, ProtocolError
from common.records import SAMPLE_RATE

from ..core import events
from ..core.config import SessionConfig
from . import kit
from .base import CloseFrame, Door, Outgoing
from .kit import CallState

PROTOCOL_VERSION = "1.0"
ENCODINGS = ("pcm16", "float32")
CLIENT_TYPES = ("start_recording", "stop_recording", "configure", "ping")
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)


class RnntDoor(Door):
    name: ClassVar[str] = "rnnt"

    def __init__(self, handshake, **options) -> None:
        super().__init__(handshake, **options)
        given = kit.Query(handshake.query).last("client_id")
        if given is not None and not _CLIENT_ID.fullmatch(given):
            raise kit.refusal(400, {"type": "error", "error": "client_id must be 1-128 letters, digits or . _ : @ -"})
        self.client_id = given if given is not None else f"client_{uuid.uuid4().hex[:12]}"
        self.vad: dict = {}
        self.state = CallState.AWAITING_OPEN  # OPEN at start_recording, CLOSING at stop_recording
        self.client_config: dict = {}
        self.segments: dict[str, int] = {}  # utterance id -> segment id, until its final
        self.next_segment = 0
        self.finals: list[str] = []

    def opening(self) -> list[events.Operation]:
        return [events.Reply({"type": "connection", "status": "connected", "client_id": self.client_id,
                              "message": "WebSocket connected successfully", "protocol_version": PROTOCOL_VERSION,
                              "supported_audio_formats": {"sample_rates": [8000, 16000, 44100, 48000],
                                                          "encodings": list(ENCODINGS), "channels": [1, 2]}})]

    # -- client to core --------------------------------------------------------------

    def receive(self, message: str | bytes) -> list[events.Operation]:
        if isinstance(message, bytes):
            if self.state is not CallState.OPEN:
                return []  # the seed ignored audio outside a recording
            return [events.Audio(message)]
        body = kit.parse_json(message)
        kind = body.get("type")
        if kind == "ping":
            return [events.Reply({"type": "pong"})] if self.state is CallState.AWAITING_OPEN else \
                [events.KeepAlive(), events.Reply({"type": "pong"})]
        if kind == "start_recording":
            if self.state is not CallState.AWAITING_OPEN:
                raise ProtocolError(ErrorCode.PROTOCOL, "recording already started on this connection")
            config = kit.mapping(body.get("config") or {}, "start_recording.config")
            opened = events.Open(self._config(config), call_id=self.client_id)
            self.state = CallState.OPEN
            self.client_config = config
            return [opened]
        if kind == "stop_recording":
            if self.state is CallState.AWAITING_OPEN:
                raise ProtocolError(ErrorCode.PROTOCOL, "stop_recording before start_recording")
            if self.state is CallState.CLOSING:
                return []
            self.state = CallState.CLOSING
            return [events.Close()]
        if kind == "configure":
            return [self._configure(body)]
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind!r}; expected one of "
                                                    f"{', '.join(CLIENT_TYPES)}")

    def _config(self, config: dict) -> SessionConfig:
        values: dict = {"encoding": "pcm16", "words": True, "vad": dict(self.vad), "multichannel": False}
        values["sample_rate"] = kit.integer(config.get("sample_rate", SAMPLE_RATE), "config.sample_rate")
        values["encoding"] = kit.choice(config.get("encoding", "pcm16"), "config.encoding", ENCODINGS)
        values["channels"] = kit.choice(config.get("channels", 1), "config.channels", (1, 2), expected="1 or 2")
        language = config.get("language")
        if language is not None:
            values["language"] = kit.string(language, "config.language")
        return kit.session_config(**values)

    def _configure(self, body: dict) -> events.Reply:
        if self.state is not CallState.AWAITING_OPEN:
            raise ProtocolError(ErrorCode.PROTOCOL, "configure is taken before start_recording only")
        silence = body.get("silence_duration")
        if silence is not None:
            vad = {**self.vad, "silence_threshold": kit.number(silence, "silence_duration",
                                                               expected="a number of seconds")}
            kit.session_config(vad=vad)
            self.vad = vad
        return events.Reply({"type": "configured", "config": {"silence_duration": self.vad.get("silence_threshold")}})

    # -- core to client ------------------------------------------------------------

    def render(self, event: events.Event) -> list[Outgoing]:
        if isinstance(event, events.Ended):
            out: list[Outgoing] = []
            if event.complete:
                out.append(self._json({"type": "recording_stopped", "final_transcript": " ".join(self.finals),
                                       "total_duration": _seconds(event.audio_ms),
                                       "total_segments": len(self.finals), "timestamp": _now()}))
            return [*out, CloseFrame(event.close_code, event.reason[:120])]
        if isinstance(event, events.Reply):
            return [self._json(event.message)]
        if isinstance(event, events.Opened):
            return [self._json({"type": "recording_started", "timestamp": _now(), "config": self.client_config,
                                "session_id": event.call_id})]
        if isinstance(event, events.Final):
            return [self._json(self._final(event))]
        if isinstance(event, events.Partial):
            return [self._json({"type": "partial", "segment_id": self._segment(event.utterance_id),
                                "text": event.text, "is_final": False, "timestamp": _now()})]
        if isinstance(event, events.Error):
            return [self._json({"type": "error", "error": event.message, "code": str(event.code),
                                "timestamp": _now()})]
        return []  # speech started, utterance end, flushed: not part of this protocol

    def _segment(self, utterance_id: str, *, final: bool = False) -> int:
        segment = self.segments.pop(utterance_id) if final else self.segments.get(utterance_id)
        if segment is None:
            segment = self.next_segment
            self.next_segment += 1
            if not final:
                self.segments[utterance_id] = segment
        return segment

    def _final(self, event: events.Final) -> dict:
        if event.text:
            self.finals.append(event.text)
        return {"type": "transcription", "segment_id": self._segment(event.utterance_id, final=True),
                "text": event.text,
                "is_final": True,
                "words": [{"word": w.text, "start": _seconds(w.start_ms), "end": _seconds(w.end_ms),
                           "confidence": round(w.confidence, 4)} for w in event.words],
                "duration": _seconds(event.end_ms - event.start_ms), "start": _seconds(event.start_ms),
                "end": _seconds(event.end_ms), "utterance_id": event.utterance_id, "timestamp": _now()}

    @staticmethod
    def _json(message: object) -> str:
        return json.dumps(message, ensure_ascii=False)
