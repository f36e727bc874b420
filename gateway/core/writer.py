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

The batches go through a :class:`~gateway.core.resp.Lane` per writer: one buffer
of commands and one deadline per batch, not redis-py's per-command pipeline
machinery (seen: at 600 sessions that took a third of the gateway's CPU).

On a Redis Cluster an append that fails with a failover's transient error (its
master paused by ``CLUSTER FAILOVER``, a broken connection, ``MOVED`` before the
client's slot map caught up, ``CLUSTERDOWN``, ``TRYAGAIN``) is written again for
up to ``cluster_retry`` seconds before its session fails (seen: a call ended with
"audio could not be queued" mid-failover). Writing again may repeat records
whose replies were lost; they carry their ``seq``, and the stage drops repeats.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from redis import exceptions as rx
from redis.exceptions import RedisError

from common import aio, bus, sentinel

from .resp import Command, Lane

log = logging.getLogger(__name__)


_PENDING = object()
# What a cluster failover answers for a while; anything else fails the append at once.
_FAILOVER_ERRORS = (rx.AskError, rx.ClusterDownError, rx.ConnectionError, rx.MasterDownError, rx.MovedError,
                    rx.ReadOnlyError, rx.TimeoutError, rx.TryAgainError, OSError)
_XADD = b"*5\r\n$4\r\nXADD\r\n"
_AUTO_ID_FIELD = b"$1\r\n*\r\n$1\r\nr\r\n"  # entry id "*", field "r"


@dataclass(slots=True, kw_only=True, eq=False)
class Append:
    """Records for one stream, the bell to ring after them, and what else to do there.

    Awaiting an append waits until it is written and gives its stream's length
    (None unless ``length``), or raises its error. No future is made unless
    someone waits: a real-time session finds its previous append done.
    """

    stream: str
    payloads: list[bytes]
    bell: str
    expire: int = 0  # seconds of TTL to set on the stream after the append (0: leave it)
    length: bool = False  # also read the stream's length after the append
    _outcome: object = field(default=_PENDING, init=False)  # the length, None, or an exception
    _waiters: list[asyncio.Future] = field(default_factory=list, init=False)

    def done(self) -> bool:
        return self._outcome is not _PENDING

    def result(self) -> int | None:
        """The stream's length (or None); raises the append's error. Only once done."""
        if self._outcome is _PENDING:
            raise asyncio.InvalidStateError("the append is not written yet")
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        assert self._outcome is None or isinstance(self._outcome, int)
        return self._outcome

    def waiter(self) -> asyncio.Future:
        """A new future done (with None) once the append is; cancelling it leaves the append alone."""
        future = asyncio.get_running_loop().create_future()
        if self.done():
            future.set_result(None)
        else:
            self._waiters.append(future)
        return future

    def settle(self, outcome: object) -> None:
        """Record the append's outcome (its length, None, or an exception) and wake its waiters; once."""
        if self.done():
            return
        self._outcome = outcome
        for future in self._waiters:
            if not future.done():
                future.set_result(None)
        self._waiters.clear()

    def __await__(self):
        yield from self.waiter().__await__()
        return self.result()

    def packed(self) -> list[bytes]:
        """The append's ``XADD`` commands in RESP (built here: the hot path of a busy gateway)."""
        key = self.stream.encode()
        head = b"%b$%d\r\n%b\r\n%b" % (_XADD, len(key), key, _AUTO_ID_FIELD)
        return [b"%b$%d\r\n%b\r\n" % (head, len(payload), payload) for payload in self.payloads]


class AppendWriter:
    """Batches :class:`Append` requests of many sessions into pipelines.

    ``queue_size`` bounds the appends waiting (one per session at most, so it
    should exceed the sessions of a gateway for no one to wait in normal
    operation); ``batch`` bounds one pipeline; ``writers`` pipelines may be in
    flight at once; with one, the next batch builds up while the previous one travels.
    """

    def __init__(self, redis: bus.Redis, *, queue_size: int = 4096, batch: int = 1024, writers: int = 1,
                 cluster_retry: float = 10.0) -> None:
        self._redis = redis
        self._cluster_retry = cluster_retry  # seconds a cluster's failover errors are retried
        self._queue: asyncio.Queue[Append] = asyncio.Queue(maxsize=queue_size)
        self._batch = batch
        self._lanes = [Lane(redis) for _ in range(writers)]
        # Behind Sentinel with wait_replicas, a batch is written once replicas have it: a failover
        # meanwhile breaks the connection, and the lane writes the batch again on the new master.
        self._wait = bus.wait_for_replicas(redis)
        self._shortfalls = sentinel.ShortfallLog(self._wait, what="audio appends") if self._wait else None
        self._tasks: list[asyncio.Task] = []
        self._closed = False

    def start(self) -> None:
        if not self._tasks and not self._closed:
            self._tasks = [asyncio.create_task(self._run(lane), name=f"append-writer-{i}")
                           for i, lane in enumerate(self._lanes)]

    async def close(self) -> None:
        """Stop writing; appends still queued fail with :class:`RedisError`. Idempotent."""
        self._closed = True
        await aio.cancel_all(self._tasks)
        self._tasks = []
        self._fail_queued()
        for lane in self._lanes:
            await lane.close()

    def _fail_queued(self) -> None:
        while not self._queue.empty():
            self._fail([self._queue.get_nowait()], RedisError("the gateway is closing"))

    async def submit(self, append: Append) -> Append:
        """Queue ``append`` (waiting for room) and return it; await it for its outcome.

        Once this returns the append will be written (or fail), even if the
        caller stops waiting for it.
        """
        if not self._tasks or self._closed:
            raise RedisError("the append writer is not running")
        await self._queue.put(append)
        if self._closed:  # closed while this waited for room
            self._fail_queued()
        return append

    async def _run(self, lane: Lane) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write_settling(lane, batch)
            except asyncio.CancelledError:
                self._fail(batch, RedisError("the gateway is closing"))
                raise
            except Exception as exc:  # a bug must not leave sessions waiting forever
                log.exception("append writer failed on a batch of %d", len(batch))
                self._fail(batch, RedisError(f"append failed: {exc!r}"))

    async def _write_settling(self, lane: Lane, batch: list[Append]) -> None:
        """Write ``batch`` and settle each append; on a cluster, retry failover errors a while."""
        deadline = asyncio.get_running_loop().time() + (self._cluster_retry if lane.cluster else 0)
        delay = 0.05
        while True:
            try:
                results = await self._write(lane, batch)
            except (RedisError, OSError) as exc:
                results = [exc] * len(batch)
            except (AttributeError, TypeError) as exc:
                if not lane.cluster:
                    raise
                # redis-py's disconnect race ("'NoneType' object has no attribute 'writelines'",
                # CI, mid-failover) is raised as ConnectionError by bus.connect's connections; this
                # takes it should it surface outside a connection's read or write.
                results = [rx.ConnectionError(f"connection broke: {exc!r}")] * len(batch)
            retry = []
            for append, result in zip(batch, results):
                if isinstance(result, _FAILOVER_ERRORS) and asyncio.get_running_loop().time() < deadline:
                    retry.append(append)
                else:
                    append.settle(result)
            if not retry:
                return
            log.info("%d append(s) met a cluster failover (%s); writing them again in %.2f s", len(retry),
                     next(r for r in results if isinstance(r, _FAILOVER_ERRORS)), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
            batch = retry

    async def _write(self, lane: Lane, batch: list[Append]) -> list:
        """One round trip for the whole batch; per append its stream's length, None, or its error."""
        commands: list[Command] = []
        ends = []  # per append: the index after its last reply
        for append in batch:
            stream = append.stream
            if lane.cluster:
                commands += [("XADD", stream, "*", "r", payload) for payload in append.payloads]
            else:
                commands += append.packed()
            if append.expire:
                commands.append(("EXPIRE", stream, append.expire))
            if append.length:
                commands.append(("XLEN", stream))
            ends.append(len(commands))
        bells = list(dict.fromkeys(append.bell for append in batch))
        if not lane.cluster:
            # After every append of the batch, in the same round trip. A cluster's
            # pipelines refuse PUBLISH: there the bells go right after the appends.
            commands += [("PUBLISH", bell, "1") for bell in bells]
            if self._wait is not None:  # after the bells: readers need not wait for the replicas
                commands.append(("WAIT", self._wait.replicas, self._wait.timeout_ms))
        replies = await lane.execute(commands)
        if self._wait is not None:
            assert self._shortfalls is not None  # made with self._wait
            self._shortfalls.check(replies[-1])
        if lane.cluster:
            await bus.gather_bounded(self._redis.publish(bell, "1") for bell in bells)
        results = []
        start = 0
        for append, end in zip(batch, ends):
            errors = [reply for reply in replies[start:end] if isinstance(reply, Exception)]
            results.append(errors[0] if errors else replies[end - 1] if append.length else None)
            start = end
        return results

    @staticmethod
    def _fail(batch: list[Append], exc: BaseException) -> None:
        for append in batch:
            append.settle(exc)
