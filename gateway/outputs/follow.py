"""Followers at ``/ws/follow/{call_id}``: a call's transcripts for whoever needs them, on any gateway.

A follower reads the call's log in Redis (:mod:`gateway.outputs.transcript_log`), so its gateway
need not serve the call: ``following``, then every partial and final from the start or from
``?from_seq=N`` (a reconnect with the last ``seq`` + 1 gets each later entry once), then ``ended``.
A key follows its own tenant's calls and those its keys file line grants; another tenant's call
is answered exactly as an unknown one, and failed lookups are limited per key and address, so
call ids cannot be guessed. One task per followed call per gateway blocks on the log and wakes
that gateway's followers: no polling, one Redis connection however many follow. docs/followers.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from common import aio, bus, keys
from common.config import non_negative, option, positive
from common.errors import ErrorCode
from common.metrics import GatewayMetrics

from ..policy.keyfile import ApiKey
from .transcript_log import call_key, entry_id, log_key, seq_of

log = logging.getLogger(__name__)

PATH_PREFIX = "/ws/follow/"
ROUTE = PATH_PREFIX + "{call_id}"


def call_id_of(path: str) -> str | None:
    """The call id of a follower's path, or None if ``path`` is not a follower's."""
    if not path.startswith(PATH_PREFIX):
        return None
    return path[len(PATH_PREFIX):].rstrip("/")


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowOptions:
    max_followers: int = field(default=1000, metadata=option(
        "open follower connections per gateway; more are refused (close 1013)", parse=positive(int)))
    max_followers_per_key: int = field(default=100, metadata=option(
        "open followers of one API key over all gateways (0: no limit; a keys file's followers= "
        "sets a key's own)", parse=non_negative(int)))
    max_failed_follows: int = field(default=30, metadata=option(
        "follows of unknown call ids per API key and per address a minute; more follows get HTTP 429 "
        "(0: no limit)", parse=non_negative(int)))
    failed_follows_window: float = 60.0  # seconds over which max_failed_follows counts
    block: float = 2.0  # seconds one XREAD BLOCK waits; after it, a feed checks that its call still exists
    batch: int = 200  # log entries read per round trip


class _Refusal(Exception):
    def __init__(self, code: ErrorCode, message: str, close_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.close_code = close_code


class Feed:
    """Wakes a gateway's followers of one call when its log grows; notices when the call is gone."""

    def __init__(self, redis: bus.Redis, tenant: str, call_id: str, *, block: float) -> None:
        self.redis = redis
        self.tenant = tenant
        self.call_id = call_id
        self.block_ms = max(1, int(block * 1000))
        self.top = 0  # highest seq known to be in the log
        self.gone = False  # the call's registry entry vanished (its gateway stopped, or it expired)
        self.users = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"feed-{self.call_id}")

    async def stop(self) -> None:
        await aio.cancel_all([self._task])
        self._task = None

    async def wait_past(self, seq: int) -> bool:
        """Wait until the log holds an entry after ``seq``: True; or until the call is gone: False."""
        while self.top <= seq and not self.gone:
            changed = self._changed
            await changed.wait()
        return self.top > seq

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _run(self) -> None:
        stream = log_key(self.tenant, self.call_id)
        backoff = bus.Backoff()
        started = False
        while True:
            try:
                if not started:  # start at the log's end: earlier entries are the followers' to read
                    last = await self.redis.xrevrange(stream, count=1)
                    newest = last[0][0] if last else None
                    self.top = seq_of(newest) if newest is not None else 0
                    started = True
                reply = await self.redis.xread({stream: entry_id(self.top)}, count=100, block=self.block_ms)
                gone = not reply and not await self.redis.exists(call_key(self.tenant, self.call_id))
                backoff.reset()
            except bus.CONNECTION_ERRORS as exc:  # (redis-py's disconnect race too: common.bus)
                if aio.current_task().cancelling():
                    raise asyncio.CancelledError from exc  # a cancellation redis turned into an error
                log.warning("following call %s: reading its log failed: %s; retrying in %.1f s",
                            self.call_id, exc, backoff.delay)
                await backoff.wait()
                continue
            assert not isinstance(reply, dict)  # RESP2: [[stream, entries]], None when none came
            for _, entries in reply or ():
                if entries:
                    self.top = max(self.top, seq_of(entries[-1][0]))
            if gone:
                self.gone = True
            if reply or gone:
                self._notify()
            if gone:
                return


class FailedLookups:
    """Follows that found no call, counted per API key and per address over a fixed window.

    The counts live in Redis, so the limit holds over every gateway. A follow
    counts as failed when it starts (so that many started at once cannot all
    slip through) and is taken back when it finds its call. Once a key or an
    address used up its window's failures, its follows are refused until the
    window ends.
    """

    # Count one follow. KEYS: the counter. ARGV: the window (ms). Returns {count, ms left in the window}.
    ATTEMPT = """
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
"""
    # Take a follow back (it found its call); never below zero, never making a key without expiry.
    FOUND = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""

    def __init__(self, redis: bus.Redis, *, limit: int, window: float) -> None:
        self.limit = limit
        self.window_ms = max(1, int(window * 1000))
        self._attempt = redis.register_script(self.ATTEMPT)
        self._found = redis.register_script(self.FOUND)

    @staticmethod
    def counters(key_id: str | None, address: str) -> list[str]:
        counters = [f"{keys.PREFIX}:lookups:addr:{address}"]
        if key_id is not None:
            counters.append(f"{keys.PREFIX}:lookups:key:{key_id}")
        return counters

    async def attempt(self, key_id: str | None, address: str) -> float:
        """Count a follow; return the seconds until this key and address may follow again (0: now)."""
        if not self.limit:
            return 0.0
        wait_ms = 0
        try:
            for counter in self.counters(key_id, address):  # one key a script: Redis Cluster allows no more
                count, left = await self._attempt(keys=[counter], args=[self.window_ms])
                if int(count) > self.limit:
                    wait_ms = max(wait_ms, int(left), 1)
        except (RedisError, OSError) as exc:  # the follow itself will say that Redis is away
            log.warning("counting a follow failed: %s", exc)
        return wait_ms / 1000

    async def take_back(self, key_id: str | None, address: str) -> None:
        if not self.limit:
            return
        try:
            for counter in self.counters(key_id, address):
                await self._found(keys=[counter])
        except (RedisError, OSError) as exc:
            log.warning("taking back a follow that found its call failed: %s", exc)


class Followers:
    """The gateway's followers and the feeds they share."""

    def __init__(self, redis: bus.Redis, *, options: FollowOptions, metrics: GatewayMetrics) -> None:
        self.redis = redis
        self.options = options
        self.metrics = metrics
        self.count = 0
        self.lookups = FailedLookups(redis, limit=options.max_failed_follows, window=options.failed_follows_window)
        self._feeds: dict[tuple[str, str], Feed] = {}  # by tenant and call id

    async def close(self) -> None:
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            await feed.stop()

    async def serve(self, websocket: ServerConnection, call_id: str, query: list[tuple[str, str]], *,
                    key: ApiKey, address: str) -> None:
        """Follow ``call_id`` of a tenant ``key`` may follow, until the call ends or the client leaves.

        The follow was counted as failed (:meth:`FailedLookups.attempt`); it is taken back if the call is found.
        """
        self.count += 1
        self.metrics.followers.inc()
        feed = None
        try:
            if self.count > self.options.max_followers:
                raise _Refusal(ErrorCode.OVERLOADED, f"this gateway already serves {self.options.max_followers} "
                               "followers; try again later or another gateway", CloseCode.TRY_AGAIN_LATER)
            start = _from_seq(query)
            tenant, info = await self._find(key.followable(_tenant(query)), call_id)
            await self.lookups.take_back(key.key_id, address)
            first = await self.redis.xrange(log_key(tenant, call_id), count=1)
            oldest = first[0][0] if first else None
            await self._send(websocket, {
                "type": "following", "call_id": call_id, "tenant": tenant, "protocol": info.get("protocol", ""),
                "channels": int(info.get("channels", "0")), "parties": json.loads(info.get("parties", "[]")),
                "state": info.get("state", ""), "first_seq": seq_of(oldest) if oldest is not None else None})
            feed = self._acquire(tenant, call_id)
            await _until_first(self._pump(websocket, tenant, call_id, start, feed), _ignore_messages(websocket))
        except _Refusal as refusal:
            await self.refuse(websocket, refusal.code, str(refusal), refusal.close_code)
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.inc()
            log.warning("following call %s failed: %s", call_id, exc)
            await self.refuse(websocket, ErrorCode.UNAVAILABLE, "the service cannot reach its queue; "
                              "reconnect with from_seq to go on", CloseCode.INTERNAL_ERROR)
        except ConnectionClosed:
            pass
        finally:
            if feed is not None:
                await self._release(feed)
            self.count -= 1
            self.metrics.followers.dec()

    async def _find(self, tenants: Sequence[str], call_id: str) -> tuple[str, dict[str, str]]:
        """The first of ``tenants`` with a call ``call_id``, and its registry entry; else not_found.

        Unknown, expired and other tenants' calls get the same answer, after work that depends only
        on what the client knows (its key's tenants and the id it sent): no call of another tenant shows.
        """
        if keys.valid_session_id(call_id) and tenants:
            async with self.redis.pipeline(transaction=False) as pipe:
                for tenant in tenants:
                    pipe.hgetall(call_key(tenant, call_id))
                found = await pipe.execute()
            for tenant, info in zip(tenants, found):
                if info:
                    return tenant, {bus.text(name): bus.text(value) for name, value in info.items()}
        raise _Refusal(ErrorCode.NOT_FOUND, f"no call {call_id[:64]!r} is running or recently ended "
                                            "(a call id is the session_id, streamSid or AudioHook "
                                            "session id its door reported)", CloseCode.POLICY_VIOLATION)

    async def _pump(self, websocket: ServerConnection, tenant: str, call_id: str, start: int, feed: Feed) -> None:
        stream, last, batch = log_key(tenant, call_id), max(0, start - 1), self.options.batch
        while True:
            entries = await self.redis.xrange(stream, min="(" + entry_id(last), max="+", count=batch)
            assert entries is not None  # (a range: a list)
            for seq, message in _current(entries):
                await self._send(websocket, {**message, "seq": seq})
                if message["type"] == "ended":
                    await websocket.close(CloseCode.NORMAL_CLOSURE, "call ended")
                    return
            if entries:
                newest = entries[-1][0]
                assert newest is not None  # XRANGE gives every entry's id
                last = seq_of(newest)
            if len(entries) < batch and not await feed.wait_past(last):
                # One more read: an entry may have landed between the read and the feed's verdict.
                if not await self.redis.xrange(stream, min="(" + entry_id(last), max="+", count=1):
                    raise _Refusal(ErrorCode.SESSION_LOST, f"call {call_id} vanished without an end: its "
                                   "gateway stopped or its log expired", CloseCode.INTERNAL_ERROR)

    async def _send(self, websocket: ServerConnection, message: dict) -> None:
        await websocket.send(json.dumps(message, ensure_ascii=False))
        self.metrics.follower_messages.inc()

    async def refuse(self, websocket: ServerConnection, code: ErrorCode, message: str, close_code: int) -> None:
        """End a follower with a fatal ``error`` message and ``close_code``."""
        self.metrics.errors_sent.labels(code=str(code)).inc()
        try:
            await websocket.send(json.dumps({"type": "error", "code": str(code), "message": message, "fatal": True}))
            await websocket.close(close_code, str(code))
        except ConnectionClosed:
            pass

    def _acquire(self, tenant: str, call_id: str) -> Feed:
        feed = self._feeds.get((tenant, call_id))
        if feed is None or feed.gone:
            feed = self._feeds[tenant, call_id] = Feed(self.redis, tenant, call_id, block=self.options.block)
            feed.start()
        feed.users += 1
        return feed

    async def _release(self, feed: Feed) -> None:
        feed.users -= 1
        if feed.users == 0:
            if self._feeds.get((feed.tenant, feed.call_id)) is feed:
                del self._feeds[feed.tenant, feed.call_id]
            await feed.stop()


def _from_seq(query: list[tuple[str, str]]) -> int:
    values = [value for name, value in query if name == "from_seq"]
    if not values:
        return 0
    if len(values) > 1 or not re.fullmatch(r"[0-9]{1,18}", values[0]):
        raise _Refusal(ErrorCode.BAD_CONFIG, f"from_seq must be one non-negative integer, not {values!r}",
                       CloseCode.POLICY_VIOLATION)
    return int(values[0])


def _tenant(query: list[tuple[str, str]]) -> str | None:
    """The tenant a follow names (``?tenant=NAME``), or None: the tenants its key may follow, in turn."""
    values = [value for name, value in query if name == "tenant"]
    if len(values) > 1:
        raise _Refusal(ErrorCode.BAD_CONFIG, "tenant may be given once", CloseCode.POLICY_VIOLATION)
    return values[0] if values else None


def _current(entries: list) -> list[tuple[int, dict]]:
    """Decoded log entries, without partials that a later entry of the same utterance supersedes."""
    decoded = [(seq_of(raw_id), json.loads(fields.get(b"m", fields.get("m")))) for raw_id, fields in entries]
    latest = {message.get("utterance_id"): index for index, (_, message) in enumerate(decoded)}
    return [(seq, message) for index, (seq, message) in enumerate(decoded)
            if message["type"] != "partial" or latest[message["utterance_id"]] == index]


async def _ignore_messages(websocket: ServerConnection) -> None:
    """Read (and ignore) what a follower sends, so that its leaving is noticed at once."""
    try:
        async for _ in websocket:
            pass
    except ConnectionClosed:
        pass


async def _until_first(*coroutines) -> None:
    """Run the coroutines until the first ends; cancel the others; raise what the first raised."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await aio.cancel_all(tasks)
    for task in done:
        task.result()
