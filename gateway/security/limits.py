"""Concurrent connections per API key, counted in Redis so the limit holds across gateways.

Each key has a sorted set of the connections it holds, scored by when each
claim expires (Redis server time, so gateways' clocks do not matter). A claim
is taken atomically (a script drops expired claims, counts, adds), renewed
periodically while its connection lives, and removed when it ends; a gateway
that dies stops renewing, so its claims lapse after ``ttl`` instead of
leaking.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from redis.exceptions import RedisError

from common import aio, bus, keys

log = logging.getLogger(__name__)

# Drop lapsed claims, then add ARGV[3] unless ARGV[2] claims are live already.
# KEYS: the key's set. ARGV: ttl ms, limit, member. Returns 1 taken, 0 at the limit.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""

# Push the expiry of claims that still exist. KEYS: the key's set. ARGV: ttl ms, members...
_RENEW = """
local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', until_ms, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


def claims_key(key_id: str) -> str:
    """The sorted set of one API key's connections."""
    return f"{keys.PREFIX}:keyconns:{key_id}"


class KeyLimits:
    """At most ``limit`` live connections per API key over every gateway on one Redis."""

    def __init__(self, redis: bus.Redis, *, limit: int, ttl: float = 30.0) -> None:
        self.redis = redis
        self.limit = limit
        self.ttl_ms = int(ttl * 1000)
        self._claim = redis.register_script(_CLAIM)
        self._renew_script = redis.register_script(_RENEW)
        self._held: dict[str, set[str]] = {}  # key id -> members held by this gateway
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._renew_loop(), name="key-limits")

    async def close(self) -> None:
        await aio.cancel_all([self._task])
        self._task = None

    async def claim(self, key_id: str, *, limit: int | None = None) -> str | None:
        """A claim for one more connection of ``key_id``, or None at ``limit`` (None: the instance's);
        RedisError passes."""
        member = uuid.uuid4().hex
        taken = await self._claim(keys=[claims_key(key_id)],
                                  args=[self.ttl_ms, self.limit if limit is None else limit, member])
        if not int(taken):
            return None
        self._held.setdefault(key_id, set()).add(member)
        return member

    async def release(self, key_id: str, member: str) -> None:
        held = self._held.get(key_id)
        if held is not None:
            held.discard(member)
            if not held:
                del self._held[key_id]
        try:
            await self.redis.zrem(claims_key(key_id), member)
        except (RedisError, OSError) as exc:
            log.warning("releasing a key's connection claim failed (it lapses by itself): %s", exc)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            for key_id, members in list(self._held.items()):
                try:
                    await self._renew_script(keys=[claims_key(key_id)], args=[self.ttl_ms, *members])
                except (RedisError, OSError) as exc:
                    log.warning("renewing connection claims failed: %s", exc)
