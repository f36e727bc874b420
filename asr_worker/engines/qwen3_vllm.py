"""The ``qwen3-vllm`` engine: Qwen3-ASR served by vLLM's ``AsyncLLM`` on a GPU.

One ``AsyncLLM`` per worker serves every session; each decode is its own request, so vLLM's
continuous batching batches sessions, with no lock and no engine per session. Recordings' decodes
go in at a lower priority than live ones (``scheduling_policy`` ``priority``). :mod:`.qwen3_common`
builds the prompt and parses the answer, :mod:`.token_confidence` makes the confidence; Qwen3-ASR
gives no word timings. :func:`load` only imports vLLM and loads the tokenizer; ``await
engine.start()`` creates the ``AsyncLLM`` in the running loop (it blocks while the weights load:
call it at start-up). Its calls are checked against vLLM 0.33.0's recorded signatures
(tests/unit/test_vllm_api.py); it runs only against the fake in tests/kit/fakes/fake_vllm.py, not
on a GPU: whether ``<asr_text>`` survives ``skip_special_tokens`` is handled both ways.
"""

from __future__ import annotations

import asyncio
import logging
import types
from dataclasses import dataclass, field
from typing import Any

from common.config import option, positive
from common.errors import ModelError
from common.records import SAMPLE_RATE

from .base import DecodeRequest, Hypothesis
from .qwen3_common import MODEL_HINT, Qwen3Engine, Qwen3Options, check_model_dir, pad_audio, prompt_builder_for
from .qwen3_prompt import PromptBuilder

from .token_confidence import Generated, answer_confidence, marker_id, sampled_logprobs

__all__ = ["Qwen3VllmEngine", "load", "load_tokenizer"]

logger = logging.getLogger(__name__)

# vLLM's priority of a recording's decodes (live decodes have 0; lower runs first).
BATCH_PRIORITY = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Qwen3VllmOptions(Qwen3Options):
    gpu_memory_utilization: float = field(default=0.8, metadata=option("vLLM GPU memory share"))
    max_model_len: int = field(default=4096, metadata=option("vLLM max model length", parse=positive(int)))
    tensor_parallel_size: int = field(default=1, metadata=option("vLLM tensor parallel size", parse=positive(int)))
    scheduling_policy: str = field(default="priority", metadata=option(
        "vLLM scheduling: 'priority' schedules live decodes before recordings' (batch sessions') and, "
        "short of KV cache, pre-empts recordings' first; 'fcfs' in arrival order", choices=("priority", "fcfs")))


OPTIONS = Qwen3VllmOptions


class Qwen3VllmEngine(Qwen3Engine):
    """Qwen3-ASR on a shared vLLM ``AsyncLLM``; see the module docstring."""

    name = "qwen3-vllm"

    def __init__(self, *, options: Qwen3VllmOptions, api: Any, tokenizer: Any, prompts: PromptBuilder) -> None:
        super().__init__(tokenizer=tokenizer, prompts=prompts)
        self._options = options
        self._api = api
        self._marker = marker_id(tokenizer)
        self._llm: Any = None
        self._start_lock = asyncio.Lock()
        self._closed = False
        self._inflight: dict[str, asyncio.Task[Generated]] = {}
        self._aborted: set[str] = set()
        self._starting: set[str] = set()  # decodes waiting for start()
        self._params_partial = self._sampling_params(options.max_new_tokens_partial)
        self._params_final = self._sampling_params(options.max_new_tokens)

    # -- lifecycle -----------------------------------------------------------------

    def engine_args(self) -> Any:
        """The ``AsyncEngineArgs`` built from :class:`Qwen3VllmOptions`."""
        o = self._options
        return self._api.AsyncEngineArgs(
            model=o.model,
            dtype=o.dtype,
            gpu_memory_utilization=o.gpu_memory_utilization,
            max_model_len=o.max_model_len,
            max_num_seqs=o.max_num_seqs,
            tensor_parallel_size=o.tensor_parallel_size,
            limit_mm_per_prompt={"audio": 1},
            scheduling_policy=o.scheduling_policy,
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
        resolved = self.resolve(request)
        inputs = {"prompt": resolved.prompt, "multi_modal_data": {"audio": (pad_audio(request.audio), SAMPLE_RATE)}}
        params = self._params_final if request.final else self._params_partial

        request_id = request.request_id
        task = asyncio.ensure_future(self._generate(inputs, params, request_id, priority=self._priority(request)))
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
        return self.hypothesis(generated.text, resolved, confidence=answer_confidence(generated, marker=self._marker))

    def _priority(self, request: DecodeRequest) -> int:
        """vLLM's priority of a decode: lower runs first; recordings after every live decode.

        vLLM refuses any priority but 0 unless its scheduling policy is ``priority``."""
        return BATCH_PRIORITY if request.batch and self._options.scheduling_policy == "priority" else 0

    async def _generate(self, inputs: dict, params: Any, request_id: str, *, priority: int = 0) -> Generated:
        final = None
        try:
            async for output in self._llm.generate(inputs, params, request_id, priority=priority):
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

    def _sampling_params(self, max_tokens: int) -> Any:
        # logprobs=0: the sampled token's log-probability only, for the confidence.
        kwargs: dict[str, Any] = {"temperature": 0.0, "max_tokens": max_tokens, "logprobs": 0}
        kind = getattr(self._api, "RequestOutputKind", None)
        if kind is not None:
            kwargs["output_kind"] = kind.FINAL_ONLY  # one output per request, not one per token
        return self._api.SamplingParams(**kwargs)


# -- loading ---------------------------------------------------------------------------


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


def load(options: Qwen3VllmOptions, *, api: Any = None, tokenizer: Any = None) -> Qwen3VllmEngine:
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
