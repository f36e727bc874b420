"""Deepgram's live streaming API at ``/v1/listen``: a drop-in for clients that speak it.

Voice-bot frameworks (pipecat, LiveKit Agents) and Deepgram's SDKs take any base URL; this door
answers them with Deepgram's query parameters, defaults, messages (``Results``,
``UtteranceEnd``, ``SpeechStarted``, ``Metadata``), errors and close codes, translated to session
operations on the core. Where this server cannot honour a parameter it refuses it (HTTP 400 with
Deepgram's JSON body) rather than ignore it, except those Deepgram clients send routinely, which
are accepted and ignored. ``endpointing`` has a floor: here the endpoint also ends the unit the
recogniser decodes, and shorter pauses would cut sentences into words.

Honoured: ``encoding``, ``sample_rate``, ``channels``, ``multichannel``, ``interim_results``,
``endpointing``, ``utterance_end_ms``, ``vad_events``, ``language``, ``detect_language``,
``keywords``, ``keyterm``, ``punctuate``, ``smart_format``, ``model``, ``extra``, ``redact``,
``diarize``. Accepted and ignored: ``tag``, ``version``, ``diarize_model``, ``replace``,
``search``, ``callback``, ``callback_method``, ``language_hint``, ``tier``, and the flags
``detect_entities``, ``dictation``, ``filler_words``, ``numerals``, ``profanity_filter``,
``mip_opt_out``, ``no_delay``. docs/deepgram.md says what each does.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import ClassVar

from common.errors import ConfigError, ErrorCode

from ..core import events
from ..core.config import MAX_CHANNELS, SessionConfig
from . import deepgram_common as common
from . import kit
from .base import Door, Handshake, Outgoing

MIN_ENDPOINTING_MS = 300
HONOURED = ("encoding", "sample_rate", "channels", "multichannel", "interim_results", "endpointing",
            "utterance_end_ms", "vad_events", "language", "keywords", "keyterm", "punctuate",
            "smart_format", "model", "extra", "detect_language", "redact", "diarize")
IGNORED_FLAGS = ("detect_entities", "dictation", "filler_words", "numerals", "profanity_filter",
                 "mip_opt_out", "no_delay")
IGNORED = ("tag", "version", "diarize_model", "replace", "search", "callback", "callback_method",
           "language_hint", "tier")
MODEL_VERSION = "streamscribe"
_PLACEHOLDER = re.compile(r"(\[[A-Z_]+_[0-9]+\])[.,?!;:]*$")
_CONTROL: dict[str, events.Operation] = {"KeepAlive": events.KeepAlive(), "Finalize": events.Finalize(),
                                         "CloseStream": events.Close()}
_SCHEMA_ERRORS = (ErrorCode.BAD_JSON, ErrorCode.UNKNOWN_TYPE, ErrorCode.PROTOCOL)


@dataclass(frozen=True, kw_only=True)
class LiveSettings(common.StreamSettings):
    """The handshake's ``/v1/listen`` parameters, checked; :class:`ConfigError` names a bad one."""

    interim_results: bool = False
    vad_events: bool = False
    utterance_end: bool = False
    punctuate: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, query: kit.Query) -> LiveSettings:
        common.check_flags(query, IGNORED_FLAGS)
        encoding, sample_rate = common.audio_format(query)
        channels = query.integer("channels", 1, MAX_CHANNELS) or 1
        multichannel = query.flag("multichannel")
        interim_results = query.flag("interim_results")
        vad_events = query.flag("vad_events")
        utterance_end = query.integer("utterance_end_ms", 1, 60_000) is not None
        punctuate = query.flag("punctuate") or query.flag("smart_format")
        extra = {}
        for item in query.all("extra"):
            key, sep, value = item.partition(":")
            if not sep or not key:
                raise ConfigError(f"invalid value for extra: {item!r} (expected key:value)")
            extra[key] = value
        vad = _endpointing(query.last("endpointing"))
        language = query.last("language") or "en"
        detect, languages = common.detect_languages(query)
        detect = detect or language in ("multi", "auto")
        terms = [word.rsplit(":", 1)[0] if _has_boost(word) else word for word in query.all("keywords")]
        return cls(encoding=encoding, sample_rate=sample_rate, model=query.last("model") or "base",
                   language=None if detect else language, detect_language=detect, languages=languages,
                   context=common.context(terms + query.all("keyterm")), vad=vad, channels=channels,
                   multichannel=multichannel, interim_results=interim_results, vad_events=vad_events,
                   utterance_end=utterance_end, punctuate=punctuate, extra=extra, redact=common.redact(query),
                   diarize=query.flag("diarize"))


def _endpointing(value: str | None) -> dict:
    if value is None or value.lower() == "true":
        return {}
    if value.lower() == "false":
        return {"silence_threshold": common.NO_ENDPOINTING_SEC}
    ms = kit.decimal(value, kind=int)
    if ms is None:
        raise ConfigError(f"invalid value for endpointing: {value!r} (expected ms of silence or false)")
    if not 0 <= ms <= common.NO_ENDPOINTING_SEC * 1000:
        raise ConfigError(f"invalid value for endpointing: {ms} "
                          f"(expected 0 to {common.NO_ENDPOINTING_SEC * 1000:.0f})")
    return {"silence_threshold": max(ms, MIN_ENDPOINTING_MS) / 1000}


def _has_boost(word: str) -> bool:
    _, sep, boost = word.rpartition(":")
    return bool(sep) and kit.decimal(boost) is not None


def _plain(word: str) -> str:
    """``word`` lower case without punctuation; a redaction's placeholder (``[CREDIT_CARD_1]``) as it is."""
    placeholder = _PLACEHOLDER.match(word.strip())
    if placeholder:
        return placeholder.group(1)
    return "".join(ch for ch in word if ch.isalnum() or ch in "'-").strip("'-").lower()


def alternative(event: events.Transcript, *, punctuate: bool) -> tuple[str, float, list[dict]]:
    """A result's transcript, confidence and words as Deepgram writes them (live and pre-recorded).

    Confidence: the engine's figure; without one the mean of the words', and
    without words 1.0 for a non-empty transcript (0.0 for an empty one).
    """
    words = [_word(w, punctuate=punctuate) for w in event.words]
    transcript = event.text.strip() if punctuate else " ".join(filter(None, (_plain(w) for w in event.text.split())))
    if event.confidence is not None:
        confidence = event.confidence
    elif words:
        confidence = sum(w["confidence"] for w in words) / len(words)
    else:
        confidence = 1.0 if transcript else 0.0
    return transcript, confidence, words


def _word(word: events.Word, *, punctuate: bool) -> dict:
    plain = _plain(word.text) or word.text.strip()
    out = {"word": plain, "start": word.start_ms / 1000, "end": word.end_ms / 1000,
           "confidence": round(word.confidence, 4), "punctuated_word": word.text.strip() if punctuate else plain}
    if word.speaker is not None:  # a diarized live call's (the pre-recorded path adds its own after)
        out["speaker"] = word.speaker
        if word.speaker_confidence is not None:
            out["speaker_confidence"] = word.speaker_confidence
    return out


def model_uuid(model: str) -> str:
    """The stable id Deepgram's ``model_uuid`` and ``models`` carry for a model name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"streamscribe:{model}"))


def model_info(model: str) -> dict:
    """Deepgram's ``model_info`` of the model the ASR workers loaded (``tiny.en``, ``base``)."""
    return {"name": model, "version": MODEL_VERSION, "arch": MODEL_VERSION}


def loaded_model(opened: str, requested: str) -> str:
    """The name responses give the model: the one the ASR workers announced, else the one asked for."""
    return opened or requested


def created_now() -> str:
    """Now, as Deepgram's ``created`` (ISO 8601, UTC, milliseconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _live_settings(query: kit.Query) -> LiveSettings:
    common.refuse_recording_only(query)
    return LiveSettings.from_query(query)


class DeepgramDoor(Door):
    name: ClassVar[str] = "deepgram"

    def __init__(self, handshake: Handshake, **options) -> None:
        super().__init__(handshake, **options)
        self.intake = common.Intake.accept(handshake, _live_settings, controls=_CONTROL)
        self.request_id = self.intake.request_id
        assert isinstance(self.intake.settings, LiveSettings)  # what LiveSettings.from_query read
        self.settings: LiveSettings = self.intake.settings
        self.created = created_now()
        self.model = self.settings.model  # the loaded model's name once the call opened
        self.model_uuid = model_uuid(self.model)
        self._sha256 = hashlib.sha256()
        self._fatal: ErrorCode | None = None
        self._finalized: set[int] = set()  # channels whose from_finalize final came since the last Finalize
        self._last_end: dict[int, int] = {}  # channel -> audio end of its last result, ms

    @property
    def config(self) -> SessionConfig | None:
        """The session's config; None until a container's header opened it."""
        return self.intake.config

    def response_headers(self) -> list[tuple[str, str]]:
        return common.response_headers(self.request_id)

    def opening(self) -> list[events.Operation]:
        return self.intake.opening()

    # -- client to core ---------------------------------------------------------------------------

    def receive(self, message: str | bytes) -> list[events.Operation]:
        if isinstance(message, bytes):
            self._sha256.update(message)
            return self.intake.audio(message)
        body = kit.parse_json(message)
        operations = self.intake.control(body)
        if body["type"] == "Finalize":
            self._finalized.clear()
        return operations

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
        elif isinstance(event, events.Opened):
            self.model = loaded_model(event.model, self.settings.model)
            self.model_uuid = model_uuid(self.model)
            messages = []  # Deepgram says nothing until results
        else:
            messages = []
        return [json.dumps(m, ensure_ascii=False) for m in messages]

    def _channel(self, channel: int) -> list[int]:
        return [channel, self.config.pipelines if self.config is not None else 1]

    def _results(self, event: events.Transcript) -> list[dict]:
        final = isinstance(event, events.Final)
        if not final and not self.settings.interim_results:
            return []
        self._last_end[event.channel] = max(self._last_end.get(event.channel, 0), event.end_ms)
        from_finalize = isinstance(event, events.Final) and event.from_finalize
        if from_finalize:
            self._finalized.add(event.channel)
        transcript, confidence, words = alternative(event, punctuate=self.settings.punctuate)
        return [self._message(event.channel, start_ms=event.start_ms, end_ms=event.end_ms, is_final=final,
                              speech_final=isinstance(event, events.Final) and event.speech_final,
                              from_finalize=from_finalize, transcript=transcript, confidence=confidence, words=words,
                              language=event.language if self.settings.detect_language else "")]

    def _message(self, channel: int, *, start_ms: int, end_ms: int, is_final: bool, speech_final: bool,
                 from_finalize: bool, transcript: str, confidence: float, words: list[dict],
                 language: str = "") -> dict:
        metadata = {"request_id": self.request_id, "model_uuid": self.model_uuid,
                    "model_info": model_info(self.model)}
        if self.settings.extra:
            metadata["extra"] = self.settings.extra
        alternative = {"transcript": transcript, "confidence": round(confidence, 4), "words": words}
        if language:  # detected: the language it was decoded in, as Deepgram's multilingual results say
            alternative["languages"] = [language]
        return {"type": "Results", "channel_index": self._channel(channel), "duration": (end_ms - start_ms) / 1000,
                "start": start_ms / 1000, "is_final": is_final, "speech_final": speech_final,
                "from_finalize": from_finalize, "channel": {"alternatives": [alternative]},
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
        if event.complete:  # every result sent: a client's CloseStream, or a gateway finishing before it goes
            metadata = {"type": "Metadata", "transaction_key": "deprecated", "request_id": self.request_id,
                        "sha256": self._sha256.hexdigest(), "created": self.created,
                        "duration": event.audio_ms / 1000,
                        "channels": self.config.channels if self.config is not None else 0,
                        "models": [self.model_uuid],
                        "model_info": {self.model_uuid: model_info(self.model)}}
            return [json.dumps(metadata), common.close_frame(event, self._fatal)]
        return [common.close_frame(event, self._fatal)]
