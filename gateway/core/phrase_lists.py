"""Tenants' phrase lists set over the admin API, kept in Redis so that every gateway reads the same.

A tenant's list here replaces its keys file's ``phrases=`` (:mod:`gateway.policy.keyfile`) for
the calls it analyses; deleting it brings the keys file's back. A call reads it once, as its
analytics start (:meth:`gateway.features.analytics.AnalyticsFeature.opened`): a change applies to calls
that open after it, on every gateway, and never to a call under way (whose events a client may
already be reading). Written and read by :mod:`gateway.http.phrases`; checked there
(:func:`gateway.policy.analytics.parse_phrases`) and again here when read, so a value written
by hand into Redis cannot reach a call unchecked.
"""

from __future__ import annotations

import json

from common import bus, keys
from common.errors import ConfigError

from ..policy.analytics import parse_phrases


async def get(redis: bus.Redis, tenant: str) -> tuple[str, ...] | None:
    """``tenant``'s list, or None when it set none (its keys file's applies). Raises ``RedisError``, and
    ``ConfigError`` for a stored value that is not a valid list."""
    stored = await redis.get(keys.tenant_phrases(tenant))
    if stored is None:
        return None
    try:
        values = json.loads(stored)
    except ValueError:
        raise ConfigError(f"the phrase list stored for tenant {tenant} is not JSON") from None
    return parse_phrases(values, name=f"the phrase list stored for tenant {tenant}")


async def put(redis: bus.Redis, tenant: str, phrases: tuple[str, ...]) -> None:
    """Set ``tenant``'s list (checked by the caller), replacing any."""
    await redis.set(keys.tenant_phrases(tenant), json.dumps(list(phrases)))


async def delete(redis: bus.Redis, tenant: str) -> bool:
    """Remove ``tenant``'s list; whether it had one."""
    return bool(await redis.delete(keys.tenant_phrases(tenant)))
