"""Redaction end to end: a call that reads a card number and an SSN, through real processes.

A gateway, a VAD and an ASR worker (whisper tiny.en) against one redis-server, with an
API keys file in which one tenant forces ``pci,ssn``. The call (tests/kit/redaction.py)
says a card number in one breath, an SSN, and a second card in groups across finals; with
redaction on, the test records every command sent to Redis (``MONITOR``) while the call
runs, and reads every output it can reach: the door's messages, a follower's, the
transcript log and ``ss:finals``, the finals webhook, the workers' metrics and log tails.
Wherever text appears, no digit may remain outside a placeholder: the call says no other
number. The same scan for the call over the Twilio door (8 kHz mu-law, the tenant's policy
the only redaction). Then the official ``deepgram-sdk``, pre-recorded and live with
``redact`` (``pci``, ``ssn``, ``numbers``), the refusals of bad input, a recording's redacted
audio (silence; a tone with a callback, whose body holds no digit) fetched by its tenant and
by no other, names with ``pii`` (the name model), and a kill -9 of the ASR worker mid-call.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import urllib.error
import urllib.request
import uuid

import msgpack
import numpy as np
import pytest
import redis.asyncio as aioredis
import soundfile
import soxr
from deepgram.core.api_error import ApiError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common.aio import within
from gateway.http import media
from gateway.outputs.transcript_log import FINALS_STREAM, call_key, log_key
from streamscribe_client import StreamClosed, file_frames, stream
from tests.e2e.test_prerecorded import post
from tests.kit.deepgram import Listener, sdk_client
from tests.kit.faults import http_port, lease_owner, metric, replace_worker, scrape
from tests.kit.redaction import CARD_CALL, CARD_WORDS_CALL, NAMES_CALL, synthesise
from tests.kit.support import converse, eventually, paced, pcm_chunks, wait_for_workers
from tests.kit.telephony import CALL_SID, STREAM_SID, AudioHookClient, mulaw_encode, twilio_media, twilio_start
from tests.kit.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

TIMEOUT = 180
BANK = "bank-key-1"  # tenant bank: every call redacted for pci and ssn
OPEN = "open-key-2"  # tenant open: redaction only when asked
# tenant audit: redacted for pci and ssn, every call analysed, with a phrase that is the card's digits
AUDIT = "audit-key-3"
KEYS = (f"{BANK} tenant=bank redact=pci,ssn\n{OPEN} tenant=open\n"
        f"{AUDIT} tenant=audit redact=pci,ssn analytics=on phrases=card+number,4111\n")
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
def callbacks():
    """The receiver of pre-recorded callbacks (the finals webhook's is another)."""
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def stack(redis_server, stacks, webhook, callbacks, tmp_path_factory):
    path = tmp_path_factory.mktemp("redaction") / "api-keys"
    path.write_text(KEYS)
    # Every service logs at DEBUG: nothing in clear at any level (websockets' frame dump included).
    stack = stacks(redis_server, extra_env={"STREAMSCRIBE_GATEWAY_API_KEYS_FILE": str(path),
                                            "STREAMSCRIBE_LOG_LEVEL": "DEBUG",
                                            "STREAMSCRIBE_GATEWAY_FINALS_WEBHOOK": webhook.url,
                                            "STREAMSCRIBE_GATEWAY_PRERECORDED_CALLBACK_HOSTS": "127.0.0.1"})
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


async def follow(port: int, call_id: str, key: str = BANK) -> list[dict]:
    messages = []
    async with connect(f"ws://127.0.0.1:{port}/ws/follow/{call_id}?token={key}", open_timeout=10) as ws:
        try:
            async for text in ws:
                messages.append(json.loads(text))
        except ConnectionClosed:
            pass
    return messages


async def watched(redis_url: str, work):
    """``work``'s result, and every command sent to Redis while it ran (``MONITOR``)."""
    watcher = aioredis.from_url(redis_url)
    commands: list[str] = []
    started = asyncio.Event()
    monitoring = asyncio.create_task(monitor(watcher, commands, started))
    try:
        await within(started.wait(), 10)
        return await work, commands
    finally:
        monitoring.cancel()
        await asyncio.gather(monitoring, return_exceptions=True)
        await watcher.aclose()


async def kept_outputs(redis, webhook, *, tenant: str, call_id: str, finals: int) -> dict[str, list[str]]:
    """The texts and words a call left in its transcript log, ``ss:finals`` and the finals webhook
    (waiting for its ``finals`` deliveries)."""
    # The log's last writes may land after the client saw the call close (finals held for redaction come
    # out with the end: CI once read 4 of a Twilio call's 7 finals); its end is written with its last finals.
    async def log_ended() -> bool:
        last = await redis.xrevrange(log_key(tenant, call_id), count=1)
        return bool(last) and json.loads(last[0][1][b"m"]).get("type") == "ended"

    await eventually(log_ended, 30, f"call {call_id}'s transcript log ends")
    outputs: dict[str, list[str]] = {}
    log = await redis.xrange(log_key(tenant, call_id))
    outputs["transcript log"] = [text for _, fields in log for message in [json.loads(fields[b"m"])]
                                 for text in [message.get("text", ""), *words_of(message.get("words", []))]]
    outputs["ss:finals"] = [text for _, fields in await redis.xrange(FINALS_STREAM)
                            if fields[b"call_id"].decode() == call_id
                            for text in [fields[b"text"].decode(), *words_of(json.loads(fields[b"words"]))]]
    assert len(outputs["ss:finals"]) >= finals
    mine = lambda: [body for _, body in webhook.delivered() if body.get("call_id") == call_id]  # noqa: E731
    assert await asyncio.to_thread(webhook.wait_until, lambda: len(mine()) >= finals, 60)
    outputs["webhook"] = [text for body in mine() for text in [body["text"], *words_of(body.get("words", []))]]
    return outputs


def assert_nothing_leaks(outputs: dict[str, list[str]], commands: list[str], stack) -> None:
    """No digit outside a placeholder in any of ``outputs`` or any transcript record sent to Redis;
    none of the call's numbers in any command (audio aside), the ASR workers' metrics or the logs."""
    sent = [unescape(c) for c in commands]
    outputs = {**outputs, "redis records": [t for raw in sent for t in record_texts(raw)]}
    assert any(PLACEHOLDER.search(t) for t in outputs["redis records"])  # the scan saw the finals go by
    for where, texts in outputs.items():
        leaks = [t for t in texts if leftover_digits(t)]
        assert not leaks, (where, leaks)
    # Every command but audio (PCM bytes may spell anything), and the metrics and logs.
    for raw in sent:
        if b"\xa3pcm" not in raw:
            assert not CLEAR.search(raw.decode("utf-8", "replace")), raw[:300]
    for worker in stack.workers["asr"]:
        metrics = scrape(http_port(worker))
        assert "streamscribe_asr_redactions_total{entity=" in metrics
        assert not CLEAR.search(metrics)
    assert not CLEAR.search(stack.logs())


async def test_a_card_number_reaches_no_key_and_no_output(stack, redis, redis_server, webhook, call_audio):
    follower: list[asyncio.Task] = []

    def on_message(message: dict) -> None:
        if message["type"] == "session_created" and not follower:
            follower.append(asyncio.create_task(follow(stack.port, message["session_id"])))

    async def call() -> tuple[list[dict], list[dict]]:
        # No redact in the config: the tenant's keys force pci and ssn.
        messages = await stream(stack.url, file_frames(call_audio, 16000, chunk_ms=100, speed=2.0),
                                sample_rate=16000, config={"words": True}, on_message=on_message,
                                timeout=TIMEOUT, api_key=BANK)
        return messages, await within(follower[0], 60)

    (messages, followed), commands = await watched(redis_server.url, call())
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
        **await kept_outputs(redis, webhook, tenant="bank", call_id=call_id, finals=len(finals)),
    }
    assert_nothing_leaks(outputs, commands, stack)
    # The policy that applied is recorded with the call.
    assert (await redis.hget(call_key("bank", call_id), "redaction")) == b"tenant:pci,ssn"


async def test_a_group_the_recogniser_writes_as_words_is_decoded_again_with_digits(stack):
    """A card read in groups after "My card number is", by espeak-ng's en-us+f3 voice: tiny.en
    writes its "eight eight eight eight." as ``A-A`` (no digit, no rule can read it: it would
    leak as words). The ASR worker's digits prompt (--redact-digits-prompt, on by default) has
    such a final of a card passage decoded again, and its number redacted."""
    audio, _ = synthesise(CARD_WORDS_CALL, "en-us+f3")
    try:
        messages = await stream(stack.url, file_frames(audio, 16000, chunk_ms=100, speed=2.0), sample_rate=16000,
                                config={"redact": ["pci"]}, timeout=TIMEOUT, api_key=OPEN)
    except StreamClosed as exc:
        raise AssertionError(f"{exc}\n{stack.logs()}") from None
    finals = [m["text"] for m in messages if m["type"] == "final"]
    # Every final but the keyword's is its group's placeholder (and punctuation) alone.
    rest = [PLACEHOLDER.sub("", text).strip(" .,") for text in finals]
    assert [r for r in rest if r and "card" not in r.lower()] == [], finals
    assert sum(bool(PLACEHOLDER.search(text)) for text in finals) >= 4, finals
    assert sum(metric(scrape(http_port(w)), "streamscribe_asr_digit_redecodes_total", kept="true")
               for w in stack.workers["asr"]) >= 1


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
        assert not re.search(r"\d", PLACEHOLDER.sub("", transcript)) or "social" in transcript.lower(), (transcript, finals)


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


async def test_a_twilio_call_of_a_tenant_that_forces_pci(stack, redis, redis_server, webhook, call_audio):
    """8 kHz mu-law through /twilio, whose client cannot ask for redaction: the keys file's
    ``redact=pci,ssn`` for the tenant applies, and no output or Redis command holds a digit."""
    pcm = mulaw_encode(soxr.resample(call_audio, 16000, 8000))
    frame = 160  # 20 ms of 8 kHz mu-law, as Twilio sends
    messages = [json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
                twilio_start(tracks=("inbound",))]
    for i in range(len(pcm) // frame):
        messages.append(twilio_media("inbound", i + 1, i * 20, pcm[i * frame:(i + 1) * frame],
                                     sequence=len(messages)))
    messages.append(json.dumps({"event": "stop", "sequenceNumber": str(len(messages)), "streamSid": STREAM_SID,
                                "stop": {"accountSid": "AC0123456789abcdef0123456789abcdef", "callSid": CALL_SID}}))
    received: list[dict] = []

    async def call() -> None:
        async with connect(f"ws://127.0.0.1:{stack.port}/twilio?token={BANK}", open_timeout=10) as ws:
            async def send() -> None:
                await ws.send(messages[0])
                async for message in paced(messages[1:], 20, speed=2.0):
                    await ws.send(message)

            await converse(ws, send, lambda text: received.append(json.loads(text)), timeout=TIMEOUT)
            assert ws.close_code == 1000, (ws.close_code, ws.close_reason, stack.logs())

    _, commands = await watched(redis_server.url, call())
    finals = [m for m in received if m["event"] == "final"]
    assert not [m for m in received if m["event"] == "error"], received
    text = " ".join(m["text"] for m in finals)
    # Over the phone line tiny.en hears the numbers less well, so their types vary (the card read
    # in one breath, heard short, just before "social security" may be typed an SSN), but each is
    # a placeholder: no digit is left (below).
    assert len(set(PLACEHOLDER.findall(text))) >= 2, (text, stack.logs())
    outputs = {"door": [t for m in received if m["event"] in ("final", "partial")
                        for t in [m["text"], *words_of(m.get("words", []))]],
               **await kept_outputs(redis, webhook, tenant="bank", call_id=STREAM_SID, finals=len(finals))}
    assert_nothing_leaks(outputs, commands, stack)
    assert (await redis.hget(call_key("bank", STREAM_SID), "redaction")) == b"tenant:pci,ssn"


# The fields of a door's or an output's JSON that hold transcript text (the analytics' matched
# "phrase" is the tenant's own, and hits on it are checked apart).
TEXT_FIELDS = frozenset({"text", "transcript", "word", "punctuated_word", "value", "snippet", "final_transcript"})


def texts_in(value: object) -> list[str]:
    """Every string under one of :data:`TEXT_FIELDS` anywhere in a JSON value."""
    if isinstance(value, dict):
        return [t for key, item in value.items()
                for t in ([item] if key in TEXT_FIELDS and isinstance(item, str) else texts_in(item))]
    if isinstance(value, list):
        return [t for item in value for t in texts_in(item)]
    return []


async def flux_call(port: int, audio: np.ndarray) -> list[dict]:
    """``audio`` through Flux (/v2/listen) with a key of tenant audit (its policy redacts): every message."""
    received: list[dict] = []
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    async with connect(f"ws://127.0.0.1:{port}/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000",
                       additional_headers={"Authorization": f"Token {AUDIT}"}, open_timeout=10) as ws:
        async def send() -> None:
            async for chunk in paced(pcm_chunks(pcm), 100, speed=2.0):
                await ws.send(chunk)
            await ws.send(json.dumps({"type": "CloseStream"}))

        await converse(ws, send, lambda text: received.append(json.loads(text)), timeout=TIMEOUT)
    return received


async def audiohook_call(port: int, audio: np.ndarray, client: AudioHookClient, opened: asyncio.Event) -> list[dict]:
    """``audio`` through Genesys AudioHook (8 kHz PCMU) with a key of tenant audit: every message."""
    received: list[dict] = []
    headers = {"Audiohook-Session-Id": client.id, "Audiohook-Organization-Id": str(uuid.uuid4()),
               "Audiohook-Correlation-Id": str(uuid.uuid4()), "X-API-KEY": AUDIT}
    mulaw = mulaw_encode(soxr.resample(audio, 16000, 8000).astype(np.float32))
    frame = 800  # 100 ms
    async with connect(f"ws://127.0.0.1:{port}/audiohook", additional_headers=headers, open_timeout=10) as ws:
        await ws.send(client.open(media=[{"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}]))
        answer = client.seen(await within(ws.recv(), 30))
        assert answer["type"] == "opened", answer
        opened.set()

        async def send() -> None:
            chunks = [mulaw[i:i + frame] for i in range(0, len(mulaw), frame)]
            async for i, chunk in paced(list(enumerate(chunks)), 100, speed=2.0):
                await ws.send(chunk)
                client.position = (i + 1) * frame / 8000
            await ws.send(client.message("close", {"reason": "end"}))

        await converse(ws, send, lambda text: received.append(client.seen(text)), timeout=TIMEOUT)
    return received


async def test_every_door_and_output_at_debug_level(stack, redis, redis_server, webhook, call_audio):
    """Issue 43 item 4, the doors and outputs the tests above do not reach, at once: a call of a
    tenant whose policy redacts pci and ssn and analyses every call (a phrase list with the card's
    ``4111``) through Flux and through AudioHook (8 kHz PCMU, followed), and a recording of it with
    ``search`` (``4111`` among the terms), analytics, utterances and paragraphs. No digit outside a
    placeholder in any message, follower, transcript log entry, ``ss:finals`` entry, webhook body,
    phrase hit or search hit, nor in any command sent to Redis; and every process, at DEBUG (the
    stack's level), logged none of the call's numbers, no API key and no frame's payload."""
    client = AudioHookClient(str(uuid.uuid4()))
    opened = asyncio.Event()

    async def followed() -> list[dict]:
        await within(opened.wait(), 60)
        return await follow(stack.port, client.id, AUDIT)

    async def recording() -> dict:
        query = "?search=card&search=4111&analytics=true&utterances=true&paragraphs=true&punctuate=true"
        status, body, _ = await asyncio.to_thread(post, stack.port, wav(call_audio), query,
                                                  headers={"Authorization": f"Token {AUDIT}"})
        assert status == 200, body
        return body

    async def calls():
        return await asyncio.gather(flux_call(stack.port, call_audio), audiohook_call(stack.port, call_audio, client,
                                                                                      opened),
                                    followed(), recording())

    (flux, audiohook, follower, recorded), commands = await watched(redis_server.url, calls())
    assert not [m for m in flux + audiohook if m.get("type") in ("Error", "error")], (flux, audiohook)
    outputs: dict[str, list[str]] = {"flux": texts_in(flux), "audiohook": texts_in(audiohook),
                                     "follower": texts_in(follower), "recording": texts_in(recorded["results"])}
    assert any(PLACEHOLDER.search(t) for t in outputs["flux"]), outputs["flux"]
    # Search and phrase spotting read the redacted words: the card's digits are never found.
    searches = {s["query"]: s["hits"] for s in recorded["results"]["channels"][0]["search"]}
    assert searches["4111"] == [], searches
    # Every final of the tenant's calls, in ss:finals and the transcript logs (analytics included),
    # and the finals webhook.
    entries = [fields for _, fields in await redis.xrange(FINALS_STREAM) if fields[b"tenant"] == b"audit"]
    calls_of = {fields[b"call_id"].decode() for fields in entries}
    assert client.id in calls_of and len(calls_of) >= 3, calls_of  # Flux, AudioHook, the recording
    outputs["ss:finals"] = [t for fields in entries
                            for t in [fields[b"text"].decode(), *words_of(json.loads(fields[b"words"]))]]
    logged = [json.loads(fields[b"m"]) for call_id in calls_of
              for _, fields in await redis.xrange(log_key("audit", call_id))]
    outputs["transcript log"] = texts_in(logged)
    phrases = [m["phrase"] for m in logged + follower if m.get("type") == "analytics" and m.get("event") == "phrase"]
    assert "card number" in phrases and "4111" not in phrases, phrases
    mine = lambda: [body for _, body in webhook.delivered() if body.get("tenant") == "audit"]  # noqa: E731
    assert await asyncio.to_thread(webhook.wait_until, lambda: len(mine()) >= len(entries), 60)
    outputs["webhook"] = texts_in(mine())
    assert_nothing_leaks(outputs, commands, stack)
    assert_logs_clear(stack)


def assert_logs_clear(stack) -> None:
    """Every line every process wrote so far (the module's calls before included), at DEBUG: none
    of the call's numbers, no API key, no frame's payload."""
    for process in stack.processes:
        log = "\n".join(process.lines)
        assert not CLEAR.search(log), (process.name, CLEAR.search(log))
        for secret in (BANK, OPEN, AUDIT, "TEXT '{"):
            assert secret not in log, (process.name, secret)
    gateway_log = "\n".join(stack.gateway.lines)
    assert "websockets.server: < TEXT [" in gateway_log and " DEBUG " in gateway_log  # the frame dump, scrubbed


async def tenant_outputs(redis, webhook, tenant: str, call_ids: set[str]) -> dict[str, list[str]]:
    """The texts ``tenant``'s calls ``call_ids`` left in ``ss:finals``, their transcript logs and the
    finals webhook (waiting for a delivery per entry)."""
    entries = [fields for _, fields in await redis.xrange(FINALS_STREAM)
               if fields[b"tenant"] == tenant.encode() and fields[b"call_id"].decode() in call_ids]
    logged = [json.loads(fields[b"m"]) for call_id in call_ids for _, fields in await redis.xrange(log_key(tenant, call_id))]
    mine = lambda: [body for _, body in webhook.delivered()  # noqa: E731
                    if body.get("tenant") == tenant and body.get("call_id") in call_ids]
    assert await asyncio.to_thread(webhook.wait_until, lambda: len(mine()) >= len(entries), 60)
    return {"ss:finals": [t for fields in entries for t in [fields[b"text"].decode(), *words_of(json.loads(fields[b"words"]))]],
            "transcript log": texts_in(logged), "webhook": texts_in(mine())}


async def rnnt_call(port: int, audio: np.ndarray, client_id: str) -> list[dict]:
    """``audio`` through the seed RNN-T door (/ws/transcribe) with a key of tenant audit: every message."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    received: list[dict] = []
    async with connect(f"ws://127.0.0.1:{port}/ws/transcribe?client_id={client_id}&token={AUDIT}",
                       open_timeout=10) as ws:
        assert json.loads(await within(ws.recv(), 30))["type"] == "connection"
        await ws.send(json.dumps({"type": "start_recording", "config": {"sample_rate": 16000, "encoding": "pcm16"}}))

        async def send() -> None:
            async for chunk in paced(pcm_chunks(pcm), 100, speed=2.0):
                await ws.send(chunk)
            await ws.send(json.dumps({"type": "stop_recording"}))

        await converse(ws, send, lambda text: received.append(json.loads(text)), timeout=TIMEOUT)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason, received)  # every result came
    return received


async def whisper_stream_call(port: int, audio: np.ndarray) -> list[dict]:
    """``audio`` through the seed whisper-streaming door (/ws/stream) with a key of tenant audit."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    received: list[dict] = []
    async with connect(f"ws://127.0.0.1:{port}/ws/stream?token={AUDIT}", open_timeout=10) as ws:
        assert json.loads(await within(ws.recv(), 30))["type"] == "ready"

        async def send() -> None:
            async for chunk in paced(pcm_chunks(pcm), 100, speed=2.0):
                await ws.send(chunk)
            await ws.send("close")

        await converse(ws, send, lambda text: received.append(json.loads(text)), timeout=TIMEOUT)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason, received)  # every result came
    return received


async def test_the_seed_doors_and_diarized_output_at_debug_level(stack, redis, redis_server, webhook, call_audio):
    """Issue 43 item 4, the older doors and diarized output: the call of a tenant whose policy
    redacts pci and ssn through /ws/transcribe (partials, transcriptions and its final transcript)
    and /ws/stream, and as a recording with ``diarize=true`` (speakers' utterances and paragraphs).
    No digit outside a placeholder in any message, ``ss:finals`` entry, transcript log entry,
    webhook body or command sent to Redis; no process logged one at DEBUG."""
    client_id = f"redact-{uuid.uuid4().hex[:8]}"

    async def recording() -> dict:
        query = "?diarize=true&utterances=true&paragraphs=true&punctuate=true"
        status, body, _ = await asyncio.to_thread(post, stack.port, wav(call_audio), query,
                                                  headers={"Authorization": f"Token {AUDIT}"})
        assert status == 200, body
        return body

    async def calls():
        return await asyncio.gather(rnnt_call(stack.port, call_audio, client_id),
                                    whisper_stream_call(stack.port, call_audio), recording())

    before = {fields[b"call_id"].decode() for _, fields in await redis.xrange(FINALS_STREAM)}
    (rnnt, streamed, recorded), commands = await watched(redis_server.url, calls())
    assert not [m for m in rnnt + streamed if m.get("type") == "error"], (rnnt, streamed)
    transcriptions = [m["text"] for m in rnnt if m["type"] == "transcription"]
    assert any(PLACEHOLDER.search(t) for t in transcriptions), f"{transcriptions}\n{stack.logs()}"
    assert any(PLACEHOLDER.search(m["text"]) for m in streamed if m["type"] == "final"), streamed
    results = recorded["results"]
    assert results["utterances"] and {w.get("speaker") for u in results["utterances"] for w in u["words"]} != {None}
    assert any(PLACEHOLDER.search(u["transcript"]) for u in results["utterances"]), results["utterances"]
    outputs: dict[str, list[str]] = {"rnnt": texts_in(rnnt), "whisper stream": texts_in(streamed),
                                     "diarized recording": texts_in(results)}
    new = {fields[b"call_id"].decode() for _, fields in await redis.xrange(FINALS_STREAM)
           if fields[b"tenant"] == b"audit"} - before
    assert len(new) >= 3, new  # the two doors' calls and the recording
    outputs.update(await tenant_outputs(redis, webhook, "audit", new))
    assert_nothing_leaks(outputs, commands, stack)
    assert_logs_clear(stack)


async def test_deepgram_sdk_pre_recorded_with_redact_numbers(stack, call_audio):
    response = await sdk_client(stack.port, api_key=OPEN).listen.v1.media.transcribe_file(
        request=wav(call_audio), punctuate=True, redact="numbers", request_options={"timeout": TIMEOUT})
    alternative = response.results.channels[0].alternatives[0]
    assert "[NUMBER_" in alternative.transcript, alternative.transcript
    assert "[CREDIT_CARD_" not in alternative.transcript  # numbers alone: every numeral, one kind
    assert not leftover_digits(alternative.transcript), alternative.transcript
    assert not [w.word for w in alternative.words if leftover_digits(w.word)]
    assert not [w.punctuated_word for w in alternative.words if leftover_digits(w.punctuated_word or "")]


async def test_deepgram_sdk_pre_recorded_with_redact_pii_names(stack):
    # pii: names by the ASR worker's name model (the names extra; loaded at this first use).
    audio, _ = synthesise(NAMES_CALL, "en-us")
    response = await sdk_client(stack.port, api_key=OPEN).listen.v1.media.transcribe_file(
        request=wav(audio), punctuate=True, redact="pii", request_options={"timeout": TIMEOUT})
    alternative = response.results.channels[0].alternatives[0]
    assert "[NAME_" in alternative.transcript, alternative.transcript
    said = " ".join([alternative.transcript] + [w.word for w in alternative.words]
                    + [w.punctuated_word or "" for w in alternative.words]).lower()
    assert not re.search(r"maria|garcia|robert|brown", said), said
    assert "bill" in said  # the rest of the sentence stays


def fetch_audio(port: int, path: str, key: str | None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Token {key}"} if key else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Content-Type"] == "audio/wav"
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check_redacted_audio(sent: bytes, redacted: bytes, meta: dict, mode: str) -> None:
    """The spans ``meta`` lists (padded) hold silence or the tone; the rest is the recording ``sent``
    as the gateway decoded it, speech included."""
    samples, rate = soundfile.read(io.BytesIO(redacted), dtype="int16", always_2d=True)
    clear = media.decode(sent, encoding=None, sample_rate=16000, channels=1, max_channels=1).pcm[:, 0]
    assert rate == 16000 and samples.shape == (len(clear), 1)
    spans = [(max(0, round((s["start"] - meta["padding"]) * rate)), round((s["end"] + meta["padding"]) * rate))
             for s in meta["spans"]]
    assert spans and {s["type"] for s in meta["spans"]} >= {"CREDIT_CARD", "SSN"}, meta
    muted = np.zeros(len(clear), bool)
    for first, last in spans:
        part = samples[first:last, 0]
        if mode == "silence":
            assert not part.any(), (first, last)
        else:
            spectrum = np.abs(np.fft.rfft(part.astype(np.float64)))
            assert np.fft.rfftfreq(len(part), 1 / rate)[spectrum.argmax()] == pytest.approx(1000, abs=5)
        assert np.abs(clear[first:last].astype(np.int32)).max() > 1000  # speech was there
        muted[first:last] = True
    kept = ~muted
    assert np.array_equal(samples[kept, 0], clear[kept]), "audio outside the spans changed"
    assert np.abs(samples[kept, 0].astype(np.int32)).max() > 1000 and kept.sum() > len(clear) // 2


async def test_redacted_audio_for_its_tenant_only(stack, call_audio):
    body = wav(call_audio)
    key = {"Authorization": f"Token {OPEN}"}
    status, response, _ = await asyncio.to_thread(post, stack.port, body, "?redact=pci&redact=ssn&redact_audio=silence",
                                                  headers=key)
    assert status == 200, response
    meta = response["metadata"]["redacted_audio"]
    request_id = response["metadata"]["request_id"]
    assert meta["path"] == f"/v1/listen/{request_id}/audio" and meta["mode"] == "silence"
    status, redacted = await asyncio.to_thread(fetch_audio, stack.port, meta["path"], OPEN)
    assert status == 200 and len(redacted) == meta["bytes"]
    check_redacted_audio(body, redacted, meta, "silence")
    # Another tenant's key finds nothing there; no key is no access.
    status, refused = await asyncio.to_thread(fetch_audio, stack.port, meta["path"], BANK)
    assert status == 404 and b"NOT_FOUND" in refused
    status, _ = await asyncio.to_thread(fetch_audio, stack.port, meta["path"], None)
    assert status == 401
    # Asked for without redaction: refused before anything runs.
    status, refused, _ = await asyncio.to_thread(post, stack.port, body, "?redact_audio=tone", headers=key)
    assert status == 400 and "redact_audio needs redaction" in refused["err_msg"], refused
    status, refused, _ = await asyncio.to_thread(post, stack.port, body, "?redact=pci&redact_audio=beep", headers=key)
    assert status == 400 and "expected silence or tone" in refused["err_msg"], refused


async def test_a_callback_of_a_redacted_recording(stack, callbacks, call_audio):
    """The tenant forces pci and ssn; the callback's body holds no clear digit, and says where the
    recording's redacted audio (a tone over each entity) is."""
    body = wav(call_audio)
    callback = await sdk_client(stack.port, api_key=BANK).listen.v1.media.transcribe_file(
        request=body, punctuate=True, callback=callbacks.url,
        request_options={"timeout": TIMEOUT, "additional_query_parameters": {"redact_audio": "tone"}})
    request_id = callback.request_id
    assert await asyncio.to_thread(callbacks.wait_for, {request_id}, TIMEOUT)
    raw = next(raw for signature, raw in callbacks.signed if request_id.encode() in raw)
    assert not CLEAR.search(raw.decode()), raw[:500]
    result = json.loads(raw)
    alternative = result["results"]["channels"][0]["alternatives"][0]
    assert "[CREDIT_CARD_" in alternative["transcript"] and "[SSN_" in alternative["transcript"], alternative
    texts = [alternative["transcript"], *[t for w in alternative["words"] for t in (w["word"], w["punctuated_word"])]]
    assert not [t for t in texts if leftover_digits(t)]
    meta = result["metadata"]["redacted_audio"]
    status, redacted = await asyncio.to_thread(fetch_audio, stack.port, meta["path"], BANK)
    assert status == 200
    check_redacted_audio(body, redacted, meta, "tone")


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
