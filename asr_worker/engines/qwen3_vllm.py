"""The ``qwen3-vllm`` engine: Qwen3-ASR served by vLLM's ``AsyncLLM`` on a GPU.

One ``AsyncLLM`` per worker process serves every session. Each decode is its
own vLLM request, so decodes of different sessions are batched by vLLM's
continuous batching; there is no lock around the engine and no per-session
engine. The ASR worker keeps at most one decode in flight per session and
calls :meth:`abort` when a session ends or is taken over.

A request is ``{"prompt": <chat template text>, "multi_modal_data": {"audio":
(samples, 16000)}}`` with greedy ``SamplingParams``: ``max_new_tokens_partial``
tokens for partials, ``max_new_tokens`` for finals (:mod:`.qwen3_prompt` builds
the prompt and parses the answer). Each request asks for the sampled tokens'
log-probabilities (``logprobs=0``), from which :mod:`.token_confidence` makes
the hypothesis' confidence; Qwen3-ASR gives no word timings (see there).

Lifecycle: :func:`load` checks the options, imports vLLM and loads the
tokenizer; it does not start vLLM, so it may be called from a synchronous
``main()``. The ``AsyncLLM`` is created by ``await engine.start()`` inside the
running event loop, as vLLM's own API server does; it blocks the loop while
the weights load, so call it at worker start-up, before taking sessions (the
first :meth:`transcribe` starts it otherwise). :attr:`ready` is true once
started.

Verified against vLLM's source (0.16-era ``AsyncLLM``, ``SamplingParams``,
``RequestOutputKind``, ``Qwen3ASRForConditionalGeneration``) by reading it;
exercised only against the labelled fake in ``tests/fakes/fake_vllm.py``, not a
GPU. Unverified on hardware: what vLLM's ``generate`` yields after ``abort``
(handled both ways: a final output with ``finish_reason="abort"`` or none), and
whether the tokenizer's ``skip_special_tokens`` keeps ``<asr_text>`` in the
output text (the parser tolerates a missing tag).
"""

from __future__ import annotations

import asyncio
import logging
import os
import types
from typing import Any

import numpy as np

from common.errors import ConfigError, ModelError

from .base import DecodeRequest, Engine, EngineOptions, Hypothesis
from .qwen3_prompt import (
    LanguageMemory,
    PromptBuilder,
    language_code,
    load_chat_template,
    normalize_language,
    parse_output,
)
from .token_confidence import Generated, answer_confidence, marker_id, sampled_logprobs

__all__ = ["Qwen3VllmEngine", "load", "load_tokenizer", "prompt_builder_for"]

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# The audio encoder needs some frames; the official package pads shorter input
# to 0.5 s with silence, and so do we.
MIN_AUDIO_SAMPLES = SAMPLE_RATE // 2

MODEL_HINT = "pass --model /path/to/Qwen3-ASR-0.6B or set STREAMSCRIBE_ASR_MODEL"


class Qwen3VllmEngine(Engine):
    """Qwen3-ASR on a shared vLLM ``AsyncLLM``; see the module docstring."""

    name = "qwen3-vllm"

    def __init__(self, *, options: EngineOptions, api: Any, tokenizer: Any, prompts: PromptBuilder) -> None:
        self._options = options
        self._api = api
        self._tokenizer = tokenizer
        self._prompts = prompts
        self._marker = marker_id(tokenizer)
        self._llm: Any = None
        self._start_lock = asyncio.Lock()
        self._closed = False
        self._inflight: dict[str, asyncio.Task[Generated]] = {}
        self._aborted: set[str] = set()
        self._starting: set[str] = set()  # decodes waiting for start()
        self._languages = LanguageMemory()
        self._params_partial = self._sampling_params(options.max_new_tokens_partial)
        self._params_final = self._sampling_params(options.max_new_tokens)

    # -- lifecycle -----------------------------------------------------------------

    def engine_args(self) -> Any:
        """The ``AsyncEngineArgs`` built from :class:`EngineOptions`."""
        o = self._options
        return self._api.AsyncEngineArgs(
            model=o.model,
            dtype=o.dtype,
            gpu_memory_utilization=o.gpu_memory_utilization,
            max_model_len=o.max_model_len,
            max_num_seqs=o.max_num_seqs,
            tensor_parallel_size=o.tensor_parallel_size,
            limit_mm_per_prompt={"audio": 1},
        )

    async def start(self) -> None:
        """Create the ``AsyncLLM`` (once); blocks the loop while the model loads."""
        if self._llm is not None:
            return
        async with self._start_lock:
            if self._closed:
                raise ModelError("qwen3-vllm engine is closed")
            if self._llm is not None:
                return
            logger.info("starting vLLM for %s", self._options.model)
            try:
                self._llm = self._api.AsyncLLM.from_engine_args(self.engine_args())
            except Exception as exc:
                raise ModelError(f"vLLM could not load {self._options.model}: {exc}") from exc

    @property
    def ready(self) -> bool:
        return self._llm is not None and not self._closed

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for request_id in list(self._inflight):
            await self.abort(request_id)
        llm, self._llm = self._llm, None
        if llm is not None:
            shutdown = getattr(llm, "shutdown", None)
            if shutdown is not None:
                shutdown()

    # -- decoding ------------------------------------------------------------------

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        if self._closed:
            raise ModelError("qwen3-vllm engine is closed")
        if self._llm is None:
            # An abort may arrive while vLLM starts; remember it (see abort()).
            self._starting.add(request.request_id)
            try:
                await self.start()
            finally:
                self._starting.discard(request.request_id)
            if request.request_id in self._aborted:
                self._aborted.discard(request.request_id)
                raise asyncio.CancelledError(f"decode {request.request_id} aborted")
        forced = normalize_language(request.language)
        language, prefix = forced, request.prefix
        if prefix and language is None:
            # The prefix follows a language tag; use the one detected for the text it came from.
            language = self._languages.language_of(prefix)
            if language is None:
                logger.debug("no language known for prefix of %s; decoding without it", request.request_id)
                prefix = ""
        prompt = self._prompts.build(context=request.context, language=language, prefix=prefix)
        inputs = {"prompt": prompt, "multi_modal_data": {"audio": (_audio(request.audio), SAMPLE_RATE)}}
        params = self._params_final if request.final else self._params_partial

        request_id = request.request_id
        task = asyncio.ensure_future(self._generate(inputs, params, request_id))
        self._inflight[request_id] = task
        try:
            generated = await task
        except asyncio.CancelledError:
            self._aborted.discard(request_id)
            raise
        finally:
            if self._inflight.get(request_id) is task:
                del self._inflight[request_id]
        if request_id in self._aborted:
            self._aborted.discard(request_id)
            raise asyncio.CancelledError(f"decode {request_id} aborted")

        parsed = parse_output(generated.text, language=language, prefix=prefix)
        if parsed.no_speech:
            return Hypothesis(text="", language=language_code(parsed.language) if parsed.language else "",
                              no_speech=True)
        if forced is None and parsed.language:
            self._languages.remember(parsed.text, parsed.language)
        token_ids = tuple(self.tokenize(parsed.text))
        return Hypothesis(
            text=parsed.text,
            language=language_code(parsed.language) if parsed.language else "",
            tokens=len(token_ids),
            token_ids=token_ids,
            confidence=answer_confidence(generated, marker=self._marker),
        )

    async def _generate(self, inputs: dict, params: Any, request_id: str) -> Generated:
        final = None
        try:
            async for output in self._llm.generate(inputs, params, request_id):
                final = output
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise ModelError(f"vLLM decode {request_id} failed: {exc}") from exc
        if final is None:
            # vLLM ended the stream without output: the request was aborted.
            self._aborted.add(request_id)
            return Generated("")
        completion = final.outputs[0]
        if getattr(completion, "finish_reason", None) == "abort":
            self._aborted.add(request_id)
            return Generated("")
        token_ids = tuple(completion.token_ids)
        return Generated(completion.text, token_ids,
                         sampled_logprobs(token_ids, getattr(completion, "logprobs", None)))

    async def abort(self, request_id: str) -> None:
        """Stop a decode; its :meth:`transcribe` raises ``asyncio.CancelledError``. Unknown ids are ignored."""
        task = self._inflight.get(request_id)
        if task is None:
            if request_id in self._starting:
                self._aborted.add(request_id)
            return
        self._aborted.add(request_id)
        task.cancel()
        if self._llm is not None:
            await self._llm.abort(request_id)

    # -- tokens ----------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def detokenize(self, token_ids: list[int]) -> str:
        return self._tokenizer.decode(list(token_ids), skip_special_tokens=True)

    def _sampling_params(self, max_tokens: int) -> Any:
        # logprobs=0: the sampled token's log-probability only, for the confidence.
        kwargs: dict[str, Any] = {"temperature": 0.0, "max_tokens": max_tokens, "logprobs": 0}
        kind = getattr(self._api, "RequestOutputKind", None)
        if kind is not None:
            kwargs["output_kind"] = kind.FINAL_ONLY  # one output per request, not one per token
        return self._api.SamplingParams(**kwargs)


def _audio(samples: np.ndarray) -> np.ndarray:
    audio = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
    if len(audio) < MIN_AUDIO_SAMPLES:
        audio = np.pad(audio, (0, MIN_AUDIO_SAMPLES - len(audio)))
    return audio


# -- loading ---------------------------------------------------------------------------


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


def import_vllm() -> Any:
    """Import the vLLM names the engine uses; a clear error if vLLM is missing."""
    try:
        from vllm import SamplingParams
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.sampling_params import RequestOutputKind
        from vllm.v1.engine.async_llm import AsyncLLM
    except ImportError as exc:
        raise ModelError(
            "the qwen3-vllm engine needs vLLM >= 0.16 on a CUDA machine: "
            f"pip install 'streamscribe[vllm]' ({exc})"
        ) from exc
    return types.SimpleNamespace(
        AsyncLLM=AsyncLLM, AsyncEngineArgs=AsyncEngineArgs, SamplingParams=SamplingParams,
        RequestOutputKind=RequestOutputKind,
    )


def load_tokenizer(model_dir: str) -> Any:
    """The model's tokenizer from its directory, with no network access."""
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise ModelError(f"Qwen3-ASR needs transformers for its tokenizer: pip install 'streamscribe[vllm]' ({exc})") from exc
    try:
        return AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except Exception as exc:
        raise ModelError(f"cannot load the tokenizer from {model_dir!r}: {exc}; {MODEL_HINT}") from exc


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


def load(options: EngineOptions, *, api: Any = None, tokenizer: Any = None) -> Qwen3VllmEngine:
    """Build the engine (vLLM itself starts in :meth:`Qwen3VllmEngine.start`).

    ``api`` (the vLLM names) and ``tokenizer`` are for tests, which pass fakes.
    """
    model_dir = check_model_dir(options, "qwen3-vllm")
    if api is None:
        api = import_vllm()
    if tokenizer is None:
        tokenizer = load_tokenizer(model_dir)
    return Qwen3VllmEngine(options=options, api=api, tokenizer=tokenizer,
                           prompts=prompt_builder_for(tokenizer, model_dir))
