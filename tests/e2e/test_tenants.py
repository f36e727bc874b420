"""Tenants on real processes: a key reads only its tenant's calls, and counts every connection it holds.

Two gateways, a VAD and an ASR worker run against one redis-server, with an API keys
file of five keys in four tenants. The calls here carry silence: what matters is who
may find a call, not what was said.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common.aio import within
from gateway.outputs.transcript_log import call_key
from gateway.policy.keyfile import key_id
from gateway.security.limits import FOLLOWERS, STATUS, claims_key

from tests.kit.support import eventually
from tests.kit.telephony import STREAM_SID, twilio_media, twilio_start

pytestmark = pytest.mark.e2e

ACME = "acme-key-1"  # tenant acme: streams (native and Twilio only) and follows
GLOBEX = "globex-key-2"  # tenant globex: at most 2 followers and 1 status socket
ASSIST = "assist-key-3"  # an agent-assist service: follows acme's calls, streams nothing
OPS = "ops-key-4"  # admin: the whole gateway's status, nothing else
GUESSER = "guess-key-5"  # guesses call ids
KEYS = f"""\
# streamscribe API keys
{ACME}    tenant=acme doors=native,twilio
{GLOBEX}  tenant=globex followers=2 status=1
{ASSIST}  tenant=assist perms=follow follow_tenants=acme
{OPS}     tenant=ops perms=admin
{GUESSER} tenant=guess
"""
FAILED_FOLLOWS = 10  # a minute, per key and per address
SILENCE_MULAW = b"\xff" * 160  # 20 ms at 8 kHz


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tenants") / "api-keys"
    path.write_text(KEYS)
    return path


@pytest.fixture(scope="module")
def stack(redis_server, stacks, keys_file):
    stack = stacks(redis_server, extra_env={"STREAMSCRIBE_GATEWAY_API_KEYS_FILE": str(keys_file),
                                            "STREAMSCRIBE_GATEWAY_MAX_FAILED_FOLLOWS": str(FAILED_FOLLOWS),
                                            "STREAMSCRIBE_GATEWAY_IDLE_TIMEOUT": "60"})
    stack.second_port = int(stack.add_gateway().split(":")[2].split("/")[0])
    return stack


@pytest.fixture
async def redis(redis_server):
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


def ws(port: int, path: str, key: str) -> str:
    return f"ws://127.0.0.1:{port}{path}{'&' if '?' in path else '?'}token={key}"


async def follow(port: int, call_id: str, key: str, *, query: str = "", source: str = "127.0.0.1",
                 until: str | None = "following") -> tuple[list[dict], int | None, str | None]:
    """Follow ``call_id`` from the address ``source``; the messages until a first of type ``until``
    (or the close), and the close code and reason (None: still open when we left)."""
    messages = []
    async with connect(ws(port, f"/ws/follow/{call_id}{query}", key), open_timeout=10,
                       local_addr=(source, 0)) as follower:
        try:
            while True:
                messages.append(json.loads(await within(follower.recv(), 30)))
                if messages[-1]["type"] == until:
                    return messages, None, None
        except ConnectionClosed:
            pass
    return messages, follower.close_code, follower.close_reason


def not_found_of(messages: list[dict], code: int | None, call_id: str) -> str:
    """The message of a not_found refusal, with the call id taken out (to compare two refusals)."""
    assert code == 1008 and len(messages) == 1, (messages, code)
    error = messages[0]
    assert (error["type"], error["code"], error["fatal"]) == ("error", "not_found", True), error
    return error["message"].replace(call_id, "ID")


@contextlib.asynccontextmanager
async def native_call(port: int, key: str):
    """A live native call of ``key``'s tenant; yields its socket and session id."""
    async with connect(ws(port, "/ws/asr", key), open_timeout=10) as call:
        await call.send(json.dumps({"type": "config", "sample_rate": 16000}))
        created = json.loads(await within(call.recv(), 30))
        assert created["type"] == "session_created", created
        await call.send(np.zeros(1600, np.float32).tobytes())
        yield call, created["session_id"]


async def twilio_call(port: int, key: str, stream_sid: str, *, frames: int = 10) -> None:
    """A whole Twilio call of silence: start, media, stop, until the gateway closes it."""
    async with connect(ws(port, "/twilio", key), open_timeout=10) as call:
        await call.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await call.send(twilio_start().replace(STREAM_SID, stream_sid))
        for chunk in range(1, frames + 1):
            for track in ("inbound", "outbound"):
                media = twilio_media(track, chunk, (chunk - 1) * 20, SILENCE_MULAW)
                await call.send(media.replace(STREAM_SID, stream_sid))
        await call.send(json.dumps({"event": "stop", "streamSid": stream_sid, "stop": {}}))
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(60):
                async for _ in call:
                    pass
    assert call.close_code == 1000, (call.close_code, call.close_reason)


async def refused_status(url: str, **options) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, open_timeout=10, **options):
            pass
    return info.value.response.status_code


def get(url: str, key: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_a_key_follows_only_its_tenants_calls(stack):
    async with native_call(stack.port, ACME) as (_, call_id):
        # Its own key, on either gateway, and the agent-assist key granted acme, find the call.
        for port, key in ((stack.port, ACME), (stack.second_port, ACME), (stack.second_port, ASSIST)):
            messages, _, _ = await follow(port, call_id, key)
            hello = messages[0]
            assert (hello["type"], hello["tenant"], hello["state"], hello["protocol"]) == (
                "following", "acme", "live", "native"), (key, hello)
        messages, _, _ = await follow(stack.port, call_id, ASSIST, query="?tenant=acme")
        assert messages[0]["tenant"] == "acme"
        # Another tenant's key is told exactly what it is told of an id that does not exist.
        unknown = uuid.uuid4().hex
        foreign = not_found_of(*(await follow(stack.port, call_id, GLOBEX))[:2], call_id)
        assert foreign == not_found_of(*(await follow(stack.port, unknown, GLOBEX))[:2], unknown)
        # ... also when it names the call's tenant.
        messages, code, _ = await follow(stack.second_port, call_id, GLOBEX, query="?tenant=acme")
        assert not_found_of(messages, code, call_id) == foreign


async def test_a_reused_streamsid_neither_reads_nor_replaces_another_tenants_call(stack, redis):
    stream_sid = "MZ" + uuid.uuid4().hex
    await twilio_call(stack.port, ACME, stream_sid)
    acme_call = await redis.hgetall(call_key("acme", stream_sid))
    assert (acme_call["tenant"], acme_call["state"]) == ("acme", "ended"), acme_call
    # globex starts a call with acme's ended streamSid: it is globex's own call, acme's stays as it was.
    messages, code, _ = await follow(stack.port, stream_sid, GLOBEX)
    assert not_found_of(messages, code, stream_sid)
    await twilio_call(stack.second_port, GLOBEX, stream_sid)
    assert (await redis.hgetall(call_key("globex", stream_sid)))["tenant"] == "globex"
    assert await redis.hgetall(call_key("acme", stream_sid)) == acme_call
    # acme itself cannot start its ended call's id over within its retention: that call runs without a log.
    mark = len(stack.gateway.lines)
    await twilio_call(stack.port, ACME, stream_sid)
    stack.gateway.wait_for_line(rf"call {stream_sid} of tenant acme: .* cannot be followed", 10, start=mark)
    assert await redis.hgetall(call_key("acme", stream_sid)) == acme_call
    # acme's follower reads acme's call to its end, nothing of globex's.
    messages, code, _ = await follow(stack.second_port, stream_sid, ACME, until=None)
    assert (messages[0]["tenant"], messages[0]["state"], code) == ("acme", "ended", 1000), messages
    assert messages[-1]["type"] == "ended" and len([m for m in messages if m["type"] == "ended"]) == 1


async def test_keys_are_held_to_their_permissions(stack):
    assert await refused_status(ws(stack.port, "/ws/asr", ASSIST)) == 403  # follows only
    assert await refused_status(ws(stack.port, "/v1/listen", ACME)) == 403  # native and Twilio only
    assert await refused_status(ws(stack.port, "/ws/follow/some-call", OPS)) == 403  # admin only


async def test_status_and_health_show_a_key_its_own_tenant(stack):
    async def watch(key: str, condition) -> dict:
        """Status messages of ``key`` until one meets ``condition``."""
        async with connect(ws(stack.port, "/ws/status", key), open_timeout=10) as watcher:
            async with asyncio.timeout(30):
                while not condition(status := json.loads(await watcher.recv())):
                    await watcher.send(json.dumps({"type": "get_status"}))
        return status

    async with native_call(stack.port, ACME):
        acme = await watch(ACME, lambda s: s["sessions"]["native"] == 1)
        assert acme["tenant"] == "acme" and acme["total_sessions"] == 1 and acme["connections"]["native"] == 1
        globex = await watch(GLOBEX, lambda s: not any(s["connections"].values()))
        assert globex["tenant"] == "globex" and globex["total_sessions"] == 0, globex
        everything = await watch(OPS, lambda s: s["sessions"]["native"] >= 1)
        assert "tenant" not in everything and set(everything["stages"]) == {"denoise", "vad", "asr"}
    extended = stack.http + "/health/extended"
    assert get(extended)[0] == 401
    status, body = get(extended, ACME)
    assert status == 403 and body["error"] == "forbidden", body
    status, body = get(extended, OPS)
    assert status == 200 and body["redis"]["ok"] and "workers" in body["stages"]["asr"], body
    assert get(stack.http + "/health")[0] == 200  # the probe stays open


async def test_followers_and_status_sockets_count_against_their_key_across_gateways(stack, redis):
    followers = claims_key(FOLLOWERS, key_id(GLOBEX))
    async with native_call(stack.port, GLOBEX) as (_, call_id):
        url = ws(stack.port, f"/ws/follow/{call_id}", GLOBEX)
        async with connect(url) as first, connect(url) as second:
            for follower in (first, second):
                assert json.loads(await follower.recv())["type"] == "following"
            assert await redis.zcard(followers) == 2
            messages, code, reason = await follow(stack.second_port, call_id, GLOBEX)
            assert (code, reason) == (1013, "overloaded"), (messages, code)
            assert "2 open follower(s), the limit (followers=2 in the API keys file)" in messages[0]["message"]
            await first.close()
            await eventually(lambda: _count(redis, followers, 1), 10, "the follower's slot given back")
            messages, _, _ = await follow(stack.second_port, call_id, GLOBEX)
            assert messages[0]["type"] == "following"
    await eventually(lambda: _count(redis, followers, 0), 10, "every follower's slot given back")

    watchers = claims_key(STATUS, key_id(GLOBEX))
    async with connect(ws(stack.port, "/ws/status", GLOBEX)) as watcher:
        assert json.loads(await watcher.recv())["type"] == "status"
        async with connect(ws(stack.second_port, "/ws/status", GLOBEX)) as another:
            error = json.loads(await within(another.recv(), 10))
            with pytest.raises(ConnectionClosed):
                await within(another.recv(), 10)
        assert error["code"] == "overloaded" and "status=1 in the API keys file" in error["message"], error
        assert another.close_code == 1013
        async with connect(ws(stack.second_port, "/ws/status", ACME)) as other_key:  # others are not affected
            assert json.loads(await other_key.recv())["type"] == "status"
    await eventually(lambda: _count(redis, watchers, 0), 10, "the status socket's slot given back")


async def _count(redis, key: str, count: int) -> bool:
    return await redis.zcard(key) == count


async def test_sighup_reloads_tenants_and_a_bad_file_keeps_them(stack, keys_file):
    new_key = "acme-key-6"
    gateway = stack.gateway
    try:
        keys_file.write_text(KEYS + f"{new_key} tenant=acme perms=follow\n")
        mark = len(gateway.lines)
        gateway.signal(signal.SIGHUP)
        gateway.wait_for_line(r"reloaded 6 API key\(s\) of 5 tenant\(s\)", 10, start=mark)
        async with native_call(stack.port, ACME) as (_, call_id):
            messages, _, _ = await follow(stack.port, call_id, new_key)  # same tenant: acme's call
            assert messages[0]["tenant"] == "acme"
            assert await refused_status(ws(stack.port, "/ws/asr", new_key)) == 403  # perms=follow

        keys_file.write_text(KEYS + f"{new_key} tenant=acme perms=follow,fly\n")
        mark = len(gateway.lines)
        gateway.signal(signal.SIGHUP)
        line = gateway.wait_for_line(r"API keys not reloaded", 10, start=mark)
        assert f"{keys_file}:7: perms may list" in line and new_key not in line, line
        async with native_call(stack.port, ACME) as (_, call_id):
            messages, _, _ = await follow(stack.port, call_id, new_key)  # the keys in use stay
            assert messages[0]["tenant"] == "acme"
    finally:
        keys_file.write_text(KEYS)
        mark = len(gateway.lines)
        gateway.signal(signal.SIGHUP)
        gateway.wait_for_line(r"reloaded 5 API key\(s\)", 10, start=mark)
    assert await refused_status(ws(stack.port, "/ws/follow/x", new_key)) == 401


async def test_failed_follows_are_limited_per_key_and_per_address(stack):
    """Guessing call ids: each key and each address gets FAILED_FOLLOWS misses a minute, then HTTP 429."""
    codes = []
    for _ in range(FAILED_FOLLOWS):
        call_id = uuid.uuid4().hex
        messages, code, _ = await follow(stack.port, call_id, GUESSER, source="127.0.0.2")
        codes.append(not_found_of(messages, code, call_id))
    assert len(set(codes)) == 1
    # The key is spent, from any address, on any gateway; so is the address, with any key.
    for port, key, source in ((stack.port, GUESSER, "127.0.0.2"), (stack.second_port, GUESSER, "127.0.0.3"),
                              (stack.second_port, GLOBEX, "127.0.0.2")):
        with pytest.raises(InvalidStatus) as info:
            await follow(port, uuid.uuid4().hex, key, source=source)
        response = info.value.response
        assert response.status_code == 429, (key, source)
        assert json.loads(bytes(response.body))["error"] == "too_many_lookups"
        assert 0 < int(response.headers["Retry-After"]) <= 60
    # Another key from another address still follows.
    call_id = uuid.uuid4().hex
    assert not_found_of(*(await follow(stack.port, call_id, GLOBEX, source="127.0.0.4"))[:2], call_id)
