"""The native client protocol at ``/ws/asr``: parsing and validating client messages.

The first message is a JSON ``config``; the server answers ``session_created``.
Then binary frames carry audio, and text frames carry ``finalize``, ``keepalive``
or ``close``. Everything a client may get wrong raises :class:`ProtocolError`
with a code and a message saying what was wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from common.errors import ConfigError, ProtocolError
from common.endpointing import EndpointOptions, with_overrides

from .audio import ENCODINGS

MAX_CONTEXT_CHARS = 4000


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    sample_rate: int = 16_000
    encoding: str = "float32"
    language: str | None = None
    context: str = ""
    chunk_size_sec: float = 1.0
    unfixed_chunk_num: int = 2
    unfixed_token_num: int = 5
    vad: dict = field(default_factory=dict)
    denoise: bool | None = None  # None: the deployment default
    asr_audio: str = "raw"  # with denoise on: does the ASR hear raw or denoised audio

    def pipeline(self, *, denoise_default: bool) -> dict:
        """The config stored in the session's meta, read by every stage."""
        denoise = self.denoise if self.denoise is not None else denoise_default
        return {
            "stages": ["denoise", "vad", "asr"] if denoise else ["vad", "asr"],
            "language": self.language, "context": self.context, "chunk_size_sec": self.chunk_size_sec,
            "unfixed_chunk_num": self.unfixed_chunk_num, "unfixed_token_num": self.unfixed_token_num,
            "vad": self.vad, "asr_audio": self.asr_audio,
        }


def _number(body: dict, name: str, kind: type, low: float, high: float, default):
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        raise ProtocolError("bad_config", f"{name} must be {'an integer' if kind is int else 'a number'}")
    if not low <= value <= high:
        raise ProtocolError("bad_config", f"{name}={value} is out of range {low}..{high}")
    return kind(value)


def parse_json(text: str) -> dict:
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad_json", f"message is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError("bad_json", "message must be a JSON object")
    return body


def parse_config(text: str | bytes) -> SessionConfig:
    """Parse the first message of a connection."""
    if isinstance(text, bytes):
        raise ProtocolError("config_required", "the first message must be a JSON config, not binary audio")
    body = parse_json(text)
    kind = body.pop("type", "config")
    if kind != "config":
        raise ProtocolError("config_required", f"the first message must be a config, not {kind!r}")
    defaults = SessionConfig()
    known = set(SessionConfig.__dataclass_fields__)
    unknown = set(body) - known
    if unknown:
        raise ProtocolError("bad_config", f"unknown config field(s): {', '.join(sorted(unknown))}")
    encoding = body.get("encoding", defaults.encoding)
    if encoding not in ENCODINGS:
        raise ProtocolError("bad_config", f"encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r}")
    language = body.get("language")
    if language is not None and (not isinstance(language, str) or not 0 < len(language) <= 32):
        raise ProtocolError("bad_config", "language must be a language name or code, or null for auto-detect")
    context = body.get("context", "")
    if not isinstance(context, str) or len(context) > MAX_CONTEXT_CHARS:
        raise ProtocolError("bad_config", f"context must be a string of at most {MAX_CONTEXT_CHARS} characters")
    vad = body.get("vad") or {}
    if not isinstance(vad, dict):
        raise ProtocolError("bad_config", "vad must be an object of endpointing options")
    try:
        with_overrides(EndpointOptions(), vad)
    except ConfigError as exc:
        raise ProtocolError("bad_config", f"vad: {exc}") from None
    denoise = body.get("denoise")
    if denoise is not None and not isinstance(denoise, bool):
        raise ProtocolError("bad_config", "denoise must be true, false or null")
    asr_audio = body.get("asr_audio", "raw")
    if asr_audio not in ("raw", "denoised"):
        raise ProtocolError("bad_config", "asr_audio must be 'raw' or 'denoised'")
    return SessionConfig(
        sample_rate=_number(body, "sample_rate", int, 8000, 48000, defaults.sample_rate),
        encoding=encoding, language=language, context=context,
        chunk_size_sec=_number(body, "chunk_size_sec", float, 0.2, 10.0, defaults.chunk_size_sec),
        unfixed_chunk_num=_number(body, "unfixed_chunk_num", int, 0, 50, defaults.unfixed_chunk_num),
        unfixed_token_num=_number(body, "unfixed_token_num", int, 0, 100, defaults.unfixed_token_num),
        vad=vad, denoise=denoise, asr_audio=asr_audio,
    )


CONTROL_TYPES = ("finalize", "keepalive", "close")


def parse_control(text: str) -> dict:
    """Parse a text message after the config."""
    body = parse_json(text)
    kind = body.get("type")
    if kind == "config":
        raise ProtocolError("protocol", "config was already received for this session")
    if kind not in CONTROL_TYPES:
        raise ProtocolError("unknown_type", f"unknown message type {kind!r}; expected one of "
                            f"{', '.join(CONTROL_TYPES)}")
    return body


def samples_to_ms(samples: int) -> int:
    return samples * 1000 // 16_000
