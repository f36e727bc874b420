"""Confidence of a Qwen3-ASR answer from the log-probabilities of its generated tokens.

The figure is the mean probability of the answer's tokens (``exp`` of each
token's log-probability, averaged). Qwen3-ASR answers ``language X<asr_text>``
before the text when it detects the language itself; those tag tokens are
near-certain and say nothing about the words, so when the tokenizer has
``<asr_text>`` as one token, only the tokens after it count.

Word timings are a different matter: Qwen3-ASR's decode has no per-token time
(its timestamps come from the separate Qwen3 forced aligner model), so the
Qwen3 engines return no words rather than invent times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ANSWER_MARKER = "<asr_text>"


@dataclass(frozen=True, slots=True)
class Generated:
    """One generated answer: its text, and its token ids with their log-probabilities (empty if unknown)."""

    text: str
    token_ids: tuple[int, ...] = ()
    logprobs: tuple[float, ...] = ()


def marker_id(tokenizer: Any) -> int | None:
    """The id of ``<asr_text>`` when the tokenizer has it as a single token, else None."""
    convert = getattr(tokenizer, "convert_tokens_to_ids", None)
    if convert is None:
        return None
    try:
        token_id = convert(ANSWER_MARKER)
    except (KeyError, ValueError, TypeError):
        return None
    if not isinstance(token_id, int) or token_id == getattr(tokenizer, "unk_token_id", None):
        return None
    return token_id


def answer_confidence(generated: Generated, *, marker: int | None) -> float | None:
    """Mean token probability of the answer text (after the last ``marker``); None without log-probabilities."""
    logprobs = list(generated.logprobs)
    if marker is not None and marker in generated.token_ids:
        last = len(generated.token_ids) - 1 - generated.token_ids[::-1].index(marker)
        logprobs = logprobs[last + 1:]
    if not logprobs:
        return None
    return sum(math.exp(lp) if lp > -math.inf else 0.0 for lp in logprobs) / len(logprobs)


def sampled_logprobs(token_ids: Sequence[int], positions: Sequence[Any] | None) -> tuple[float, ...]:
    """The log-probability of each sampled token from vLLM's per-position ``{token_id: Logprob}`` maps.

    ``positions`` is ``CompletionOutput.logprobs`` (None when the request asked
    for none); ``SamplingParams(logprobs=0)`` makes each map hold the sampled
    token only.
    """
    if not positions:
        return ()
    values = []
    for token_id, entry in zip(token_ids, positions):
        logprob = entry.get(token_id) if entry is not None else None
        if logprob is None:
            return ()  # not the sampled token's figures: give none rather than a wrong one
        values.append(float(getattr(logprob, "logprob", logprob)))
    return tuple(values)
