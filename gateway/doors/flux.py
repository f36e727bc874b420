"""Deepgram Flux at ``/v2/listen``: turn events for voice agents, on the same session core.

Flux clients (Deepgram's SDKs' ``listen.v2``, pipecat's and LiveKit's Flux services) get
``TurnInfo`` messages (``StartOfTurn``, ``Update``, ``EagerEndOfTurn``, ``TurnResumed``,
``EndOfTurn``) instead of ``Results``; the handshake, audio, refusals and close codes are
``/v1/listen``'s (:mod:`.deepgram_common`) and the turns :class:`~.turns.TurnTracker`'s. A turn
starts at its first words, not at the VAD's speech start, because a noise that yields no words
would open a turn no final ends. ``eager_eot_threshold`` turns on eager finals; its value, like
``eot_threshold``, has no equivalent here.

Honoured: ``encoding``, ``sample_rate``, ``model``, ``eager_eot_threshold``, ``eot_timeout_ms``,
``keyterm``, ``language_hint``, ``redact``. Accepted and ignored: ``eot_threshold``, ``tag``,
and the flags ``profanity_filter``, ``numerals``, ``mip_opt_out``. docs/flux.md says what each
does, and every event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from common.errors import ErrorCode

from ..core import events
from . import deepgram_common as common
from . import kit
from .base import Door, Handshake, Outgoing
from .turns import TurnInfo, TurnTracker

DEFAULT_MODEL = "flux-general-en"
HONOURED = ("encoding", "sample_rate", "model", "eager_eot_threshold", "eot_timeout_ms", "keyterm",
            "language_hint", "redact")
IGNORED_FLAGS = ("profanity_filter", "numerals", "mip_opt_out")
IGNORED = ("eot_threshold", "tag")
_CONTROL: dict[str, events.Operation] = {"CloseStream": events.Close(), "ForceEndTurn": events.Finalize(),
                                         "KeepAlive": events.KeepAlive()}


@dataclass(frozen=True, kw_only=True)
class FluxSettings(common.StreamSettings):
    """The handshake's Flux parameters, checked; :class:`ConfigError` names a bad one."""

    eager_threshold: float | None = None  # eager_eot_threshold; set: eager finals

    @classmethod
    def from_query(cls, query: kit.Query) -> FluxSettings:
        common.refuse_recording_only(query)
        common.check_flags(query, IGNORED_FLAGS)
        encoding, sample_rate = common.audio_format(query)
        model = query.last("model") or DEFAULT_MODEL
        eager_threshold = query.number("eager_eot_threshold", 0.3, 0.9)
        query.number("eot_threshold", 0.5, 1.0)
        timeout = query.integer("eot_timeout_ms", 500, int(common.NO_ENDPOINTING_SEC * 1000))
        hints = query.all("language_hint")
        return cls(encoding=encoding, sample_rate=sample_rate, model=model,
                   language="en" if not model.endswith("-multi") else hints[0] if len(hints) == 1 else None,
                   detect_language=model.endswith("-multi") and len(hints) != 1,
                   languages=tuple(hints) if model.endswith("-multi") and len(hints) > 1 else (),
                   context=common.context(query.all("keyterm")),
                   vad={} if timeout is None else {"silence_threshold": timeout / 1000},
                   eager_finals=eager_threshold is not None, eager_threshold=eager_threshold,
                   redact=common.redact(query))


class FluxDoor(Door):
    name: ClassVar[str] = "flux"

    def __init__(self, handshake: Handshake, **options) -> None:
        super().__init__(handshake, **options)
        self.intake = common.Intake.accept(handshake, FluxSettings.from_query, controls=_CONTROL)
        self.request_id = self.intake.request_id
        assert isinstance(self.intake.settings, FluxSettings)  # what FluxSettings.from_query read
        self.settings: FluxSettings = self.intake.settings
        self.turns = TurnTracker(eager_confidence=self.settings.eager_threshold)
        self.sequence_id = 0
        self._fatal: ErrorCode | None = None

    def response_headers(self) -> list[tuple[str, str]]:
        return common.response_headers(self.request_id)

    def opening(self) -> list[events.Operation]:
        return self.intake.opening()

    # -- client to core ---------------------------------------------------------------------------

    def receive(self, message: str | bytes) -> list[events.Operation]:
        if isinstance(message, bytes):
            return self.intake.audio(message)
        body = kit.parse_json(message)
        if body.get("type") == "Configure":
            return [events.Reply({"type": "ConfigureFailure", "request_id": self.request_id, "code": "UNSUPPORTED",
                                  "description": "Configure is not supported by this server: settings are fixed "
                                                 "at the handshake"})]
        return self.intake.control(body)

    # -- core to client ----------------------------------------------------------------------------

    def render(self, event: events.Event) -> list[Outgoing]:
        if isinstance(event, events.Ended):
            return [common.close_frame(event, self._fatal)]
        if isinstance(event, events.Opened):
            messages = [{"type": "Connected", "request_id": self.request_id}]
        elif isinstance(event, events.Partial):
            messages = [self._turn_info(info) for info in self.turns.partial(event)]
        elif isinstance(event, events.Final):
            messages = [self._turn_info(info) for info in self.turns.final(event)]
        elif isinstance(event, events.Flushed):
            messages = [self._turn_info(info) for info in self.turns.flushed()]  # ForceEndTurn, nothing pending
        elif isinstance(event, events.Error):
            if event.fatal:
                self._fatal = event.code
            messages = [{"type": "Error" if event.fatal else "Warning", "request_id": self.request_id,
                         "code": str(event.code).upper(), "description": event.message}]
        elif isinstance(event, events.Reply):
            assert isinstance(event.message, dict)  # this door's replies
            messages = [dict(event.message)]
        else:
            messages = []  # speech started, utterance end: the turn events say it
        return [self._numbered(message) for message in messages]

    def _numbered(self, message: dict) -> str:
        message["sequence_id"] = self.sequence_id
        self.sequence_id += 1
        return json.dumps(message, ensure_ascii=False)

    def _turn_info(self, info: TurnInfo) -> dict:
        words = [{"word": w.text, "confidence": round(w.confidence, 4)} if w.start_ms is None or w.end_ms is None else
                 {"word": w.text, "confidence": round(w.confidence, 4), "start": w.start_ms / 1000,
                  "end": w.end_ms / 1000} for w in info.words]
        message = {"type": "TurnInfo", "event": info.event.value, "request_id": self.request_id,
                   "turn_index": info.turn_index, "audio_window_start": info.start_ms / 1000,
                   "audio_window_end": info.end_ms / 1000, "transcript": info.transcript, "words": words,
                   "end_of_turn_confidence": info.confidence}
        if info.trigger is not None:
            message["trigger"] = info.trigger
        return message
