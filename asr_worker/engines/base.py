"""The interface every recognition engine implements.

One engine is loaded per worker process and shared by all its sessions; it must
accept concurrent ``transcribe`` calls (each session has at most one in flight)
and must never block the event loop: CPU-bound engines run in an executor, GPU
engines submit to their own scheduler (vLLM's continuous batching).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from common.config import option


@dataclass(frozen=True, slots=True)
class DecodeRequest:
    """One decode of an utterance so far.

    ``audio`` is float32 mono at 16 kHz, the whole utterance from its start.
    ``prefix`` is the stable text from the previous decode (the streaming
    rollback recipe); empty for the first chunks and, by default, for finals.
    ``word_timestamps`` asks for :attr:`Hypothesis.words`; engines that cannot
    time words ignore it (they never invent timings). ``first_words`` marks a
    partial of an utterance that has no words yet: engines that queue decodes
    serve it before other partials (the first partial is what tells a speaker
    they are heard). ``batch`` marks a decode of a batch session (a recording):
    engines that queue decodes serve it after live sessions' decodes.
    ``retry``: a second decode of the same audio with another prompt, when the first calls for it
    (:class:`Retry`; engines that take no prompt ignore it).
    ``languages``: the languages a session that names none may be in (:mod:`asr_worker.language`),
    most likely first: with ``language`` None, engines that detect (whisper's multilingual
    models) decode in the most probable of them, never another; either way they give those
    languages' probabilities in :attr:`Hypothesis.language_probs`. () : any language, none given.
    """

    request_id: str
    audio: np.ndarray
    final: bool
    prefix: str = ""
    language: str | None = None  # None: auto-detect
    context: str = ""
    word_timestamps: bool = False
    first_words: bool = False
    batch: bool = False
    retry: Retry | None = None
    languages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Retry:
    """A second decode of a request's audio with ``prompt`` before its context, made when
    ``wanted(text)`` of the first decode; ``judge(first text, second text)`` names the outcome, and
    "kept" keeps the second. Engines that take a prompt (whisper) decode it on the same encoder output
    and say the outcome in :attr:`Hypothesis.steps` under ``name``. The functions are module-level
    (a request may be pickled to a child process). The ASR stage's digits prompt is one
    (:mod:`asr_worker.digits`)."""

    name: str
    prompt: str
    wanted: Callable[[str], bool]
    judge: Callable[[str, str], str]

    def context(self, context: str) -> str:
        """The second decode's previous text: the prompt, then the request's ``context`` (whisper
        keeps a long prompt's last tokens: the request's)."""
        return " ".join(filter(None, (self.prompt, context)))


@dataclass(frozen=True, slots=True)
class Word:
    """A word of a hypothesis: seconds from the start of the request's audio, and its probability (0..1)."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class Hypothesis:
    text: str
    language: str = ""
    # True when the engine decided there is no speech (Qwen3's ``language None``,
    # whisper's no-speech probability): such a result never becomes a final.
    no_speech: bool = False
    tokens: int = 0
    token_ids: tuple[int, ...] = field(default=())
    # Word timings, in order, when the request asked for them and the engine has them.
    words: tuple[Word, ...] = ()
    # The engine's confidence in ``text``: a mean token probability (0..1); None if it has none.
    confidence: float | None = None
    # Spans of the request's audio (seconds) whose words the engine cut out (whisper's loop guard,
    # :mod:`.loop_guard`): words may be missing there, and the final says so (``truncated``).
    lost: tuple[tuple[float, float], ...] = ()
    # What the engine's own steps did to this decode, (step, outcome) in the order they ran: whisper's
    # beam fallback ("fallback": "beam" or "greedy", :mod:`.fallback`), a request's :class:`Retry`
    # (its name: its judge's outcome), the loop guard ("loop": "recovered" or "truncated",
    # :mod:`.loop_guard`). The ASR stage counts them; a step that did nothing is not there.
    steps: tuple[tuple[str, str], ...] = ()
    # The text of the request's :class:`Retry` when its judge did not keep it ("" when none ran or it
    # was kept): a refused digits decode still says where the recogniser, asked, heard a number.
    retried: str = ""
    # The request's ``languages`` with their probabilities in its audio (renormalised among them,
    # most probable first), where the engine detects languages (whisper's multilingual models).
    language_probs: tuple[tuple[str, float], ...] = ()

    def step(self, name: str) -> str:
        """The outcome of the engine's step ``name`` (:attr:`steps`); "" where it did nothing."""
        return next((outcome for step, outcome in self.steps if step == name), "")

    def with_step(self, name: str, outcome: str) -> Hypothesis:
        """This hypothesis with ``outcome`` of step ``name`` noted after the others."""
        return replace(self, steps=(*self.steps, (name, outcome)))


class Engine(abc.ABC):
    """A loaded recognition model shared by many sessions."""

    name: str = ""
    # Whether word timings come with a decode that asks for them: a recording's utterances are
    # then decoded in packs, their words dealt back to each (asr_worker/packing.py).
    times_words: bool = False
    # Whether a decode with a ``prefix`` writes the prefix's text and then the rest of the audio's
    # (whisper's forced prefix): the rest of an utterance after an early final is then decoded after
    # the speech just before it (asr_worker/continuation.py).
    continues_prefix: bool = False
    # The loaded model's name (``tiny.en``) and the languages it decodes (whisper's codes); None:
    # the engine does not say, and sessions in any language are handed to it.
    model_name: str = ""
    languages: tuple[str, ...] | None = None

    @abc.abstractmethod
    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        """Decode ``request``; raise ``asyncio.CancelledError`` if aborted."""

    async def abort(self, request_id: str) -> None:
        """Stop a decode whose result is no longer wanted (session ended or taken over)."""

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` for the rollback recipe; engines without a tokenizer split words."""
        raise NotImplementedError

    def detokenize(self, token_ids: list[int]) -> str:
        raise NotImplementedError

    @property
    def ready(self) -> bool:
        return True

    async def start(self) -> None:
        """Finish loading inside the running event loop (vLLM); called once before any decode."""

    async def close(self) -> None:
        """Release the model; idempotent."""

    def collectors(self) -> list:
        """Prometheus collectors of the engine's own metrics, registered by the worker."""
        return []


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineOptions:
    """What every engine is given, from the ASR worker's flags.

    Each engine's options class adds the flags it reads (:mod:`common.config`), and
    each engine module names it ``OPTIONS``; an engine that picks its device itself
    (vLLM) ignores ``device``.
    """

    # Path to the weights; None: the engine's bundled default, if any.
    model: str | None = field(default=None, metadata=option(
        "the model: whisper tiny.en (default, English only), base (multilingual, the whisper-base extra) or "
        "a CTranslate2 Whisper model directory; Qwen3: the weights' directory"))
    device: str = field(default="auto", metadata=option("cpu, cuda or auto"))
