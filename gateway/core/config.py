"""A call's settings, whichever door it came through.

Doors parse their own wire format (a JSON config, URL query parameters, a
platform's start message) into a :class:`SessionConfig`; its checks are the
same for every door, so a value one door accepts no other refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.endpointing import EndpointOptions, with_overrides
from common.errors import ConfigError

from .audio import ENCODINGS

MAX_CONTEXT_CHARS = 4000
MAX_CHANNELS = 8
_RANGES = {  # name: (low, high)
    "sample_rate": (8000, 48000),
    "channels": (1, MAX_CHANNELS),
    "chunk_size_sec": (0.2, 10.0),
    "unfixed_chunk_num": (0, 50),
    "unfixed_token_num": (0, 100),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    # Audio as the client sends it
    sample_rate: int = 16_000
    encoding: str = "float32"
    channels: int = 1  # interleaved
    multichannel: bool = True  # each channel its own pipeline session; False: mix down to one
    # Recognition
    language: str | None = None  # None: auto-detect
    context: str = ""
    chunk_size_sec: float = 1.0
    unfixed_chunk_num: int = 2
    unfixed_token_num: int = 5
    words: bool = False  # word timings on finals
    eager_finals: bool = False  # the final of the speech so far at each pause (speech_final false)
    sentence_endpoint: bool | None = None  # a pause after a complete sentence ends the utterance; None: the ASR default
    # Endpointing and noise suppression
    vad: dict = field(default_factory=dict)
    denoise: bool | None = None  # None: the deployment default
    asr_audio: str = "raw"  # with denoise on: does the ASR hear raw or denoised audio

    def __post_init__(self) -> None:
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"{name}={value} is out of range {low}..{high}")
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"encoding must be one of {', '.join(ENCODINGS)}, not {self.encoding!r}")
        if self.language is not None and not 0 < len(self.language) <= 32:
            raise ConfigError("language must be a language name or code, or null for auto-detect")
        if len(self.context) > MAX_CONTEXT_CHARS:
            raise ConfigError(f"context must be a string of at most {MAX_CONTEXT_CHARS} characters")
        try:
            with_overrides(EndpointOptions(), self.vad)
        except ConfigError as exc:
            raise ConfigError(f"vad: {exc}") from None
        if self.asr_audio not in ("raw", "denoised"):
            raise ConfigError("asr_audio must be 'raw' or 'denoised'")

    @property
    def pipelines(self) -> int:
        """Pipeline sessions of a call with this config: one per channel, or one mixed down."""
        return self.channels if self.multichannel else 1

    def pipeline(self, *, denoise_default: bool) -> dict:
        """The config stored in each pipeline session's meta, read by every stage."""
        denoise = self.denoise if self.denoise is not None else denoise_default
        return {
            "stages": ["denoise", "vad", "asr"] if denoise else ["vad", "asr"],
            "language": self.language, "context": self.context, "chunk_size_sec": self.chunk_size_sec,
            "unfixed_chunk_num": self.unfixed_chunk_num, "unfixed_token_num": self.unfixed_token_num,
            "vad": self.vad, "asr_audio": self.asr_audio, "words": self.words,
            "eager_finals": self.eager_finals, "sentence_endpoint": self.sentence_endpoint,
        }
