"""Followers: a call's transcripts on another gateway, in ``ss:finals`` and at the finals webhook.

A Twilio ``both_tracks`` call runs through the first gateway of a stack of real
processes; followers read it on a second gateway, one of them dropping its
connection after the first final and coming back with ``from_seq``. Every final
must reach each follower exactly once with its channel and party, and ``ss:finals``
and a webhook receiver (a real HTTP server on a loopback socket) once each.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import soundfile
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common import keys
from common.metrics import GatewayMetrics
from gateway.core import events
from gateway.policy.keyfile import ANONYMOUS
from gateway.outputs.transcript_log import FINALS_STREAM, call_key, finals_fields, log_key, transcript_message
from gateway.outputs.webhook import FinalsWebhook, WebhookOptions

from tests.kit.support import eventually, free_port, service, wait_for_workers
from tests.kit.webhook import WebhookReceiver
from tests.kit.telephony import mulaw_encode, twilio_media, twilio_start

from .test_telephony import RATE, paced_frames, two_party_call

TIMEOUT = 120
PARTIES = ("inbound", "outbound")
FINALS_SCHEMA = {"tenant", "call_id", "channel", "party", "session_id", "utterance_id", "text", "start_ms", "end_ms",
                 "language", "confidence", "is_speech_final", "words", "protocol", "gateway", "language_asked", "flags"}
RETENTION = 3  # seconds an ended call stays readable (short, so the test sees its keys expire)
API_KEY = "follow-test-key"


@pytest.fixture(scope="module")
def webhook():
    receiver = WebhookReceiver([503])  # the first delivery fails, so that a retry happens
    receiver.start()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def stack(redis_server, stacks, webhook):
    return stacks(redis_server, extra_env={"STREAMSCRIBE_GATEWAY_FINALS_WEBHOOK": webhook.url,
                                           "STREAMSCRIBE_GATEWAY_TRANSCRIPT_RETENTION": str(RETENTION)})


@pytest.fixture(scope="module")
def second_gateway(stack) -> int:
    """The port of a second gateway on the same Redis: it serves no call, only followers."""
    url = stack.add_gateway()
    return int(url.split(":")[2].split("/")[0])


@pytest.fixture
async def redis(redis_server):
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


async def read_follower(url: str, *, stop_after_final: bool = False, **options) -> tuple[dict, list[dict], int | None]:
    """Follow until the call ends (or, with ``stop_after_final``, leave after the first final).

    Returns the ``following`` message, the messages after it, and the close code (None: we left).
    """
    messages = []
    async with connect(url, **options) as ws:
        hello = json.loads(await ws.recv())
        try:
            async for text in ws:
                message = json.loads(text)
                messages.append(message)
                if stop_after_final and message["type"] == "final":
                    return hello, messages, None
        except ConnectionClosed:
            pass
    return hello, messages, ws.close_code


def twilio_call(clips, stream_sid: str) -> tuple[list[str], list[list[str]]]:
    """A Twilio both_tracks call of two speakers: its opening messages, and its media in pairs of 20 ms frames."""
    tracks, _ = two_party_call(clips)
    frame = RATE // 50
    frames = len(tracks) // frame
    payloads = [[mulaw_encode(tracks[i * frame:(i + 1) * frame, party]) for i in range(frames)] for party in (0, 1)]
    opening = [json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
               twilio_start().replace("MZ18ad3ab5a668481ce02b83e7395059f0", stream_sid)]
    pairs = [[twilio_media(track, i + 1, i * 20, payloads[party][i]) for party, track in enumerate(PARTIES)]
             for i in range(frames)]
    return opening, pairs


def check_final(message: dict, stream_sid: str) -> None:
    assert message["call_id"] == stream_sid
    assert message["party"] == PARTIES[message["channel"]], message
    assert message["utterance_id"] and message["text"] and message["end_ms"] > message["start_ms"], message


@pytest.mark.e2e
async def test_followers_on_another_gateway_get_every_final_once(stack, second_gateway, webhook, redis, clips):
    stream_sid = "MZ" + uuid.uuid4().hex
    opening, pairs = twilio_call(clips, stream_sid)
    follow_url = f"ws://127.0.0.1:{second_gateway}/ws/follow/{stream_sid}"
    direct = []  # what the call's own socket got
    async with connect(f"ws://127.0.0.1:{stack.port}/twilio") as call:
        for message in opening:
            await call.send(message)
        await eventually(lambda: redis.exists(call_key(ANONYMOUS, stream_sid)), 30, "the call is registered")

        async def send():
            async for pair in paced_frames(pairs, 20):
                for message in pair:
                    await call.send(message)
            await call.send(json.dumps({"event": "stop", "streamSid": stream_sid, "stop": {}}))

        async def read_call():
            try:
                async for text in call:
                    direct.append(json.loads(text))
            except ConnectionClosed:
                pass

        async with asyncio.timeout(TIMEOUT):
            sender, reader = asyncio.create_task(send()), asyncio.create_task(read_call())
            # Follower 1 leaves after its first final and comes back where it left off.
            hello, before, code = await read_follower(follow_url, stop_after_final=True)
            assert code is None and before[-1]["type"] == "final"
            assert hello.pop("first_seq") in (None, 1), hello  # None: nothing logged yet
            assert hello == {"type": "following", "call_id": stream_sid, "tenant": ANONYMOUS, "protocol": "twilio",
                             "channels": 2, "parties": list(PARTIES), "state": "live"}, hello
            resumed_url = f"{follow_url}?from_seq={before[-1]['seq'] + 1}"
            _, after, code = await read_follower(resumed_url)
            await sender
            await reader
        assert call.close_code == 1000, (call.close_code, call.close_reason, direct, stack.logs())

    assert code == 1000
    followed = before + after
    assert any(m["type"] == "final" for m in after), after  # it came back while the call went on
    seqs = [m["seq"] for m in followed]
    assert seqs == sorted(set(seqs)), seqs  # in order, none twice
    assert followed[-1]["type"] == "ended" and followed[-1]["complete"] is True, followed[-1]
    finals = [m for m in followed if m["type"] == "final"]
    direct_finals = [m for m in direct if m["event"] == "final"]
    assert len(direct_finals) >= 4, direct_finals
    # Every final exactly once, as the call's own socket got it, with channel and party.
    assert [f["utterance_id"] for f in finals] == [f["utterance_id"] for f in direct_finals]
    for final, own in zip(finals, direct_finals):
        check_final(final, stream_sid)
        assert (final["text"], final["channel"], final["party"]) == (own["text"], own["channel"], own["party"])
    for partial in (m for m in followed if m["type"] == "partial"):
        assert partial["party"] == PARTIES[partial["channel"]], partial

    # A late follower gets the finals so far (here: all of them) first, without superseded partials.
    hello, late, code = await read_follower(follow_url)
    assert (hello["state"], code) == ("ended", 1000)
    assert [m["type"] for m in late] == ["final"] * len(finals) + ["ended"]
    assert [m["seq"] for m in late[:-1]] == [f["seq"] for f in finals]
    assert late[:-1] == finals

    # ss:finals: one entry per final, with the documented schema.
    entries = [fields for _, fields in await redis.xrange(FINALS_STREAM) if fields["call_id"] == stream_sid]
    assert [e["utterance_id"] for e in entries] == [f["utterance_id"] for f in finals]
    for entry, final in zip(entries, finals):
        assert set(entry) == FINALS_SCHEMA, entry
        assert (entry["text"], int(entry["channel"]), entry["party"], entry["protocol"], entry["tenant"]) == (
            final["text"], final["channel"], final["party"], "twilio", ANONYMOUS)
        assert (int(entry["start_ms"]), int(entry["end_ms"])) == (final["start_ms"], final["end_ms"])
        assert json.loads(entry["words"]) == final.get("words", [])

    # The webhook: each final once, keyed by its utterance id, after one refused (503) first attempt.
    keys = {f["utterance_id"] for f in finals}
    assert await asyncio.to_thread(webhook.wait_for, keys, 30), webhook.requests
    delivered = [(key, body) for key, body in webhook.delivered() if body["call_id"] == stream_sid]
    assert sorted(key for key, _ in delivered) == sorted(keys)
    for key, body in delivered:
        assert body["utterance_id"] == key and body["protocol"] == "twilio" and body["type"] == "final"
        assert body["tenant"] == ANONYMOUS
        check_final(body, stream_sid)
    status, first_key, _ = webhook.requests[0]
    assert status == 503 and first_key in keys and first_key in [k for _, k, _ in webhook.requests[1:]]

    # Retention over: the call's keys expire, and following it is not_found.
    await eventually(lambda: _gone(redis, stream_sid), RETENTION + 30, "the ended call's keys expire")
    _, messages, code = await read_follower(follow_url)
    assert code == 1008 and messages == [], messages


async def _absent(redis, key: str) -> bool:
    return not await redis.exists(key)


async def _gone(redis, call_id: str) -> bool:
    return not await redis.exists(call_key(ANONYMOUS, call_id), log_key(ANONYMOUS, call_id))


@pytest.mark.e2e
async def test_unknown_call_is_not_found(stack, second_gateway):
    async with connect(f"ws://127.0.0.1:{second_gateway}/ws/follow/no-such-call") as ws:
        error = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert (error["type"], error["code"], error["fatal"]) == ("error", "not_found", True), error
    assert (ws.close_code, ws.close_reason) == (1008, "not_found")
    async with connect(f"ws://127.0.0.1:{second_gateway}/ws/follow/x?from_seq=-1") as ws:
        error = json.loads(await ws.recv())
    assert error["code"] == "bad_config", error


@pytest.mark.e2e
async def test_follow_requires_the_api_key(stack, redis_server):
    port = free_port()
    gateway = service("gateway-keyed", "gateway", "--host", "127.0.0.1", "--port", str(port),
                      env={**stack.env, "STREAMSCRIBE_GATEWAY_API_KEY": API_KEY})
    try:
        gateway.wait_for_line(r"\bready\b", 60)
        url = f"ws://127.0.0.1:{port}/ws/follow/some-call"
        with pytest.raises(InvalidStatus) as info:
            async with connect(url):
                pass
        assert info.value.response.status_code == 401
        for options in ({"additional_headers": {"Authorization": f"Bearer {API_KEY}"}}, {}):
            target = url if options else f"{url}?token={API_KEY}"
            async with connect(target, **options) as ws:
                error = json.loads(await ws.recv())
            assert error["code"] == "not_found", error  # past the key check
    finally:
        gateway.stop()


@pytest.mark.e2e
async def test_a_call_whose_gateway_dies_is_lost_to_its_followers(stack, second_gateway, redis, clips):
    """Killed mid-call, the serving gateway stops renewing the call's registration: followers are told."""
    port = free_port()
    gateway = service("gateway-doomed", "gateway", "--host", "127.0.0.1", "--port", str(port), "--session-ttl", "3",
                      env=stack.env)
    try:
        gateway.wait_for_line(r"\bready\b", 60)
        wait_for_workers(f"http://127.0.0.1:{port}", ("vad", "asr"))  # else "no live vad workers"
        samples, rate = soundfile.read(str(clips[0][0]), dtype="float32")
        async with asyncio.timeout(TIMEOUT), connect(f"ws://127.0.0.1:{port}/ws/asr") as call:
            await call.send(json.dumps({"type": "config", "sample_rate": rate}))
            created = json.loads(await call.recv())
            await call.send(samples[:rate].tobytes())  # a second of speech, and the call goes on
            follow_url = f"ws://127.0.0.1:{second_gateway}/ws/follow/{created['session_id']}"
            async with connect(follow_url) as follower:
                hello = json.loads(await follower.recv())
                assert (hello["state"], hello["protocol"]) == ("live", "native"), hello
                gateway.kill()
                messages = []
                with pytest.raises(ConnectionClosed):
                    while True:
                        messages.append(json.loads(await follower.recv()))
        assert messages[-1]["type"] == "error" and messages[-1]["code"] == "session_lost", messages
        assert follower.close_code == 1011
    finally:
        gateway.stop()
    # The dead gateway cannot delete its session's result stream, and the stages' clean-up of a
    # vanished session leaves it to its TTL (common/ownership.py forget_gone): delete it here once
    # the session's meta is gone, after which no stage writes to it.
    session = keys.SessionKeys(created["session_id"])
    await eventually(lambda: _absent(redis, session.meta), 30, "the dead gateway's session expires")
    await redis.delete(session.out)


def test_finals_entries_have_the_documented_schema():
    final = events.Final(channel=1, session_id="s1", utterance_id="s1-16000", text="hello there", start_ms=1000,
                         end_ms=1800, language="en", speech_final=True, confidence=0.912345,
                         words=(events.Word(text="hello", start_ms=1000, end_ms=1400, confidence=0.9),))
    message = transcript_message("MZ1", final, "outbound")
    assert message["party"] == "outbound" and message["confidence"] == 0.9123
    fields = finals_fields(message, tenant="acme", protocol="twilio", gateway="gw-1")
    assert set(fields) == FINALS_SCHEMA and all(isinstance(v, str) for v in fields.values())
    assert (fields["channel"], fields["is_speech_final"], fields["confidence"]) == ("1", "1", "0.9123")
    assert json.loads(fields["words"]) == [{"word": "hello", "start_ms": 1000, "end_ms": 1400, "confidence": 0.9}]
    partial = transcript_message("c", events.Partial(channel=0, session_id="s", utterance_id="u", text="he",
                                                     start_ms=0, end_ms=300, language="en"), None)
    assert partial["type"] == "partial" and partial["party"] is None and "is_speech_final" not in partial


def sample(registry: CollectorRegistry, name: str, **labels) -> float:
    return registry.get_sample_value(f"streamscribe_gateway_{name}", labels) or 0.0


@pytest.mark.parametrize("statuses, requests, result, retries", [
    ([503, 429], 3, "delivered", 2),  # retried until it went through
    ([400], 1, "failed", 0),  # refused: not sent again
    ([500, 500, 500], 3, "failed", 2),  # attempts used up
])
async def test_webhook_retries(statuses, requests, result, retries):
    receiver = WebhookReceiver(statuses)
    receiver.start()
    registry = CollectorRegistry()
    hook = FinalsWebhook(WebhookOptions(url=receiver.url, attempts=3, first_delay=0.01, drain_timeout=30),
                         metrics=GatewayMetrics(registry))
    try:
        await hook.start()
        assert hook.submit({"utterance_id": "u-1", "text": "hello"}, key="u-1", to=hook.destination)
    finally:
        await hook.close()  # waits for the delivery to finish
        receiver.close()
    assert [(key, body["text"]) for _, key, body in receiver.requests] == [("u-1", "hello")] * requests
    assert sample(registry, "webhook_deliveries_total", result=result) == 1
    assert sample(registry, "webhook_retries_total") == retries
    assert not hook.submit({"utterance_id": "u-2"}, key="u-2", to=hook.destination)  # closed
