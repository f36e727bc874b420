"""A session's pipeline settings: chosen by the gateway per session, read by every stage.

The gateway builds a :class:`PipelineConfig` from what the client asked for,
whatever the door, and that is where it is validated: a bad value is refused
when the client connects. It travels in the session's meta as JSON with a
schema version ``v`` (:meth:`PipelineConfig.encode`), and each stage decodes
it into the same typed object when it claims the session
(:meth:`PipelineConfig.decode`): stages read attributes, with the defaults
written here once.

Versions. A config of a version newer than the worker's, or a malformed one,
raises :class:`~common.errors.ConfigError` (the runner then refuses the
session with an error to the client, never crashing). One of an older version
decodes, the fields it lacks taking their defaults; version 0 is the flat,
unversioned layout that came before, version 2 added ``priority``. A config is
written with the lowest version that holds what it sets: while a fleet is
upgraded, a worker of the version before still serves live sessions and
refuses only what it cannot serve as asked (a batch session).

Priority. A ``live`` session is a call in progress; a ``batch`` session is a
recording, sent unpaced, that the stages serve only with the capacity live
sessions leave free: the gateway admits it to a share of the slots, and each
stage's scheduling takes live input first (docs/batch.md).

Settings that tune a worker's own default (the VAD's endpointing, the ASR's
streaming recipe) are ``None`` unless the session sets them: the worker's flag
decides then.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from .endpointing import EndpointOptions
from .errors import ConfigError
from .keys import STAGES
from .redaction.policy import KINDS, parse_kinds

VERSION = 2
MAX_CONTEXT_CHARS = 4000
MAX_LANGUAGES = 20  # of a session's languages to detect among
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*")
ASR_AUDIO = ("raw", "denoised")
PRIORITIES = ("live", "batch")

# Seed names of endpointing options that clients may still send.
_VAD_ALIASES = {"vad_threshold": "threshold"}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(name: str, value: float | None, low: float, high: float, *, integer: bool = False) -> None:
    """``value`` (None: unset) is a number (an integer if ``integer``) in ``low..high``."""
    if value is None:
        return
    if not _is_number(value) or integer and not isinstance(value, int):
        raise ConfigError(f"{name} must be {'an integer' if integer else 'a number'}")
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is out of range {low}..{high}")


def _check_text(name: str, value: str | None) -> None:
    """``value`` is text an engine's tokenizer takes: no lone surrogate (every decode of the session
    would fail on it, and on an engine that batches sessions, other sessions' decodes with it)."""
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(f"{name} must be valid Unicode text: it holds a lone surrogate "
                          f"({value[exc.start]!r} at position {exc.start}), which is no character") from None


def _check_flag(name: str, value: bool | None, *, nullable: bool = False) -> None:
    if not isinstance(value, bool) and not (nullable and value is None):
        raise ConfigError(f"{name} must be true, false" + (" or null" if nullable else ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class VadConfig:
    """Endpointing options the session overrides; the VAD worker's own apply to the rest.

    The fields are those of :class:`~common.endpointing.EndpointOptions` (bar the
    sample rate), ``None`` where the session keeps the worker's value.
    """

    threshold: float | None = None
    neg_threshold: float | None = None
    min_speech_duration: float | None = None
    silence_threshold: float | None = None
    pre_roll: float | None = None
    trailing_padding: float | None = None
    pause_threshold: float | None = None
    max_utterance_sec: float | None = None
    split_search: float | None = None

    def __post_init__(self) -> None:
        for name, value in self.overrides().items():
            if not _is_number(value):
                raise ConfigError(f"vad: vad option {name} must be a number")
        try:
            self.apply(EndpointOptions())
        except ConfigError as exc:
            raise ConfigError(f"vad: {exc}") from None

    @classmethod
    def parse(cls, values: dict[str, Any]) -> VadConfig:
        """From the JSON form: option names (the seed's aliases too) and numbers."""
        if not isinstance(values, dict):
            raise ConfigError("vad must be an object of endpointing options")
        values = {_VAD_ALIASES.get(name, name): value for name, value in values.items()}
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"vad: unknown vad option(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    def overrides(self) -> dict[str, float]:
        """The options the session sets, by name (the JSON form)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    def apply(self, defaults: EndpointOptions) -> EndpointOptions:
        """``defaults`` with the session's options; raises ConfigError if they do not fit together."""
        values: dict[str, Any] = {name: float(value) for name, value in self.overrides().items()}
        if not values:
            return defaults
        if "pause_threshold" not in values:
            # The default pause follows a session's own silence threshold and padding.
            silence = values.get("silence_threshold", defaults.silence_threshold)
            padding = values.get("trailing_padding", defaults.trailing_padding)
            values["pause_threshold"] = min(max(defaults.pause_threshold, padding), silence)
        return replace(defaults, **values)


@dataclass(frozen=True, slots=True, kw_only=True)
class AsrConfig:
    """Recognition settings of a session."""

    language: str | None = None  # None: auto-detect
    # With language None: the languages to detect among, most likely first (): the ASR worker's
    # --detect-languages). Detection never picks another (asr_worker/language.py).
    languages: tuple[str, ...] = ()
    context: str = ""  # words and names to expect (a prompt)
    words: bool = False  # word timings on finals
    eager_finals: bool = False  # the final of the speech so far at each pause (speech_final false)
    # None below: the ASR worker's default
    chunk_size_sec: float | None = None  # new speech between partial decodes
    unfixed_chunk_num: int | None = None  # first chunks decoded without a prefix
    unfixed_token_num: int | None = None  # tokens rolled back from the prefix
    sentence_endpoint: bool | None = None  # a pause after a complete sentence ends the utterance
    # Redaction kinds (common.redaction.policy), done by the ASR stage before anything leaves it;
    # policy: who asked (client, tenant, both), recorded for the status page and transcript log.
    redact: tuple[str, ...] = ()
    redact_policy: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.redact, list):  # the JSON form
            object.__setattr__(self, "redact", tuple(self.redact))
        if not isinstance(self.redact, tuple) or not all(isinstance(k, str) for k in self.redact):
            raise ConfigError("redact must be a list of redaction kinds")
        if self.redact and parse_kinds(self.redact) != self.redact:
            raise ConfigError(f"redact must be some of {', '.join(KINDS)}, in that order, not {list(self.redact)}")
        if not isinstance(self.redact_policy, str) or len(self.redact_policy) > 200:
            raise ConfigError("redact_policy must be a short string")
        if self.language is not None and not (isinstance(self.language, str) and 0 < len(self.language) <= 32):
            raise ConfigError("language must be a language name or code, or null for auto-detect")
        if isinstance(self.languages, list):  # the JSON form
            object.__setattr__(self, "languages", tuple(self.languages))
        if (not isinstance(self.languages, tuple) or len(self.languages) > MAX_LANGUAGES
                or not all(isinstance(tag, str) and _LANGUAGE_TAG.fullmatch(tag) for tag in self.languages)):
            raise ConfigError(f"languages must be a list of at most {MAX_LANGUAGES} language codes or tags "
                              "(en, es-MX) to detect among")
        if self.languages and self.language is not None:
            raise ConfigError("languages (the ones to detect among) goes with no language: name one or the other")
        if not isinstance(self.context, str) or len(self.context) > MAX_CONTEXT_CHARS:
            raise ConfigError(f"context must be a string of at most {MAX_CONTEXT_CHARS} characters")
        for name in ("language", "context"):  # JSON's "\ud800" decodes to a lone surrogate: no UTF-8 encodes it
            _check_text(name, getattr(self, name))
        _check_flag("words", self.words)
        _check_flag("eager_finals", self.eager_finals)
        _check_flag("sentence_endpoint", self.sentence_endpoint, nullable=True)
        _check_range("chunk_size_sec", self.chunk_size_sec, 0.2, 10.0)
        _check_range("unfixed_chunk_num", self.unfixed_chunk_num, 0, 50, integer=True)
        _check_range("unfixed_token_num", self.unfixed_token_num, 0, 100, integer=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class DenoiseConfig:
    """Noise suppression settings of a session (with the denoise stage in its pipeline)."""

    asr_audio: str = "raw"  # does the ASR hear the raw or the denoised audio

    def __post_init__(self) -> None:
        if self.asr_audio not in ASR_AUDIO:
            raise ConfigError("asr_audio must be 'raw' or 'denoised'")


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineConfig:
    """Everything the stages of one pipeline session need to know of it."""

    stages: tuple[str, ...] = ("vad", "asr")  # in order; the gateway writes to the first
    vad: VadConfig = field(default_factory=VadConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    denoise: DenoiseConfig = field(default_factory=DenoiseConfig)
    priority: str = "live"  # or "batch": served with the capacity live sessions leave free

    def __post_init__(self) -> None:
        if self.priority not in PRIORITIES:
            raise ConfigError(f"priority must be 'live' or 'batch', not {self.priority!r}")
        stages = self.stages
        if (not isinstance(stages, tuple) or not stages or not all(isinstance(s, str) for s in stages)
                or list(stages) != [s for s in STAGES if s in stages]):
            raise ConfigError(f"stages must be some of {', '.join(STAGES)}, in that order, not {stages!r}")
        for name, kind in (("vad", VadConfig), ("asr", AsrConfig), ("denoise", DenoiseConfig)):
            value = getattr(self, name)
            if not isinstance(value, kind):
                raise ConfigError(f"{name} is a {type(value).__name__}, expected {kind.__name__}")

    @property
    def batch(self) -> bool:
        """A batch session: unpaced, admitted to a share of the slots, served after live sessions."""
        return self.priority == "batch"

    def next_stage(self, stage: str) -> str | None:
        """The stage after ``stage``; None after the last (its outputs go to the client)."""
        following = self.stages[self.stages.index(stage) + 1:] if stage in self.stages else ()
        return following[0] if following else None

    def encode(self) -> str:
        """The JSON form stored in the session's meta, of the lowest version that holds it."""
        asr = dataclasses.asdict(self.asr)
        if not self.asr.redact:
            # A worker of the version before refuses a config that has these (an unknown field):
            # so it still serves sessions without redaction, and refuses those with it.
            del asr["redact"], asr["redact_policy"]
        else:
            asr["redact"] = list(self.asr.redact)
        if not self.asr.languages:  # likewise
            del asr["languages"]
        else:
            asr["languages"] = list(self.asr.languages)
        body = {"v": 1, "stages": list(self.stages), "vad": self.vad.overrides(),
                "asr": asr, "denoise": dataclasses.asdict(self.denoise)}
        if self.batch:
            body.update(v=2, priority=self.priority)
        return json.dumps(body)

    @classmethod
    def decode(cls, text: str | bytes) -> PipelineConfig:
        """Parse and validate the JSON form; raises ConfigError naming what is wrong."""
        try:
            body = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"pipeline config is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ConfigError("pipeline config is not a JSON object")
        version = body.pop("v", 0)
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ConfigError(f"pipeline config version {version!r} is not a version number")
        if version > VERSION:
            raise ConfigError(f"pipeline config version {version} is newer than this worker's ({VERSION})")
        if version == 0:
            body = _from_flat(body)
        return _build(body)


def _section(kind: type[Any], name: str, values: Any) -> Any:
    """A section of the JSON form as ``kind``; fields it lacks take their defaults."""
    if not isinstance(values, dict):
        raise ConfigError(f"{name} must be an object")
    unknown = set(values) - set(kind.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"{name}: unknown field(s) {', '.join(sorted(unknown))}")
    return kind(**values)


def _build(body: dict) -> PipelineConfig:
    unknown = set(body) - set(PipelineConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"pipeline config: unknown field(s) {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    if "stages" in body:
        if not isinstance(body["stages"], list):
            raise ConfigError("stages must be a list of stage names")
        values["stages"] = tuple(body["stages"])
    if "vad" in body:
        values["vad"] = VadConfig.parse(body["vad"])
    if "asr" in body:
        values["asr"] = _section(AsrConfig, "asr", body["asr"])
    if "denoise" in body:
        values["denoise"] = _section(DenoiseConfig, "denoise", body["denoise"])
    if "priority" in body:
        values["priority"] = body["priority"]
    return PipelineConfig(**values)


def _from_flat(body: dict) -> dict:
    """Version 0 (one flat object, ``vad`` its only section) in the layout of version 1."""
    sections: dict[str, Any] = {name: body.pop(name) for name in ("stages", "vad") if name in body}
    for name, kind in (("asr", AsrConfig), ("denoise", DenoiseConfig)):
        part = {key: body.pop(key) for key in list(body) if key in kind.__dataclass_fields__}
        if part:
            sections[name] = part
    if body:
        raise ConfigError(f"pipeline config: unknown field(s) {', '.join(sorted(body))}")
    return sections
