"""The qwen3-vllm engine inside the real ASR stage, behind the real gateway and VAD.

vLLM is the FAKE of tests/kit/fakes (labelled at the GPU boundary): it "recognises"
the reference transcript at a fixed pace. Everything else is real: Redis, the
gateway and VAD worker processes, the stage runner and the ASR stage running the
engine in this process. What this proves is the wiring: prompts reach the engine
per utterance, partials and finals reach the client, tags never leak.
"""

from __future__ import annotations

import soundfile
import pytest
from prometheus_client import CollectorRegistry

from asr_worker.engines import qwen3_vllm
from asr_worker.engines.qwen3_vllm import Qwen3VllmOptions
from asr_worker.stage import AsrStage, StreamingOptions
from common import bus
from common.metrics import AsrMetrics, StageMetrics
from common.runner import RunnerOptions, StageRunner
from streamscribe_client import file_frames, stream

from tests.kit.fakes import fake_vllm
from tests.kit.fakes.fake_tokenizer import FakeTokenizer
from tests.kit.support import free_port, service

pytestmark = pytest.mark.e2e


@pytest.fixture
def gateway_and_vad(redis_server):
    env = {"STREAMSCRIBE_REDIS_URL": redis_server.url}
    port = free_port()
    processes = [service("vad", "vad_worker", "--http-port", "0", env=env),
                 service("gateway", "gateway", "--host", "127.0.0.1", "--port", str(port), env=env)]
    try:
        for process in processes:
            process.wait_for_line(r"\bready\b", 60)
        yield f"ws://127.0.0.1:{port}/ws/asr"
    finally:
        for process in processes:
            process.stop()


async def test_qwen3_vllm_engine_serves_sessions_end_to_end(redis_server, gateway_and_vad, clips, tmp_path):
    path, reference = clips[0]
    engine = qwen3_vllm.load(Qwen3VllmOptions(model=str(tmp_path)), api=fake_vllm, tokenizer=FakeTokenizer())
    redis = bus.connect(redis_server.url)
    runner = StageRunner(redis, lambda runner: AsrStage(runner, engine, defaults=StreamingOptions(chunk_size_sec=0.5),
                                                        metrics=AsrMetrics(CollectorRegistry())),
                         options=RunnerOptions(stage="asr", lease_ttl=2.0),
                         metrics=StageMetrics(CollectorRegistry(), "asr"))
    await runner.stage.start()  # starts the engine, as the worker does
    llm = engine._llm
    llm.responder = fake_vllm.TranscriptResponder(reference, chars_per_second=40)
    await runner.start()
    try:
        samples, rate = soundfile.read(str(path), dtype="float32")
        messages = await stream(gateway_and_vad, file_frames(samples, rate, chunk_ms=100, speed=4),
                                sample_rate=rate, config={"context": "Dashwood"}, timeout=60)
    finally:
        await runner.close()
        await runner.stage.shutdown()  # closes the engine
        await redis.aclose()
    partials = [m for m in messages if m["type"] == "partial"]
    finals = [m for m in messages if m["type"] == "final"]
    assert len(finals) == 1 and finals[0]["text"] == reference and finals[0]["is_speech_final"]
    assert partials and all(reference.startswith(p["text"]) for p in partials)
    assert finals[0]["language"] == "en"
    assert not any("<asr_text>" in m.get("text", "") or "language " in m.get("text", "") for m in messages)
    prompts = [r.prompt for r in llm.requests]
    assert prompts and all("Dashwood" in p for p in prompts)  # the session's context reached the model
    assert any(r.sampling_params.max_tokens == Qwen3VllmOptions().max_new_tokens for r in llm.requests)
