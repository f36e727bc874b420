"""Followers at ``/ws/follow/{call_id}``: a call's transcripts for whoever needs them, on any gateway.

A follower reads the call's log in Redis (:mod:`gateway.outputs.transcript_log`), so its
gateway need not be the one serving the call. The server sends, as JSON text:

1. ``{"type": "following", "call_id", "protocol", "channels", "parties", "state",
   "first_seq"}`` (``first_seq``: the oldest entry still in the log; a ``from_seq``
   below it lost entries to the log's bound);
2. every ``partial`` and ``final`` of the call in order, from the start of the
   call or from ``?from_seq=N`` (entries with ``seq >= N``), each with ``seq``,
   ``call_id``, ``channel``, ``party``, ``session_id``, ``utterance_id``, ``text``,
   ``start_ms``, ``end_ms``, ``language`` (finals: ``is_speech_final``, ``words``
   when the call asked for them; both: ``confidence`` when the engine gives
   one); a partial already superseded by a later entry read in the same batch
   is skipped, so a late follower gets the finals so far first, without the
   partials they replaced;
3. ``{"type": "ended", ...}`` when the call ends, then close 1000.

A follower who reconnects with ``from_seq`` = the last ``seq`` it saw + 1 gets
every later entry exactly once. An unknown call gets an ``error`` with code
``not_found`` and close 1008; a call whose log vanished without an end (its
gateway died) gets ``session_lost`` and close 1011.

Waiting costs no polling: one task per followed call per gateway (a
:class:`Feed`) blocks in ``XREAD BLOCK`` on the log and wakes that gateway's
followers of the call, who then read what they have not seen with ``XRANGE``.
So a call followed by many clients on one gateway holds one blocked Redis
connection, not one each.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from common import aio, bus, keys
from common.config import option, positive
from common.errors import ErrorCode
from common.metrics import GatewayMetrics

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
    block: float = 2.0  # seconds one XREAD BLOCK waits; after it, a feed checks that its call still exists
    batch: int = 200  # log entries read per round trip


class _Refusal(Exception):
    def __init__(self, code: ErrorCode, message: str, close_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.close_code = close_code


class Feed:
    """Wakes a gateway's followers of one call when its log grows; notices when the call is gone."""

    def __init__(self, redis: bus.Redis, call_id: str, *, block: float) -> None:
        self.redis = redis
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
        stream = log_key(self.call_id)
        backoff = bus.Backoff()
        started = False
        while True:
            try:
                if not started:  # start at the log's end: earlier entries are the followers' to read
                    last = await self.redis.xrevrange(stream, count=1)
                    self.top = seq_of(last[0][0]) if last else 0
                    started = True
                reply = await self.redis.xread({stream: entry_id(self.top)}, count=100, block=self.block_ms)
                gone = not reply and not await self.redis.exists(call_key(self.call_id))
                backoff.reset()
            except (RedisError, OSError) as exc:
                if asyncio.current_task().cancelling():
                    raise asyncio.CancelledError from exc  # a cancellation redis turned into an error
                log.warning("following call %s: reading its log failed: %s; retrying in %.1f s",
                            self.call_id, exc, backoff.delay)
                await backoff.wait()
                continue
            for _, entries in reply or ():
                if entries:
                    self.top = max(self.top, seq_of(entries[-1][0]))
            if gone:
                self.gone = True
            if reply or gone:
                self._notify()
            if gone:
                return


class Followers:
    """The gateway's followers and the feeds they share."""

    def __init__(self, redis: bus.Redis, *, options: FollowOptions, metrics: GatewayMetrics) -> None:
        self.redis = redis
        self.options = options
        self.metrics = metrics
        self.count = 0
        self._feeds: dict[str, Feed] = {}

    async def close(self) -> None:
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            await feed.stop()

    async def serve(self, websocket: ServerConnection, call_id: str, query: list[tuple[str, str]]) -> None:
        """Follow ``call_id`` for one client until the call ends or the client leaves."""
        self.count += 1
        self.metrics.followers.inc()
        feed = None
        try:
            if self.count > self.options.max_followers:
                raise _Refusal(ErrorCode.OVERLOADED, f"this gateway already serves {self.options.max_followers} "
                               "followers; try again later or another gateway", CloseCode.TRY_AGAIN_LATER)
            start = _from_seq(query)
            info = await self._info(call_id)
            first = await self.redis.xrange(log_key(call_id), count=1)
            await self._send(websocket, {
                "type": "following", "call_id": call_id, "protocol": info.get("protocol", ""),
                "channels": int(info.get("channels", "0")), "parties": json.loads(info.get("parties", "[]")),
                "state": info.get("state", ""), "first_seq": seq_of(first[0][0]) if first else None})
            feed = self._acquire(call_id)
            await _until_first(self._pump(websocket, call_id, start, feed), _ignore_messages(websocket))
        except _Refusal as refusal:
            await self._refuse(websocket, refusal)
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.inc()
            log.warning("following call %s failed: %s", call_id, exc)
            await self._refuse(websocket, _Refusal(ErrorCode.UNAVAILABLE, "the service cannot reach its queue; "
                                                   "reconnect with from_seq to go on", CloseCode.INTERNAL_ERROR))
        except ConnectionClosed:
            pass
        finally:
            if feed is not None:
                await self._release(feed)
            self.count -= 1
            self.metrics.followers.dec()

    async def _info(self, call_id: str) -> dict[str, str]:
        info = await self.redis.hgetall(call_key(call_id)) if keys.valid_session_id(call_id) else {}
        if not info:
            raise _Refusal(ErrorCode.NOT_FOUND, f"no call {call_id!r} is running or recently ended "
                                                "(a call id is the session_id, streamSid or AudioHook "
                                                "session id its door reported)", CloseCode.POLICY_VIOLATION)
        return {bus.text(name): bus.text(value) for name, value in info.items()}

    async def _pump(self, websocket: ServerConnection, call_id: str, start: int, feed: Feed) -> None:
        stream, last, batch = log_key(call_id), max(0, start - 1), self.options.batch
        while True:
            entries = await self.redis.xrange(stream, min="(" + entry_id(last), max="+", count=batch)
            for seq, message in _current(entries):
                await self._send(websocket, {**message, "seq": seq})
                if message["type"] == "ended":
                    await websocket.close(CloseCode.NORMAL_CLOSURE, "call ended")
                    return
            if entries:
                last = seq_of(entries[-1][0])
            if len(entries) < batch and not await feed.wait_past(last):
                # One more read: an entry may have landed between the read and the feed's verdict.
                if not await self.redis.xrange(stream, min="(" + entry_id(last), max="+", count=1):
                    raise _Refusal(ErrorCode.SESSION_LOST, f"call {call_id} vanished without an end: its "
                                   "gateway stopped or its log expired", CloseCode.INTERNAL_ERROR)

    async def _send(self, websocket: ServerConnection, message: dict) -> None:
        await websocket.send(json.dumps(message, ensure_ascii=False))
        self.metrics.follower_messages.inc()

    async def _refuse(self, websocket: ServerConnection, refusal: _Refusal) -> None:
        self.metrics.errors_sent.labels(code=str(refusal.code)).inc()
        try:
            await websocket.send(json.dumps({"type": "error", "code": str(refusal.code), "message": str(refusal),
                                             "fatal": True}))
            await websocket.close(refusal.close_code, str(refusal.code))
        except ConnectionClosed:
            pass

    def _acquire(self, call_id: str) -> Feed:
        feed = self._feeds.get(call_id)
        if feed is None or feed.gone:
            feed = self._feeds[call_id] = Feed(self.redis, call_id, block=self.options.block)
            feed.start()
        feed.users += 1
        return feed

    async def _release(self, feed: Feed) -> None:
        feed.users -= 1
        if feed.users == 0:
            if self._feeds.get(feed.call_id) is feed:
                del self._feeds[feed.call_id]
            await feed.stop()


def _from_seq(query: list[tuple[str, str]]) -> int:
    values = [value for name, value in query if name == "from_seq"]
    if not values:
        return 0
    if len(values) > 1 or not re.fullmatch(r"[0-9]{1,18}", values[0]):
        raise _Refusal(ErrorCode.BAD_CONFIG, f"from_seq must be one non-negative integer, not {values!r}",
                       CloseCode.POLICY_VIOLATION)
    return int(values[0])


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
