"""Followers and the finals webhook without I/O: follow paths, catching up, a full webhook queue.

Calls followed through real gateways, and a real webhook receiver, are in tests/e2e/test_followers.py.
"""

from __future__ import annotations

import asyncio
import json

from prometheus_client import CollectorRegistry

from common.metrics import GatewayMetrics
from gateway.outputs.follow import Feed, _current, call_id_of
from gateway.outputs.webhook import Destination, FinalsWebhook, WebhookOptions


def test_follow_paths():
    assert call_id_of("/ws/follow/MZ123") == "MZ123"
    assert call_id_of("/ws/follow/MZ123/") == "MZ123"
    assert call_id_of("/ws/asr") is None


def test_late_followers_skip_superseded_partials():
    def entry(seq, kind, utterance):
        return f"0-{seq}".encode(), {b"m": json.dumps({"type": kind, "utterance_id": utterance}).encode()}

    entries = [entry(1, "partial", "a"), entry(2, "partial", "b"), entry(3, "partial", "a"), entry(4, "final", "a"),
               entry(5, "partial", "b"), entry(6, "ended", None)]
    assert [(seq, m["type"], m["utterance_id"]) for seq, m in _current(entries)] == [
        (4, "final", "a"), (5, "partial", "b"), (6, "ended", None)]


async def test_webhook_drops_finals_when_its_queue_is_full():
    registry = CollectorRegistry()
    hook = FinalsWebhook(WebhookOptions(url="http://127.0.0.1:9/", queue=2), metrics=GatewayMetrics(registry))
    # Not started: nothing takes finals off the queue.
    to = Destination("http://127.0.0.1:9/")
    assert [hook.submit({}, key=str(i), to=to) for i in range(3)] == [True, True, False]
    assert registry.get_sample_value("streamscribe_gateway_webhook_deliveries_total", {"result": "dropped"}) == 1
    await hook.close()


class RacingRedis:
    """A follow's Redis whose first read raises what redis-py's asyncio writer leaks when a connection
    closes under a write (redis/redis-py#4287; seen on a cluster mid-failover), then answers."""

    def __init__(self) -> None:
        self.raised = False

    async def xrevrange(self, stream, count):
        if not self.raised:
            self.raised = True
            raise AttributeError("'NoneType' object has no attribute 'writelines'")
        return []

    async def xread(self, streams, count, block):
        (stream, last), = streams.items()
        if last != "0-0":  # (as XREAD's BLOCK: nothing more comes)
            await asyncio.sleep(block / 1000)
            return None
        return [[stream, [(b"0-1", {})]]]

    async def exists(self, key):
        return 1


async def test_a_follow_outlives_redis_pys_disconnect_race():
    redis = RacingRedis()
    feed = Feed(redis, "t", "call-1", block=0.1)  # type: ignore[arg-type]
    feed.start()
    try:
        assert await asyncio.wait_for(feed.wait_past(0), 5)  # (before: the feed's task died of it)
        assert redis.raised
    finally:
        await feed.stop()
