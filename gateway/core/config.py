"""A call's settings, whichever door it came through.

Doors parse their own wire format (a JSON config, URL query parameters, a
platform's start message) into a :class:`SessionConfig`; its checks are the
same for every door, so a value one door accepts no other refuses. The
settings of the pipeline are checked by the
:class:`~common.pipeline_config.PipelineConfig` they make, the one each
pipeline session of the call stores for its stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from common.errors import ConfigError
from common.pipeline_config import AsrConfig, DenoiseConfig, PipelineConfig, VadConfig
from common.records import SAMPLE_RATE
from common.redaction.policy import merge, parse_kinds

from ..policy.analytics import CallAnalytics
from ..policy.tenant import TenantPolicy
from .audio import ENCODINGS

MAX_CHANNELS = 8
_RANGES = {  # name: (low, high)
    "sample_rate": (8000, 48000),
    "channels": (1, MAX_CHANNELS),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    # Audio as the client sends it
    sample_rate: int = SAMPLE_RATE
    encoding: str = "float32"
    channels: int = 1  # interleaved
    multichannel: bool = True  # each channel its own pipeline session; False: mix down to one
    # Recognition (see common.pipeline_config.AsrConfig; None: the ASR worker's default)
    language: str | None = None
    # The client asked to detect the language (Deepgram's language=multi, detect_language): refused
    # at the door where the ASR model decodes one language only (an English-only model detects nothing).
    detect_language: bool = False
    # With no language: the ones to detect among, most likely first (AsrConfig.languages; (): the
    # ASR worker's --detect-languages).
    languages: tuple[str, ...] = ()
    context: str = ""
    chunk_size_sec: float | None = None
    unfixed_chunk_num: int | None = None
    unfixed_token_num: int | None = None
    words: bool = False
    eager_finals: bool = False
    sentence_endpoint: bool | None = None
    # Endpointing (VadConfig's options, by name) and noise suppression
    vad: dict = field(default_factory=dict)
    denoise: bool | None = None  # None: the deployment default
    asr_audio: str = "raw"  # with denoise on: does the ASR hear raw or denoised audio
    # "batch": a recording, sent unpaced and served with the capacity live calls leave free
    priority: str = "live"
    # Call analytics (gateway/analytics): null/false off, true on, or an object of phrases, alerts, sentiment
    analytics: bool | dict | None = None
    # Redaction kinds (common.redaction.policy); redact_policy says who asked: "client", "tenant"
    # (the API key's tenant forces them, see with_policy) or "tenant+client"
    redact: tuple[str, ...] = ()
    redact_policy: str = ""
    # Who spoke when on a one-pipeline call: each final's words get a speaker (gateway/features/speakers.py)
    diarize: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.redact, tuple):
            object.__setattr__(self, "redact", parse_kinds(self.redact))
        if isinstance(self.languages, list):  # the JSON form
            object.__setattr__(self, "languages", tuple(self.languages))
        if self.redact and not self.redact_policy:
            object.__setattr__(self, "redact_policy", "client")
        if self.redact and self.language is not None and not self.language.lower().startswith(("en", "english")):
            raise ConfigError(f"redaction is for English speech only, not language={self.language!r}: its rules "
                              "read English number words and keywords")
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"{name}={value} is out of range {low}..{high}")
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"encoding must be one of {', '.join(ENCODINGS)}, not {self.encoding!r}")
        if self.diarize and self.pipelines > 1:
            raise ConfigError(f"diarize=true needs one channel, and multichannel=true makes {self.channels}: each "
                              "channel is one party already; send multichannel=false to diarize their mix, or "
                              "leave diarize out")
        self.pipeline(denoise_default=False)  # refused now, when the client connects
        CallAnalytics.parse(self.analytics)
        # Whether this server has the extras a feature asked for needs (diarize, sentiment) is the
        # doors' check as they parse (gateway/doors/kit.py check_extras): the core knows no feature.

    @property
    def call_analytics(self) -> CallAnalytics | None:
        """The analytics the call asked for itself (None: none; its tenant may still turn them on)."""
        return CallAnalytics.parse(self.analytics)

    def asked(self) -> dict:
        """What the call asked for that its transcripts show done (the transcript contract's rule 7,
        common.contract.check_call), as its log records it: only the options set. ``diarize``
        where each final carries its speakers (a live call: a recording is diarized whole, in its
        response); ``analytics``/``sentiment`` the call's own (a tenant's analytics are no ask)."""
        out: dict[str, object] = {}
        if self.language:
            out["language"] = self.language
        if self.words:
            out["words"] = True
        if self.diarize and self.priority != "batch":
            out["diarize"] = True
        analytics = self.call_analytics
        if analytics is not None:
            out["analytics"] = True
            if analytics.sentiment:
                out["sentiment"] = True
        if self.redact:
            out["redact"] = list(self.redact)
        return out

    @property
    def redaction(self) -> str:
        """The redaction the call runs with, as its log records it: ``tenant:pci,ssn``; "" for none."""
        return f"{self.redact_policy}:{','.join(self.redact)}" if self.redact else ""

    @property
    def pipelines(self) -> int:
        """Pipeline sessions of a call with this config: one per channel, or one mixed down."""
        return self.channels if self.multichannel else 1

    def pipeline(self, *, denoise_default: bool) -> PipelineConfig:
        """The config of each pipeline session of the call, read by every stage."""
        denoise = self.denoise if self.denoise is not None else denoise_default
        return PipelineConfig(
            stages=("denoise", "vad", "asr") if denoise else ("vad", "asr"),
            vad=VadConfig.parse(self.vad),
            # Analytics time each party's talk by its words.
            asr=AsrConfig(language=self.language, languages=self.languages, context=self.context,
                          words=self.words or self.diarize or self.call_analytics is not None,
                          eager_finals=self.eager_finals, chunk_size_sec=self.chunk_size_sec,
                          unfixed_chunk_num=self.unfixed_chunk_num, unfixed_token_num=self.unfixed_token_num,
                          sentence_endpoint=self.sentence_endpoint, redact=self.redact,
                          redact_policy=self.redact_policy),
            denoise=DenoiseConfig(asr_audio=self.asr_audio),
            priority=self.priority,
        )

    def with_policy(self, policy: TenantPolicy) -> SessionConfig:
        """This config with what its tenant's ``policy`` forces added (redaction kinds: a client cannot
        turn them off), as the call's pipeline sessions and their workers get it."""
        forced = policy.redact
        if not forced or set(forced) <= set(self.redact) and "tenant" in self.redact_policy:
            return self  # nothing forced, or applied already (a parked call's config, resumed)
        return replace(self, redact=merge(forced, self.redact),
                       redact_policy="tenant+client" if self.redact else "tenant")
