"""Slots per API key, counted in Redis so the limits hold across gateways.

A key holds a slot of a *kind* for each thing it has open: :data:`SESSION` for a
call (live, or parked awaiting a resume), :data:`PENDING` for a connection that
has not opened its call yet, :data:`FOLLOWERS` for a follower and :data:`STATUS`
for a ``/ws/status`` socket. Each kind of each key has its own :class:`Limit`,
looked up when a slot is taken (0: no limit, and nothing is counted).

Each kind of each key has a sorted set of the slots taken, scored by when each
claim expires (Redis server time, so gateways' clocks do not matter). A slot is
taken atomically (a script drops expired claims, counts, adds), renewed
periodically while it is held, and removed when it is released; a gateway that
dies stops renewing, so its claims lapse after ``ttl`` instead of leaking.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from common import aio, bus, keys
from common.errors import ErrorCode

log = logging.getLogger(__name__)

# Drop lapsed claims, then add ARGV[3] unless ARGV[2] claims are live already; the set lives at
# least as long as the claim (PTTL is -1 on a set just made: never GT, which keeps that forever).
# KEYS: the key's set. ARGV: ttl ms, limit, member. Returns 1 taken, 0 at the limit.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"""

# Push the expiry of claims that still exist (never shortening the set's own: a parked call's claim
# may run longer than the others). KEYS: the key's set. ARGV: ttl ms, members...
_RENEW = """
local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', until_ms, ARGV[i]) end
-- Not PEXPIRE ... GT: GT takes a key without expiry for an infinite one and leaves it so (a leak).
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"""


SESSION = "session"  # a call, from its opening until it ends; parked calls included
PENDING = "pending"  # a connection whose call has not opened (or resumed) yet
FOLLOWERS = "followers"  # a follower of a call (/ws/follow)
STATUS = "status"  # a /ws/status socket

# What a key at its limit of each kind holds too many of, and what its client may do about it.
_AT_LIMIT = {
    SESSION: ("open session(s)", "close one and retry"),
    PENDING: ("connection(s) that opened no session yet", "open a session on those first"),
    FOLLOWERS: ("open follower(s)", "close one and retry"),
    STATUS: ("open status socket(s)", "close one and retry"),
}


def claims_key(kind: str, key_id: str) -> str:
    """The sorted set of one API key's slots of ``kind``."""
    return f"{keys.PREFIX}:keyslots:{kind}:{key_id}"


@dataclass(frozen=True, slots=True)
class Limit:
    """The most slots of a kind a key may hold (0: no limit), and where that is set, for refusals to say."""

    count: int
    source: str = ""  # "max-sessions-per-key 5", "sessions=50 in the API keys file"


class NoSlot(Exception):
    """A slot refused: its key is at its limit (``reason``: the refusal's metric label), or Redis failed."""

    def __init__(self, code: ErrorCode, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Slot:
    """One thing counted against an API key; ``member`` None: not counted (its kind has no limit)."""

    kind: str
    key_id: str
    member: str | None = None


class KeyLimits:
    """At most ``limits(kind, key_id)`` slots of each kind per API key over every gateway on one Redis."""

    def __init__(self, redis: bus.Redis, *, limits: Callable[[str, str], Limit], ttl: float = 30.0) -> None:
        self.redis = redis
        self.limits = limits
        self.ttl_ms = int(ttl * 1000)
        self._claim = redis.register_script(_CLAIM)
        self._renew_script = redis.register_script(_RENEW)
        self._held: dict[tuple[str, str], set[str]] = {}  # (kind, key id) -> members held by this gateway
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._renew_loop(), name="key-limits")

    async def close(self) -> None:
        await aio.cancel_all([self._task])
        self._task = None

    def limit(self, kind: str, key_id: str) -> Limit:
        """The most slots of ``kind`` that ``key_id`` may hold (0: no limit)."""
        return self.limits(kind, key_id)

    async def take(self, kind: str, key_id: str) -> Slot:
        """:meth:`acquire`, or raise :class:`NoSlot` with what to tell the client."""
        try:
            slot = await self.acquire(kind, key_id)
        except (RedisError, OSError) as exc:
            log.warning("counting the %s slots of key %s failed: %s", kind, key_id, exc)
            raise NoSlot(ErrorCode.UNAVAILABLE, "the service cannot reach its queue; try again later") from None
        if slot is None:
            limit = self.limit(kind, key_id)
            holds, advice = _AT_LIMIT[kind]
            raise NoSlot(ErrorCode.OVERLOADED, f"this API key already has {limit.count} {holds}, the limit "
                                               f"({limit.source}); {advice}",
                         reason="key_limit" if kind == SESSION else f"key_{kind}_limit")
        return slot

    async def acquire(self, kind: str, key_id: str) -> Slot | None:
        """A slot of ``kind`` for ``key_id``, or None at its limit; RedisError passes."""
        limit = self.limit(kind, key_id).count
        if limit <= 0:
            return Slot(kind, key_id)
        member = uuid.uuid4().hex
        taken = await self._claim(keys=[claims_key(kind, key_id)], args=[self.ttl_ms, limit, member])
        if not int(taken):
            return None
        self._held.setdefault((kind, key_id), set()).add(member)
        return Slot(kind, key_id, member)

    async def release(self, slot: Slot) -> None:
        """Give ``slot`` back; idempotent. A failure is logged: the claim lapses by itself."""
        if slot.member is None:
            return
        self._stop_renewing(slot)
        try:
            await self.redis.zrem(claims_key(slot.kind, slot.key_id), slot.member)
        except (RedisError, OSError) as exc:
            log.warning("releasing a key's %s slot failed (it lapses by itself): %s", slot.kind, exc)

    async def park(self, slot: Slot, seconds: float) -> None:
        """Hold ``slot`` ``seconds`` more without renewing it: its call is parked in Redis for any
        gateway to resume (:meth:`adopt`), and this one may be gone by then."""
        if slot.member is None:
            return
        self._stop_renewing(slot)
        await self._renew_script(keys=[claims_key(slot.kind, slot.key_id)], args=[int(seconds * 1000), slot.member])

    def _stop_renewing(self, slot: Slot) -> None:
        held = self._held.get((slot.kind, slot.key_id))
        if held is not None:
            held.discard(slot.member)
            if not held:
                del self._held[(slot.kind, slot.key_id)]

    def adopt(self, slot: Slot) -> None:
        """Hold (and renew) a slot that another gateway parked with its call (:meth:`park`)."""
        if slot.member is not None:
            self._held.setdefault((slot.kind, slot.key_id), set()).add(slot.member)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            for (kind, key_id), members in list(self._held.items()):
                try:
                    await self._renew_script(keys=[claims_key(kind, key_id)], args=[self.ttl_ms, *members])
                except bus.CONNECTION_ERRORS as exc:  # (redis-py's disconnect race too: common.bus)
                    log.warning("renewing key slots failed: %r", exc)
