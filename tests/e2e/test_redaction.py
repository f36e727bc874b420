"""Redaction end to end: a call that reads a card number and an SSN, through real processes.

A gateway, a VAD and an ASR worker (whisper tiny.en) against one redis-server, with an
API keys file in which one tenant forces ``pci,ssn``. The call (tests/kit/redaction.py)
says a card number in one breath, an SSN, and a second card in groups across finals; with
redaction on, the test records every command sent to Redis (``MONITOR``) while the call
runs, and reads every output it can reach: the door's messages, a follower's, the
transcript log and ``ss:finals``, the finals webhook, the workers' metrics and log tails.
Wherever text appears, no digit may remain outside a placeholder: the call says no other
number. Then the official ``deepgram-sdk``, pre-recorded and live with ``redact``, and the
refusals of bad input.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import urllib.error
import urllib.request

import msgpack
import numpy as np
import pytest
import redis.asyncio as aioredis
import soundfile
from deepgram.core.api_error import ApiError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common.aio import within
from gateway.outputs.transcript_log import FINALS_STREAM, call_key, log_key
from streamscribe_client import file_frames, stream
from tests.kit.deepgram import Listener, sdk_client
from tests.kit.faults import http_port, lease_owner, metric, replace_worker, scrape
from tests.kit.redaction import CARD_CALL, synthesise
from tests.kit.support import wait_for_workers
from tests.kit.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

TIMEOUT = 180
BANK = "bank-key-1"  # tenant bank: every call redacted for pci and ssn
OPEN = "open-key-2"  # tenant open: redaction only when asked
KEYS = f"{BANK} tenant=bank redact=pci,ssn\n{OPEN} tenant=open\n"
PLACEHOLDER = re.compile(r"\[[A-Z_]+_[0-9]+\]|\[REDACTED\]")
# The call's numbers as tiny.en writes them, with their separators (bare digit runs would match
# stream entry ids): never in any command sent to Redis, the metrics or a log.
CLEAR = re.compile(r"4,111|111,111|4, 1, 1|4-1-1|4\.1\.1|4, 2, 4|4-2-4|4\.2\.4|123-45")


def words_of(words: list[dict]) -> list[str]:
    return [w["word"] for w in words]


def leftover_digits(text: str) -> str:
    """``text`` without its placeholders, if a digit remains in it ("" otherwise)."""
    rest = PLACEHOLDER.sub("", text)
    return rest if re.search(r"\d", rest) else ""


@pytest.fixture(scope="module")
def webhook():
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def stack(redis_server, stacks, webhook, tmp_path_factory):
    path = tmp_path_factory.mktemp("redaction") / "api-keys"
    path.write_text(KEYS)
    stack = stacks(redis_server, extra_env={"STREAMSCRIBE_GATEWAY_API_KEYS_FILE": str(path),
                                            "STREAMSCRIBE_GATEWAY_FINALS_WEBHOOK": webhook.url})
    wait_for_workers(stack.http, ("vad", "asr"))
    return stack


@pytest.fixture(scope="module")
def call_audio() -> np.ndarray:
    audio, _ = synthesise(CARD_CALL, "en-us")
    return audio


@pytest.fixture
async def redis(redis_server):
    client = aioredis.from_url(redis_server.url)
    yield client
    await client.aclose()


def unescape(command: str) -> bytes:
    """A MONITOR line's command back to bytes (it escapes as redis's sdscatrepr does)."""
    escapes = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", '"': b'"', "\\": b"\\"}
    out, i = bytearray(), 0
    while i < len(command):
        ch = command[i]
        if ch == "\\" and command[i + 1:i + 2] == "x":
            out.append(int(command[i + 2:i + 4], 16))
            i += 4
        elif ch == "\\" and command[i + 1:i + 2] in escapes:
            out += escapes[command[i + 1]]
            i += 2
        else:
            out += ch.encode()
            i += 1
    return bytes(out)


def record_texts(raw: bytes) -> list[str]:
    """The text and words of every transcript record (msgpack) inside one command."""
    texts = []
    for marker in (b"\xa4text", b"\xa5words"):
        for found in re.finditer(re.escape(marker), raw):
            unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
            unpacker.feed(raw[found.end():])
            try:
                value = unpacker.unpack()
            except (ValueError, TypeError, msgpack.UnpackException):  # not a record here
                continue
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, list):
                texts += [item[0] for item in value if isinstance(item, list) and item and isinstance(item[0], str)]
    return texts


async def monitor(client: aioredis.Redis, commands: list[str], started: asyncio.Event) -> None:
    async with client.monitor() as listener:
        started.set()
        async for command in listener.listen():
            commands.append(command["command"])


async def follow(port: int, call_id: str) -> list[dict]:
    messages = []
    async with connect(f"ws://127.0.0.1:{port}/ws/follow/{call_id}?token={BANK}", open_timeout=10) as ws:
        try:
            async for text in ws:
                messages.append(json.loads(text))
        except ConnectionClosed:
            pass
    return messages


async def test_a_card_number_reaches_no_key_and_no_output(stack, redis, redis_server, webhook, call_audio):
    watcher = aioredis.from_url(redis_server.url)
    commands: list[str] = []
    started = asyncio.Event()
    monitoring = asyncio.create_task(monitor(watcher, commands, started))
    await within(started.wait(), 10)
    follower: list[asyncio.Task] = []

    def on_message(message: dict) -> None:
        if message["type"] == "session_created" and not follower:
            follower.append(asyncio.create_task(follow(stack.port, message["session_id"])))

    try:
        # No redact in the config: the tenant's keys force pci and ssn.
        messages = await stream(stack.url, file_frames(call_audio, 16000, chunk_ms=100, speed=2.0),
                                sample_rate=16000, config={"words": True}, on_message=on_message,
                                timeout=TIMEOUT, api_key=BANK)
        followed = await within(follower[0], 60)
    finally:
        monitoring.cancel()
        await asyncio.gather(monitoring, return_exceptions=True)
        await watcher.aclose()
    call_id = messages[0]["session_id"]
    finals = [m for m in messages if m["type"] == "final"]
    partials = [m for m in messages if m["type"] == "partial"]
    text = " ".join(m["text"] for m in finals)
    assert "[CREDIT_CARD_" in text and "[SSN_" in text, (text, stack.logs())
    redacted = [m for m in finals if m.get("redactions")]
    for final in redacted:  # the spans a recorder mutes, inside the final, as its words say
        for span in final["redactions"]:
            assert final["start_ms"] <= span["start_ms"] <= span["end_ms"] <= final["end_ms"], final
            assert span["placeholder"] in final["text"]
            assert any(w["word"].startswith(span["placeholder"]) for w in final["words"]), final

    outputs: dict[str, list[str]] = {
        "door": [m["text"] for m in finals + partials] + [w["word"] for m in finals for w in m["words"]],
        "follower": [text for m in followed for text in [m.get("text", ""), *words_of(m.get("words", []))]],
    }
    log = await redis.xrange(log_key("bank", call_id))
    outputs["transcript log"] = [text for _, fields in log for message in [json.loads(fields[b"m"])]
                                 for text in [message.get("text", ""), *words_of(message.get("words", []))]]
    outputs["ss:finals"] = [text for _, fields in await redis.xrange(FINALS_STREAM)
                            for text in [fields[b"text"].decode(), *words_of(json.loads(fields[b"words"]))]]
    assert len(outputs["ss:finals"]) >= len(finals)
    assert await asyncio.to_thread(webhook.wait_arrivals, len(finals), 60)  # one delivery a final
    outputs["webhook"] = [text for _, body in webhook.delivered() for text in [body["text"], *words_of(body["words"])]]
    sent = [unescape(c) for c in commands]
    outputs["redis records"] = [t for raw in sent for t in record_texts(raw)]
    assert any("[CREDIT_CARD_" in t for t in outputs["redis records"])  # the scan saw the finals go by
    for where, texts in outputs.items():
        leaks = [t for t in texts if leftover_digits(t)]
        assert not leaks, (where, leaks)
    # Every command but audio (PCM bytes may spell anything), and the metrics and logs.
    for raw in sent:
        if b"\xa3pcm" not in raw:
            assert not CLEAR.search(raw.decode("utf-8", "replace")), raw[:300]
    for worker in stack.workers["asr"]:
        metrics = scrape(http_port(worker))
        assert 'streamscribe_asr_redactions_total{entity="CREDIT_CARD"}' in metrics
        assert not CLEAR.search(metrics)
    assert not CLEAR.search(stack.logs())
    # The policy that applied is recorded with the call.
    assert (await redis.hget(call_key("bank", call_id), "redaction")) == b"tenant:pci,ssn"


def wav(audio: np.ndarray) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, audio, 16000, format="WAV", subtype="PCM_16")
    return out.getvalue()


async def test_deepgram_sdk_pre_recorded_with_redact(stack, call_audio):
    response = await sdk_client(stack.port, api_key=OPEN).listen.v1.media.transcribe_file(
        request=wav(call_audio), punctuate=True, redact=["pci", "ssn"], request_options={"timeout": TIMEOUT})
    alternative = response.results.channels[0].alternatives[0]
    assert "[CREDIT_CARD_" in alternative.transcript, alternative.transcript
    assert not leftover_digits(alternative.transcript), alternative.transcript
    assert not [w.word for w in alternative.words if leftover_digits(w.word)]


async def test_deepgram_sdk_live_with_redact(stack, call_audio):
    pcm = (np.clip(call_audio, -1, 1) * 32767).astype("<i2").tobytes()
    async with sdk_client(stack.port, api_key=OPEN).listen.v1.connect(
            model="nova-3", encoding="linear16", sample_rate=16000, interim_results="true", punctuate="true",
            redact="pci") as socket:
        listener = Listener(socket)
        step = 3200  # 100 ms
        for i in range(0, len(pcm), step):
            await socket.send_media(pcm[i:i + step])
            await asyncio.sleep(0.05)  # pacing at twice real time, as a live source
        await socket.send_close_stream()
        code, reason = await listener.wait_closed(TIMEOUT)
    assert code == 1000, (code, reason)
    finals = [r.channel.alternatives[0].transcript for r in listener.results(is_final=True)]
    interims = [r.channel.alternatives[0].transcript for r in listener.results(is_final=False)]
    assert any("[CREDIT_CARD_" in t for t in finals), finals
    # pci only: the SSN may stay; no card digit anywhere, interim results included.
    for transcript in finals + interims:
        assert not re.search(r"4,111|111,111|4111|4, 1, 1|4-1-1|4, 2, 4|4242", transcript), transcript
        assert not re.search(r"\d", PLACEHOLDER.sub("", transcript)) or "social" in transcript.lower(), transcript


@pytest.mark.parametrize("query, message", [
    ("redact=phi", "unknown redaction kind 'phi'"),
    ("redact=", "redact: an empty value"),
])
async def test_bad_redaction_is_refused(stack, query, message):
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{stack.port}/v1/listen?encoding=linear16&sample_rate=16000&{query}",
                           additional_headers={"Authorization": f"Token {OPEN}"}, open_timeout=10):
            pass
    response = info.value.response
    assert response.status_code == 400 and message in response.body.decode()
    request = urllib.request.Request(f"{stack.http}/v1/listen?{query}", data=wav(np.zeros(1600, np.float32)),
                                     headers={"Authorization": f"Token {OPEN}", "Content-Type": "audio/wav"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(urllib.request.urlopen, request, timeout=30)
    assert refused.value.code == 400 and message in refused.value.read().decode()
    with pytest.raises(ApiError) as sdk_refused:
        await sdk_client(stack.port, api_key=OPEN).listen.v1.media.transcribe_file(
            request=wav(np.zeros(1600, np.float32)), redact=query.split("=", 1)[1],
            request_options={"timeout": 30})
    assert sdk_refused.value.status_code == 400


@pytest.fixture(scope="module")
def pair(redis_server, stacks, tmp_path_factory):
    """A second stack with two more ASR workers on the same Redis (three in all, with the first
    stack's), for a kill -9 of the one that owns the call."""
    path = tmp_path_factory.mktemp("redaction-pair") / "api-keys"
    path.write_text(KEYS)
    stack = stacks(redis_server, asr_workers=2, extra_env={"STREAMSCRIBE_GATEWAY_API_KEYS_FILE": str(path)})
    wait_for_workers(stack.http, ("vad", "asr"))
    return stack


async def test_a_takeover_after_kill_9_redacts_the_same(stack, pair, call_audio):
    """The owner dies right after the first card's final, while the SSN's final (it ends in
    digits) is decoded or held: the survivor replays from the checkpoint before it and
    redacts it the same way; each final reaches the client once."""
    killed: list[tuple] = []  # (its stack, its name): any ASR worker on the Redis may own the call

    def on_message(message: dict) -> None:
        if message["type"] == "final" and "[CREDIT_CARD_" in message["text"] and not killed:
            owner = lease_owner(pair.redis.url, message["session_id"], "asr")
            home = next(s for s in (stack, pair) if any(w.name == owner for w in s.workers["asr"]))
            home.worker(owner).signal(signal.SIGKILL)
            killed.append((home, owner))

    try:
        messages = await stream(pair.url, file_frames(call_audio, 16000, chunk_ms=100, speed=1.0),
                                sample_rate=16000, config={"words": True, "redact": ["pci", "ssn"]},
                                on_message=on_message, timeout=TIMEOUT, api_key=OPEN)
        assert killed, "no final with a card number came"
        finals = [m for m in messages if m["type"] == "final"]
        ids = [m["utterance_id"] for m in finals]
        assert len(ids) == len(set(ids)), ids
        text = " ".join(m["text"] for m in finals)
        assert "[SSN_" in text, (text, pair.logs())
        leaks = [t for m in messages if m["type"] in ("final", "partial")
                 for t in [m["text"], *words_of(m.get("words", []))] if leftover_digits(t)]
        assert not leaks, leaks
        survivors = [w for s in (stack, pair) for w in s.workers["asr"] if w.name != killed[0][1]]
        assert sum(metric(scrape(http_port(w)), "streamscribe_stage_lease_takeovers_total") for w in survivors) >= 1
    finally:
        if killed:
            replace_worker(*killed[0])
