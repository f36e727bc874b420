"""The stage runner against a real redis-server: ownership, fencing, checkpoints, takeover."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prometheus_client import CollectorRegistry

from common import bus, keys
from common.errors import LeaseLost, SessionGone
from common.metrics import StageMetrics
from common.pipeline_config import PipelineConfig
from common.records import Audio, Error, decode, encode
from common.runner import RunnerOptions, StageRunner
from common.stage import Stage


class EchoStage(Stage):
    """Forwards each record and checkpoints after every batch; state counts records."""

    name = "vad"

    def __init__(self, runner) -> None:
        self.runner = runner
        self.seen = asyncio.Queue()
        self.opened = []

    def open(self, session, state):
        self.opened.append(state)
        return int(state or b"0")

    def snapshot(self, session):
        return str(session.state).encode()

    async def process(self, batch):
        for session, records in batch:
            session.state += len(records)
            await self.runner.commit(session, [r for _, r in records], consumed=records[-1][0], boundary=True)
            for _, record in records:
                self.seen.put_nowait((session.session_id, record))


async def make_runner(redis, *, lease_ttl=1.0, worker_id=None, stage=None):
    runner = StageRunner(redis, stage or EchoStage, metrics=StageMetrics(CollectorRegistry(), "vad"), options=RunnerOptions(
        stage="vad", worker_id=worker_id or uuid.uuid4().hex[:8], lease_ttl=lease_ttl, sweep_interval=0.2))
    await runner.start()
    return runner, runner.stage


async def new_session(redis, stages=("vad", "asr"), config: str | None = None) -> keys.SessionKeys:
    sk = keys.SessionKeys(uuid.uuid4().hex)
    await redis.hset(sk.meta, mapping={"config": config or PipelineConfig(stages=stages).encode()})
    await redis.xadd(keys.control_stream("vad"), {"sid": sk.session_id})
    return sk


async def send(redis, sk, seq, samples=160):
    await redis.xadd(sk.input("vad"), {"r": encode(Audio(seq=seq, offset=seq * samples, pcm=b"\0\0" * samples))})
    await redis.publish(sk.bell("vad"), "1")


async def next_seen(stage, timeout=10):
    return await asyncio.wait_for(stage.seen.get(), timeout)


async def test_exactly_one_of_two_workers_owns_a_session(redis):
    (a, sa), (b, sb) = await make_runner(redis), await make_runner(redis)
    try:
        sk = await new_session(redis)
        await send(redis, sk, 0)
        waits = {asyncio.ensure_future(next_seen(sa)), asyncio.ensure_future(next_seen(sb))}
        done, pending = await asyncio.wait(waits, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        assert len(done) == 1
        assert (sk.session_id in a.sessions) != (sk.session_id in b.sessions)
        owner = a if sk.session_id in a.sessions else b
        assert (await redis.get(sk.lease("vad"))).decode() == f"{owner.worker_id}:1"
    finally:
        await a.close()
        await b.close()


async def test_outputs_go_downstream_and_the_checkpoint_trims_input(redis):
    runner, stage = await make_runner(redis)
    try:
        sk = await new_session(redis)
        for seq in range(3):
            await send(redis, sk, seq)
            await next_seen(stage)
        forwarded = [decode(f[b"r"]) for _, f in await redis.xrange(sk.input("asr"))]
        assert [r.seq for r in forwarded] == [0, 1, 2]
        assert await redis.xlen(sk.input("vad")) == 0  # trimmed up to the checkpoint
        checkpoint = await redis.hgetall(sk.checkpoint("vad"))
        assert checkpoint[b"state"] == b"3" and checkpoint[b"seq"] == b"3"
    finally:
        await runner.close()


async def test_a_fenced_worker_cannot_write(redis):
    runner, stage = await make_runner(redis)
    try:
        sk = await new_session(redis)
        await send(redis, sk, 0)
        await next_seen(stage)
        session = runner.sessions[sk.session_id]
        await redis.set(sk.lease("vad"), "someone-else:2")  # another worker took over
        with pytest.raises(LeaseLost):
            await runner.commit(session, [Audio(seq=1, offset=160, pcm=b"\0\0")])
        assert await redis.xlen(sk.input("asr")) == 1  # nothing written after the fence
        assert runner.metrics.fenced_rejects._value.get() == 1
        assert sk.session_id not in runner.sessions
    finally:
        await runner.close()


async def test_takeover_restores_the_checkpoint_and_replays(redis):
    dead, dead_stage = await make_runner(redis, worker_id="dead")
    sk = await new_session(redis)
    for seq in range(2):
        await send(redis, sk, seq)
        await next_seen(dead_stage)
    # The worker dies without releasing anything; input keeps arriving.
    for task in dead._tasks:
        task.cancel()
    await asyncio.gather(*dead._tasks, return_exceptions=True)
    await dead.doorbell.close()
    await send(redis, sk, 2)
    heir, heir_stage = await make_runner(redis, worker_id="heir")
    try:
        assert await next_seen(heir_stage) == (sk.session_id, Audio(seq=2, offset=320, pcm=b"\0\0" * 160))
        assert heir_stage.opened == [b"2"]  # state from the checkpoint
        assert heir.metrics.takeovers._value.get() == 1
        assert (await redis.get(sk.lease("vad"))).decode() == "heir:2"
        assert [decode(f[b"r"]).seq for _, f in await redis.xrange(sk.input("asr"))] == [0, 1, 2]
    finally:
        await heir.close()


async def test_malformed_records_are_dead_lettered_and_gaps_reported(redis):
    runner, stage = await make_runner(redis)
    try:
        sk = await new_session(redis)
        await redis.xadd(sk.input("vad"), {"r": b"\xc1 not msgpack"})
        await send(redis, sk, 0)
        assert (await next_seen(stage))[1].seq == 0
        async with asyncio.timeout(10):
            while not (dead := await redis.xrange(f"{keys.PREFIX}:dlq:vad")):
                await asyncio.sleep(0.05)  # dead-lettered by a background task, maybe after the delivery
        assert b"not valid msgpack" in dead[-1][1][b"reason"]
        await send(redis, sk, 5)  # seq 1-4 lost
        assert (await next_seen(stage))[1].seq == 5
        async with asyncio.timeout(10):
            while not await redis.xlen(sk.out):
                await asyncio.sleep(0.05)  # the report is written by a background task
        (error,) = [decode(f[b"r"]) for _, f in await redis.xrange(sk.out)]
        assert isinstance(error, Error) and error.code == "sequence_gap" and "4 record(s) lost" in error.message
        assert runner.metrics.sequence_gaps._value.get() == 1
    finally:
        await runner.close()


@pytest.mark.parametrize("config, reason", [
    ('{"v": 99, "stages": ["vad", "asr"]}', "version 99 is newer"),
    ('{"v": 1, "stages": ["asr", "vad"]}', "stages must be"),
    ("not json", "not valid JSON"),
])
async def test_a_session_whose_config_the_worker_cannot_read_is_refused(redis, config, reason):
    """Dead-lettered with the client told (a fatal error), never a crash: the worker serves on."""
    runner, stage = await make_runner(redis)
    try:
        sk = await new_session(redis, config=config)
        await send(redis, sk, 0)
        async with asyncio.timeout(10):
            while not await redis.xlen(sk.out):
                await asyncio.sleep(0.05)  # polling a condition with a deadline
        (error,) = [decode(f[b"r"]) for _, f in await redis.xrange(sk.out)]
        assert isinstance(error, Error) and error.code == "bad_config" and error.fatal and reason in error.message
        ((_, dead),) = await redis.xrange(f"{keys.PREFIX}:dlq:vad")
        assert dead[b"sid"].decode() == sk.session_id and dead[b"config"].decode() == config
        assert sk.session_id not in runner.sessions
        assert not await redis.exists(sk.lease("vad"), sk.input("vad"))
        assert runner.metrics.records_rejected.labels(stage="vad", reason="bad_config")._value.get() == 1
        good = await new_session(redis)
        await send(redis, good, 0)
        assert (await next_seen(stage))[0] == good.session_id
    finally:
        await runner.close()


async def test_a_vanished_session_is_cleaned_up(redis):
    runner, stage = await make_runner(redis)
    try:
        sk = await new_session(redis)
        await send(redis, sk, 0)
        await next_seen(stage)
        await redis.delete(sk.meta)  # the client left and the gateway deleted the session
        session = runner.sessions[sk.session_id]
        with pytest.raises(SessionGone):
            await runner.commit(session, [Audio(seq=1, offset=160, pcm=b"\0\0")])
        assert not await redis.exists(sk.lease("vad"), sk.checkpoint("vad"), sk.input("vad"))
    finally:
        await runner.close()


async def test_doorbell_reads_bells_until_quiet_then_goes_on(redis, monkeypatch):
    """The doorbell's blocking reads share one deadline: every bell rings; when none comes
    for LISTEN_TIMEOUT the read ends (the listener then checks the connection), and the
    next read still gets the bells."""
    import time

    from tests.kit.support import eventually
    monkeypatch.setattr(bus, "LISTEN_TIMEOUT", 0.3)
    channel = keys.SessionKeys("quiet").bell("vad")
    rung = []
    bell = bus.Doorbell(redis, on_ring=rung.append, on_reconnect=lambda: None, idle_channel="ss:idle:test")
    await bell._open()
    try:
        await bell.subscribe(channel)

        async def subscribed():
            return (await redis.pubsub_numsub(channel))[0][1] == 1
        await eventually(subscribed, 5, "subscribed")
        for expected in (3, 4):
            for _ in range(expected - len(rung)):
                await redis.publish(channel, "1")
            started = time.monotonic()
            with pytest.raises(TimeoutError):  # its own deadline, or (failing below) the bound here
                await asyncio.wait_for(bell._read_messages(bus.Backoff()), 30)
            assert 0.3 <= time.monotonic() - started < 20  # a loaded box's slack, short of the 30 s bound
            assert rung == [channel] * expected
    finally:
        await bell.close()
