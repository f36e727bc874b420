"""The pure parts of callback deliveries: the retry schedule, the stored record, what follows an attempt.

gateway/outputs/webhook.py (Schedule, Outcome) and gateway/outputs/delivery.py; the Redis
store and the courier loop run against a real Redis in tests/e2e/test_callback_store.py,
and across gateways in tests/e2e/test_prerecorded_shutdown.py.
"""

from __future__ import annotations

import json
import logging

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from common.metrics import GatewayMetrics
from gateway.outputs.courier import Courier
from gateway.outputs.delivery import VERSION, BadRecord, Delivery
from gateway.outputs.webhook import Outcome, Schedule, after


def a_delivery(**changes) -> Delivery:
    fields = dict(request_id="5f0c-rid", url="http://127.0.0.1:9/hook", method="PUT",
                  headers={"Idempotency-Key": "5f0c-rid", "dg-request-id": "5f0c-rid"},
                  body=json.dumps({"transcript": "naïve café ✓"}, ensure_ascii=False).encode(), tenant="acme",
                  attempts=2, created=1763856000.25)
    return Delivery(**{**fields, **changes})


def test_the_schedule_doubles_from_the_first_delay_up_to_the_longest():
    schedule = Schedule(attempts=8, first_delay=0.5, max_delay=30.0)
    assert [schedule.wait(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert schedule.wait(10_000) == 30.0  # no overflow however far the count went


def test_retry_after_lengthens_a_wait_but_never_past_the_longest():
    schedule = Schedule(first_delay=0.5, max_delay=30.0)
    assert schedule.wait(1, retry_after=5.0) == 5.0
    assert schedule.wait(3, retry_after=1.0) == 2.0  # shorter than the schedule's: the schedule's
    assert schedule.wait(1, retry_after=3600.0) == 30.0


def test_the_schedule_is_exhausted_at_its_last_attempt():
    schedule = Schedule(attempts=3)
    assert [schedule.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


def test_a_record_survives_its_encoding_byte_for_byte():
    delivery = a_delivery()
    assert Delivery.decode(delivery.encode()) == delivery
    assert Delivery.decode(delivery.encode().decode()) == delivery  # a client that decodes replies


def test_a_record_carries_no_secret_and_no_signature():
    stored = json.loads(a_delivery().encode())
    assert set(stored) == {"v", "request_id", "url", "method", "headers", "body", "tenant", "attempts", "created"}
    assert stored["v"] == VERSION
    assert set(stored["headers"]) == {"Idempotency-Key", "dg-request-id"}  # signed at send time, by the sender


def test_tried_counts_one_more_attempt_and_changes_nothing_else():
    delivery = a_delivery(attempts=2)
    assert delivery.tried() == a_delivery(attempts=3)


@pytest.mark.parametrize("raw", [
    b"not json", b"[]", b"{}",
    json.dumps({**json.loads(a_delivery().encode()), "v": VERSION + 1}).encode(),
    json.dumps({**json.loads(a_delivery().encode()), "method": "DELETE"}).encode(),
    json.dumps({**json.loads(a_delivery().encode()), "attempts": "many"}).encode(),
])
def test_a_record_of_another_version_or_corrupt_is_refused(raw):
    with pytest.raises(BadRecord):
        Delivery.decode(raw)


SCHEDULE = Schedule(attempts=3, first_delay=0.5, max_delay=30.0)


def test_a_delivered_attempt_is_done():
    assert after(1, Outcome(), SCHEDULE).action == "done"


def test_a_retryable_failure_waits_as_the_schedule_says_counting_every_attempt_made():
    step = after(2, Outcome("HTTP 503", retry=True, retry_after=0.0), SCHEDULE)
    assert (step.action, step.wait, step.why) == ("retry", 1.0, "HTTP 503")
    assert after(1, Outcome("HTTP 429", retry=True, retry_after=7.0), SCHEDULE).wait == 7.0


def test_the_last_attempt_gives_up():
    step = after(3, Outcome("ConnectError: refused", retry=True), SCHEDULE)
    assert step.action == "give_up" and "attempt 3 of 3" in step.why and "ConnectError" in step.why


def test_a_refusal_gives_up_at_once():
    step = after(1, Outcome("HTTP 404"), SCHEDULE)
    assert step.action == "give_up" and "HTTP 404" in step.why


async def test_a_url_httpx_refuses_is_given_up_at_once_and_counted_undelivered(caplog):
    """Issue 32: a callback URL with CR/LF made httpx raise InvalidURL (no HTTPError): the task died with
    "Task exception was never retrieved", nothing was retried and the undelivered metric stayed at 0.
    The query refuses such a URL now (tests/unit/test_prerecorded.py); a URL httpx refuses for another
    reason (a port that is no number) still gets here. No attempt reaches Redis or the network."""
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    redis = aioredis.Redis(port=9)  # never connected: a given-up first attempt stores nothing
    courier = Courier(redis, schedule=SCHEDULE, most=10, most_bytes=1 << 20, retention=60.0,
                      hosts=frozenset({"127.0.0.1"}), secret_of=lambda tenant: None, metrics=metrics,
                      undelivered=metrics.prerecorded_undelivered)
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.outputs.courier"):
            await courier.first(a_delivery(url="http://127.0.0.1:x/hook", attempts=0), handed=lambda: None)
    finally:
        await courier.close()
        await redis.aclose()
    assert registry.get_sample_value("streamscribe_gateway_prerecorded_undelivered_total", {"kind": "callback"}) == 1
    [record] = caplog.records
    assert "5f0c-rid" in record.getMessage() and "the URL cannot be sent: Invalid port" in record.getMessage()
