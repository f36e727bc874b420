"""Genesys Cloud AudioHook (protocol version 2) at ``/audiohook``.

Genesys opens the WebSocket with its session, organisation and correlation headers and the
integration's API key; with ``--audiohook-client-secret`` the handshake's HTTP message signature
is checked too (:mod:`gateway.doors.httpsig`), and its nonce taken once over every gateway. The
``open``/``opened`` exchange selects PCMU at 8 kHz with the offered channels (``external``: the
customer, ``internal``: the agent) and, when asked, the languages the loaded model decodes. Each
channel is its own pipeline session; finals go back as ``transcript`` entities whose
``offset``/``duration`` are where the words were said. Messages are numbered both ways
(``seq``/``clientseq``, ``serverseq``, ``position``) as the protocol requires; audio the client
discarded is filled with silence so audio time stays the stream's, and a ``paused`` or an
``update`` ends each channel's utterance, as Genesys' reference server does. An AudioHook Monitor
ignores the transcripts: followers of the call are their consumers. docs/audiohook.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from common.config import option
from common.errors import ConfigError, ErrorCode, ProtocolError
from common.languages import audiohook_tags
from common.logs import Untrusted

from ..core import events
from . import httpsig, kit
from .base import CloseFrame, Door, Outgoing
from .kit import CallState
from .telephony import TrackClock, format_duration, language_of, parse_duration

log = logging.getLogger(__name__)

VERSION = "2"
RATE = 8000
PARTIES = ("external", "internal")
CLIENT_TYPES = ("open", "ping", "paused", "resumed", "discarded", "update", "close", "error")
# A client's mistake: answered with disconnect (the protocol has no non-fatal error for the server to send).
_CLIENT_ERRORS = {ErrorCode.BAD_JSON, ErrorCode.CONFIG_REQUIRED, ErrorCode.BAD_CONFIG, ErrorCode.BAD_AUDIO,
                  ErrorCode.UNKNOWN_TYPE, ErrorCode.PROTOCOL}
# Utterance ids in a form AudioHook entities take (a UUID), derived so a replay gives the same one.
_ENTITY_IDS = uuid.UUID("6f1d3a52-0c8e-4f9b-9a57-2d6c1b7e4a10")
# The language codes of opened's supportedLanguages, as Genesys' AudioHook reference implementation
# checks them (language, region: ``en-US``).
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}-[A-Za-z]{2,3}")


def _uuid(value: object) -> str | None:
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def select_media(offered: object) -> dict:
    """The first offered medium this server takes: audio, PCMU, 8000 Hz, external and/or internal channels."""
    if not isinstance(offered, list):
        raise ProtocolError(ErrorCode.BAD_CONFIG, "open.parameters.media must be a list of offered media")
    for media in offered:
        if not isinstance(media, dict):
            continue
        channels = media.get("channels")
        if (media.get("type") == "audio" and media.get("format") == "PCMU" and media.get("rate") == RATE
                and isinstance(channels, list) and channels and len(set(channels)) == len(channels)
                and set(channels) <= set(PARTIES)):
            return {"type": "audio", "format": "PCMU", "channels": list(channels), "rate": RATE}
    raise ProtocolError(ErrorCode.BAD_CONFIG, "none of the offered media is supported; this server takes audio "
                                              "in PCMU at 8000 Hz with channels external and/or internal")


def _confidence(event: events.Final) -> float:
    if event.confidence is not None:
        return event.confidence
    if event.words:
        return sum(word.confidence for word in event.words) / len(event.words)
    return 1.0  # no figure at all: the transcript is what the engine settled on


def token_starts(words: Sequence[events.Word]) -> list[int]:
    """Each word's start (ms), made distinct: one millisecond after the word before where
    whisper's alignment gave two words one start (a word of no length: "couple" 7.44-7.44 s,
    "of" from 7.44 s). Genesys' suite refuses two tokens at one offset."""
    starts: list[int] = []
    for word in words:
        starts.append(word.start_ms if not starts or word.start_ms > starts[-1] else starts[-1] + 1)
    return starts


def language_tag(text: str) -> str:
    """A language a deployment offers Genesys, as a tag like ``en-US``."""
    if not _LANGUAGE_TAG.fullmatch(text):
        raise ValueError(f"{text!r} is not a language tag like 'en-US' (language-REGION)")
    return text


def client_secret(text: str) -> bytes:
    """The Client Secret from its base64 form (as Genesys shows it)."""
    try:
        secret = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        secret = b""
    if not secret:
        raise ValueError("the AudioHook Client Secret must be non-empty base64, as Genesys shows it")
    return secret


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioHookOptions:
    # Set: each handshake's Signature must be valid (gateway.doors.httpsig).
    client_secret: bytes | None = field(default=None, repr=False, metadata=option(
        "the Genesys AudioHook integration's Client Secret (base64, as Genesys shows it): "
        "/audiohook then requires a valid Signature header made with it",
        flag="--audiohook-client-secret", parse=client_secret, secret=True, file=True))
    # What opened says in supportedLanguages when an open asks: Genesys offers these languages to
    # its users. None set: the tags of the languages the ASR workers' model decodes (en-US, en-GB,
    # en-AU for tiny.en; common.languages.REGIONS); set: those of them the model decodes.
    languages: tuple[str, ...] = field(default=(), metadata=option(
        "a language to offer Genesys, as a tag like en-US (repeatable): opened lists those of them the ASR "
        "workers' model recognises when an open asks for supportedLanguages (none set: the model's "
        "languages in their common regions)", flag="--audiohook-language", repeat=True, parse=language_tag))

    def __post_init__(self) -> None:
        # The environment's list is not parsed item by item as the command line's flags are.
        for tag in self.languages:
            try:
                language_tag(tag)
            except ValueError as exc:
                raise ConfigError(f"--audiohook-language: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Handled:
    """A client message handled, as it passes the call's events on the way out (in a Reply).

    Server messages rendered after it carry its ``seq`` as ``clientseq``; a ping's is its pong.
    """

    kind: str
    seq: int


class AudioHookDoor(Door):
    name: ClassVar[str] = "audiohook"
    options_class: ClassVar[type] = AudioHookOptions

    def __init__(self, handshake, **options) -> None:
        super().__init__(handshake, **options)
        headers = handshake.headers
        secret = self.options.client_secret
        if secret:
            try:
                self.nonce = httpsig.verify(secret, target=handshake.target, headers=headers, now=time.time())
            except httpsig.SignatureError as exc:
                raise kit.refusal(401, {"error": "unauthorized",
                                        "message": f"AudioHook request signature refused: {exc}"}) from None
        self.session_id = _uuid(headers.get("Audiohook-Session-Id"))
        if self.session_id is None:
            raise kit.refusal(400, {"error": str(ErrorCode.BAD_CONFIG),
                                    "message": "an AudioHook connection needs an Audiohook-Session-Id header "
                                               "holding a UUID"})
        self.organization_id = headers.get("Audiohook-Organization-Id", "")
        self.seq = 0  # last server message
        self.clientseq = 0  # last client message received
        self.handled = 0  # last client message handled before the server message being rendered
        self.languages_asked = False  # the open asked for supportedLanguages
        self.state = CallState.AWAITING_OPEN  # AudioHook's "preparing" until the client's open
        self.media: dict | None = None
        self.parties: tuple[str, ...] = ()
        self.clock: TrackClock | None = None
        self.conversation_id = ""
        self.disconnecting = False  # a disconnect was sent: no second one

    # -- client to core --------------------------------------------------------------

    def receive(self, message: str | bytes) -> list[events.Operation]:
        if isinstance(message, bytes):
            return self._audio(message)
        body = kit.parse_json(message)
        kind = self._check(body)
        parameters = kit.mapping(body.get("parameters", {}), f"{kind}.parameters", code=ErrorCode.PROTOCOL)
        if self.state is CallState.AWAITING_OPEN:
            if kind != "open":
                raise ProtocolError(ErrorCode.CONFIG_REQUIRED, f"{kind!r} before 'open'; the session starts "
                                                               "with 'open'")
            return [self._handled(kind), *self._open(parameters)]
        operations = self._catch_up(body.get("position"))
        if kind == "open":
            raise ProtocolError(ErrorCode.PROTOCOL, "the session is already open")
        # Before a close: the call's last events, closed among them, come after it.
        operations.append(self._handled(kind))
        if kind == "ping":
            operations.append(events.KeepAlive())
        elif kind == "paused":
            self.state = CallState.PAUSED
            operations.append(events.Finalize())
        elif kind == "resumed":
            self.state = CallState.OPEN
        elif kind == "discarded":
            pass  # the client lost audio; its position says whether the stream's time counts it
        elif kind == "update":
            # As Genesys' reference server does: an update ends each party's utterance in
            # progress (the reference restarts its recogniser in the update's language; this
            # call keeps its own, which a running session cannot change).
            language = parameters.get("language")
            log.info("session %s: the client updates the language to %r; this call keeps its language",
                     self.session_id, Untrusted(language))
            operations.append(events.Finalize())
        elif kind == "error":
            log.warning("session %s: client error %s: %s", self.session_id, Untrusted(parameters.get("code")),
                        Untrusted(parameters.get("message")))
        elif kind == "close":
            self.state = CallState.CLOSING
            operations.append(events.Close())
        return operations

    def _check(self, body: dict) -> str:
        """The type of a well-formed client message in sequence; :class:`ProtocolError` otherwise."""
        kind = body.get("type")
        if body.get("version") != VERSION:
            raise ProtocolError(ErrorCode.PROTOCOL, f"version must be {VERSION!r}, not {body.get('version')!r}")
        if kind not in CLIENT_TYPES:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind!r}; a client sends "
                                                        f"{', '.join(CLIENT_TYPES)}")
        if _uuid(body.get("id")) != self.session_id:
            raise ProtocolError(ErrorCode.PROTOCOL, f"id {body.get('id')!r} is not this session's id "
                                                    f"{self.session_id} (Audiohook-Session-Id)")
        seq, serverseq = body.get("seq"), body.get("serverseq")
        # After a disconnect, the client's close is taken even if its numbering went astray.
        if isinstance(seq, bool) or not isinstance(seq, int) or not (seq == self.clientseq + 1 or (self.disconnecting and seq > self.clientseq)):
            raise ProtocolError(ErrorCode.PROTOCOL, f"seq {seq!r} after {self.clientseq}: client messages are "
                                                    "numbered 1, 2, 3... without gaps")
        if isinstance(serverseq, bool) or not isinstance(serverseq, int) or not 0 <= serverseq <= self.seq:
            raise ProtocolError(ErrorCode.PROTOCOL, f"serverseq {serverseq!r} is not a server message seq "
                                                    f"(the last one sent is {self.seq})")
        self.clientseq = seq
        return kind

    def _handled(self, kind: str) -> events.Reply:
        """The client message just taken, marked in the stream of the call's events.

        Rendered where it falls among them, it sets the ``clientseq`` of the server messages
        after it, and a ping's is its pong: a pong then carries its ping's ``seq`` however many
        client messages came in before it went out (the client checks that), and the
        ``clientseq`` of the server's messages never goes back.
        """
        return events.Reply(_Handled(kind, self.clientseq))

    def _open(self, parameters: dict) -> list[events.Operation]:
        self.media = select_media(parameters.get("media"))
        asked = parameters.get("supportedLanguages")
        self.languages_asked = asked is not None and kit.flag(asked, "open.parameters.supportedLanguages")
        self.parties = tuple(self.media["channels"])
        self.conversation_id = str(parameters.get("conversationId", ""))
        # Word timings: transcript entities carry the words as tokens.
        config = kit.session_config(sample_rate=RATE, encoding="mulaw", channels=len(self.parties), multichannel=True,
                                    language=language_of(parameters.get("language"), "open.parameters.language"),
                                    words=True)
        self.clock = TrackClock(rate=RATE, channels=len(self.parties), name="the audio position")
        self.state = CallState.OPEN
        return [events.Open(config, call_id=self.session_id, parties=self.parties)]

    def _catch_up(self, position: object) -> list[events.Operation]:
        """Silence up to the client's ``position`` when it counts audio this server did not get."""
        if position is None:
            return []
        at = round(parse_duration(position, "position") * RATE)
        assert self.clock is not None  # made at open
        silence = self.clock.fill_to(at)
        return [events.Audio(silence)] if silence else []

    def _audio(self, data: bytes) -> list[events.Operation]:
        if self.state is CallState.AWAITING_OPEN:
            raise ProtocolError(ErrorCode.CONFIG_REQUIRED, "audio before 'open'; the session starts with 'open'")
        if self.state is CallState.CLOSING:
            raise ProtocolError(ErrorCode.PROTOCOL, "audio after 'close'")
        if len(data) % len(self.parties):
            raise ProtocolError(ErrorCode.BAD_AUDIO, f"a {len(self.parties)}-channel PCMU frame of {len(data)} "
                                                     "bytes is not whole samples")
        assert self.clock is not None  # made at open
        self.clock.advance(len(data) // len(self.parties))
        return [events.Audio(data)]

    # -- core to client ------------------------------------------------------------

    def render(self, event: events.Event) -> list[Outgoing]:
        if isinstance(event, events.Opened):
            parameters = {"media": [self.media], "startPaused": False}
            if self.languages_asked:
                parameters["supportedLanguages"] = audiohook_tags(self.options.languages, event.languages)
            return [self._message("opened", parameters)]
        if isinstance(event, events.Reply):
            handled = event.message
            assert isinstance(handled, _Handled)  # this door's only reply
            self.handled = max(self.handled, handled.seq)
            return [self._message("pong", {}, clientseq=handled.seq)] if handled.kind == "ping" else []
        if isinstance(event, events.Final):
            return [self._message("event", {"entities": [self._entity(event)]})] if event.text else []
        if isinstance(event, events.Error):
            if event.fatal or event.code in _CLIENT_ERRORS:
                return self._disconnect(f"{event.code}: {event.message}")
            return []  # e.g. one utterance not recognised: AudioHook has no message for it
        if isinstance(event, events.Ended):
            if self.state is CallState.CLOSING:
                out: list[Outgoing] = [self._message("closed", {})]
            else:
                out = self._disconnect(event.reason)
            return [*out, CloseFrame(event.close_code, event.reason[:120])]
        return []  # partials, speech started, utterance end, flushed

    def _message(self, kind: str, parameters: dict, *, clientseq: int | None = None) -> str:
        self.seq += 1
        clientseq = self.handled if clientseq is None else clientseq
        return json.dumps({"version": VERSION, "type": kind, "seq": self.seq, "clientseq": clientseq,
                           "id": self.session_id, "parameters": parameters}, ensure_ascii=False)

    def _disconnect(self, info: str) -> list[Outgoing]:
        if self.disconnecting or self.state is CallState.CLOSING:
            return []
        self.disconnecting = True
        # Most often the answer to the message just received, which failed before it was handled.
        self.handled = max(self.handled, self.clientseq)
        return [self._message("disconnect", {"reason": "error", "info": info[:500]})]

    def _entity(self, event: events.Final) -> dict:
        """The transcript entity of a final (Genesys' Transcript Connector form).

        Tokens are the final's words, times in the stream's audio time as the entity's own
        (an engine without word timings, qwen3, gives none: an empty list). The confidence,
        which the entity requires, is the engine's figure, else the mean of the words', else
        1.0, as the Deepgram door's.
        """
        tokens = [{"type": "word", "value": word.text.strip(), "confidence": round(word.confidence, 4),
                   "offset": format_duration(start), "duration": format_duration(word.end_ms - start)}
                  for word, start in zip(event.words, token_starts(event.words))]
        alternative = {"confidence": round(_confidence(event), 4),
                       "interpretations": [{"type": "display", "transcript": event.text, "tokens": tokens}]}
        if event.language:
            alternative["languages"] = [event.language]
        # The final's own span: the ASR narrows it to where its words were said (asr_worker/span.py);
        # whisper's word timings of a one-word reply can miss the word (the contract soak: "No." at
        # 9.90-9.94 s for 9.50-9.88 s), and Genesys' suite allows 0.5 s.
        return {"type": "transcript", "data": {
            "id": str(uuid.uuid5(_ENTITY_IDS, event.utterance_id)), "channelId": event.channel, "isFinal": True,
            "offset": format_duration(event.start_ms), "duration": format_duration(event.end_ms - event.start_ms),
            "alternatives": [alternative], "party": self.parties[event.channel],
        }}
