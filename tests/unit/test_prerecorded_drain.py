"""The shutdown drain of pre-recorded requests (gateway/http/inflight.py), sans I/O.

tests/e2e/test_prerecorded_shutdown.py SIGTERMs a real gateway with requests in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from prometheus_client import CollectorRegistry

from common.metrics import GatewayMetrics
from gateway.http import prerecorded
from gateway.http.inflight import InFlight
from gateway.policy.tenant import TenantPolicy

UNDELIVERED = "streamscribe_gateway_prerecorded_undelivered_total"


@pytest.fixture
def registry():
    return CollectorRegistry()


@pytest.fixture
def inflight(registry):
    return InFlight(undelivered=GatewayMetrics(registry).prerecorded_undelivered)


def undelivered(registry, kind: str) -> float | None:
    return registry.get_sample_value(UNDELIVERED, {"kind": kind})


async def test_the_drain_waits_for_a_job_and_the_callback_it_hands_over_to(inflight, registry):
    release, callback_release = asyncio.Event(), asyncio.Event()
    callback_started = asyncio.Event()

    async def callback():
        callback_started.set()
        await callback_release.wait()

    async def request():
        await release.wait()
        # A request with a callback: its job ends once it has handed over to the callback's.
        inflight.add(asyncio.create_task(callback()), request_id="r1", kind="callback")

    inflight.add(asyncio.create_task(request()), request_id="r1", kind="response")
    drain = asyncio.create_task(inflight.drain(timeout=60))
    release.set()
    await callback_started.wait()
    assert inflight.closing and not drain.done() and len(inflight) == 1
    callback_release.set()
    assert await drain == []
    assert undelivered(registry, "response") == undelivered(registry, "callback") == 0


async def test_a_job_left_at_the_bound_is_cancelled_logged_and_counted(inflight, registry, caplog):
    never = asyncio.Event()
    job = asyncio.create_task(never.wait())
    inflight.add(job, request_id="the-request-id", kind="callback")
    with caplog.at_level(logging.WARNING, logger="gateway.http.inflight"):
        assert await inflight.drain(timeout=0.05) == ["the-request-id"]
    assert job.cancelled()
    assert undelivered(registry, "callback") == 1 and undelivered(registry, "response") == 0
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "the-request-id" in record.getMessage()
    assert "callback was not delivered" in record.getMessage()


async def test_a_callback_job_that_fails_is_logged_and_counted(inflight, registry, caplog):
    async def failing():
        raise RuntimeError("a bug")

    job = asyncio.create_task(failing())
    inflight.add(job, request_id="the-request-id", kind="callback")
    after_inflight = asyncio.Event()  # done callbacks run in the order added: InFlight's has run by then
    job.add_done_callback(lambda _: after_inflight.set())
    with caplog.at_level(logging.ERROR, logger="gateway.http.inflight"):
        await after_inflight.wait()
    assert undelivered(registry, "callback") == 1 and len(inflight) == 0
    [record] = caplog.records
    assert "the-request-id" in record.getMessage() and record.exc_info[1] is job.exception()


async def test_the_drain_of_no_job_returns_at_once(inflight):
    assert await asyncio.wait_for(inflight.drain(timeout=3600), 5) == []


def recordings(registry) -> prerecorded.Prerecorded:
    """A Prerecorded whose requests never reach the pipeline (hub and transcript log unused)."""
    return prerecorded.Prerecorded(None, options=prerecorded.PrerecordedOptions(),
                                   undelivered=GatewayMetrics(registry).prerecorded_undelivered)


async def test_a_request_during_the_drain_gets_503_and_gives_its_slot_back(registry):
    api = recordings(registry)
    await api.drain(timeout=1)
    given_back = []

    async def give_back():
        given_back.append(True)

    response = await api.serve(None, None, None, policy=TenantPolicy(), give_back=give_back)
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    body = json.loads(response.body)
    assert body["err_code"] == "UNAVAILABLE" and "restarting" in body["err_msg"]
    assert response.headers["dg-request-id"] == body["request_id"]
    assert given_back == [True]


async def test_a_synchronous_request_cut_by_the_drain_answers_503(registry, monkeypatch):
    api = recordings(registry)
    started = asyncio.Event()

    async def transcribing_forever(*args, **kwargs):
        started.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(api, "_serve", transcribing_forever)
    serving = asyncio.create_task(api.serve(None, None, None, policy=TenantPolicy(), give_back=None))
    await started.wait()
    assert len(await api.drain(timeout=0.05)) == 1
    response = await serving
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "restarted before the recording was transcribed" in json.loads(response.body)["err_msg"]
    assert undelivered(registry, "response") == 1


async def test_a_cut_job_that_handed_its_callback_over_is_logged_but_not_counted(inflight, registry, caplog):
    started = asyncio.Event()

    async def first_attempt():
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:  # as Courier.first does: stored in Redis, then the cancellation goes on
            inflight.handed_over("handed-id")
            raise

    job = asyncio.create_task(first_attempt())
    inflight.add(job, request_id="handed-id", kind="callback")
    await started.wait()
    with caplog.at_level(logging.INFO, logger="gateway.http.inflight"):
        assert await inflight.drain(timeout=0.05) == []
    assert job.cancelled()
    assert undelivered(registry, "callback") == 0
    assert any("handed-id" in r.getMessage() and "handed over" in r.getMessage() and r.levelno == logging.INFO
               for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
