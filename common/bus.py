"""Redis connection, the pub/sub doorbell and stream-id helpers (the fenced scripts are in :mod:`.fence`).

Data always lives in streams. A doorbell is only a wake-up: writers ``PUBLISH`` on
the session's bell channel after they append, and readers subscribed to it read
the stream at once; a slow periodic sweep covers doorbells lost while a
connection was down. One pub/sub connection serves every session of a process.

The same code runs on a Redis Cluster (``redis+cluster://``). Checked with
redis-py 8.1 against a 3-master Redis 7.0 cluster (``tests/e2e/test_cluster.py``):

* ``EVALSHA`` of a registered script goes to the slot of its first key; every
  script's keys share the session's ``{sid}`` tag, so they are legal there.
* Classic ``PUBLISH`` is broadcast to every node: a bell a script rings on one
  master wakes a doorbell subscribed on another. (Its reply counts only the
  local subscribers; nothing here reads it.) Sharded pub/sub is not needed.
* Non-transactional pipelines may span slots and nodes and keep the order of
  replies, but refuse ``PUBLISH``: callers ring bells outside pipelines.
* Blocking ``XREADGROUP``, ``XAUTOCLAIM`` and ``XGROUP CREATE`` on the global
  control streams work as on one Redis; ``client_name`` is set on every node.
* The cluster client loads its slot map lazily, on its first command, and its
  pub/sub needs that map: :class:`Doorbell` loads it before subscribing.
* The cluster client has no ``retry_on_timeout``; its own retry handles timeouts
  and redirections. Its sockets time out after 5 s, longer than any blocking
  read here (1 s ``XREADGROUP``, 5 s pub/sub poll, which passes its own timeout).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from . import aio, sentinel

log = logging.getLogger(__name__)

Redis = aioredis.Redis | RedisCluster

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


# Connections per pool (per node on a cluster); callers bound their concurrency
# to CONCURRENCY so that a worker with hundreds of sessions never exhausts it.
# On one Redis a command that finds every connection busy waits up to
# POOL_TIMEOUT seconds for one (backpressure) instead of failing at once.
MAX_CONNECTIONS = 256
CONCURRENCY = 64
POOL_TIMEOUT = 20.0


def connect(url: str, *, client_name: str | None = None) -> Redis:
    """A client for ``url``; ``redis+cluster://host:port`` connects to a Redis Cluster,
    ``redis+sentinel://host:port,.../service`` to the master that the sentinels name
    (:mod:`.sentinel`). :class:`ConfigError` if a Sentinel URL is malformed."""
    options: dict[str, Any] = dict(socket_connect_timeout=2.0, health_check_interval=10, client_name=client_name,
                   max_connections=MAX_CONNECTIONS)
    if sentinel.is_sentinel_url(url):
        client: Redis = sentinel.connect(sentinel.parse_url(url), timeout=POOL_TIMEOUT, **options)
    elif url.startswith(CLUSTER_SCHEMES):
        # RedisCluster has no retry_on_timeout: its own Retry already covers
        # connection errors and timeouts, and follows MOVED/ASK.
        client = RedisCluster.from_url(url.replace("+cluster", "", 1), **options)
    else:
        pool = aioredis.BlockingConnectionPool.from_url(url, retry_on_timeout=True, timeout=POOL_TIMEOUT, **options)
        client = aioredis.Redis.from_pool(pool)
    _make_race_safe(client)
    return client


_C = TypeVar("_C", bound=AbstractConnection)
# asyncio.StreamReader's refusal of a second reader.
_TWO_READERS = "already waiting for incoming data"


class _RaceSafeConnection(AbstractConnection):
    """Raises redis-py's disconnect race as the ``ConnectionError`` it is.

    A connection closed by another task while this one writes or reads (a pipeline's
    error handling, a cluster's reinitialisation mid-failover) meets ``None`` where
    its stream was and raises ``AttributeError`` or ``TypeError`` ("'NoneType' object
    has no attribute 'writelines'": redis/redis-py#3546, #4287). Left so, redis-py's
    own retry passes it over, a cluster pipeline hands it back as a command's
    result, and a caller's ``RedisError`` handler misses it (seen in CI: a call ended
    "internal error" mid-``CLUSTER FAILOVER``, three times at three call sites).
    Likewise two tasks reading one connection at once, which asyncio refuses with a
    ``RuntimeError``: a pub/sub's subscribe that reconnects (and reads the handshake)
    while its listener waits on the same connection (seen in CI: a VAD worker died of
    it when its Sentinel master was killed). redis-py has already closed the
    connection then; as a ``ConnectionError`` the listener reconnects and resubscribes.
    Mixed into every connection class :func:`connect` hands out.
    """

    async def send_packed_command(self, command, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except (AttributeError, TypeError) as exc:
            raise RedisConnectionError(f"the connection closed under a write ({exc!r})") from exc

    async def read_response(self, *args, **kwargs):
        try:
            return await super().read_response(*args, **kwargs)
        except (AttributeError, TypeError) as exc:
            raise RedisConnectionError(f"the connection closed under a read ({exc!r})") from exc
        except RuntimeError as exc:
            if _TWO_READERS not in str(exc):
                raise
            raise RedisConnectionError(f"two readers on one connection ({exc})") from exc


def race_safe(connection_class: type[_C]) -> type[_C]:
    """``connection_class`` with :class:`_RaceSafeConnection` mixed in (itself if it has it)."""
    if issubclass(connection_class, _RaceSafeConnection):
        return connection_class
    return type(f"RaceSafe{connection_class.__name__}", (_RaceSafeConnection, connection_class), {})


def _make_race_safe(client: Redis) -> None:
    """Make every connection ``client`` opens from now on a :func:`race_safe` one.

    redis-py picks the class from the URL (TCP, TLS, Unix socket, Sentinel's), and its
    cluster client hard-codes it, so it is swapped after construction: in the pool, or
    in the cluster's shared node options and in the nodes made so far.
    """
    if isinstance(client, RedisCluster):
        options = client.connection_kwargs  # shared with the nodes manager: nodes found later
        safe = options["connection_class"] = race_safe(options["connection_class"])
        for node in client.nodes_manager.startup_nodes.values():
            node.connection_class = safe
    else:
        pool = client.connection_pool
        pool.connection_class = race_safe(pool.connection_class)


async def gather_bounded(coros, *, limit: int = CONCURRENCY, return_exceptions: bool = False) -> list:
    """``asyncio.gather`` with at most ``limit`` commands in flight (one connection each)."""
    semaphore = asyncio.Semaphore(limit)

    async def run(coro):
        async with semaphore:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros), return_exceptions=return_exceptions)


def pack_command(*args: bytes | str | int) -> bytes:
    """One command in the Redis protocol (RESP), as redis-py sends it.

    In one pass: redis-py's packer re-copies its buffer for every argument below
    6 kB, which made packing three COMMIT_MANY calls of 64 sessions (448
    arguments each) take 1.6 ms against 0.34 ms here.
    """
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


def wait_for_replicas(redis: Redis) -> sentinel.WaitForReplicas | None:
    """The WAIT that writes which must survive a failover are followed by on ``redis``
    (a Sentinel URL's ``wait_replicas``); None: they are not."""
    return redis.wait_for_replicas if isinstance(redis, sentinel.SentinelRedis) else None


async def run_scripts(redis: aioredis.Redis, calls: Sequence[tuple[AsyncScript, Sequence, Sequence]], *,
                      wait: sentinel.WaitForReplicas | None = None) -> list:
    """Run each (script, keys, args) on one Redis in one round trip; the replies in order,
    the error in place of a call that failed. Raises if the round trip fails.

    The calls go out packed by :func:`pack_command` on a connection of the pool
    (one write, no retry: a caller that sees the error resumes from its
    checkpoint, as after any failed write). Scripts that Redis lost (restarted
    empty, or a replica promoted) are loaded, and their calls sent once more. With
    ``wait`` a WAIT follows the calls on their connection, and its reply comes last:
    the replicas that acknowledged them all (the fewest, if some went twice), or its error.
    """
    replies = await _send_scripts(redis, calls, wait)
    missing = [i for i, reply in enumerate(replies[:len(calls)]) if isinstance(reply, NoScriptError)]
    if not missing:
        return replies
    for script in {calls[i][0].sha: calls[i][0] for i in missing}.values():
        await redis.script_load(script.script)
    again = await _send_scripts(redis, [calls[i] for i in missing], wait)
    for i, reply in zip(missing, again):
        replies[i] = reply
    if wait is not None:
        first, second = replies[-1], again[-1]
        if isinstance(first, Exception):
            replies[-1] = first
        elif isinstance(second, Exception):
            replies[-1] = second
        else:
            replies[-1] = min(first, second)
    return replies


async def _send_scripts(redis: aioredis.Redis, calls: Sequence[tuple[AsyncScript, Sequence, Sequence]],
                        wait: sentinel.WaitForReplicas | None) -> list:
    """One round trip of :func:`run_scripts`, without its reload."""
    pool = redis.connection_pool
    connection = await pool.get_connection()
    commands = [pack_command("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args in calls]
    if wait is not None:
        commands.append(pack_command("WAIT", wait.replicas, wait.timeout_ms))
    try:
        await connection.send_packed_command(b"".join(commands))
        replies: list = []
        for _ in commands:
            try:
                replies.append(await connection.read_response())
            except ResponseError as exc:
                replies.append(exc)
    except BaseException:
        await connection.disconnect(nowait=True)  # the replies of the rest are unread
        raise
    finally:
        await pool.release(connection)
    return replies


def text(value: bytes | str) -> str:
    """A Redis reply as text (clients without ``decode_responses`` return bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def next_id(stream_id: str) -> str:
    """The smallest stream id greater than ``stream_id`` (for exclusive MINID trims)."""
    ms, _, seq = stream_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def id_ms(stream_id: str) -> int:
    """The time part of a stream id: milliseconds since the epoch when it was added."""
    return int(stream_id.partition("-")[0])


def id_le(a: str, b: str) -> bool:
    """True if stream id ``a`` is not after ``b``."""
    ams, _, aseq = a.partition("-")
    bms, _, bseq = b.partition("-")
    return (int(ams), int(aseq or 0)) <= (int(bms), int(bseq or 0))


# What a Redis call may raise when its connection breaks: redis-py's errors, the socket's, and
# the AttributeError or TypeError of redis-py's disconnect race (redis/redis-py#3546, #4287;
# seen here mid-CLUSTER FAILOVER, which killed a worker's claim loop). connect()'s connections
# raise that race as ConnectionError (_RaceSafeConnection); loops that must outlive Redis
# trouble still retry on all four, in case it surfaces outside a connection's read or write.
CONNECTION_ERRORS = (RedisError, OSError, AttributeError, TypeError)


class Backoff:
    """Retry delays for a loop that talks to Redis: doubling from ``first`` up to ``limit``.

    Call :meth:`reset` after a success and ``await`` :meth:`wait` after a failure.
    """

    def __init__(self, *, first: float = 0.1, limit: float = 5.0) -> None:
        self.first = first
        self.limit = limit
        self.delay = first

    def reset(self) -> None:
        self.delay = self.first

    async def wait(self) -> None:
        delay = self.delay
        self.delay = min(delay * 2, self.limit)
        await asyncio.sleep(delay)


# Seconds without a message after which the doorbell checks its connection.
LISTEN_TIMEOUT = 5.0


class Doorbell:
    """One pub/sub connection that wakes a callback when a session's bell rings.

    ``on_ring(channel)`` runs on the event loop for every message. After a lost
    connection it resubscribes and calls ``on_reconnect()`` so the owner can sweep
    for writes it missed.
    """

    def __init__(self, redis: Redis, *, on_ring: Callable[[str], None],
                 on_reconnect: Callable[[], None], idle_channel: str) -> None:
        self._redis = redis
        self._on_ring = on_ring
        self._on_reconnect = on_reconnect
        self._idle_channel = idle_channel  # keeps the pub/sub connection subscribed
        self._channels: set[str] = set()
        self._pubsub: PubSub | None = None  # from start() until close()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await self._open()
        self._task = asyncio.create_task(self._listen(), name="doorbell")

    async def _open(self) -> None:
        if isinstance(self._redis, RedisCluster):
            # A cluster client loads its slot map on its first command; its
            # pub/sub picks a node from that map without loading it first.
            await self._redis.initialize()
        self._pubsub = pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._idle_channel, *self._channels)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        async with self._lock:
            assert self._pubsub is not None, "subscribe before start"
            try:
                await self._pubsub.subscribe(channel)
            except (RedisError, OSError) as exc:  # the listener reconnects and resubscribes
                log.warning("subscribe %s failed: %s", channel, exc)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        async with self._lock:
            assert self._pubsub is not None, "unsubscribe before start"
            try:
                await self._pubsub.unsubscribe(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a stale subscription only costs a wasted wake-up
                log.warning("unsubscribe %s failed: %r", channel, exc)

    async def _listen(self) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._read_messages(backoff)
            except TimeoutError:
                # Quiet for LISTEN_TIMEOUT: the next read checks the connection (redis-py
                # pings it when its health-check interval has passed).
                continue
            except asyncio.CancelledError:
                raise
            except CONNECTION_ERRORS as exc:  # (redis-py's disconnect race too: above)
                log.warning("doorbell connection lost (%r); reconnecting in %.1fs", exc, backoff.delay)
                await self._reconnect(backoff)

    async def _reconnect(self, backoff: Backoff) -> None:
        """Open a new pub/sub connection, retrying until Redis answers. Reading before it is
        open would fail outside redis-py's errors ("pubsub connection not set") and end the
        listener, and with it the worker's clean exit."""
        while True:
            await backoff.wait()
            try:
                async with self._lock:
                    assert self._pubsub is not None  # the listener runs from start() until close()
                    await self._pubsub.aclose()
                    await self._open()
            except CONNECTION_ERRORS:
                continue
            self._on_reconnect()
            return

    async def _read_messages(self, backoff: Backoff) -> None:
        """Read and act on messages until none comes for :data:`LISTEN_TIMEOUT` (TimeoutError);
        each resets ``backoff`` (the connection works).

        The reads block; one deadline covers them all and moves on at most once a
        second as messages come. A deadline per read (``block=False, timeout=...``)
        cost 6 of the 12 µs that each bell took.
        """
        pubsub = self._pubsub
        assert pubsub is not None  # the listener runs from start() until close()
        loop = asyncio.get_running_loop()
        moved = loop.time()
        async with asyncio.timeout_at(moved + LISTEN_TIMEOUT) as deadline:
            while True:
                response = await pubsub.parse_response(block=True)
                backoff.reset()
                now = loop.time()
                if now - moved >= 1.0:
                    deadline.reschedule(now + LISTEN_TIMEOUT)
                    moved = now
                if isinstance(response, list) and len(response) == 3 and response[0] in (b"message", "message"):
                    # A bell: the hot path (thousands a second), so without the message
                    # dict that get_message builds.
                    self._on_ring(text(response[1]))
                elif response:  # (un)subscribe confirmations, pongs: redis-py keeps its books
                    await pubsub.handle_message(response)

    async def close(self) -> None:
        task, self._task = self._task, None
        await aio.cancel_and_wait(task)
        if self._pubsub is not None:
            try:
                await self._pubsub.aclose()
            except (RedisError, OSError):
                pass
            self._pubsub = None
