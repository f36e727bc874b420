"""Deepgram Flux at ``/v2/listen``: turn events for voice agents, on the same session core.

Flux clients (the Deepgram SDKs' ``listen.v2``, pipecat's and LiveKit's Flux
services) get ``TurnInfo`` messages instead of ``Results``. The handshake,
the audio (``encoding`` ``linear16``, ``mulaw`` or ``alaw`` with
``sample_rate``, or left out for a WAV stream), the ``dg-request-id`` header, refusals (HTTP 400 with ``err_code``)
and close codes are the Deepgram door's (:mod:`.deepgram`), and so is
authentication, which the server does for every door.

Parameters honoured:

- ``model`` (default ``flux-general-en``: English; ``flux-general-multi``:
  the language is detected, or ``language_hint`` when exactly one is given).
- ``eager_eot_threshold`` (0.3-0.9): its presence turns on eager finals, the
  speculative final at each pause; the value itself has no equivalent here.
- ``eot_timeout_ms`` (500-10000): the silence that ends a turn (the VAD's
  ``silence_threshold``; 10 s is the most the VAD allows). Absent: the
  deployment's silence threshold, not Flux's 5 s.
- ``keyterm`` (repeatable): joined into the recogniser's context.

Accepted and ignored (``eot_threshold`` range-checked, flags checked):
``eot_threshold`` (0.5-1.0; the turn ends at the endpoint the VAD and the
recogniser find), ``profanity_filter``, ``numerals``, ``mip_opt_out``,
``redact``, ``tag``; unknown parameters too, as new SDK versions add some.

Events (``TurnInfo`` with ``event``, ``turn_index``, ``audio_window_start`` /
``audio_window_end`` in audio seconds, ``transcript`` of the whole turn so far,
``words`` and ``end_of_turn_confidence``), from the core's events:

- ``StartOfTurn``: the turn's first words (a partial or final with text). Not
  the VAD's speech start: a noise that yields no words would open a turn that
  no final ever ends.
- ``Update``: a partial; the transcript is the turn's finals and the partial.
- ``EagerEndOfTurn`` (only with ``eager_eot_threshold``): a final with
  ``speech_final`` false, the speech so far, sent at a pause before the endpoint.
- ``TurnResumed``: new words after an ``EagerEndOfTurn`` (a partial or final
  with text), before anything else about them.
- ``EndOfTurn``: a final with ``speech_final`` true; the transcript is the
  turn's finals joined, so after an ``EagerEndOfTurn`` with no new words it is
  the same. ``trigger`` is ``manual`` after ``ForceEndTurn``, ``model`` otherwise.
  ``turn_index`` counts turns from 0.

``end_of_turn_confidence`` has no model figure here: 1.0 on ``EndOfTurn``, the
``eager_eot_threshold`` on ``EagerEndOfTurn``, 0.0 otherwise. Words are the
finals' (timed) followed by the partial's (untimed), punctuated as written.

Client messages: binary audio; ``ForceEndTurn`` (the core's finalize: the
turn's ``EndOfTurn`` with ``trigger: manual``, even when nothing was pending
but the turn had begun); ``CloseStream`` (every result, so the open turn's
``EndOfTurn`` when its final comes, then close 1000; Flux itself stops at the last ``Update``, without a
close code); ``KeepAlive``. ``Configure`` is answered with ``ConfigureFailure``
(settings cannot change mid-stream here). Every server message carries
``sequence_id`` from 0. Bad JSON or an unknown type is answered with a
``Warning`` (``code``, ``description``) and the stream goes on; a fatal error
is an ``Error`` message, then the close.
"""

from __future__ import annotations

import json
from typing import ClassVar

from ..core import events
from .base import Outgoing
from .deepgram import NO_ENDPOINTING_SEC, DeepgramDoor, Settings

DEFAULT_MODEL = "flux-general-en"
HONOURED = ("encoding", "sample_rate", "model", "eager_eot_threshold", "eot_timeout_ms", "keyterm",
            "language_hint")
IGNORED_FLAGS = ("profanity_filter", "numerals", "mip_opt_out")
IGNORED = ("eot_threshold", "redact", "tag")
_CONTROL = {"CloseStream": events.Close(), "ForceEndTurn": events.Finalize(), "KeepAlive": events.KeepAlive()}
IDLE, ONGOING, AWAITING = "idle", "ongoing", "awaiting"  # turn phases: none, words coming, after an eager end


class FluxSettings(Settings):
    """The handshake's Flux parameters, checked; :class:`ConfigError` names a bad one."""

    ignored_flags = IGNORED_FLAGS
    punctuate = True  # Flux's transcripts are punctuated and cased

    def __init__(self, query: list[tuple[str, str]]) -> None:
        params = self._common(query)
        self.model = params.last("model") or DEFAULT_MODEL
        self.eager_threshold = params.number("eager_eot_threshold", 0.3, 0.9)
        self.eager_finals = self.eager_threshold is not None
        params.number("eot_threshold", 0.5, 1.0)
        timeout = params.integer("eot_timeout_ms", 500, int(NO_ENDPOINTING_SEC * 1000))
        self.vad = {} if timeout is None else {"silence_threshold": timeout / 1000}
        hints = params.values.get("language_hint", [])
        self.language = "en" if not self.model.endswith("-multi") else hints[0] if len(hints) == 1 else None
        self.context = self._context(params.values.get("keyterm", []))


class FluxDoor(DeepgramDoor):
    name: ClassVar[str] = "flux"
    settings_class = FluxSettings
    controls = _CONTROL

    def __init__(self, handshake, **options) -> None:
        super().__init__(handshake, **options)
        self.sequence_id = 0
        self.turn_index = 0
        self._phase = IDLE
        self._texts: list[str] = []  # the turn's finals
        self._words: list[dict] = []  # their words
        self._pending: events.Partial | None = None  # the latest partial after them
        self._window = (0, 0)  # audio of the turn, ms

    def _text(self, body: dict) -> list[events.Operation]:
        if body.get("type") == "Configure":
            return [events.Reply({"type": "ConfigureFailure", "request_id": self.request_id, "code": "UNSUPPORTED",
                                  "description": "Configure is not supported by this server: settings are fixed "
                                                 "at the handshake"})]
        return super()._text(body)

    # -- core to client ----------------------------------------------------------------------------

    def render(self, event: events.Event) -> list[Outgoing]:
        if isinstance(event, events.Ended):
            return [self._close_frame(event)]
        if isinstance(event, events.Opened):
            messages = [{"type": "Connected", "request_id": self.request_id}]
        elif isinstance(event, events.Partial):
            messages = self._partial(event)
        elif isinstance(event, events.Final):
            messages = self._final(event)
        elif isinstance(event, events.Flushed) and self._phase != IDLE:
            messages = [self._end_of_turn("manual")]  # ForceEndTurn when the turn had no final pending
        elif isinstance(event, events.Error):
            if event.fatal:
                self._fatal = event.code
            messages = [{"type": "Error" if event.fatal else "Warning", "request_id": self.request_id,
                         "code": str(event.code).upper(), "description": event.message}]
        elif isinstance(event, events.Reply):
            messages = [dict(event.message)]
        else:
            messages = []  # speech started, utterance end: the turn events say it
        return [self._numbered(message) for message in messages]

    def _numbered(self, message: dict) -> str:
        message["sequence_id"] = self.sequence_id
        self.sequence_id += 1
        return json.dumps(message, ensure_ascii=False)

    def _partial(self, event: events.Partial) -> list[dict]:
        if not event.text.strip():
            return []
        self._pending = event
        self._extend(event)
        return [self._turn_info(self._advance() or "Update")]

    def _final(self, event: events.Final) -> list[dict]:
        self._pending = None
        messages = []
        text = event.text.strip()
        if text:
            self._extend(event)
            self._texts.append(text)
            self._words += [{"word": w.text.strip(), "confidence": round(w.confidence, 4), "start": w.start_ms / 1000,
                             "end": w.end_ms / 1000} for w in event.words]
            if kind := self._advance():
                messages.append(self._turn_info(kind))
        if event.speech_final:
            if self._phase != IDLE:
                messages.append(self._end_of_turn("manual" if event.from_finalize else "model"))
        elif text and self.settings.eager_finals:
            messages.append(self._turn_info("EagerEndOfTurn", confidence=self.settings.eager_threshold))
            self._phase = AWAITING
        elif text and not messages:
            messages.append(self._turn_info("Update"))
        return messages

    def _advance(self) -> str | None:
        """New words came: the state change they make (StartOfTurn, TurnResumed), or None."""
        kind = {IDLE: "StartOfTurn", AWAITING: "TurnResumed"}.get(self._phase)
        self._phase = ONGOING
        return kind

    def _extend(self, event: events.Transcript) -> None:
        start, end = self._window
        self._window = (event.start_ms, event.end_ms) if self._phase == IDLE else (start, max(end, event.end_ms))

    def _end_of_turn(self, trigger: str) -> dict:
        """The turn's finals as its end (a partial not followed by a final had no words in the end)."""
        self._pending = None
        message = self._turn_info("EndOfTurn", confidence=1.0)
        message["trigger"] = trigger
        self.turn_index += 1
        self._phase, self._texts, self._words = IDLE, [], []
        return message

    def _turn_info(self, kind: str, *, confidence: float = 0.0) -> dict:
        texts, words = list(self._texts), list(self._words)
        if self._pending is not None:
            pending = self._pending.text.strip()
            texts.append(pending)
            words += [{"word": word, "confidence": round(self._pending.confidence or 1.0, 4)}
                      for word in pending.split()]
        start, end = self._window
        return {"type": "TurnInfo", "event": kind, "request_id": self.request_id, "turn_index": self.turn_index,
                "audio_window_start": start / 1000, "audio_window_end": end / 1000, "transcript": " ".join(texts),
                "words": words, "end_of_turn_confidence": confidence}
