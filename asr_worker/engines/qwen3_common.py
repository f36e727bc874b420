"""What the two Qwen3-ASR engines share: the model directory, audio padding,
prompts, language handling, answer parsing and tokens.

``qwen3-vllm`` and ``qwen3-transformers`` differ only in how they run the model
(vLLM's continuous batching, a micro-batcher over ``generate``);
:class:`Qwen3Engine` holds the rest, so both turn a request into a prompt and an
answer into a :class:`~.base.Hypothesis` the same way.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.config import option, positive
from common.errors import ConfigError, ModelError
from common.records import SAMPLE_RATE

from .base import DecodeRequest, Engine, EngineOptions, Hypothesis
from .qwen3_prompt import LanguageMemory, PromptBuilder, language_code, load_chat_template, normalize_language, \
    parse_output

__all__ = ["MIN_AUDIO_SAMPLES", "Qwen3Engine", "Resolved", "check_model_dir", "pad_audio", "prompt_builder_for"]

logger = logging.getLogger(__name__)

# The audio encoder needs some frames; the official package pads shorter input
# to 0.5 s with silence, and so do we.
MIN_AUDIO_SAMPLES = SAMPLE_RATE // 2

MODEL_HINT = "pass --model /path/to/Qwen3-ASR-0.6B or set STREAMSCRIBE_ASR_MODEL"


def check_model_dir(options: EngineOptions, engine: str) -> str:
    """Return the local model directory or raise an error naming the flag to set.

    Only local directories are accepted: a hub id would make vLLM or
    transformers download weights at run time, which this service never does
    unasked (download them beforehand, e.g. ``huggingface-cli download
    Qwen/Qwen3-ASR-0.6B --local-dir /models/Qwen3-ASR-0.6B``).
    """
    if not options.model:
        raise ConfigError(f"the {engine} engine needs Qwen3-ASR weights: {MODEL_HINT}")
    if not os.path.isdir(options.model):
        raise ModelError(f"{engine}: model directory {options.model!r} does not exist; {MODEL_HINT}")
    return options.model


def pad_audio(samples: np.ndarray) -> np.ndarray:
    """Float32 mono, padded with silence to :data:`MIN_AUDIO_SAMPLES`."""
    audio = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
    if len(audio) < MIN_AUDIO_SAMPLES:
        audio = np.pad(audio, (0, MIN_AUDIO_SAMPLES - len(audio)))
    return audio


def prompt_builder_for(tokenizer: Any, model_dir: str | None) -> PromptBuilder:
    """A :class:`PromptBuilder` rendering the model's own chat template when there is one.

    The tokenizer's ``chat_template`` is preferred, then a template file in
    ``model_dir``; failing both, the documented hard-coded fallback.
    """
    template = getattr(tokenizer, "chat_template", None)
    if not template and model_dir:
        template = load_chat_template(model_dir)
    if not template or not hasattr(tokenizer, "apply_chat_template"):
        logger.info("no chat template found; using the built-in Qwen3-ASR prompt")
        return PromptBuilder()

    def render(messages: list[dict]) -> str:
        return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                             add_generation_prompt=True)

    return PromptBuilder(render=render)


@dataclass(frozen=True, slots=True, kw_only=True)
class Qwen3Options(EngineOptions):
    """What both Qwen3-ASR engines read."""

    dtype: str = field(default="auto", metadata=option("weights dtype (qwen3 engines)"))
    max_num_seqs: int = field(default=128, metadata=option(
        "vLLM concurrent sequences (qwen3-transformers: the largest batch)", parse=positive(int)))
    max_new_tokens: int = field(default=256, metadata=option("token limit of a final decode", parse=positive(int)))
    max_new_tokens_partial: int = 64


@dataclass(frozen=True, slots=True)
class Resolved:
    """A request's prompt, with the language and prefix it was built with (to parse the answer)."""

    prompt: str
    forced: str | None  # the language the client asked for, if any
    language: str | None
    prefix: str


class Qwen3Engine(Engine):
    """Prompts, language memory, parsing and tokens of a Qwen3-ASR engine; subclasses run the model."""

    def __init__(self, *, tokenizer: Any, prompts: PromptBuilder) -> None:
        self._tokenizer = tokenizer
        self._prompts = prompts
        self._languages = LanguageMemory()

    def resolve(self, request: DecodeRequest) -> Resolved:
        """The prompt of ``request``: its context, language and the prefix to continue."""
        forced = normalize_language(request.language)
        language, prefix = forced, request.prefix
        if prefix and language is None:
            # The prefix follows a language tag; use the one detected for the text it came from.
            language = self._languages.language_of(prefix)
            if language is None:
                logger.debug("no language known for prefix of %s; decoding without it", request.request_id)
                prefix = ""
        prompt = self._prompts.build(context=request.context, language=language, prefix=prefix)
        return Resolved(prompt=prompt, forced=forced, language=language, prefix=prefix)

    def hypothesis(self, raw: str, resolved: Resolved, *, confidence: float | None = None) -> Hypothesis:
        """The model's answer ``raw`` to the prompt ``resolved`` as a hypothesis; remembers its language.

        ``confidence`` is the engine's figure for the answer (from its token log-probabilities).
        """
        parsed = parse_output(raw, language=resolved.language, prefix=resolved.prefix)
        code = language_code(parsed.language) if parsed.language else ""
        if parsed.no_speech:
            return Hypothesis(text="", language=code, no_speech=True)
        if resolved.forced is None and parsed.language:
            self._languages.remember(parsed.text, parsed.language)
        token_ids = tuple(self.tokenize(parsed.text))
        return Hypothesis(text=parsed.text, language=code, tokens=len(token_ids), token_ids=token_ids,
                          confidence=confidence)

    def tokenize(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def detokenize(self, token_ids: list[int]) -> str:
        return self._tokenizer.decode(list(token_ids), skip_special_tokens=True)
