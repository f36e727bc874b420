"""The gateway's wake-up paths for results, without Redis: a session's relay, the hub's sweep, the
doorbell and the stages' watch outlive what redis-py raises mid-failover, and a relay that fails tells its call instead of
leaving it waiting for an end that never comes.

(A call through a real Redis Cluster whose masters fail over mid-call: tests/e2e/test_cluster.py.)
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from common.bus import Doorbell
from common.metrics import GatewayMetrics
from common.pipeline_config import PipelineConfig
from common.records import Transcript, encode
from gateway.core.hub import HubOptions, SessionHub
from gateway.core.session import PipelineSession
from gateway.core.stages import Stages

# What redis-py's asyncio writer leaks when a connection closes under a write (common.bus).
RACE = AttributeError("'NoneType' object has no attribute 'writelines'")


def final(utterance_id: str) -> Transcript:
    return Transcript(utterance_id=utterance_id, start=0, end=16000, text="Hello.", final=True)


class ResultRedis:
    """A result stream of one entry whose first reads raise ``errors`` in turn."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)

    async def xrange(self, key, min, count):
        if self.errors:
            raise self.errors.pop(0)
        return [(b"1-1", {b"r": encode(final("u1"))})] if min == "(0-0" else []


class FakeHub:
    def __init__(self, redis) -> None:
        self.redis = redis
        self.options = HubOptions()
        self.metrics = GatewayMetrics(CollectorRegistry())
        self.reads = asyncio.Semaphore(4)


def relay(redis, on_record):
    lost: list[str] = []

    async def on_lost(_session, reason: str) -> None:
        lost.append(reason)

    session = PipelineSession(FakeHub(redis), session_id="s1", pipeline=PipelineConfig(),  # type: ignore[arg-type]
                              on_record=on_record, on_lost=on_lost)
    session._relay_task = asyncio.create_task(session._relay())
    return session, lost


async def stop(session: PipelineSession) -> None:
    session.closed = True
    session.ring()
    assert session._relay_task is not None
    await asyncio.wait_for(session._relay_task, 5)


async def test_a_relay_outlives_redis_pys_disconnect_race():
    delivered = asyncio.Queue()

    async def on_record(_session, record) -> None:
        await delivered.put(record)

    session, lost = relay(ResultRedis(RACE), on_record)
    session.ring()
    record = await asyncio.wait_for(delivered.get(), 5)  # read again after the race, within a backoff
    assert record == final("u1") and lost == []
    await stop(session)


async def test_a_relay_that_fails_tells_its_call():
    async def on_record(_session, record) -> None:
        raise ValueError("a bug of ours")

    session, lost = relay(ResultRedis(), on_record)
    session.ring()
    assert session._relay_task is not None
    await asyncio.wait_for(session._relay_task, 5)  # it ends, and says so
    assert lost == ["the gateway could not relay this session's results (ValueError); please reconnect"]


class Rung:
    """A registered session as the hub sees it, counting its wake-ups."""

    session_id = "s1"
    slot_keys: list[str] = []
    out_key = "out"
    meta_key = "meta"
    untrimmed = 0

    def __init__(self) -> None:
        self.rings = 0
        self.rung = asyncio.Event()

    def ring(self) -> None:
        self.rings += 1
        self.rung.set()

    async def lost(self, reason: str) -> None:
        raise AssertionError(reason)


async def test_the_hubs_sweep_outlives_a_failed_round():
    # A client that connects to nothing: the sweep's batches are replaced below.
    hub = SessionHub(aioredis.Redis(port=9), options=HubOptions(sweep_interval=0.01),
                     metrics=GatewayMetrics(CollectorRegistry()))
    session = Rung()
    hub.register(session)
    replies: list = [RACE, TypeError("a bug of ours"), [1]]

    async def execute(commands):
        reply = replies.pop(0) if replies else [0]
        if isinstance(reply, BaseException):
            raise reply
        return reply

    hub._sweeps.execute = execute  # type: ignore[method-assign]
    tick = asyncio.create_task(hub._tick())
    try:
        for _ in range(3):  # rung after each failed round (every relay), then for the unread entry
            await asyncio.wait_for(session.rung.wait(), 5)
            session.rung.clear()
        assert session.rings == 3 and not tick.done()
    finally:
        tick.cancel()
        await asyncio.gather(tick, return_exceptions=True)


class RacingPubSub:
    """A doorbell's pub/sub connection whose first read raises the disconnect race."""

    def __init__(self, reads: list) -> None:
        self.reads = reads

    async def subscribe(self, *channels: str) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def parse_response(self, block: bool):
        if self.reads:
            raise self.reads.pop(0)
        await asyncio.Event().wait()  # quiet until the listener is cancelled


class PubSubRedis:
    def __init__(self) -> None:
        self.reads: list = [RACE]

    def pubsub(self, ignore_subscribe_messages: bool) -> RacingPubSub:
        return RacingPubSub(self.reads)


async def test_a_doorbell_reconnects_after_redis_pys_disconnect_race():
    reconnected = asyncio.Event()
    doorbell = Doorbell(PubSubRedis(), on_ring=lambda _: None, on_reconnect=reconnected.set,  # type: ignore[arg-type]
                        idle_channel="idle")
    await doorbell.start()
    try:
        await asyncio.wait_for(reconnected.wait(), 5)  # (and the relays it serves are rung)
        assert doorbell._task is not None and not doorbell._task.done()
    finally:
        await doorbell.close()


async def test_watching_the_stages_outlives_redis_pys_disconnect_race():
    metrics = GatewayMetrics(CollectorRegistry())
    stages = Stages(aioredis.Redis(port=9), options=HubOptions(sweep_interval=0.01), metrics=metrics)
    checks: list = [RACE]
    watched = asyncio.Event()

    async def check(stage: str) -> None:
        if checks:
            raise checks.pop(0)
        watched.set()

    stages.check = check  # type: ignore[method-assign]
    watch = asyncio.create_task(stages.watch())
    try:
        await asyncio.wait_for(watched.wait(), 5)
        assert metrics.redis_errors._value.get() == 1 and not watch.done()
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
