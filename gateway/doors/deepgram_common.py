"""What Deepgram's two streaming APIs share: ``/v1/listen`` (:mod:`.deepgram`) and Flux (:mod:`.flux`).

Both configure the call with the URL's query parameters and refuse a bad one
with HTTP 400, a Deepgram-style JSON body (``err_code``, ``err_msg``,
``request_id``) and the ``dg-request-id`` and ``dg-error`` headers; both take
raw audio in the ``encoding`` named there (``linear16``, ``mulaw``, ``alaw``
with ``sample_rate``) or, without one, a WAV stream opened by its header;
both close with Deepgram's codes and error labels. Each door composes these
parts with its own messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from websockets.frames import CloseCode

from common.errors import ConfigError, ErrorCode, ProtocolError
from common.records import SAMPLE_RATE
from common.redaction.policy import parse_kinds

from ..core import events
from ..core.config import SessionConfig
from . import kit
from .base import CloseFrame, Handshake

NO_ENDPOINTING_SEC = 10.0  # the longest silence the VAD allows
ENCODINGS = {"linear16": "pcm16", "mulaw": "mulaw", "alaw": "alaw"}
NOT_WAV = ("the stream has no encoding parameter and does not start with a WAV header; set encoding "
           "(linear16, mulaw or alaw) and sample_rate for raw audio")
# Deepgram's close reasons for our error codes (anything else the service's own failure)
_CLOSE: dict[ErrorCode | None, tuple[int, str]] = {ErrorCode.IDLE_TIMEOUT: (CloseCode.INTERNAL_ERROR, "NET-0001"),
          ErrorCode.CONFIG_REQUIRED: (CloseCode.INTERNAL_ERROR, "NET-0001"),
          ErrorCode.BAD_AUDIO: (CloseCode.POLICY_VIOLATION, "DATA-0000"),
          ErrorCode.BAD_JSON: (CloseCode.POLICY_VIOLATION, "DATA-0000"),
          ErrorCode.BAD_CONFIG: (CloseCode.POLICY_VIOLATION, "DATA-0000"),  # a language the model lacks
          ErrorCode.UNKNOWN_TYPE: (CloseCode.POLICY_VIOLATION, "DATA-0000"),
          ErrorCode.OVERLOADED: (CloseCode.TRY_AGAIN_LATER, "NET-0000"),
          ErrorCode.UNAVAILABLE: (CloseCode.TRY_AGAIN_LATER, "NET-0000")}


@dataclass(frozen=True, kw_only=True)
class StreamSettings:
    """What a handshake asks of the core, checked; each API's settings add what its door reads."""

    encoding: str | None  # None: a container, whose header says
    sample_rate: int
    model: str
    language: str | None
    context: str
    vad: dict
    channels: int = 1
    multichannel: bool = False
    eager_finals: bool = False
    detect_language: bool = False  # the client asked to detect it (language=multi, detect_language=true)
    languages: tuple[str, ...] = ()  # the ones to detect among (detect_language=en&detect_language=es)
    redact: tuple[str, ...] = ()
    diarize: bool = False

    def session_config(self, *, encoding: str | None = None, sample_rate: int | None = None,
                       channels: int | None = None) -> SessionConfig:
        """The core's config; a container's header gives ``encoding``, ``sample_rate`` and ``channels``."""
        return kit.check_extras(SessionConfig(
            encoding=encoding or self.encoding or "pcm16", sample_rate=sample_rate or self.sample_rate,
            channels=channels or self.channels, multichannel=self.multichannel, language=self.language,
            detect_language=self.detect_language, languages=self.languages, context=self.context, words=True,
            vad=self.vad, eager_finals=self.eager_finals, redact=self.redact, diarize=self.diarize))


def detect_languages(query: kit.Query) -> tuple[bool, tuple[str, ...]]:
    """Deepgram's ``detect_language``: ``true``/``false``, or language codes to detect among
    (repeated: ``detect_language=en&detect_language=es``); (asked to detect, the languages)."""
    values = query.all("detect_language")
    if all(value.lower() in ("true", "false") for value in values):
        return query.flag("detect_language"), ()
    if any(value.lower() in ("true", "false") for value in values):
        raise ConfigError("invalid value for detect_language: true, false, or language codes to detect among, "
                          "not both")
    return True, tuple(dict.fromkeys(values))


# Pre-recorded analyses a live stream asking for would not get (Deepgram's are pre-recorded only too).
RECORDING_ANALYSES = ("sentiment", "summarize", "topics", "intents")


def refuse_recording_only(query: kit.Query) -> None:
    """A live door refuses ``redact_audio`` (a pre-recorded request's: it keeps no live call's audio)
    and the pre-recorded analyses (``sentiment=true``...) rather than ignore them: a client asking for
    redacted audio or sentiment must not believe it gets some."""
    asked = [name for name in RECORDING_ANALYSES if query.flag(name)]
    if asked:
        raise ConfigError(f"{'=true, '.join(asked)}=true is for pre-recorded requests (POST /v1/listen); a live "
                          "call's sentiment comes with the native door's analytics (docs/analytics.md)")
    if "redact_audio" in query.names():
        raise ConfigError("redact_audio is for pre-recorded requests (POST /v1/listen): this server keeps no "
                          "live call's audio; a native door's finals carry the redacted spans' times (redactions) "
                          "for a recorder to mute its own copy")


def check_flags(query: kit.Query, names: tuple[str, ...]) -> None:
    """Parameters accepted and ignored must still be ``true`` or ``false``."""
    for name in names:
        query.flag(name)


def audio_format(query: kit.Query) -> tuple[str | None, int]:
    """(encoding, sample rate) of the raw audio the query announces; encoding None: a container."""
    encoding = query.last("encoding")
    if encoding is not None and encoding not in ENCODINGS:
        raise ConfigError(f"invalid value for encoding: {encoding!r}; this server decodes "
                          f"{', '.join(ENCODINGS)}, or WAV when encoding is left out")
    sample_rate = query.integer("sample_rate", 8000, 48000)
    if encoding is not None and sample_rate is None:
        raise ConfigError(f"sample_rate is required with encoding={encoding}")
    return ENCODINGS.get(encoding) if encoding else None, sample_rate or SAMPLE_RATE


def redact(query: kit.Query) -> tuple[str, ...]:
    """The redaction kinds of the repeatable ``redact`` (``redact=pci&redact=ssn``, or ``pci,ssn``); an
    unknown kind or an empty value is refused (ConfigError), never ignored."""
    values = query.all("redact")
    return parse_kinds(values) if values else ()


def context(terms: list[str]) -> str:
    """Key terms as the recogniser's context: stripped, without repeats, in order."""
    return ", ".join(dict.fromkeys(term.strip() for term in terms if term.strip()))


def response_headers(request_id: str) -> list[tuple[str, str]]:
    return [("dg-request-id", request_id)]


def close_frame(event: events.Ended, fatal: ErrorCode | None) -> CloseFrame:
    """Close as Deepgram does: 1000 after a normal end, else its code and error label for ``fatal``."""
    if event.close_code == CloseCode.NORMAL_CLOSURE:
        return CloseFrame(CloseCode.NORMAL_CLOSURE, "")
    code, label = _CLOSE.get(fatal, (CloseCode.INTERNAL_ERROR, "NET-0000"))
    if fatal is None and event.close_code == CloseCode.GOING_AWAY:
        code = CloseCode.GOING_AWAY
    reason = f"{label}: {event.reason}".encode()[:123].decode(errors="ignore")
    return CloseFrame(code, reason)


class Intake:
    """Client to core, as both APIs take it (sans I/O).

    Binary frames are audio: raw in the handshake's encoding, or a WAV container
    whose header opens the session; an empty one closes (Deepgram's old way).
    Text frames are JSON control messages, each one of ``controls``.
    """

    def __init__(self, request_id: str, settings: StreamSettings, config: SessionConfig, *,
                 controls: Mapping[str, events.Operation]) -> None:
        self.request_id = request_id
        self.settings = settings
        self.controls = controls
        self.config = config if settings.encoding else None  # None: a container, opened by its header
        self._wav = kit.WavReader(not_wav=NOT_WAV)

    @classmethod
    def accept(cls, handshake: Handshake, read: Callable[[kit.Query], StreamSettings], *,
               controls: Mapping[str, events.Operation]) -> Intake:
        """Read the handshake's query with ``read``; a bad value refuses it as Deepgram does."""
        request_id = str(uuid.uuid4())
        try:
            settings = read(kit.Query(handshake.query))
            config = settings.session_config()  # checks the values a container's header leaves alone
        except ConfigError as exc:
            body = {"err_code": "INVALID_QUERY_PARAMETER", "err_msg": str(exc), "request_id": request_id}
            raise kit.refusal(400, body, headers=response_headers(request_id) +
                              [("dg-error", kit.header_text(str(exc)))]) from None
        return cls(request_id, settings, config, controls=controls)

    def opening(self) -> list[events.Operation]:
        return [events.Open(self.config)] if self.config is not None else []

    def audio(self, data: bytes) -> list[events.Operation]:
        if not data:
            return self.operation(events.Close())  # Deepgram's deprecated way to close
        if self.config is None:
            return self._container(data)
        return [events.Audio(data)]

    def control(self, body: dict) -> list[events.Operation]:
        """Operations for a JSON message: one of :attr:`controls`."""
        kind = body.get("type")
        if not isinstance(kind, str) or kind not in self.controls:  # a list or object is no key (unhashable)
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unsupported message type {kind!r}; expected one of "
                                                        f"{', '.join(self.controls)}")
        return self.operation(self.controls[kind])

    def operation(self, operation: events.Operation) -> list[events.Operation]:
        """``operation`` once the session is open; before a container's header, only a close counts."""
        if self.config is not None:
            return [operation]
        if isinstance(operation, events.Close):  # closed before any audio: an empty call
            self.config = self.settings.session_config()
            return [events.Open(self.config), operation]
        return []  # keep-alive or finalize before a container's header: nothing to do yet

    def _container(self, data: bytes) -> list[events.Operation]:
        found = self._wav.feed(data)
        if found is None:
            return []
        header, samples = found
        try:
            self.config = self.settings.session_config(encoding=header.encoding, sample_rate=header.sample_rate,
                                                       channels=header.channels)
        except ConfigError as exc:
            raise ProtocolError(ErrorCode.BAD_AUDIO, str(exc)) from None
        return [events.Open(self.config), *([events.Audio(samples)] if samples else [])]
