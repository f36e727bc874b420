"""Tenants' own finals webhooks, on real processes.

A stack whose keys file gives tenant acme a signed webhook and tenant globex an
unsigned one, and whose gateway has the operator's signed ``--finals-webhook``.
One call of each tenant speaks a clip. Each tenant's receiver must get its own
finals and never the other's; the operator's receiver gets both; every signed
delivery carries a valid signature of its body.
"""

from __future__ import annotations

import asyncio
import hmac

import pytest

from common.aio import within
from gateway.outputs.webhook import signature
from streamscribe_client import file_frames, stream

from tests.kit.webhook import receivers as webhook_receivers

pytestmark = pytest.mark.e2e

ACME, GLOBEX = "acme-hook-key", "globex-hook-key"
ACME_SECRET, OPERATOR_SECRET = "acme-signing-secret-0001", "operator-signing-secret-2"


@pytest.fixture(scope="module")
def receivers():
    with webhook_receivers("acme", "globex", "operator") as made:
        yield made


@pytest.fixture(scope="module")
def stack(redis_server, stacks, receivers, tmp_path_factory):
    folder = tmp_path_factory.mktemp("webhooks")
    keys = folder / "api-keys"
    keys.write_text(f"{ACME} tenant=acme webhook={receivers['acme'].url} webhook_secret={ACME_SECRET}\n"
                    f"{GLOBEX} tenant=globex webhook={receivers['globex'].url}\n")
    secret = folder / "webhook-secret"
    secret.write_text(OPERATOR_SECRET + "\n")
    return stacks(redis_server, extra_env={"STREAMSCRIBE_GATEWAY_API_KEYS_FILE": str(keys),
                                           "STREAMSCRIBE_GATEWAY_FINALS_WEBHOOK": receivers["operator"].url,
                                           "STREAMSCRIBE_GATEWAY_FINALS_WEBHOOK_SECRET_FILE": str(secret)})


def valid(header: str | None, raw: bytes, secret: str) -> bool:
    timestamp = int(header.split(",")[0].removeprefix("t="))
    return hmac.compare_digest(header, signature(secret.encode(), raw, timestamp=timestamp))


async def test_each_tenant_gets_its_own_finals_signed_and_the_operator_gets_all(stack, receivers, clip_samples):
    (samples, _), (other, _) = clip_samples[0], clip_samples[1]
    calls = await within(asyncio.gather(
        stream(stack.url, file_frames(samples, 16000, chunk_ms=100, speed=4.0), sample_rate=16000, api_key=ACME, timeout=90),
        stream(stack.url, file_frames(other, 16000, chunk_ms=100, speed=4.0), sample_rate=16000, api_key=GLOBEX, timeout=90)),
        120)
    finals = [{m["utterance_id"] for m in messages if m["type"] == "final"} for messages in calls]
    assert all(finals), calls
    acme, globex = finals

    operator = receivers["operator"]
    assert await asyncio.to_thread(operator.wait_for, acme | globex, 30), operator.requests
    assert await asyncio.to_thread(receivers["acme"].wait_for, acme, 30), receivers["acme"].requests
    assert await asyncio.to_thread(receivers["globex"].wait_for, globex, 30), receivers["globex"].requests

    assert {body["tenant"] for _, body in receivers["acme"].delivered()} == {"acme"}
    assert {key for key, _ in receivers["acme"].delivered()} == acme
    assert {body["tenant"] for _, body in receivers["globex"].delivered()} == {"globex"}
    assert {key for key, _ in receivers["globex"].delivered()} == globex
    assert {body["tenant"] for _, body in operator.delivered()} == {"acme", "globex"}

    assert all(valid(header, raw, ACME_SECRET) for header, raw in receivers["acme"].signed)
    assert all(valid(header, raw, OPERATOR_SECRET) for header, raw in operator.signed)
    assert [header for header, _ in receivers["globex"].signed] == [None] * len(receivers["globex"].signed)
