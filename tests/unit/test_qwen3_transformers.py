"""The qwen3-transformers engine's micro-batcher, with a FAKE batch backend (no torch model).

The fake stands where ``TransformersBackend.generate`` (processor + model) would
be: it runs in the engine's worker thread like the real one, records each
batch, and can hold a batch until the test releases it.
"""

from __future__ import annotations

import asyncio
import sys
import threading

import numpy as np
import pytest

from asr_worker.engines import qwen3_transformers
from asr_worker.engines.base import DecodeRequest
from asr_worker.engines.qwen3_transformers import Qwen3TransformersOptions
from asr_worker.engines.token_confidence import Generated
from common.errors import ConfigError, ModelError
from tests.kit.fakes.fake_tokenizer import FakeTokenizer

TIMEOUT = 5.0


class FakeBatchBackend:
    """FAKE batched generate: answers ``language English<asr_text>text-<n samples>``."""

    def __init__(self, *, hold_first: bool = False) -> None:
        self.batches: list[tuple[list[str], int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.thread_names: list[str] = []
        self.fail = False

    def generate(self, prompts, audios, max_new_tokens):
        self.thread_names.append(threading.current_thread().name)
        self.batches.append((list(prompts), max_new_tokens))
        self.entered.set()
        if not self.release.wait(TIMEOUT):
            raise RuntimeError("test never released the batch")
        if self.fail:
            raise RuntimeError("CUDA error: device-side assert")
        return [Generated(("" if "<asr_text>" in p.rsplit("assistant\n", 1)[-1] else "language English<asr_text>")
                          + f"text-{len(a)}") for p, a in zip(prompts, audios)]


async def wait_until(predicate, timeout=TIMEOUT):
    """Yield to the event loop until ``predicate()`` holds (no wall-clock sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0)


def req(rid, samples=16000, **kw):
    return DecodeRequest(request_id=rid, audio=np.full(samples, 0.1, dtype=np.float32),
                         final=kw.pop("final", False), **kw)


def make(tmp_path, backend, **kw):
    options = Qwen3TransformersOptions(model=str(tmp_path), max_new_tokens=256, max_new_tokens_partial=64)
    engine = qwen3_transformers.load(options, backend=backend, tokenizer=FakeTokenizer())
    for key, value in kw.items():
        setattr(engine, key, value)
    return engine


async def test_waiting_sessions_are_batched_into_one_generate(tmp_path):
    backend = FakeBatchBackend(hold_first=True)
    engine = make(tmp_path, backend)
    first = asyncio.create_task(engine.transcribe(req("a", 16000)))
    assert await asyncio.to_thread(backend.entered.wait, TIMEOUT)
    rest = [asyncio.create_task(engine.transcribe(req(f"s{i}", 16000 + i))) for i in range(4)]
    await wait_until(lambda: engine._queue.qsize() == 4)
    backend.release.set()
    results = await asyncio.wait_for(asyncio.gather(first, *rest), TIMEOUT)
    assert engine.batch_sizes == [1, 4]
    assert [h.text for h in results] == ["text-16000"] + [f"text-{16000 + i}" for i in range(4)]
    assert all(h.language == "en" for h in results)
    assert all(name.startswith("qwen3-generate") for name in backend.thread_names)  # off the event loop
    await engine.close()


async def test_live_decodes_go_before_a_recordings_queued_ones_and_never_share_a_batch(tmp_path):
    backend = FakeBatchBackend(hold_first=True)
    engine = make(tmp_path, backend)
    first = asyncio.create_task(engine.transcribe(req("r0", 16000, batch=True, final=True)))
    assert await asyncio.to_thread(backend.entered.wait, TIMEOUT)
    recorded = [asyncio.create_task(engine.transcribe(req(f"r{i}", 16000 + i, batch=True, final=True)))
                for i in range(1, 4)]
    await wait_until(lambda: engine._recordings.qsize() == 3)
    live = [asyncio.create_task(engine.transcribe(req(f"l{i}", 20000 + i))) for i in range(2)]
    await wait_until(lambda: engine._queue.qsize() == 2)
    backend.release.set()
    results = await asyncio.wait_for(asyncio.gather(first, *recorded, *live), TIMEOUT)
    assert engine.batch_sizes == [1, 2, 3]  # the running recording, then the live pair, then the rest
    assert [h.text for h in results] == [f"text-{16000 + i}" for i in range(4)] + ["text-20000", "text-20001"]
    assert [len(prompts) for prompts, _ in backend.batches] == [1, 2, 3]
    assert backend.batches[1][1] == 64 and backend.batches[2][1] == 256  # a live batch keeps its own budget
    await engine.close()


async def test_abort_drops_a_queued_decode(tmp_path):
    backend = FakeBatchBackend(hold_first=True)
    engine = make(tmp_path, backend)
    first = asyncio.create_task(engine.transcribe(req("a")))
    assert await asyncio.to_thread(backend.entered.wait, TIMEOUT)
    doomed = asyncio.create_task(engine.transcribe(req("gone")))
    kept = asyncio.create_task(engine.transcribe(req("kept")))
    await wait_until(lambda: engine._queue.qsize() == 2)
    await engine.abort("gone")
    backend.release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(doomed, TIMEOUT)
    await asyncio.wait_for(asyncio.gather(first, kept), TIMEOUT)
    assert engine.batch_sizes == [1, 1] and len(backend.batches) == 2
    await engine.close()


async def test_queue_is_bounded(tmp_path):
    backend = FakeBatchBackend(hold_first=True)
    engine = qwen3_transformers.Qwen3TransformersEngine(
        options=Qwen3TransformersOptions(model=str(tmp_path)), backend=backend, tokenizer=FakeTokenizer(),
        prompts=qwen3_transformers.PromptBuilder(), max_batch_size=2, max_queue=2)
    first = asyncio.create_task(engine.transcribe(req("a")))
    assert await asyncio.to_thread(backend.entered.wait, TIMEOUT)
    waiting = [asyncio.create_task(engine.transcribe(req(f"s{i}"))) for i in range(3)]
    await wait_until(lambda: engine._queue.full())
    assert engine._queue.qsize() == 2  # the third waits for room
    backend.release.set()
    await asyncio.wait_for(asyncio.gather(first, *waiting), TIMEOUT)
    assert engine.batch_sizes == [1, 2, 1]
    await engine.close()


async def test_finals_get_the_final_token_budget_and_forced_language_prompt(tmp_path):
    backend = FakeBatchBackend()
    engine = make(tmp_path, backend)
    hyp = await engine.transcribe(req("f", final=True, language="hi", context="names"))
    prompts, budget = backend.batches[0]
    assert budget == 256 and prompts[0].endswith("assistant\nlanguage Hindi<asr_text>")
    assert "<|im_start|>system\nnames<|im_end|>" in prompts[0]
    assert hyp.text == "text-16000" and hyp.language == "hi"
    assert list(hyp.token_ids) == FakeTokenizer().encode("text-16000")
    await engine.close()


async def test_language_none_is_no_speech(tmp_path):
    class Silent(FakeBatchBackend):
        def generate(self, prompts, audios, max_new_tokens):
            return [Generated("language None<asr_text>") for _ in prompts]

    engine = make(tmp_path, Silent())
    hyp = await engine.transcribe(req("q", final=True))
    assert hyp.no_speech and hyp.text == ""
    await engine.close()


async def test_backend_failure_is_a_model_error_and_the_engine_recovers(tmp_path):
    backend = FakeBatchBackend()
    backend.fail = True
    engine = make(tmp_path, backend)
    with pytest.raises(ModelError, match="device-side assert"):
        await engine.transcribe(req("x"))
    backend.fail = False
    assert (await engine.transcribe(req("y"))).text == "text-16000"
    await engine.close()
    await engine.close()
    with pytest.raises(ModelError):
        await engine.transcribe(req("z"))


def test_missing_model_and_missing_transformers_name_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="--model"):
        qwen3_transformers.load(Qwen3TransformersOptions())
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ModelError, match=r"streamscribe\[transformers\]"):
        qwen3_transformers.load(Qwen3TransformersOptions(model=str(tmp_path)))
