"""The ASR stage's session life cycle under the real runner: no task outlives its session.

Seen: "Task was destroyed but it is pending!" for tasks ``asr-<sid>`` (``AsrStage._run``)
in about one session in four and at worker shutdown: the session task went back to its
queue after committing the end and waited there, unreferenced, until the garbage
collector destroyed it. The stage runs in process with the bundled whisper tiny.en
against a real redis-server.
"""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest
import soundfile
from prometheus_client import CollectorRegistry

from asr_worker.engines import load_engine
from asr_worker.engines.whisper import WhisperOptions
from asr_worker.stage import AsrStage, StreamingOptions
from common import keys
from common.aio import within
from common.metrics import AsrMetrics, StageMetrics
from common.pipeline_config import PipelineConfig
from common.records import Audio, End, SpeechEnd, SpeechStart, Transcript, decode, encode
from common.runner import RunnerOptions, StageRunner

from tests.kit.support import eventually

SR = 16_000


@pytest.fixture(scope="module")
def engine():
    engine = load_engine("whisper", WhisperOptions(cpu_threads=1, num_workers=1))
    yield engine
    asyncio.run(engine.close())


async def start_runner(redis, engine) -> StageRunner:
    options = RunnerOptions(stage="asr", worker_id=uuid.uuid4().hex[:8], lease_ttl=1.0, sweep_interval=0.2)
    runner = StageRunner(redis, lambda r: AsrStage(r, engine, defaults=StreamingOptions(),
                                                    metrics=AsrMetrics(CollectorRegistry())),
                         options=options, metrics=StageMetrics(CollectorRegistry(), "asr"))
    await runner.start()
    return runner


async def new_session(redis) -> keys.SessionKeys:
    sk = keys.SessionKeys(uuid.uuid4().hex)
    await redis.hset(sk.meta, mapping={"config": PipelineConfig(stages=("vad", "asr")).encode()})
    await redis.expire(sk.meta, 30)
    await redis.xadd(keys.control_stream("asr"), {"sid": sk.session_id})
    return sk


async def send(redis, sk, records) -> None:
    for record in records:
        await redis.xadd(sk.input("asr"), {"r": encode(record)})
    await redis.publish(sk.bell("asr"), "1")


def utterance(clips, *, seconds: float) -> list:
    """SpeechStart and ``seconds`` of a clip as 100 ms audio records, seqs from 0."""
    samples, rate = soundfile.read(str(clips[0][0]), dtype="int16")
    assert rate == SR
    pcm = samples[: int(seconds * SR)]
    step = SR // 10
    records = [SpeechStart(seq=0, start=0)]
    for offset in range(0, len(pcm), step):
        records.append(Audio(seq=len(records), offset=offset, pcm=np.ascontiguousarray(pcm[offset:offset + step])
                             .tobytes()))
    return records


def session_tasks(session_id: str) -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if session_id in t.get_name() and not t.done()]


async def results(redis, sk, until: type, timeout: float = 60.0) -> list:
    """Records of the session's result stream, once one of type ``until`` arrived."""
    async def poll():
        while True:
            records = [decode(f[b"r"]) for _, f in await redis.xrange(sk.out)]
            if any(isinstance(r, until) for r in records):
                return records
            await asyncio.sleep(0.05)  # polling interval of a bounded wait on a condition
    return await within(poll(), timeout)


async def test_the_session_task_ends_with_the_session(redis, engine, clips):
    runner = await start_runner(redis, engine)
    try:
        sk = await new_session(redis)
        speech = utterance(clips, seconds=1.5)
        end_sample = speech[-1].offset + speech[-1].samples
        await send(redis, sk, [*speech, SpeechEnd(seq=len(speech), start=0, end=end_sample, reason="silence"),
                               End(seq=len(speech) + 1, reason="client_closed")])
        records = await results(redis, sk, End)
        assert any(isinstance(r, Transcript) and r.final for r in records), records
        # The task that committed the end returns instead of waiting on its queue forever.
        await eventually(lambda: not session_tasks(sk.session_id), 10, "the session task ended")
        assert sk.session_id not in runner.sessions
    finally:
        await runner.close()


async def test_a_session_dropped_mid_utterance_leaves_no_task(redis, engine, clips):
    runner = await start_runner(redis, engine)
    try:
        sk = await new_session(redis)
        await send(redis, sk, utterance(clips, seconds=3.0))
        await results(redis, sk, Transcript)  # a partial: the session task and a decode ran
        await redis.delete(*sk.all())  # the client left; the gateway deleted the session
        # The heartbeat noticed, and the stage's close awaited the session's task (it is dropped
        # from the runner's sessions first, so its task may still be cancelling just after).
        await eventually(lambda: sk.session_id not in runner.sessions, 10, "the session dropped")
        await eventually(lambda: not session_tasks(sk.session_id), 10, "the session's task ended")
    finally:
        await runner.close()


async def test_worker_shutdown_awaits_every_session_task(redis, engine, clips):
    runner = await start_runner(redis, engine)
    sk = await new_session(redis)
    await send(redis, sk, utterance(clips, seconds=3.0))
    await results(redis, sk, Transcript)
    assert session_tasks(sk.session_id)
    await runner.close()
    assert not session_tasks(sk.session_id)
