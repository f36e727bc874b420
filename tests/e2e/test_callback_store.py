"""The fleet's stored pre-recorded callbacks (gateway/outputs/courier.py) against a real redis-server.

The scripts (store, claim, acknowledge, store again), their fencing by the claim's token,
the bounds (backlog, retention), and one Courier delivering to a real HTTP receiver. The
same across real gateway processes: tests/e2e/test_prerecorded_shutdown.py. The pure parts:
tests/unit/test_callback_delivery.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from prometheus_client import CollectorRegistry

from common.metrics import GatewayMetrics
from gateway.outputs import courier as courier_module
from gateway.outputs.courier import KEYS, Courier, Store
from gateway.outputs.delivery import Delivery
from gateway.outputs.webhook import Schedule, signature
from tests.kit.support import eventually
from tests.kit.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

SECRET = b"a-secret-of-the-acme-tenant"
UNDELIVERED = "streamscribe_gateway_prerecorded_undelivered_total"


def a_delivery(request_id: str = "rid-1", *, url: str = "http://127.0.0.1:9/hook", attempts: int = 1) -> Delivery:
    return Delivery(request_id=request_id, url=url, method="POST",
                    headers={"Idempotency-Key": request_id, "dg-request-id": request_id},
                    body=json.dumps({"request_id": request_id, "text": "héllo"}, ensure_ascii=False).encode(),
                    tenant="acme", attempts=attempts, created=time.time())


async def stored_keys(redis) -> int:
    return sum([await redis.exists(key) for key in KEYS])


async def test_a_claim_takes_a_due_delivery_once_and_its_ack_removes_every_key(redis):
    store = Store(redis, most=10, most_bytes=2**20, retention=3600)
    assert await store.put(a_delivery(), wait=0) == (True, [])
    claim = await store.claim(lease=60)
    assert claim.request_id == "rid-1"
    stored = Delivery.decode(claim.record)
    assert (stored.attempts, stored.body, stored.headers) == (1, a_delivery().body, a_delivery().headers)
    assert claim.stored == 1
    again = await store.claim(lease=60)  # leased: not due for another claimer
    assert again.request_id == "" and 55 < again.next_in <= 60
    assert not await store.ack("rid-1", claim.token + 1)  # not this claim's token: nothing changes
    assert await store.ack("rid-1", claim.token)
    assert await stored_keys(redis) == 0
    assert (await store.claim(lease=60)).next_in is None


async def test_a_delivery_is_not_due_before_its_wait(redis):
    store = Store(redis, most=10, most_bytes=2**20, retention=3600)
    await store.put(a_delivery(), wait=30)
    claim = await store.claim(lease=60)
    assert claim.request_id == "" and 25 < claim.next_in <= 30


async def test_a_lapsed_claim_goes_to_the_next_claimer_and_the_first_can_no_longer_change_it(redis):
    store = Store(redis, most=10, most_bytes=2**20, retention=3600)
    await store.put(a_delivery(), wait=0)
    first = await store.claim(lease=0.05)  # a gateway that dies with it
    second = None

    async def claimed_again():
        nonlocal second
        second = await store.claim(lease=60)
        return second.request_id == "rid-1"

    await eventually(claimed_again, 10, "the lapsed claim taken by another")
    assert second.token > first.token
    assert not await store.again(a_delivery(attempts=5), first.token, wait=0)  # fenced
    assert not await store.ack("rid-1", first.token)
    assert Delivery.decode((await redis.hget(KEYS[2], "rid-1"))).attempts == 1
    assert await store.again(a_delivery(attempts=2), second.token, wait=30)
    assert Delivery.decode((await redis.hget(KEYS[2], "rid-1"))).attempts == 2
    await redis.delete(*KEYS)


async def test_the_backlog_refuses_a_new_delivery_beyond_its_bound_but_takes_a_stored_one_again(redis):
    store = Store(redis, most=2, most_bytes=2**20, retention=3600)
    assert (await store.put(a_delivery("a"), wait=10))[0]
    assert (await store.put(a_delivery("b"), wait=10))[0]
    assert not (await store.put(a_delivery("c"), wait=10))[0]
    assert (await store.put(a_delivery("a", attempts=3), wait=10))[0]
    assert await redis.hlen(KEYS[2]) == 2
    await redis.delete(*KEYS)


async def test_the_backlog_refuses_a_new_delivery_beyond_its_bytes_but_takes_a_stored_one_again(redis):
    size = len(a_delivery("a").encode())
    store = Store(redis, most=10, most_bytes=2 * size + size // 2, retention=3600)
    assert (await store.put(a_delivery("a"), wait=0))[0]
    assert (await store.put(a_delivery("b"), wait=0))[0]
    assert not (await store.put(a_delivery("c"), wait=0))[0]  # 3 records would pass the bytes
    assert (await store.put(a_delivery("a", attempts=3), wait=0))[0]
    assert await redis.hlen(KEYS[2]) == 2
    claim = await store.claim(lease=60)
    assert await store.ack(claim.request_id, claim.token)
    assert (await store.put(a_delivery("c"), wait=0))[0]  # room again
    await redis.delete(*KEYS)


async def test_a_delivery_stored_longer_than_the_retention_is_dropped_and_reported_once(redis):
    store = Store(redis, most=10, most_bytes=2**20, retention=0.05)
    await store.put(a_delivery("old"), wait=3600)
    expired: list[str] = []

    async def dropped():
        expired.extend((await store.claim(lease=60)).expired)
        return expired

    await eventually(dropped, 10, "the old delivery dropped")
    assert expired == ["old"]
    assert await stored_keys(redis) == 0


@pytest.fixture
def receiver():
    failing = threading.Event()
    receiver = WebhookReceiver(failing=failing)
    receiver.start()
    yield receiver
    receiver.close()


def a_courier(redis, registry, *, attempts: int = 6, hosts: frozenset[str] = frozenset({"127.0.0.1"})) -> Courier:
    metrics = GatewayMetrics(registry)
    return Courier(redis, schedule=Schedule(attempts=attempts, first_delay=0.05, max_delay=0.2), most=100,
                   most_bytes=2**20, retention=3600, hosts=hosts,
                   secret_of=lambda tenant: SECRET if tenant == "acme" else None, metrics=metrics,
                   undelivered=metrics.prerecorded_undelivered, gateway_id="gw-test")


async def test_a_failed_first_attempt_is_handed_over_and_the_loop_delivers_it_signed(redis, receiver):
    registry = CollectorRegistry()
    courier = a_courier(redis, registry)
    handed = []
    receiver.failing.set()
    await courier.first(a_delivery("rid-2", url=receiver.url, attempts=0), handed=lambda: handed.append(True))
    assert receiver.arrivals == 1 and handed == []  # handed over by choice, not cut by a drain
    assert await redis.hexists(KEYS[2], "rid-2")
    assert registry.get_sample_value("streamscribe_gateway_prerecorded_callbacks_stored_total") == 1
    receiver.failing.clear()
    await courier.start()
    try:
        assert await asyncio.to_thread(receiver.wait_for, {"rid-2"}, 30), receiver.requests
        await eventually(lambda: registry.get_sample_value(
            "streamscribe_gateway_prerecorded_callbacks_delivered_total") == 1, 10, "counted delivered")
    finally:
        await courier.close()
    assert await stored_keys(redis) == 0
    for (header, raw), headers in zip(receiver.signed, receiver.headers, strict=True):
        stamp = header.split(",")[0].removeprefix("t=")
        assert header == signature(SECRET, raw, timestamp=int(stamp))
        assert headers["dg-request-id"] == headers["Idempotency-Key"] == "rid-2"
    assert registry.get_sample_value(UNDELIVERED, {"kind": "callback"}) == 0


async def test_the_loop_gives_up_after_the_schedule_and_counts_it(redis, receiver):
    registry = CollectorRegistry()
    courier = a_courier(redis, registry, attempts=3)
    receiver.failing.set()
    await courier.first(a_delivery("rid-3", url=receiver.url, attempts=0), handed=lambda: None)
    await courier.start()
    try:
        await eventually(lambda: registry.get_sample_value(UNDELIVERED, {"kind": "callback"}) == 1, 30,
                         "given up")
    finally:
        await courier.close()
    assert receiver.arrivals == 3
    assert await stored_keys(redis) == 0


async def test_a_stored_delivery_to_a_host_no_longer_allowed_is_given_up_unsent(redis, receiver):
    registry = CollectorRegistry()
    stored_by = a_courier(redis, CollectorRegistry())  # a gateway (or this one before a restart) that allowed it
    receiver.failing.set()
    await stored_by.first(a_delivery("rid-5", url=receiver.url, attempts=0), handed=lambda: None)
    assert receiver.arrivals == 1 and await redis.hexists(KEYS[2], "rid-5")
    receiver.failing.clear()
    courier = a_courier(redis, registry, hosts=frozenset({"hooks.example.com"}))
    await courier.start()
    try:
        await eventually(lambda: registry.get_sample_value(UNDELIVERED, {"kind": "callback"}) == 1, 10,
                         "given up")
    finally:
        await courier.close()
        await stored_by.close()
    assert receiver.arrivals == 1  # not sent again
    assert await stored_keys(redis) == 0


async def test_a_first_attempt_cut_by_the_drain_is_handed_over_due_at_once(redis):
    registry = CollectorRegistry()
    courier = a_courier(redis, registry)
    hold = threading.Event()
    receiver = WebhookReceiver(hold=hold)
    receiver.start()
    handed = []
    try:
        first = asyncio.create_task(courier.first(a_delivery("rid-4", url=receiver.url, attempts=0),
                                                  handed=lambda: handed.append(True)))
        assert await asyncio.to_thread(receiver.wait_arrivals, 1, 30)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert handed == [True]
        claim = await courier.store.claim(lease=60)
        assert claim.request_id == "rid-4" and Delivery.decode(claim.record).attempts == 0
        assert await courier.store.ack("rid-4", claim.token)
    finally:
        hold.set()
        await courier.close()
        receiver.close()


async def test_a_drain_hands_a_claimed_attempt_in_flight_back_due_at_once(redis, monkeypatch):
    monkeypatch.setattr(courier_module, "POLL", 0.05)
    registry = CollectorRegistry()
    courier = a_courier(redis, registry)
    hold = threading.Event()
    receiver = WebhookReceiver(hold=hold)
    receiver.start()
    try:
        await courier.store.put(a_delivery("rid-5", url=receiver.url, attempts=2), wait=0)
        await courier.start()
        assert await asyncio.to_thread(receiver.wait_arrivals, 1, 30)
        await courier.drain(timeout=0.05)
        claim = await courier.store.claim(lease=60)
        assert claim.request_id == "rid-5" and Delivery.decode(claim.record).attempts == 2
        assert await courier.store.ack("rid-5", claim.token)
    finally:
        hold.set()
        await courier.close()
        receiver.close()
