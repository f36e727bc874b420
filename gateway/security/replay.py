"""Values a handshake may present only once, over every gateway on one Redis: signatures' nonces.

A signed handshake (Genesys AudioHook's, :mod:`gateway.doors.httpsig`) is taken
while its signature is fresh, up to 300 s. Within that time a copy of it, sent
again by whoever saw it, would pass the signature check on any gateway. So the
door names the signature's :class:`Nonce`, and :class:`Nonces` remembers it in
Redis (``SET NX`` with an expiry) until the signature is stale everywhere: the
first handshake with it passes, a second one, on this gateway or another, is
refused.

The cost: one Redis write per signed handshake, before it is accepted, and one
key of about 100 bytes per handshake of the last few minutes (at 10 handshakes a
second, some 4,000 keys, under a megabyte).
"""

from __future__ import annotations

import hashlib
import math

from common import bus, keys

from ..doors.httpsig import Nonce


class Nonces:
    """The nonces seen by every gateway on ``redis``."""

    def __init__(self, redis: bus.Redis) -> None:
        self.redis = redis

    async def first_use(self, nonce: Nonce) -> bool:
        """Whether ``nonce`` is presented for the first time; it is remembered for its ``ttl``
        either way. Raises ``RedisError`` when Redis does not answer (then nobody can tell)."""
        digest = hashlib.sha256(f"{nonce.scope}\0{nonce.value}".encode()).hexdigest()
        return bool(await self.redis.set(keys.nonce(digest), b"1", nx=True, ex=max(1, math.ceil(nonce.ttl))))
