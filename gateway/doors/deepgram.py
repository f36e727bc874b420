"""Deepgram's live streaming API at ``/v1/listen``: a drop-in for clients that speak it.

Voice-bot frameworks (pipecat, LiveKit Agents) and the Deepgram SDKs let the
user point their Deepgram service at any base URL; this door answers them.

Handshake: the call is configured by the URL's query parameters, with
Deepgram's names and defaults. An invalid value refuses the handshake with
HTTP 400 and a Deepgram-style JSON body (``err_code``, ``err_msg``,
``request_id``). Every response carries a ``dg-request-id`` header, and every
message the same ``request_id``.

Parameters honoured:

- ``encoding``: ``linear16``, ``mulaw``, ``alaw``; without it the stream is a
  container, and a WAV header (PCM16, float32, mu-law or A-law) is read from
  the first bytes. Other Deepgram encodings (opus, flac, ...) get a 400.
- ``sample_rate`` (required with ``encoding``, 8000-48000), ``channels`` (1-8),
  ``multichannel`` (each channel its own pipeline session and its own
  ``channel_index``; otherwise the channels are mixed down).
- ``interim_results`` (partials as ``is_final: false`` Results; default false).
- ``endpointing``: ms of silence that end an utterance (``speech_final: true``),
  at least ``MIN_ENDPOINTING_MS``, because here the endpoint also ends the unit
  the recogniser decodes and shorter pauses would cut sentences into words;
  ``false``: only ``Finalize``, ``CloseStream`` or very long speech end one.
  Absent: the deployment's silence threshold (not Deepgram's 10 ms, same reason).
- ``utterance_end_ms``: send ``UtteranceEnd`` when an utterance with words
  ends (the endpoint's silence, not a separate gap timer).
- ``vad_events``: send ``SpeechStarted``.
- ``language`` (default ``en``; ``multi`` or ``auto``: detect), ``keywords``
  (``word`` or ``word:boost``, boost dropped) and ``keyterm``, both repeatable:
  joined into the recogniser's context (prompt).
- ``punctuate`` / ``smart_format``: the transcript as the recogniser wrote it;
  without either, lower case without punctuation, as Deepgram does.
- ``model`` (echoed in ``model_info``; the deployment's engine recognises),
  ``extra`` (``key:value``, echoed in each Results' ``metadata.extra``).

Accepted and ignored (booleans checked): ``tag``, ``version``, ``diarize``,
``diarize_model``, ``detect_entities``, ``dictation``, ``filler_words``,
``numerals``, ``profanity_filter``, ``redact``, ``replace``, ``search``,
``callback``, ``callback_method``, ``mip_opt_out``, ``language_hint``,
``no_delay``, ``tier``; unknown parameters are ignored too, as new SDK
versions add some.

Messages: binary audio; ``KeepAlive``; ``Finalize`` (the current utterance's
final comes with ``from_finalize: true``, or an empty one if nothing was
pending, and the stream stays open); ``CloseStream`` (or an empty binary
frame, Deepgram's old way): every result, then ``Metadata``, then close 1000.
``Configure`` is not supported (answered with an ``Error`` message).

Confidence: the engine's figure; without one the mean of the words', and
without words 1.0 for a non-empty transcript (0.0 for an empty one).

Errors close as Deepgram does: no audio within the idle timeout 1011
``NET-0001``, undecodable audio 1008 ``DATA-0000``, a failure of the service
1011 ``NET-0000``; an ``Error`` message says more first.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from datetime import datetime, timezone
from typing import ClassVar

from websockets.frames import CloseCode

from common.errors import ConfigError, ErrorCode, ProtocolError
from common.records import SAMPLE_RATE

from ..core import events
from ..core.config import MAX_CHANNELS, SessionConfig
from .base import CloseFrame, Door, DoorOptions, Handshake, HandshakeRefused, Outgoing
from .native import parse_json

MIN_ENDPOINTING_MS = 300
NO_ENDPOINTING_SEC = 10.0  # endpointing=false: the longest silence the VAD allows
MAX_WAV_HEADER = 64 * 1024
ENCODINGS = {"linear16": "pcm16", "mulaw": "mulaw", "alaw": "alaw"}
HONOURED = ("encoding", "sample_rate", "channels", "multichannel", "interim_results", "endpointing",
            "utterance_end_ms", "vad_events", "language", "keywords", "keyterm", "punctuate",
            "smart_format", "model", "extra")
IGNORED_FLAGS = ("diarize", "detect_entities", "dictation", "filler_words", "numerals", "profanity_filter",
                 "mip_opt_out", "no_delay")
IGNORED = ("tag", "version", "diarize_model", "redact", "replace", "search", "callback", "callback_method",
           "language_hint", "tier")
MODEL_VERSION = "streamscribe"
_CONTROL = {"KeepAlive": events.KeepAlive(), "Finalize": events.Finalize(), "CloseStream": events.Close()}
# Deepgram's close reasons for our error codes (anything else the service's own failure)
_CLOSE = {ErrorCode.IDLE_TIMEOUT: (CloseCode.INTERNAL_ERROR, "NET-0001"),
          ErrorCode.CONFIG_REQUIRED: (CloseCode.INTERNAL_ERROR, "NET-0001"),
          ErrorCode.BAD_AUDIO: (CloseCode.POLICY_VIOLATION, "DATA-0000"),
          ErrorCode.BAD_JSON: (CloseCode.POLICY_VIOLATION, "DATA-0000"),
          ErrorCode.UNKNOWN_TYPE: (CloseCode.POLICY_VIOLATION, "DATA-0000"),
          ErrorCode.OVERLOADED: (CloseCode.TRY_AGAIN_LATER, "NET-0000"),
          ErrorCode.UNAVAILABLE: (CloseCode.TRY_AGAIN_LATER, "NET-0000")}
_SCHEMA_ERRORS = (ErrorCode.BAD_JSON, ErrorCode.UNKNOWN_TYPE, ErrorCode.PROTOCOL)
_WAV_FORMATS = {(1, 16): "pcm16", (3, 32): "float32", (6, 8): "alaw", (7, 8): "mulaw"}


class Params:
    """The handshake's query parameters, checked; :class:`ConfigError` names a bad one."""

    def __init__(self, query: list[tuple[str, str]]) -> None:
        self.values: dict[str, list[str]] = {}
        for name, value in query:
            self.values.setdefault(name, []).append(value)

    def last(self, name: str) -> str | None:
        values = self.values.get(name)
        return values[-1] if values else None

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.last(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise ConfigError(f"invalid value for {name}: {value!r} (expected true or false)")
        return value.lower() == "true"

    def integer(self, name: str, low: int, high: int) -> int | None:
        return self.number(name, low, high, kind=int)

    def number(self, name: str, low: float, high: float, *, kind: type = float):
        """The value of ``name`` as ``kind`` between ``low`` and ``high``, or None if absent."""
        value = self.last(name)
        if value is None:
            return None
        try:
            number = kind(value)
        except ValueError:
            expected = "an integer" if kind is int else "a number"
            raise ConfigError(f"invalid value for {name}: {value!r} (expected {expected})") from None
        if not low <= number <= high:
            raise ConfigError(f"invalid value for {name}: {number} (expected {low} to {high})")
        return number


class Settings:
    """What the door itself does with the handshake's parameters (the core gets a SessionConfig)."""

    channels = 1
    multichannel = False
    eager_finals = False
    ignored_flags: ClassVar[tuple[str, ...]] = IGNORED_FLAGS

    def __init__(self, query: list[tuple[str, str]]) -> None:
        params = self._common(query)
        self.channels = params.integer("channels", 1, MAX_CHANNELS) or 1
        self.multichannel = params.flag("multichannel")
        self.interim_results = params.flag("interim_results")
        self.vad_events = params.flag("vad_events")
        self.utterance_end = params.integer("utterance_end_ms", 1, 60_000) is not None
        self.punctuate = params.flag("punctuate") or params.flag("smart_format")
        self.model = params.last("model") or "base"
        self.extra = {}
        for item in params.values.get("extra", []):
            key, sep, value = item.partition(":")
            if not sep or not key:
                raise ConfigError(f"invalid value for extra: {item!r} (expected key:value)")
            self.extra[key] = value
        self.vad = self._endpointing(params.last("endpointing"))
        language = params.last("language") or "en"
        self.language = None if language in ("multi", "auto") else language
        terms = [word.rsplit(":", 1)[0] if _has_boost(word) else word for word in params.values.get("keywords", [])]
        self.context = self._context(terms + params.values.get("keyterm", []))

    def _common(self, query: list[tuple[str, str]]) -> Params:
        """Read what both Deepgram APIs share (the audio format, ignored flags); return the parameters."""
        params = Params(query)
        for name in self.ignored_flags:
            params.flag(name)
        encoding = params.last("encoding")
        if encoding is not None and encoding not in ENCODINGS:
            raise ConfigError(f"invalid value for encoding: {encoding!r}; this server decodes "
                              f"{', '.join(ENCODINGS)}, or WAV when encoding is left out")
        self.encoding = ENCODINGS.get(encoding) if encoding else None  # None: a container
        sample_rate = params.integer("sample_rate", 8000, 48000)
        if self.encoding is not None and sample_rate is None:
            raise ConfigError(f"sample_rate is required with encoding={encoding}")
        self.sample_rate = sample_rate or SAMPLE_RATE
        return params

    @staticmethod
    def _context(terms: list[str]) -> str:
        """Key terms as the recogniser's context: stripped, without repeats, in order."""
        return ", ".join(dict.fromkeys(term.strip() for term in terms if term.strip()))

    @staticmethod
    def _endpointing(value: str | None) -> dict:
        if value is None or value.lower() == "true":
            return {}
        if value.lower() == "false":
            return {"silence_threshold": NO_ENDPOINTING_SEC}
        try:
            ms = int(value)
        except ValueError:
            raise ConfigError(f"invalid value for endpointing: {value!r} (expected ms of silence or false)") \
                from None
        if not 0 <= ms <= NO_ENDPOINTING_SEC * 1000:
            raise ConfigError(f"invalid value for endpointing: {ms} (expected 0 to {NO_ENDPOINTING_SEC * 1000:.0f})")
        return {"silence_threshold": max(ms, MIN_ENDPOINTING_MS) / 1000}

    def session_config(self, *, encoding: str | None = None, sample_rate: int | None = None,
                       channels: int | None = None) -> SessionConfig:
        """The core's config; a container's header gives ``encoding``, ``sample_rate`` and ``channels``."""
        return SessionConfig(encoding=encoding or self.encoding or "pcm16", sample_rate=sample_rate or self.sample_rate,
                             channels=channels or self.channels, multichannel=self.multichannel,
                             language=self.language, context=self.context, words=True, vad=self.vad,
                             eager_finals=self.eager_finals)


def _has_boost(word: str) -> bool:
    _, sep, boost = word.rpartition(":")
    if not sep:
        return False
    try:
        float(boost)
    except ValueError:
        return False
    return True


def parse_wav_header(data: bytes) -> tuple[str, int, int, int] | None:
    """(encoding, sample rate, channels, offset of the samples) of a WAV header, or None if more bytes are needed.

    Raise :class:`ProtocolError` ``bad_audio`` if the bytes are not WAV this server decodes.
    """
    if len(data) < 12:
        if not (b"RIFF"[:len(data)] == data[:4] or b"RF64"[:len(data)] == data[:4]):
            raise ProtocolError(ErrorCode.BAD_AUDIO, _NOT_WAV)
        return None
    if data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        raise ProtocolError(ErrorCode.BAD_AUDIO, _NOT_WAV)
    position, fmt = 12, None
    while position + 8 <= len(data):
        chunk, size = data[position:position + 4], struct.unpack_from("<I", data, position + 4)[0]
        body = position + 8
        if chunk == b"data":
            if fmt is None:
                raise ProtocolError(ErrorCode.BAD_AUDIO, "WAV data comes before its fmt chunk")
            return (*fmt, body)
        if chunk == b"fmt ":
            if body + 16 > len(data):
                return None
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == 0xFFFE and size >= 40 and body + 26 <= len(data):
                tag = struct.unpack_from("<H", data, body + 24)[0]  # WAVE_FORMAT_EXTENSIBLE's sub-format
            encoding = _WAV_FORMATS.get((tag, bits))
            if encoding is None:
                raise ProtocolError(ErrorCode.BAD_AUDIO, f"WAV format {tag} with {bits}-bit samples is not "
                                                         "supported; send PCM16, float32, mu-law or A-law")
            if not 1 <= channels <= MAX_CHANNELS or not 8000 <= rate <= 48000:
                raise ProtocolError(ErrorCode.BAD_AUDIO, f"WAV of {channels} channels at {rate} Hz is not "
                                                         f"supported (1-{MAX_CHANNELS} channels, 8-48 kHz)")
            fmt = (encoding, rate, channels)
        position = body + size + (size & 1)
    if len(data) > MAX_WAV_HEADER:
        raise ProtocolError(ErrorCode.BAD_AUDIO, f"no WAV data chunk in the first {MAX_WAV_HEADER} bytes")
    return None


_NOT_WAV = ("the stream has no encoding parameter and does not start with a WAV header; set encoding "
            "(linear16, mulaw or alaw) and sample_rate for raw audio")


def _header_text(text: str) -> str:
    """``text`` safe in an HTTP header: ASCII, printable, short."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)[:200]


def _plain(word: str) -> str:
    """A word as Deepgram writes it without punctuation: lower case, no punctuation around or in it."""
    return "".join(ch for ch in word if ch.isalnum() or ch in "'-").strip("'-").lower()


class DeepgramDoor(Door):
    name: ClassVar[str] = "deepgram"
    settings_class: ClassVar[type[Settings]] = Settings
    controls: ClassVar[dict[str, events.Operation]] = _CONTROL

    def __init__(self, handshake: Handshake, *, options: DoorOptions = DoorOptions()) -> None:
        super().__init__(handshake, options=options)
        self.request_id = str(uuid.uuid4())
        self.created = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        try:
            self.settings = self.settings_class(handshake.query)
            config = self.settings.session_config()  # checks the values a container's header leaves alone
        except ConfigError as exc:
            body = {"err_code": "INVALID_QUERY_PARAMETER", "err_msg": str(exc), "request_id": self.request_id}
            raise HandshakeRefused(400, json.dumps(body).encode(), headers=self.response_headers() +
                                   [("dg-error", _header_text(str(exc)))]) from None
        self.config = config if self.settings.encoding else None  # None: a container, opened by its header
        self.model_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"streamscribe:{self.settings.model}"))
        self._header = b""  # a container's first bytes until its header is complete
        self._sha256 = hashlib.sha256()
        self._fatal: ErrorCode | None = None
        self._finalized: set[int] = set()  # channels whose from_finalize final came since the last Finalize
        self._last_end: dict[int, int] = {}  # channel -> audio end of its last result, ms

    def response_headers(self) -> list[tuple[str, str]]:
        return [("dg-request-id", self.request_id)]

    def opening(self) -> list[events.Operation]:
        return [events.Open(self.config)] if self.config is not None else []

    # -- client to core ---------------------------------------------------------------------------

    def receive(self, message: str | bytes) -> list[events.Operation]:
        if isinstance(message, bytes):
            if not message:
                return self._control(events.Close())  # Deepgram's deprecated way to close
            self._sha256.update(message)
            if self.config is None:
                return self._container(message)
            return [events.Audio(message)]
        return self._text(parse_json(message))

    def _text(self, body: dict) -> list[events.Operation]:
        """Operations for a JSON message: one of :attr:`controls`."""
        kind = body.get("type")
        if kind not in self.controls:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unsupported message type {kind!r}; expected one of "
                                                        f"{', '.join(self.controls)}")
        return self._control(self.controls[kind])

    def _control(self, operation: events.Operation) -> list[events.Operation]:
        if isinstance(operation, events.Finalize):
            self._finalized.clear()
        if self.config is not None:
            return [operation]
        if isinstance(operation, events.Close):  # closed before any audio: an empty call
            self.config = self.settings.session_config()
            return [events.Open(self.config), operation]
        return []  # keep-alive or finalize before a container's header: nothing to do yet

    def _container(self, data: bytes) -> list[events.Operation]:
        self._header += data
        header = parse_wav_header(self._header)
        if header is None:
            return []
        encoding, rate, channels, offset = header
        try:
            self.config = self.settings.session_config(encoding=encoding, sample_rate=rate, channels=channels)
        except ConfigError as exc:
            raise ProtocolError(ErrorCode.BAD_AUDIO, str(exc)) from None
        samples, self._header = self._header[offset:], b""
        return [events.Open(self.config)] + ([events.Audio(samples)] if samples else [])

    # -- core to client ----------------------------------------------------------------------------

    def render(self, event: events.Event) -> list[Outgoing]:
        if isinstance(event, events.Ended):
            return self._ended(event)
        if isinstance(event, events.Transcript):
            messages = self._results(event)
        elif isinstance(event, events.Flushed):
            messages = self._flushed()
        elif isinstance(event, events.SpeechStarted) and self.settings.vad_events:
            messages = [{"type": "SpeechStarted", "channel": self._channel(event.channel),
                         "timestamp": event.start_ms / 1000, "request_id": self.request_id}]
        elif isinstance(event, events.UtteranceEnd) and self.settings.utterance_end:
            messages = [{"type": "UtteranceEnd", "channel": self._channel(event.channel),
                         "last_word_end": event.last_word_end_ms / 1000, "request_id": self.request_id}]
        elif isinstance(event, events.Error):
            if event.fatal:
                self._fatal = event.code
            variant = "SchemaError" if event.code in _SCHEMA_ERRORS else str(event.code)
            messages = [{"type": "Error", "variant": variant, "description": event.message,
                         "code": str(event.code), "request_id": self.request_id}]
        else:
            messages = []  # opened: Deepgram says nothing until results
        return [json.dumps(m, ensure_ascii=False) for m in messages]

    def _channel(self, channel: int) -> list[int]:
        return [channel, self.config.pipelines if self.config is not None else 1]

    def _results(self, event: events.Transcript) -> list[dict]:
        final = isinstance(event, events.Final)
        if not final and not self.settings.interim_results:
            return []
        self._last_end[event.channel] = max(self._last_end.get(event.channel, 0), event.end_ms)
        from_finalize = final and event.from_finalize
        if from_finalize:
            self._finalized.add(event.channel)
        words = [self._word(w) for w in event.words]
        transcript = event.text.strip() if self.settings.punctuate else " ".join(
            filter(None, (_plain(w) for w in event.text.split())))
        if event.confidence is not None:
            confidence = event.confidence
        elif words:
            confidence = sum(w["confidence"] for w in words) / len(words)
        else:
            confidence = 1.0 if transcript else 0.0
        return [self._message(event.channel, start_ms=event.start_ms, end_ms=event.end_ms, is_final=final,
                              speech_final=final and event.speech_final, from_finalize=from_finalize,
                              transcript=transcript, confidence=confidence, words=words)]

    def _word(self, word: events.Word) -> dict:
        plain = _plain(word.text) or word.text.strip()
        return {"word": plain, "start": word.start_ms / 1000, "end": word.end_ms / 1000,
                "confidence": round(word.confidence, 4),
                "punctuated_word": word.text.strip() if self.settings.punctuate else plain}

    def _message(self, channel: int, *, start_ms: int, end_ms: int, is_final: bool, speech_final: bool,
                 from_finalize: bool, transcript: str, confidence: float, words: list[dict]) -> dict:
        metadata = {"request_id": self.request_id, "model_uuid": self.model_uuid,
                    "model_info": {"name": self.settings.model, "version": MODEL_VERSION, "arch": MODEL_VERSION}}
        if self.settings.extra:
            metadata["extra"] = self.settings.extra
        return {"type": "Results", "channel_index": self._channel(channel), "duration": (end_ms - start_ms) / 1000,
                "start": start_ms / 1000, "is_final": is_final, "speech_final": speech_final,
                "from_finalize": from_finalize,
                "channel": {"alternatives": [{"transcript": transcript, "confidence": round(confidence, 4),
                                              "words": words}]},
                "metadata": metadata}

    def _flushed(self) -> list[dict]:
        """A Finalize that closed no utterance of a channel still gets that channel's (empty) final."""
        if self.config is None:
            return []
        messages = []
        for channel in range(self.config.pipelines):
            if channel not in self._finalized:
                end = self._last_end.get(channel, 0)
                messages.append(self._message(channel, start_ms=end, end_ms=end, is_final=True, speech_final=True,
                                              from_finalize=True, transcript="", confidence=0.0, words=[]))
        self._finalized.update(range(self.config.pipelines))
        return messages

    def _ended(self, event: events.Ended) -> list[Outgoing]:
        if event.close_code == CloseCode.NORMAL_CLOSURE:
            metadata = {"type": "Metadata", "transaction_key": "deprecated", "request_id": self.request_id,
                        "sha256": self._sha256.hexdigest(), "created": self.created,
                        "duration": event.audio_ms / 1000,
                        "channels": self.config.channels if self.config is not None else 0,
                        "models": [self.model_uuid],
                        "model_info": {self.model_uuid: {"name": self.settings.model, "version": MODEL_VERSION,
                                                         "arch": MODEL_VERSION}}}
            return [json.dumps(metadata), self._close_frame(event)]
        return [self._close_frame(event)]

    def _close_frame(self, event: events.Ended) -> CloseFrame:
        """Close as Deepgram does: 1000 after a normal end, else its code and error label for our error."""
        if event.close_code == CloseCode.NORMAL_CLOSURE:
            return CloseFrame(CloseCode.NORMAL_CLOSURE, "")
        code, label = _CLOSE.get(self._fatal, (CloseCode.INTERNAL_ERROR, "NET-0000"))
        if self._fatal is None and event.close_code == CloseCode.GOING_AWAY:
            code = CloseCode.GOING_AWAY
        reason = f"{label}: {event.reason}".encode()[:123].decode(errors="ignore")
        return CloseFrame(code, reason)
