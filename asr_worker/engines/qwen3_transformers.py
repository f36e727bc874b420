"""The ``qwen3-transformers`` engine: Qwen3-ASR through transformers, for a box without vLLM.

Same streaming semantics as ``qwen3-vllm`` (:mod:`.qwen3_common`, :mod:`.qwen3_prompt`), with a
micro-batcher to share the model: one runner takes every decode waiting (up to ``max_num_seqs``),
runs one batched ``generate`` in a thread, and sessions that arrive meanwhile form the next batch,
so a lone session waits for no batching window and the event loop never blocks. Live decodes come
first: recordings' decodes are batched only when no live decode waits, and never with live ones.
:meth:`abort` drops a queued decode; a running one's answer is discarded. Needs a transformers
release with ``Qwen3ASRForConditionalGeneration`` (5.13 or later; the ``-hf`` weights). Runs in
the tests on transformers' real Qwen3-ASR code with a tiny random-weight model on the CPU
(tests/kit/qwen3_tiny.py); not yet on a GPU or trained weights (docs/engines.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from common.config import option
from common.errors import ModelError

from common.records import SAMPLE_RATE

from .base import DecodeRequest, Hypothesis
from .qwen3_common import Qwen3Engine, Qwen3Options, check_model_dir, pad_audio, prompt_builder_for
from .qwen3_prompt import PromptBuilder
from .token_confidence import Generated, answer_confidence, marker_id

__all__ = ["BatchBackend", "Qwen3TransformersEngine", "TransformersBackend", "load"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Qwen3TransformersOptions(Qwen3Options):
    """``max_num_seqs`` is the largest batch here."""

    cpu_threads: int = field(default=0, metadata=option("torch's CPU threads (qwen3-transformers; 0: default)"))


OPTIONS = Qwen3TransformersOptions


class BatchBackend(Protocol):
    """Runs one batched generation; called in a worker thread, never on the loop."""

    def generate(self, prompts: Sequence[str], audios: Sequence[np.ndarray], max_new_tokens: int) -> list[Generated]:
        """Return the generated continuation of each prompt (text without special tokens, token log-probabilities)."""


@dataclass(eq=False)
class _Job:
    request_id: str
    prompt: str
    audio: np.ndarray
    max_new_tokens: int
    future: asyncio.Future[Generated] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Qwen3TransformersEngine(Qwen3Engine):
    """Qwen3-ASR via transformers with cross-session micro-batching; see the module docstring."""

    name = "qwen3-transformers"

    def __init__(self, *, options: Qwen3TransformersOptions, backend: BatchBackend, tokenizer: Any,
                 prompts: PromptBuilder, max_batch_size: int | None = None, max_queue: int | None = None) -> None:
        super().__init__(tokenizer=tokenizer, prompts=prompts)
        self._options = options
        self._backend = backend
        self._marker = marker_id(tokenizer)
        self._max_batch = max(1, max_batch_size or options.max_num_seqs)
        self._max_queue = max(1, max_queue or 4 * self._max_batch)
        self._queue: asyncio.Queue[_Job] | None = None  # live decodes
        self._recordings: asyncio.Queue[_Job] | None = None  # batch sessions' decodes
        self._waiting = asyncio.Event()  # set when a decode is queued
        self._runner: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qwen3-generate")
        self._jobs: dict[str, _Job] = {}
        self._closed = False
        self.batch_sizes: list[int] = []  # sizes of the batches run, for metrics and tests

    @property
    def ready(self) -> bool:
        return not self._closed

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        if self._closed:
            raise ModelError("qwen3-transformers engine is closed")
        resolved = self.resolve(request)
        budget = self._options.max_new_tokens if request.final else self._options.max_new_tokens_partial
        job = _Job(request.request_id, resolved.prompt, pad_audio(request.audio), budget)
        self._ensure_runner()
        self._jobs[job.request_id] = job
        try:
            queue = self._recordings if request.batch else self._queue
            assert queue is not None  # made by _ensure_runner
            await queue.put(job)  # waits while the queue is full: back-pressure on sessions
            self._waiting.set()
            generated = await job.future
        finally:
            if self._jobs.get(job.request_id) is job:
                del self._jobs[job.request_id]
            if not job.future.done():
                job.future.cancel()
        return self.hypothesis(generated.text, resolved, confidence=answer_confidence(generated, marker=self._marker))

    async def abort(self, request_id: str) -> None:
        job = self._jobs.get(request_id)
        if job is not None and not job.future.done():
            job.future.cancel()  # its transcribe raises CancelledError; the runner skips it

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for job in list(self._jobs.values()):
            if not job.future.done():
                job.future.cancel()
        if self._runner is not None:
            self._runner.cancel()
            # gather() re-raises our own cancellation but absorbs the runner's.
            await asyncio.gather(self._runner, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- batching ------------------------------------------------------------------

    def _ensure_runner(self) -> None:
        if self._runner is None or self._runner.done():
            if self._queue is None:
                self._queue = asyncio.Queue(maxsize=self._max_queue)
                self._recordings = asyncio.Queue(maxsize=self._max_queue)
            self._runner = asyncio.create_task(self._run(), name="qwen3-transformers-batcher")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            batch = [job for job in batch if not job.future.done()]  # aborted while queued
            if not batch:
                continue
            self.batch_sizes.append(len(batch))
            budget = max(job.max_new_tokens for job in batch)
            try:
                outputs = await loop.run_in_executor(
                    self._executor, self._backend.generate,
                    [job.prompt for job in batch], [job.audio for job in batch], budget)
                if len(outputs) != len(batch):
                    raise ModelError(f"backend returned {len(outputs)} outputs for {len(batch)} inputs")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.exception("batched generate of %d decodes failed", len(batch))
                error = exc if isinstance(exc, ModelError) else ModelError(f"transformers decode failed: {exc}")
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(error)
                continue
            for job, generated in zip(batch, outputs):
                if not job.future.done():
                    job.future.set_result(generated)

    async def _next_batch(self) -> list[_Job]:
        """Every live decode waiting (up to the batch size), else every recording's decode waiting."""
        while True:
            for queue in (self._queue, self._recordings):
                assert queue is not None  # made by _ensure_runner before the runner starts
                if not queue.empty():
                    batch = [queue.get_nowait()]
                    while len(batch) < self._max_batch and not queue.empty():
                        batch.append(queue.get_nowait())
                    return batch
            self._waiting.clear()  # both empty, and nothing can be queued before the wait
            await self._waiting.wait()


class TransformersBackend:
    """The real batch backend: processor + ``Qwen3ASRForConditionalGeneration.generate``."""

    def __init__(self, *, processor: Any, model: Any, torch: Any) -> None:
        self._processor = processor
        self._model = model
        self._torch = torch
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"  # batched generation continues from the right edge

    def generate(self, prompts: Sequence[str], audios: Sequence[np.ndarray], max_new_tokens: int) -> list[Generated]:
        from transformers import LogitsProcessorList

        inputs = self._processor(text=list(prompts), audio=list(audios), sampling_rate=SAMPLE_RATE,
                                 return_tensors="pt", padding=True)
        inputs = inputs.to(self._model.device)
        for key, value in inputs.items():
            if self._torch.is_floating_point(value):
                inputs[key] = value.to(self._model.dtype)
        recorder = _GreedyLogprobs(self._torch)
        with self._torch.inference_mode(), _without_cudnn_attention():
            out = self._model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                       logits_processor=LogitsProcessorList([recorder]))
        sequences = getattr(out, "sequences", out)
        new_tokens = sequences[:, inputs["input_ids"].shape[1]:]
        texts = self._processor.batch_decode(new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        eos = self._model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
        rows = recorder.rows(len(texts))
        results = []
        for text, ids, logprobs in zip(texts, new_tokens.tolist(), rows):
            # After its end of text a finished row holds padding: not part of the answer.
            end = next((i + 1 for i, token in enumerate(ids) if token in eos), len(ids))
            results.append(Generated(text, tuple(ids[:end]), tuple(logprobs[:end])))
        return results


def _without_cudnn_attention() -> Any:
    """Scaled-dot-product attention without cuDNN's kernel, for the ``generate`` of the thread inside.

    cuDNN builds a plan for each new input length, and streaming decodes are nearly all of new
    lengths (the utterance so far, the prefix's tokens): on an H200 a batch-1 decode of a length
    not seen before took 1.2-1.5 s against 0.74 s for a repeat, a batch of 8 mixed lengths 2.2 s
    against 1.1 s; without cuDNN every length cost 0.65 s and 8 streaming sessions' partials fell
    from 5.8 s to 2.3 s at p50 (BENCHMARKS.md, Qwen3-ASR on a GPU).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


class _GreedyLogprobs:
    """A logits processor (run last) that keeps the greedy token's log-probability at each step.

    Greedy decoding picks the arg-max, whose log-probability is the maximum of
    ``log_softmax``; one float per sequence and step is kept, not the scores
    over the whole vocabulary (``output_scores`` would hold gigabytes for a
    large batch).
    """

    def __init__(self, torch: Any) -> None:
        self._torch = torch
        self._steps: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self._steps.append(self._torch.log_softmax(scores.float(), dim=-1).max(dim=-1).values)
        return scores

    def rows(self, batch: int) -> list[list[float]]:
        if not self._steps:
            return [[] for _ in range(batch)]
        return self._torch.stack(self._steps, dim=1).cpu().tolist()


def load(options: Qwen3TransformersOptions, *, backend: BatchBackend | None = None,
         tokenizer: Any = None) -> Qwen3TransformersEngine:
    """Load the model from a local directory (no downloads); ``backend``/``tokenizer`` are for tests."""
    model_dir = check_model_dir(options, "qwen3-transformers")
    if backend is None:
        backend, tokenizer = _load_transformers(options, model_dir)
    return Qwen3TransformersEngine(options=options, backend=backend, tokenizer=tokenizer,
                                   prompts=prompt_builder_for(tokenizer, model_dir))


def _load_transformers(options: Qwen3TransformersOptions, model_dir: str) -> tuple[TransformersBackend, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ModelError(f"the qwen3-transformers engine needs torch and transformers: "
                         f"pip install 'streamscribe[transformers]' ({exc})") from exc
    model_cls = getattr(transformers, "Qwen3ASRForConditionalGeneration", None)
    if model_cls is None:
        raise ModelError(f"transformers {transformers.__version__} has no Qwen3ASRForConditionalGeneration; "
                         "install a release that does: pip install -U 'streamscribe[transformers]'")
    device = options.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = options.dtype if options.dtype != "auto" else ("bfloat16" if device.startswith("cuda") else "float32")
    try:
        processor = transformers.AutoProcessor.from_pretrained(model_dir, local_files_only=True)
        model = model_cls.from_pretrained(model_dir, dtype=getattr(torch, dtype), local_files_only=True)
        model.to(device).eval()
    except Exception as exc:
        raise ModelError(f"cannot load Qwen3-ASR from {model_dir!r} with transformers: {exc}; pass --model "
                         "a directory holding transformers-format (-hf) weights") from exc
    if options.cpu_threads and device == "cpu":
        torch.set_num_threads(options.cpu_threads)
    return TransformersBackend(processor=processor, model=model, torch=torch), processor.tokenizer
