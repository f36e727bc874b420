"""A tenant's analytics from its keys file, on real processes: its calls are analysed, another tenant's are not.

The keys file turns analytics on for tenant acme (with a phrase and a dead-air threshold)
and gives both tenants a finals webhook. One call of each speaks a clip without asking for
analytics. Acme's webhook gets the call's summary after its finals, globex's none; acme's
follower on a second gateway reads the events and the summary, a globex key finds no such
call there; the gateway's metrics count acme's call by tenant, and never name a call. The call's own client gets no analytics messages (it did not ask for them).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
from websockets.asyncio.client import connect

from common.aio import within
from streamscribe_client import file_frames, stream
from tests.kit.webhook import receivers as webhook_receivers

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ACME, GLOBEX = "acme-analytics-key", "globex-analytics-key"


@pytest.fixture(scope="module")
def receivers():
    with webhook_receivers("acme", "globex") as made:
        yield made


@pytest.fixture(scope="module")
def stack(redis_server, stacks, receivers, tmp_path_factory):
    keys = tmp_path_factory.mktemp("analytics") / "api-keys"
    keys.write_text(f"{ACME} tenant=acme webhook={receivers['acme'].url} analytics=on "
                    "phrases=young+man alerts=dead_air_sec:1\n"
                    f"{GLOBEX} tenant=globex webhook={receivers['globex'].url}\n")
    return stacks(redis_server, extra_env={"STREAMSCRIBE_GATEWAY_API_KEYS_FILE": str(keys)})


async def test_a_tenants_calls_are_analysed_and_only_its_own(stack, receivers, clip_samples):
    (samples, _), (other, _) = clip_samples[1], clip_samples[0]  # clip 1: "he was not an ill disposed young man"
    calls = await within(asyncio.gather(
        stream(stack.url, file_frames(samples, 16000, chunk_ms=100, speed=4.0), sample_rate=16000, api_key=ACME,
               timeout=90),
        stream(stack.url, file_frames(other, 16000, chunk_ms=100, speed=4.0), sample_rate=16000, api_key=GLOBEX,
               timeout=90)), 120)
    acme_call, globex_call = calls
    for messages in calls:
        assert [m for m in messages if m["type"] == "final"], messages
        assert not [m for m in messages if m["type"].startswith("analytics")], messages  # not asked for
    acme_id = acme_call[0]["session_id"]
    acme_finals = {m["utterance_id"] for m in acme_call if m["type"] == "final"}
    summary_key = f"{acme_id}/summary"
    assert await asyncio.to_thread(receivers["acme"].wait_for, acme_finals | {summary_key}, 30), \
        receivers["acme"].requests
    summary, = [body for key, body in receivers["acme"].delivered() if key == summary_key]
    assert summary["type"] == "analytics_summary" and summary["tenant"] == "acme" and summary["call_id"] == acme_id
    party, = summary["summary"]["parties"]
    assert party["talk_ms"] > 1500 and party["words"] >= 6
    assert [p["phrase"] for p in summary["summary"]["phrases"]["items"]] == ["young man"], acme_call
    globex_finals = {m["utterance_id"] for m in globex_call if m["type"] == "final"}
    assert await asyncio.to_thread(receivers["globex"].wait_for, globex_finals, 30)
    assert all(body["type"] == "final" for _, body in receivers["globex"].delivered())

    # Acme's follower on another gateway reads the call's analytics events and its summary, before
    # the end; a key of globex finds no such call.
    other = stack.add_gateway().removesuffix("/ws/asr")
    followed = []
    async with connect(f"{other}/ws/follow/{acme_id}",
                       additional_headers={"Authorization": f"Bearer {ACME}"}) as follower:
        assert json.loads(await follower.recv())["type"] == "following"
        async for text in follower:
            followed.append(json.loads(text))
    kinds = [m["type"] for m in followed]
    assert "analytics" in kinds and kinds[-2:] == ["analytics_summary", "ended"], kinds
    assert followed[-2]["summary"] == summary["summary"]
    async with connect(f"{other}/ws/follow/{acme_id}",
                       additional_headers={"Authorization": f"Bearer {GLOBEX}"}) as stranger:
        refusal = json.loads(await stranger.recv())
    assert refusal["type"] == "error" and refusal["code"] == "not_found", refusal

    with urllib.request.urlopen(f"{stack.http}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    analytics = [line for line in metrics.splitlines() if line.startswith("streamscribe_gateway_analytics_")]
    assert any(line.startswith('streamscribe_gateway_analytics_call_seconds_total{tenant="acme"}')
               for line in analytics)
    assert not any("globex" in line or acme_id in line for line in analytics), analytics
    assert 'streamscribe_gateway_analytics_phrases_total{tenant="acme"} 1.0' in analytics
