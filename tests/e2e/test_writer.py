"""The gateway's batched append writer against a real Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import RedisError

from common import bus
from gateway.core.writer import Append, AppendWriter


def run(coro):
    return asyncio.run(coro)


def test_appends_of_many_streams_keep_their_order_and_ring_after_writing(redis_server):
    async def scenario():
        redis = bus.connect(redis_server.url)
        writer = AppendWriter(redis, batch=7)
        writer.start()
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe("test:bell:0")
        try:
            async def session(n: int) -> list:
                lengths = []
                for i in range(5):
                    done = await writer.submit(Append(stream=f"test:w:{n}", payloads=[b"%d" % i, b"x"],
                                                      bell=f"test:bell:{n}", length=True, expire=60))
                    lengths.append(await done)
                return lengths

            results = await asyncio.gather(*(session(n) for n in range(20)))
            assert results == [[2, 4, 6, 8, 10]] * 20
            for n in range(20):
                entries = await redis.xrange(f"test:w:{n}")
                assert [fields[b"r"] for _, fields in entries][::2] == [b"0", b"1", b"2", b"3", b"4"]
                assert 0 < await redis.ttl(f"test:w:{n}") <= 60
            # The bell of an append comes after its entries are in the stream.
            done = await writer.submit(Append(stream="test:w:0", payloads=[b"late"], bell="test:bell:0"))
            assert await done is None
            message = None
            while message is None:  # None: the subscription's confirmation
                message = await pubsub.get_message(timeout=5)
            assert message["channel"] == b"test:bell:0"
            assert (await redis.xrevrange("test:w:0", count=1))[0][1][b"r"] == b"late"
        finally:
            await writer.close()
            await pubsub.aclose()
            await redis.delete(*[f"test:w:{n}" for n in range(20)])
            await redis.aclose()

    run(scenario())


def test_a_closed_writer_fails_appends_instead_of_hanging(redis_server):
    async def scenario():
        redis = bus.connect(redis_server.url)
        writer = AppendWriter(redis)
        try:
            with pytest.raises(RedisError):
                await writer.submit(Append(stream="test:never", payloads=[b"x"], bell="test:bell"))
            writer.start()
            await writer.close()
            await writer.close()  # idempotent
            with pytest.raises(RedisError):
                await writer.submit(Append(stream="test:never", payloads=[b"x"], bell="test:bell"))
            assert not await redis.exists("test:never")
        finally:
            await redis.aclose()

    run(scenario())


def test_a_full_queue_makes_the_caller_wait_not_fail(redis_server):
    async def scenario():
        redis = bus.connect(redis_server.url)
        writer = AppendWriter(redis, queue_size=1)
        # A writer that is running but stuck (as behind a slow Redis): its queue fills,
        # and the next submit waits for room instead of failing.
        writer._tasks = [asyncio.create_task(asyncio.Event().wait())]
        first = await writer.submit(Append(stream="test:bp", payloads=[b"1"], bell="test:bell"))
        second = asyncio.create_task(writer.submit(Append(stream="test:bp", payloads=[b"2"], bell="test:bell")))
        done, _ = await asyncio.wait({second}, timeout=0.3)
        assert not done, "a submit to a full queue returned instead of waiting"
        await writer.close()  # fails what is queued; the waiting submit gets room and is failed too
        try:
            with pytest.raises(RedisError):
                await first
            with pytest.raises(RedisError):
                await (await second)
            assert not await redis.exists("test:bp")
        finally:
            await redis.aclose()

    run(scenario())


def test_an_append_redis_refuses_fails_alone_and_the_batch_goes_on(redis_server):
    async def scenario():
        redis = bus.connect(redis_server.url)
        await redis.set("test:not-a-stream", "x")
        writer = AppendWriter(redis)
        writer._tasks = [asyncio.create_task(asyncio.Event().wait())]  # hold the batch back
        try:
            appends = [await writer.submit(Append(stream=stream, payloads=[b"1", b"2"], bell="test:bell",
                                                  length=True, expire=60))
                       for stream in ("test:ok:1", "test:not-a-stream", "test:ok:2")]
            writer._tasks[0].cancel()
            writer._tasks = []
            writer.start()  # one batch of all three
            assert await appends[0] == 2 and await appends[2] == 2
            with pytest.raises(RedisError, match="WRONGTYPE"):
                await appends[1]
            assert await redis.xlen("test:ok:1") == 2 and await redis.xlen("test:ok:2") == 2
        finally:
            await writer.close()
            await redis.delete("test:ok:1", "test:ok:2", "test:not-a-stream")
            await redis.aclose()

    run(scenario())
