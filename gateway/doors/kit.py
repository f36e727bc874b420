"""What doors share: call states, JSON messages, checked fields, query parameters, audio sniffing, refusals.

A door reads a client's values with these helpers rather than with its own
``isinstance`` ladders, so that every door refuses a bad value the same way: a
:class:`~common.errors.ProtocolError` (a message on an open connection) or a
:class:`~common.errors.ConfigError` (a query parameter, refused at the
handshake) whose message names the field and says what it must be.
"""

from __future__ import annotations

import enum
import json
import math
import re
import struct
from collections.abc import Collection, Sequence
from typing import NamedTuple, TypeVar

from common.errors import ConfigError, ErrorCode, ProtocolError

from ..analytics import sentiment
from ..core.config import MAX_CHANNELS, SessionConfig
from ..diarization import pool as diarization
from .base import HandshakeRefused

MAX_TEXT_BYTES = 64 * 1024  # control messages; audio frames have their own limit
MAX_NUMBER_CHARS = 40  # a JSON number's literal; no value a door reads needs more than 20 digits
MAX_WAV_HEADER = 64 * 1024  # bytes read for a WAV header before the data chunk must have begun
NOT_WAV = "the stream does not start with a WAV header"

T = TypeVar("T")

# -- door states -------------------------------------------------------------------------------------


class CallState(enum.Enum):
    """Where a call stands, for a door whose protocol opens and ends it with messages."""

    AWAITING_OPEN = "awaiting_open"  # before the message that opens it (start, open, start_recording)
    OPEN = "open"  # audio flows
    PAUSED = "paused"  # open, but the client said it sends no audio for now (AudioHook)
    CLOSING = "closing"  # the client said it sends no more audio (stop, close, stop_recording)


# -- JSON messages -----------------------------------------------------------------------------------


def parse_json(text: str) -> dict:
    """A JSON object from a text message, or :class:`ProtocolError` ``bad_json``.

    Numbers are bounded before they are converted (:data:`MAX_NUMBER_CHARS`, finite),
    so that no value a client writes makes the parser itself fail: Python refuses
    to convert an integer of more than 4300 digits with a ``ValueError``, and a float
    literal past 1e308 would become infinity. ``NaN`` and ``Infinity`` are no JSON.
    """
    if len(text) > MAX_TEXT_BYTES:
        raise ProtocolError(ErrorCode.BAD_JSON, f"text message of {len(text)} characters is over the "
                                                f"{MAX_TEXT_BYTES}-character limit")
    try:
        body = json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, and whatever else the parser refuses
        raise ProtocolError(ErrorCode.BAD_JSON, f"message is not valid JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError(ErrorCode.BAD_JSON, "message is nested too deeply") from None
    if not isinstance(body, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "message must be a JSON object")
    return body


def _literal(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise ProtocolError(ErrorCode.BAD_JSON, f"a number of {len(text)} characters is over the "
                                                f"{MAX_NUMBER_CHARS}-character limit")
    return text


def _integer(text: str) -> int:
    return int(_literal(text))


def _float(text: str) -> float:
    value = float(_literal(text))
    if not math.isfinite(value):
        raise ProtocolError(ErrorCode.BAD_JSON, f"the number {text} is out of range")
    return value


def _constant(name: str) -> float:
    raise ProtocolError(ErrorCode.BAD_JSON, f"{name} is not a JSON value; numbers must be finite")


# -- fields of a message: ProtocolError "<name> must be <expected>" ----------------------------------
#
# ``name`` is the field as the client knows it (``config.sample_rate``); ``expected`` says what
# would have been right, for the doors whose wording predates these helpers; ``code`` is the
# error's code (``bad_config`` unless the door says a broken message is a ``protocol`` error).


def _wrong(name: str, expected: str, code: ErrorCode) -> ProtocolError:
    return ProtocolError(code, f"{name} must be {expected}")


def integer(value: object, name: str, *, whole_floats: bool = False, expected: str = "an integer",
            code: ErrorCode = ErrorCode.BAD_CONFIG) -> int:
    """``value`` as an int; ``whole_floats``: ``16000.0`` too. A JSON ``true`` is no number."""
    if isinstance(value, bool) or not (isinstance(value, int) or (
            whole_floats and isinstance(value, float) and value.is_integer())):
        raise _wrong(name, expected, code)
    return int(value)


def number(value: object, name: str, *, expected: str = "a number",
           code: ErrorCode = ErrorCode.BAD_CONFIG) -> float:
    """``value`` (an int or a float) as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong(name, expected, code)
    return float(value)


def flag(value: object, name: str, *, expected: str = "true or false",
         code: ErrorCode = ErrorCode.BAD_CONFIG) -> bool:
    if not isinstance(value, bool):
        raise _wrong(name, expected, code)
    return value


def string(value: object, name: str, *, nonempty: bool = False, expected: str = "a string",
           code: ErrorCode = ErrorCode.BAD_CONFIG) -> str:
    if not isinstance(value, str) or (nonempty and not value):
        raise _wrong(name, expected, code)
    return value


def mapping(value: object, name: str, *, expected: str = "an object", code: ErrorCode = ErrorCode.BAD_CONFIG) -> dict:
    if not isinstance(value, dict):
        raise _wrong(name, expected, code)
    return value


def choice(value: T, name: str, choices: Collection[T], *, expected: str | None = None,
           code: ErrorCode = ErrorCode.BAD_CONFIG) -> T:
    """``value`` if it is one of ``choices`` (a JSON ``true`` is not ``1``)."""
    if isinstance(value, bool) or value not in choices:
        raise _wrong(name, expected or f"one of {', '.join(map(str, choices))}, not {value!r}", code)
    return value


def session_config(**values) -> SessionConfig:
    """A :class:`SessionConfig` of a client's values that this server can serve (:func:`check_extras`);
    what it refuses is the client's ``bad_config``."""
    try:
        return check_extras(SessionConfig(**values))
    except ConfigError as exc:
        raise ProtocolError(ErrorCode.BAD_CONFIG, str(exc)) from None


def check_extras(config: SessionConfig) -> SessionConfig:
    """``config``, or :class:`ConfigError` naming the extra a feature it asks for needs and this
    server lacks: ``diarize`` (refused as the call opens, not at its first final) and sentiment asked
    for by name (``analytics: true`` alone runs without it, and the client is told so)."""
    if config.diarize:
        diarization.available()
    if isinstance(config.analytics, dict) and config.analytics.get("sentiment") is True:
        sentiment.available()
    return config


# -- numbers in text ----------------------------------------------------------------------------------

_INTEGER = re.compile(r"[-+]?[0-9]+")
_DECIMAL = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def decimal(text: str, *, kind: type = float) -> int | float | None:
    """``text`` as ``kind`` (``int`` or ``float``) if it is a plain decimal number, else None.

    ``int()`` and ``float()`` take more than a client should send (other scripts' digits,
    ``_``, spaces, ``nan``, ``inf``) and fail on some of it (``int("²")``, an integer of
    more than 4300 digits): the text is checked before it is converted. A float must be
    finite; neither may have more than :data:`MAX_NUMBER_CHARS` characters.
    """
    if len(text) > MAX_NUMBER_CHARS or not (_INTEGER if kind is int else _DECIMAL).fullmatch(text):
        return None
    number = kind(text)
    return number if kind is int or math.isfinite(number) else None


# -- query parameters: ConfigError "invalid value for <name>: ..." -------------------------------------


class Query:
    """A handshake's query parameters, read and checked; :class:`ConfigError` names a bad one.

    A repeated parameter's last value counts, except where a door reads them :meth:`all`.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)

    def names(self) -> set[str]:
        return set(self._values)

    def all(self, name: str) -> list[str]:
        return list(self._values.get(name, ()))

    def last(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[-1] if values else None

    def flag(self, name: str, default: bool = False) -> bool:
        """``true`` or ``false`` (any case)."""
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
        number = decimal(value, kind=kind)
        if number is None:
            expected = "an integer" if kind is int else "a number"
            raise ConfigError(f"invalid value for {name}: {value!r} (expected {expected})")
        if not low <= number <= high:
            raise ConfigError(f"invalid value for {name}: {number} (expected {low} to {high})")
        return number


# -- audio sniffing -----------------------------------------------------------------------------------

WAV_FORMATS = {(1, 16): "pcm16", (3, 32): "float32", (6, 8): "alaw", (7, 8): "mulaw"}  # (tag, bits) -> encoding


class WavFormat(NamedTuple):
    """What a WAV header says, and where its samples begin."""

    encoding: str
    sample_rate: int
    channels: int
    offset: int


def parse_wav_header(data: bytes, *, not_wav: str = NOT_WAV) -> WavFormat | None:
    """The format of a stream that starts with a WAV header, or None if more bytes are needed.

    Raise :class:`ProtocolError` ``bad_audio`` if the bytes are not WAV this server decodes;
    ``not_wav`` is the message when they are no WAV at all (a door says what to send instead).
    """
    if len(data) < 12:
        if not (b"RIFF"[:len(data)] == data[:4] or b"RF64"[:len(data)] == data[:4]):
            raise ProtocolError(ErrorCode.BAD_AUDIO, not_wav)
        return None
    if data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        raise ProtocolError(ErrorCode.BAD_AUDIO, not_wav)
    position, fmt = 12, None
    while position + 8 <= len(data):
        chunk, size = data[position:position + 4], struct.unpack_from("<I", data, position + 4)[0]
        body = position + 8
        if chunk == b"data":
            if fmt is None:
                raise ProtocolError(ErrorCode.BAD_AUDIO, "WAV data comes before its fmt chunk")
            return WavFormat(*fmt, body)
        if chunk == b"fmt ":
            if body + 16 > len(data):
                return None
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == 0xFFFE and size >= 40 and body + 26 <= len(data):
                tag = struct.unpack_from("<H", data, body + 24)[0]  # WAVE_FORMAT_EXTENSIBLE's sub-format
            encoding = WAV_FORMATS.get((tag, bits))
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


class WavReader:
    """The first bytes of a stream held until its WAV header is complete (sans I/O)."""

    def __init__(self, *, not_wav: str = NOT_WAV) -> None:
        self._head = b""
        self._not_wav = not_wav

    def feed(self, data: bytes) -> tuple[WavFormat, bytes] | None:
        """(the header's format, the samples after it) once the header is complete; None before.

        Raise :class:`ProtocolError` ``bad_audio`` when the stream is no WAV this server decodes.
        """
        self._head += data
        found = parse_wav_header(self._head, not_wav=self._not_wav)
        if found is None:
            return None
        samples, self._head = self._head[found.offset:], b""
        return found, samples


# -- refusals ---------------------------------------------------------------------------------------


def refusal(status: int, body: dict, *, headers: Sequence[tuple[str, str]] = ()) -> HandshakeRefused:
    """A refused handshake: HTTP ``status`` with ``body`` as JSON (``raise kit.refusal(...)``)."""
    return HandshakeRefused(status, json.dumps(body).encode(), headers=headers)


def header_text(text: str) -> str:
    """``text`` safe in an HTTP header: ASCII, printable, short."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)[:200]
