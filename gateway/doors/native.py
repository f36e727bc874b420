"""The native protocol at ``/ws/asr``.

The first message is a JSON ``config``; the server answers ``session_created``.
Then binary frames carry audio, and text frames carry ``finalize``,
``keepalive`` or ``close``. The server sends ``partial``, ``final``,
``flushed`` and ``error`` messages, each numbered by ``seq``. Everything a
client may get wrong raises :class:`ProtocolError` with a code and a message
saying what was wrong.

Resuming after a dropped connection: a config with ``"resumable": true`` makes
the server acknowledge audio (``{"type": "audio_ack", "offset": samples}``
every half second of audio taken) and keep the call for a grace period
(``--resume-grace``) when the connection drops without a close. A new
connection to the same gateway whose first message is ``{"type": "config",
"resume": {"session_id": ID, "last_seq": N}}`` takes the call over: the server
sends again the messages after ``seq`` N that it kept (all but partials and
acks), then ``{"type": "session_resumed", "session_id", "offset", "replayed",
"complete"}``; the client resends its audio from sample ``offset``. The same
utterance ids continue, and no final is lost or repeated.

A parked call waits in Redis (:mod:`gateway.calls.resume`), so the new connection may
reach any gateway of the deployment. A gateway that shuts down parks its resumable
calls and tells their clients so: ``{"type": "reconnect", "session_id", "last_seq"}``
(not numbered), then close 1012 (service restart) whose reason names the session.
"""

from __future__ import annotations

import json
from collections import deque
from typing import ClassVar

from websockets.frames import CloseCode

from common.errors import ErrorCode, ProtocolError

from ..core import events
from ..core.audio import SAMPLE_WIDTH
from ..core.config import SessionConfig
from . import kit
from .base import CloseFrame, Door, Outgoing

CONTROL_TYPES = ("finalize", "keepalive", "close")
_CONTROL: dict[str, events.Operation] = {"finalize": events.Finalize(), "keepalive": events.KeepAlive(), "close": events.Close()}
_TYPES = {"sample_rate": int, "channels": int, "chunk_size_sec": float, "unfixed_chunk_num": int,
          "unfixed_token_num": int}
_FLAGS = ("multichannel", "words", "eager_finals", "detect_language", "diarize")
_NULLABLE_FLAGS = ("denoise", "sentence_endpoint")  # null: the deployment default
_STRINGS = ("encoding", "language", "context", "asr_audio", "priority")
REPLAY_KEPT = 512  # numbered messages (all but partials and acks) a resumable session can send again
ACK_EVERY_SEC = 0.5  # audio between two audio_ack messages of a resumable session


def parse_config(text: str | bytes) -> SessionConfig:
    """Parse the first message of a connection."""
    if isinstance(text, bytes):
        raise ProtocolError(ErrorCode.CONFIG_REQUIRED, "the first message must be a JSON config, not binary audio")
    body = kit.parse_json(text)
    kind = body.pop("type", "config")
    if kind != "config":
        raise ProtocolError(ErrorCode.CONFIG_REQUIRED, f"the first message must be a config, not {kind!r}")
    unknown = set(body) - set(SessionConfig.__dataclass_fields__) | ({"redact_policy"} & set(body))
    if unknown:
        raise ProtocolError(ErrorCode.BAD_CONFIG, f"unknown config field(s): {', '.join(sorted(unknown))}")
    values = {name: value for name, value in body.items() if value is not None}
    for name, kind in _TYPES.items():
        if name in values:
            value = values[name]
            values[name] = kit.integer(value, name, whole_floats=True) if kind is int else kit.number(value, name)
    for name in _FLAGS + _NULLABLE_FLAGS:
        if name in values:
            kit.flag(values[name], name, expected="true, false" + (" or null" if name in _NULLABLE_FLAGS else ""))
    for name in _STRINGS:
        if name in values:
            kit.string(values[name], name)
    if "redact" in values:
        redact = values["redact"]
        if not isinstance(redact, list) or not redact or not all(isinstance(k, str) for k in redact):
            raise ProtocolError(ErrorCode.BAD_CONFIG, "redact must be a non-empty list of redaction kinds "
                                                      "(pci, ssn, numbers, pii)")
    if "vad" in values:
        kit.mapping(values["vad"], "vad", expected="an object of endpointing options")
    return kit.session_config(**values)


def parse_control(text: str) -> events.Operation:
    """Parse a text message after the config."""
    body = kit.parse_json(text)
    kind = body.get("type")
    if kind == "config":
        raise ProtocolError(ErrorCode.PROTOCOL, "config was already received for this session")
    if not isinstance(kind, str) or kind not in _CONTROL:  # a list or object is no key (unhashable)
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind!r}; expected one of "
                                                    f"{', '.join(CONTROL_TYPES)}")
    return _CONTROL[kind]


def parse_resume(text: str) -> tuple[bool, events.Resume | None, str]:
    """Split the first message's resume options off: (resumable, a Resume or None, the rest as a config)."""
    body = kit.parse_json(text)
    resumable = kit.flag(body.pop("resumable", False), "resumable")
    resume = body.pop("resume", None)
    if resume is None:
        return resumable, None, json.dumps(body)
    if not isinstance(resume, dict) or not isinstance(resume.get("session_id"), str):
        raise ProtocolError(ErrorCode.BAD_CONFIG, 'resume must be {"session_id": "...", "last_seq": N}')
    last_seq = kit.integer(resume.get("last_seq", -1), "resume.last_seq")
    return True, events.Resume(resume["session_id"], last_seq), ""


class NativeDoor(Door):
    name: ClassVar[str] = "native"

    def __init__(self, handshake, **options) -> None:
        super().__init__(handshake, **options)
        self.config: SessionConfig | None = None
        self.call_id = ""
        self.seq = 0
        self.received_bytes = 0  # audio taken, for resuming
        self._acked = 0
        self._sent: deque[tuple[int, str]] = deque(maxlen=REPLAY_KEPT)  # (seq, message) for a resume
        self._forgotten = -1  # the last seq dropped from _sent

    @property
    def received_samples(self) -> int:
        """Audio taken so far, in samples per channel at the client's rate."""
        if self.config is None:
            return 0
        return self.received_bytes // (SAMPLE_WIDTH[self.config.encoding] * self.config.channels)

    def receive(self, message: str | bytes) -> list[events.Operation]:
        if self.config is None:
            if isinstance(message, str):
                self.resumable, resume, message = parse_resume(message)
                if resume is not None:
                    return [resume]
            self.config = parse_config(message)
            return [events.Open(self.config)]
        if isinstance(message, bytes):
            self.received_bytes += len(message)
            operations: list[events.Operation] = [events.Audio(message)]
            if self.resumable and self.received_samples - self._acked >= self.config.sample_rate * ACK_EVERY_SEC:
                self._acked = self.received_samples
                operations.append(events.Reply({"type": "audio_ack", "offset": self._acked}))
            return operations
        return [parse_control(message)]

    def park(self) -> dict:
        """What a resume on another gateway needs of this door (JSON): the numbering, the replay, the audio taken."""
        return {"call_id": self.call_id, "seq": self.seq, "received_bytes": self.received_bytes,
                "acked": self._acked, "sent": list(self._sent), "forgotten": self._forgotten}

    def restore(self, state: dict, config: SessionConfig) -> None:
        """Go on from :meth:`park`'s ``state`` (this door's own handshake said ``resume``)."""
        self.config = config
        self.resumable = True
        self.call_id = state["call_id"]
        self.seq = state["seq"]
        self.received_bytes = state["received_bytes"]
        self._acked = state["acked"]
        self._sent = deque(((seq, text) for seq, text in state["sent"]), maxlen=REPLAY_KEPT)
        self._forgotten = state["forgotten"]

    def render(self, event: events.Event) -> list[Outgoing]:
        if isinstance(event, events.Ended):
            return [CloseFrame(event.close_code, event.reason[:120])]
        if isinstance(event, events.Moving):
            # Not numbered: the seq goes on, unchanged, on the gateway that resumes the call.
            notice = {"type": "reconnect", "session_id": event.call_id, "last_seq": self.seq - 1,
                      "message": "this gateway is restarting: reconnect now and resume the session"}
            return [json.dumps(notice), CloseFrame(CloseCode.SERVICE_RESTART, f"service restart; resume {event.call_id}"[:120])]
        if isinstance(event, events.Resumed):
            replay = [text for seq, text in self._sent if seq > event.after_seq]
            # complete: false when a message the client lacks was already forgotten (REPLAY_KEPT)
            return replay + self._numbered({"type": "session_resumed", "session_id": event.call_id,
                                            "offset": event.offset, "replayed": len(replay),
                                            "complete": self._forgotten <= event.after_seq}, keep=False)
        if isinstance(event, events.Reply):
            assert isinstance(event.message, dict)  # this door's replies
            return self._numbered(dict(event.message), keep=False)
        message = self._message(event)
        if message is None:
            return []
        return self._numbered(message, keep=self.resumable and message["type"] != "partial")

    def _numbered(self, message: dict, *, keep: bool) -> list[Outgoing]:
        message["seq"] = self.seq
        text = json.dumps(message, ensure_ascii=False)
        if keep:
            if len(self._sent) == self._sent.maxlen:
                self._forgotten = self._sent[0][0]
            self._sent.append((self.seq, text))
        self.seq += 1
        return [text]

    def _message(self, event: events.Event) -> dict | None:
        if isinstance(event, events.Opened):
            self.call_id = event.call_id
            message: dict[str, object] = {"type": "session_created", "session_id": event.call_id}
            if len(event.session_ids) > 1:
                message["channel_session_ids"] = list(event.session_ids)
            return message
        if isinstance(event, events.Transcript):
            return self._transcript(event)
        if isinstance(event, events.Flushed):
            return {"type": "flushed", "session_id": self.call_id, "flush_id": event.flush_id}
        if isinstance(event, events.Error):
            return {"type": "error", "code": str(event.code), "message": event.message, "fatal": event.fatal}
        if isinstance(event, events.Analytics):
            if event.summary:
                return {"type": "analytics_summary", "session_id": self.call_id, "summary": event.data}
            return {"type": "analytics", "session_id": self.call_id, **event.data}
        return None  # speech started, utterance end: not part of this protocol

    def _transcript(self, event: events.Transcript) -> dict:
        final = isinstance(event, events.Final)
        message: dict[str, object] = {"type": "final" if final else "partial", "session_id": event.session_id,
                   "utterance_id": event.utterance_id, "text": event.text, "start_ms": event.start_ms,
                   "end_ms": event.end_ms, "language": event.language}
        if self.config is not None and self.config.channels > 1 and self.config.multichannel:
            message["channel"] = event.channel
        if isinstance(event, events.Final):
            message["is_speech_final"] = event.speech_final
            if event.truncated:  # the engine cut out a repetition loop: words may be missing
                message["truncated"] = True
            if event.no_words:  # speech found, no words recognised: what was spoken there is missing
                message["no_words"] = True
            if event.speaker is not None:  # a diarized call's (its first word's)
                message["speaker"] = event.speaker
        if event.confidence is not None:
            message["confidence"] = round(event.confidence, 4)
        if final and event.redactions:
            message["redactions"] = [{"type": r.entity, "placeholder": r.label, "start_ms": r.start_ms,
                                      "end_ms": r.end_ms} for r in event.redactions]
        if final and self.config is not None and (self.config.words or self.config.diarize):
            message["words"] = [_word(w) for w in event.words]
        return message


def _word(word: events.Word) -> dict:
    out: dict[str, object] = {"word": word.text, "start_ms": word.start_ms, "end_ms": word.end_ms,
                              "confidence": round(word.confidence, 4)}
    if word.speaker is not None:
        out["speaker"] = word.speaker
        out["speaker_confidence"] = word.speaker_confidence
    return out
