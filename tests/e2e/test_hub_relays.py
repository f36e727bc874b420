"""The hub's side of its sessions, seen through :class:`~gateway.core.hub.Relay`, against a real Redis."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from common import bus, keys
from common.metrics import GatewayMetrics
from common.pipeline_config import PipelineConfig
from gateway.core.hub import HubOptions, SessionHub


class FakeRelay:
    """Just what the hub needs of a session."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.slot_keys = [keys.slots(stage) for stage in PipelineConfig().stages]
        self.out_key = f"test:hub:{session_id}:out"
        self.meta_key = f"test:hub:{session_id}:meta"
        self.untrimmed = 0
        self.rings = 0
        self.reasons: list[str] = []

    def ring(self) -> None:
        self.rings += 1

    async def lost(self, reason: str) -> None:
        self.reasons.append(reason)


def test_a_session_whose_meta_is_gone_is_told_once_and_unregistered(redis_server):
    async def scenario():
        redis = bus.connect(redis_server.url)
        registry = CollectorRegistry()
        hub = SessionHub(redis, options=HubOptions(), metrics=GatewayMetrics(registry))
        kept, lost = FakeRelay("kept"), FakeRelay("lost")
        try:
            await redis.set(kept.meta_key, "{}")
            hub.register(kept)
            hub.register(lost)
            await hub._renew_sessions()
            assert lost.reasons and "lost this session's data" in lost.reasons[0]
            assert kept.reasons == [] and hub.session_count == 1
            assert 0 < await redis.ttl(kept.meta_key) <= HubOptions().session_ttl
            await hub._renew_sessions()  # no longer registered: told once
            assert len(lost.reasons) == 1
            assert registry.get_sample_value("streamscribe_gateway_sessions_lost_total") == 1
            hub._ring_all()
            assert (kept.rings, lost.rings) == (1, 0)
            hub.unregister(kept)
            assert hub.session_count == 0
        finally:
            await redis.delete(kept.meta_key)
            await redis.aclose()

    asyncio.run(scenario())
