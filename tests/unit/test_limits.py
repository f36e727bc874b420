"""The audio pacer on a manual clock: a burst, then the sustained rate, never slower than real time; the
renewal of a key's slots outliving redis-py's disconnect race.

The limits with a real gateway, workers and Redis are in tests/e2e/test_limits.py.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from gateway.core.pacing import AudioPacer, PacingOptions
from gateway.security.limits import KeyLimits, Limit

from tests.kit.support import ManualClock


def test_pacer_allows_a_burst_then_the_sustained_rate():
    clock = ManualClock()
    pacer = AudioPacer(PacingOptions(max_lead=2.0, max_realtime_factor=4.0), clock=clock)
    assert [pacer.spend(0.5) for _ in range(4)] == [0.0] * 4  # the 2 s burst
    assert pacer.spend(1.0) == pytest.approx(0.25)  # 1 s more at 4x: a quarter second
    clock.now += 0.25
    assert pacer.spend(1.0) == pytest.approx(0.25)


def test_pacer_never_slows_real_time():
    clock = ManualClock()
    pacer = AudioPacer(PacingOptions(max_lead=0.5, max_realtime_factor=1.0), clock=clock)
    for _ in range(1000):
        assert pacer.spend(0.1) == 0.0
        clock.now += 0.1


def test_pacing_options_are_checked():
    from common.errors import ConfigError
    with pytest.raises(ConfigError, match="at least 1"):
        PacingOptions(max_realtime_factor=0.5)
    with pytest.raises(ConfigError, match="positive"):
        PacingOptions(max_lead=0)


async def test_renewing_a_keys_slots_outlives_redis_pys_disconnect_race():
    # (what redis-py's asyncio writer leaks when a connection closes under a write: common.bus)
    limits = KeyLimits(aioredis.Redis(port=9), limits=lambda kind, key_id: Limit(1), ttl=0.03)
    errors = [AttributeError("'NoneType' object has no attribute 'writelines'")]
    renewed = asyncio.Event()

    async def renew(keys, args):
        if errors:
            raise errors.pop(0)
        renewed.set()

    limits._renew_script = renew  # type: ignore[assignment]
    limits._held[("session", "key-1")] = {"member-1"}
    limits.start()
    try:
        await asyncio.wait_for(renewed.wait(), 5)  # the round after the race renews
    finally:
        await limits.close()
