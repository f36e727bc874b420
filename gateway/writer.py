"""Appends of every session of a gateway, batched: one Redis round trip for many frames.

A gateway with a thousand real-time sessions takes ten thousand client frames a
second. Appending each with its own pipeline and its own ``PUBLISH`` costs two
round trips and a pooled connection per frame (seen: 300 sessions exhausted a
256-connection pool). Sessions instead hand their appends to an
:class:`AppendWriter`: its writer task takes whatever is queued, from all
sessions, and send it as one pipeline: each append's ``XADD`` commands, then its
optional ``EXPIRE`` and ``XLEN``, then the doorbells, which Redis runs after the
appends (on a cluster, whose pipelines refuse ``PUBLISH``, right after them).

The queue is bounded: when Redis is slow it fills, :meth:`AppendWriter.submit`
waits, and so does the connection that sent the frame (it stops reading its
socket), instead of failing the session. A session has at most one append in
flight, so its records reach Redis in the order of their ``seq``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from common import bus

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Append:
    """Records for one stream, the bell to ring after them, and what else to do there."""

    stream: str
    payloads: list[bytes]
    bell: str
    expire: int = 0  # seconds of TTL to set on the stream after the append (0: leave it)
    length: bool = False  # also read the stream's length after the append
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class AppendWriter:
    """Batches :class:`Append` requests of many sessions into pipelines.

    ``queue_size`` bounds the appends waiting (one per session at most, so it
    should exceed the sessions of a gateway for no one to wait in normal
    operation); ``batch`` bounds one pipeline; ``writers`` pipelines may be in
    flight at once; with one, the next batch builds up while the previous one travels.
    """

    def __init__(self, redis: bus.Redis, *, queue_size: int = 4096, batch: int = 1024, writers: int = 1) -> None:
        self._redis = redis
        self._queue: asyncio.Queue[Append] = asyncio.Queue(maxsize=queue_size)
        self._batch = batch
        self._writers = writers
        self._cluster = isinstance(redis, RedisCluster)
        self._tasks: list[asyncio.Task] = []
        self._closed = False

    def start(self) -> None:
        if not self._tasks and not self._closed:
            self._tasks = [asyncio.create_task(self._run(), name=f"append-writer-{i}")
                           for i in range(self._writers)]

    async def close(self) -> None:
        """Stop writing; appends still queued fail with :class:`RedisError`. Idempotent."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._fail_queued()

    def _fail_queued(self) -> None:
        while not self._queue.empty():
            self._fail([self._queue.get_nowait()], RedisError("the gateway is closing"))

    async def submit(self, append: Append) -> asyncio.Future:
        """Queue ``append`` (waiting for room); return the future of its stream length (or None).

        Once this returns the append will be written (or fail), even if the
        caller stops waiting for the future.
        """
        if not self._tasks or self._closed:
            raise RedisError("the append writer is not running")
        await self._queue.put(append)
        if self._closed:  # closed while this waited for room
            self._fail_queued()
        return append.done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                lengths = await self._write(batch)
            except asyncio.CancelledError:
                self._fail(batch, RedisError("the gateway is closing"))
                raise
            except (RedisError, OSError) as exc:
                self._fail(batch, exc)
                continue
            except Exception as exc:  # a bug must not leave sessions waiting forever
                log.exception("append writer failed on a batch of %d", len(batch))
                self._fail(batch, RedisError(f"append failed: {exc!r}"))
                continue
            for append, length in zip(batch, lengths):
                if not append.done.done():
                    append.done.set_result(length)

    async def _write(self, batch: list[Append]) -> list[int | None]:
        """One pipeline for the whole batch; the stream lengths asked for, in batch order."""
        where: list[int | None] = []  # index of each append's XLEN reply
        index = 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for append in batch:
                for payload in append.payloads:
                    pipe.xadd(append.stream, {"r": payload})
                index += len(append.payloads)
                if append.expire:
                    pipe.expire(append.stream, append.expire)
                    index += 1
                if append.length:
                    pipe.xlen(append.stream)
                    where.append(index)
                    index += 1
                else:
                    where.append(None)
            bells = list(dict.fromkeys(append.bell for append in batch))
            if not self._cluster:
                for bell in bells:  # after every append of the batch, in the same round trip
                    pipe.publish(bell, "1")
            replies = await pipe.execute()
        if self._cluster:
            await bus.gather_bounded(self._redis.publish(bell, "1") for bell in bells)
        return [replies[i] if i is not None else None for i in where]

    @staticmethod
    def _fail(batch: list[Append], exc: BaseException) -> None:
        for append in batch:
            if not append.done.done():
                append.done.set_exception(exc)
                append.done.exception()  # retrieved: a caller that stopped waiting logs nothing
