"""Typed records that travel on the bus, and their msgpack codec.

Every record is a msgpack map with the schema version ``v`` and the record type ``t``.
Decoding validates the version, the type and each field's type, so a malformed
record raises :class:`~common.errors.RecordError` instead of reaching stage logic.

Sample positions are absolute sample offsets at 16 kHz from the start of the
session's audio; they are the only clock inside the pipeline.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgpack

from .errors import RecordError

SCHEMA_VERSION = 1
SAMPLE_RATE = 16_000


@dataclass(frozen=True, slots=True)
class Record:
    """Base of every record. ``seq`` numbers a session's records on one stream 0, 1, 2 ...;
    a stage leaves it unset and its runner numbers what it writes (on the bus every
    record carries one)."""

    TYPE: ClassVar[str] = ""
    seq: int = field(default=0, kw_only=True)


@dataclass(frozen=True, slots=True)
class Audio(Record):
    """A chunk of canonical audio: 16 kHz mono PCM16 little-endian.

    ``raw`` is optional: the denoise stage puts the undenoised input there
    (same offsets, same length as ``pcm``) when the session's ASR should hear
    raw audio while the VAD scores the denoised ``pcm``. Empty otherwise.
    """

    TYPE: ClassVar[str] = "audio"
    offset: int
    pcm: bytes
    raw: bytes = b""

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2


@dataclass(frozen=True, slots=True)
class SpeechStart(Record):
    """Speech begins at sample ``start`` (pre-roll included)."""

    TYPE: ClassVar[str] = "speech_start"
    start: int


@dataclass(frozen=True, slots=True)
class SpeechEnd(Record):
    """The utterance that began at ``start`` ends at sample ``end``.

    ``reason`` is ``silence``, ``flush``, ``end`` (session ends) or ``max_length``
    (a forced split: the next utterance starts at ``end``).
    """

    TYPE: ClassVar[str] = "speech_end"
    start: int
    end: int
    reason: str


@dataclass(frozen=True, slots=True)
class SpeechPause(Record):
    """A pause began in the utterance that began at ``start``: if the silence lasts,
    its :class:`SpeechEnd` will say ``end``. Between the VAD and the ASR only: the
    ASR starts the final decode of the audio up to ``end`` here, and uses it when
    the end comes with the same ``end`` (speech that resumes discards it).
    """

    TYPE: ClassVar[str] = "speech_pause"
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Flush(Record):
    """In-band marker: close the current utterance, then pass the marker on."""

    TYPE: ClassVar[str] = "flush"
    flush_id: int


@dataclass(frozen=True, slots=True)
class End(Record):
    """In-band marker: the session's input is complete."""

    TYPE: ClassVar[str] = "end"
    reason: str = "client_closed"


@dataclass(frozen=True, slots=True)
class TimedWord:
    """One recognised word: samples ``start``..``end`` of session audio and the engine's probability.

    Travels inside a :class:`Transcript` as the list ``[text, start, end, probability]``.
    """

    text: str
    start: int
    end: int
    probability: float


@dataclass(frozen=True, slots=True)
class Redacted:
    """A redacted entity of a transcript: its type (``CREDIT_CARD``, ``SSN``, see
    :mod:`common.redaction.detect`), the placeholder that replaced it in the text and the
    words (``[CREDIT_CARD_1]``), and the samples ``start``..``end`` of session audio it was
    said in (the utterance's, when there are no word timings), so that a recorder can mute them.

    Travels inside a :class:`Transcript` as the list ``[entity, label, start, end]``.
    """

    entity: str
    label: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Transcript(Record):
    """A partial or final transcript of one utterance, towards the gateway.

    ``words`` holds word timings when the session asked for them and the engine
    has them (empty otherwise), in order, inside ``start``..``end``.
    ``confidence`` is the engine's own figure for the text (a mean token
    probability, 0..1), ``None`` when the engine gives none. ``truncated``
    marks a final whose decode looped and could not be recovered: the engine
    cut the repetition out, and words spoken there may be missing. ``no_words`` marks the
    empty final of a recording's utterance in which speech was found but for which the
    recogniser wrote no words (its pack's decode, and the utterance decoded alone): what was
    spoken there is missing, and the result says so. ``redactions``: the
    entities the session's redaction replaced in ``text`` and ``words``, in order.
    """

    TYPE: ClassVar[str] = "transcript"
    utterance_id: str
    start: int
    end: int
    text: str
    final: bool
    speech_final: bool = False
    language: str = ""
    words: tuple[TimedWord, ...] = ()
    confidence: float | None = None
    truncated: bool = False
    redactions: tuple[Redacted, ...] = ()
    no_words: bool = False


@dataclass(frozen=True, slots=True)
class Error(Record):
    """An error to report to the client; ``fatal`` ends the session."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    fatal: bool = False


_TYPES: dict[str, type[Record]] = {
    cls.TYPE: cls for cls in (Audio, SpeechStart, SpeechPause, SpeechEnd, Flush, End, Transcript, Error)
}
_FIELDS: dict[type[Record], tuple[dataclasses.Field, ...]] = {
    cls: dataclasses.fields(cls) for cls in _TYPES.values()
}


def _annotation(f: dataclasses.Field) -> str:
    """The annotation of record field ``f``: a string, since this module imports ``annotations``."""
    assert isinstance(f.type, str), f
    return f.type


_PY_TYPES = {"int": int, "str": str, "bytes": bytes, "bool": bool, "float": (float, int),
             "float | None": (float, int, type(None)), "tuple[TimedWord, ...]": (list, tuple),
             "tuple[Redacted, ...]": (list, tuple)}


def _encode_words(words: tuple[TimedWord, ...]) -> list[list]:
    return [[w.text, w.start, w.end, w.probability] for w in words]


def _decode_words(value: list) -> tuple[TimedWord, ...]:
    words = []
    for i, item in enumerate(value):
        if (not isinstance(item, (list, tuple)) or len(item) != 4 or not isinstance(item[0], str)
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in item[1:3])
                or not isinstance(item[3], (float, int)) or isinstance(item[3], bool)):
            raise RecordError(f"transcript.words[{i}] is not [text, start, end, probability]")
        words.append(TimedWord(item[0], item[1], item[2], float(item[3])))
    return tuple(words)


def _encode_redactions(redactions: tuple[Redacted, ...]) -> list[list]:
    return [[r.entity, r.label, r.start, r.end] for r in redactions]


def _decode_redactions(value: list) -> tuple[Redacted, ...]:
    out = []
    for i, item in enumerate(value):
        if (not isinstance(item, (list, tuple)) or len(item) != 4 or not all(isinstance(x, str) for x in item[:2])
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in item[2:])):
            raise RecordError(f"transcript.redactions[{i}] is not [entity, label, start, end]")
        out.append(Redacted(*item))
    return tuple(out)


# Fields whose bus form differs from their Python form: (encode, decode).
_CODECS: dict[str, tuple[Callable[[Any], Any] | None, Callable[[Any], Any] | None]] = {
    "tuple[TimedWord, ...]": (_encode_words, _decode_words),
    "tuple[Redacted, ...]": (_encode_redactions, _decode_redactions),
}


# Per record type, per field: (name, converter to the bus form or None).
_ENCODERS: dict[type[Record], tuple[tuple[str, Callable[[Any], Any] | None], ...]] = {
    cls: tuple((f.name, _CODECS.get(_annotation(f), (None, None))[0]) for f in fields) for cls, fields in _FIELDS.items()
}


def encode(record: Record, *, seq: int | None = None) -> bytes:
    """The bus form of ``record``; with ``seq`` numbered so (what a runner writes), the record's own otherwise."""
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "t": record.TYPE}
    for name, convert in _ENCODERS[type(record)]:
        value = getattr(record, name)
        body[name] = convert(value) if convert else value
    if seq is not None:
        body["seq"] = seq
    return msgpack.packb(body, use_bin_type=True)


_PACKER = msgpack.Packer(use_bin_type=True)


def encode_audio(seq: int, offset: int, pcm: bytes) -> bytes:
    """The bytes of ``encode(Audio(seq=seq, offset=offset, pcm=pcm))``, a few times faster.

    The gateway encodes every client frame (ten thousand a second at 1000
    sessions); the generic codec spends ~4 us on each building the record and
    walking its fields. tests/unit/test_writer.py checks that both give the same bytes.
    """
    return _PACKER.pack({"v": SCHEMA_VERSION, "t": Audio.TYPE, "seq": seq, "offset": offset, "pcm": pcm,
                         "raw": b""})


# Per record type, per field: (name, type name, accepted Python types, required (seq too: a stage
# may leave it unset, the bus form never does), bool refused (bool is an int), converter from the
# bus form or None); worked out once, not per record.
_DECODERS: dict[type[Record], tuple[tuple[str, str, Any, bool, bool, Callable[[Any], Any] | None], ...]] = {
    cls: tuple((f.name, _annotation(f), _PY_TYPES[_annotation(f)],
                f.default is dataclasses.MISSING or f.name == "seq", f.type != "bool",
                _CODECS.get(_annotation(f), (None, None))[1])
               for f in fields)
    for cls, fields in _FIELDS.items()
}


def decode(data: bytes) -> Record:
    """Decode and validate one record; raise :class:`RecordError` if malformed."""
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise RecordError(f"not valid msgpack: {exc}") from None
    if not isinstance(body, dict):
        raise RecordError(f"record is a {type(body).__name__}, expected a map")
    version = body.get("v")
    if version != SCHEMA_VERSION:
        raise RecordError(f"schema version {version!r}, expected {SCHEMA_VERSION}")
    cls = _TYPES.get(body.get("t"))  # type: ignore[arg-type]
    if cls is None:
        raise RecordError(f"unknown record type {body.get('t')!r}")
    kwargs = {}
    for name, type_name, expected, required, reject_bool, convert in _DECODERS[cls]:
        if name not in body:
            if required:
                raise RecordError(f"{cls.TYPE} record lacks field {name!r}")
            continue
        value = body[name]
        if not isinstance(value, expected) or (reject_bool and isinstance(value, bool)):
            raise RecordError(f"{cls.TYPE}.{name} is {type(value).__name__}, expected {type_name}")
        kwargs[name] = convert(value) if convert else value
    record = cls(**kwargs)
    _check(record)
    return record


def _check(record: Record) -> None:
    if getattr(record, "seq", 0) < 0:
        raise RecordError(f"{record.TYPE}.seq is negative")
    if isinstance(record, Audio):
        if record.offset < 0:
            raise RecordError("audio.offset is negative")
        if len(record.pcm) % 2:
            raise RecordError("audio.pcm has an odd number of bytes")
        if record.raw and len(record.raw) != len(record.pcm):
            raise RecordError("audio.raw and audio.pcm differ in length")
    elif isinstance(record, (SpeechPause, SpeechEnd, Transcript)) and record.end < record.start:
        raise RecordError(f"{record.TYPE}.end precedes its start")
    if isinstance(record, Transcript):
        _check_transcript(record)


def _probability(value: float) -> bool:
    return math.isfinite(value) and 0.0 <= value <= 1.0


def _check_transcript(record: Transcript) -> None:
    if record.confidence is not None and not _probability(record.confidence):
        raise RecordError(f"transcript.confidence {record.confidence!r} is not a probability")
    previous = record.start
    for i, word in enumerate(record.words):
        if word.end < word.start:
            raise RecordError(f"transcript.words[{i}] ends before it starts")
        if word.start < previous or word.end > record.end:
            raise RecordError(f"transcript.words[{i}] is out of order or outside "
                              f"{record.start}..{record.end}")
        if not _probability(word.probability):
            raise RecordError(f"transcript.words[{i}].probability {word.probability!r} is not a probability")
        previous = word.start
    for i, span in enumerate(record.redactions):
        if not record.start <= span.start <= span.end <= record.end:
            raise RecordError(f"transcript.redactions[{i}] is outside {record.start}..{record.end}")


def utterance_id(session_id: str, start_sample: int) -> str:
    """Deterministic utterance id: replays after a failover give the same id."""
    return f"{session_id}-{start_sample}"
