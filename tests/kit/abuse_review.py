"""The abuse review: every case of issue 19's findings against a private stack, as a table.

    .venv/bin/python -m bench.abuse --probes-only [--markdown]

tests/e2e/test_abuse_review.py runs every case as a test of its own, on one review stack.

Starts a gateway with an API keys file (tenants ``t1``, with two keys, and
``t2``; one key per case with its own limits) and short timers, a VAD and an
ASR worker (whisper tiny.en), and two gateways that check Twilio and AudioHook
signatures, all on one redis-server on free loopback ports; the VAD worker's
case starts a redis-server and VAD worker of its own. Each case
(:data:`CASES`) does what a finding of the review did and prints one row: the
finding's number, the case, what the server should do, PASS or FAIL, and what
it did. A case also FAILs when a process of the stack logs a traceback while it
runs. The killed client's case runs last: a session that outlives its client
keeps feeding the pipeline, and the lag it makes would refuse the cases after it.

The timers are short so that the whole review takes a few minutes (see
:func:`gateway_flags`): a config timeout of 2 s instead of 10 s, an idle timeout
of 2 s instead of 10 s (so the trickle sends a byte every 1.6 s instead of every
8 s), an audio-share window of 4 s instead of 30 s, pings every 2 s with a 2 s
timeout instead of 20 s and 20 s, and 8x real time at most instead of 4x. The
gateway offers permessage-deflate (``--permessage-deflate``), as in the review
that found 6.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import itertools
import json
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import redis.asyncio as aioredis
import soundfile
import soxr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common.aio import within
from gateway.doors.twilio import signature as twilio_signature
from gateway.outputs.transcript_log import call_key
from gateway.policy.keyfile import key_id
from gateway.security.limits import SESSION, claims_key

from tests.kit.faults import metric, scrape
from tests.kit.stack import Stack
from tests.kit.support import (ROOT, Process, RedisServer, audiohook_signature, free_port, paced, service,
                               stopped_without_redis, word_errors)
from tests.kit.telephony import STREAM_SID, AudioHookClient, twilio_media, twilio_start
from tests.kit.testdata import librivox_clips

# One key per role; t1 has two keys (a second key of a tenant follows its calls on its own limits).
K1, K1B, K2 = "review-k1", "review-k1b", "review-k2"
GUESSER, TRICKLER, PARKER, WATCHER = "review-guess", "review-trickle", "review-park", "review-watch"
PACER, PROBER = "review-pace", "review-probe"
FOLLOWERS_PER_KEY, STATUS_PER_KEY, PARKED_PER_KEY, FAILED_FOLLOWS = 2, 2, 3, 10
EXTRA = 10  # connections tried past a key's limit
KILLED_WAIT = 60  # seconds a killed client's session is given to end (the finding: 8.5 minutes and more)
TWILIO_TOKEN = "0123456789abcdef0123456789abcdef"
TWILIO_PUBLIC_URL = "wss://voice.example.com/twilio"
AUDIOHOOK_SECRET = "TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU="  # base64, as Genesys shows it

PCM16_100MS = np.zeros(1600, "<i2").tobytes()  # 100 ms of silence at 16 kHz
MULAW_100MS = b"\xff" * 800  # 100 ms of mu-law silence at 8 kHz
MIB = 1 << 20
MULAW_MIB = b"\xff" * MIB  # 131 s of mu-law silence at 8 kHz, in one frame
BIG_CHUNK = 1_000_000  # bytes of a Deepgram linear16 chunk: 62.5 s at 8 kHz
HUGE = "9" * 5000  # past Python's 4300-digit limit of int()
FORGED = "\n2099-01-01T00:00:00.000Z INFO gateway: FORGED"
TWILIO_STOP = json.dumps({"event": "stop", "streamSid": STREAM_SID, "stop": {}})


def keys_text(args) -> str:
    return "\n".join([
        "# the abuse review's API keys",
        f"{K1} tenant=t1 followers={FOLLOWERS_PER_KEY}",
        f"{K1B} tenant=t1",
        f"{K2} tenant=t2",
        f"{GUESSER} tenant=guess",
        f"{TRICKLER} tenant=trickle sessions={args.trickles}",
        f"{PARKER} tenant=park sessions={PARKED_PER_KEY}",
        f"{WATCHER} tenant=watch status={STATUS_PER_KEY}",
        f"{PACER} tenant=pace sessions=2",  # a limit: its slots are counted
        f"{PROBER} tenant=probe", ""])


def gateway_flags(args, keys_file: Path) -> dict[str, str | None]:
    """The review gateway's flags (None: a boolean flag that is on)."""
    return {"--api-keys-file": str(keys_file), "--config-timeout": f"{args.config_timeout:g}",
            "--idle-timeout": f"{args.idle_timeout:g}", "--audio-share-window": f"{args.audio_share_window:g}",
            "--ping-interval": f"{args.ping_interval:g}", "--ping-timeout": f"{args.ping_timeout:g}",
            "--max-audio-lead": "2", "--max-realtime-factor": f"{args.max_realtime_factor:g}",
            "--resume-grace": "60", "--max-failed-follows": str(FAILED_FOLLOWS), "--permessage-deflate": None}


def environment(flags: dict[str, str | None]) -> dict[str, str]:
    """The flags as the gateway's environment variables (tests.kit.stack passes settings that way)."""
    return {"STREAMSCRIBE_GATEWAY_" + flag[2:].upper().replace("-", "_"): "true" if value is None else value
            for flag, value in flags.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The review's options (its gateway's short timers, the size of its cases) on ``parser``."""
    review = parser.add_argument_group("the review stack's gateway (short timers, so that it takes minutes)")
    review.add_argument("--config-timeout", type=float, default=2.0)
    review.add_argument("--idle-timeout", type=float, default=2.0)
    review.add_argument("--audio-share-window", type=float, default=4.0)
    review.add_argument("--ping-interval", type=float, default=2.0)
    review.add_argument("--ping-timeout", type=float, default=2.0)
    review.add_argument("--max-realtime-factor", type=float, default=8.0)
    cases = parser.add_argument_group("the review's cases")
    cases.add_argument("--trickle-period", type=float, default=0.0,
                       help="seconds between a trickle's bytes (0: 0.8 x --idle-timeout, as 8 s was to 10 s)")
    cases.add_argument("--trickles", type=int, default=3, help="trickling calls, the key's sessions=")
    cases.add_argument("--parks", type=int, default=14, help="resumable calls parked one after another")
    cases.add_argument("--guesses", type=int, default=30, help="follows of guessed call ids")
    cases.add_argument("--big-chunks", type=int, default=2, help="1,000,000-byte chunks of speech")
    cases.add_argument("--only", metavar="TEXT", help="only the cases whose name contains TEXT")
    cases.add_argument("--dead-frames", type=int, default=200, help="1 MiB frames the killed client sends at most")


def arguments(*argv: str) -> argparse.Namespace:
    """The review's options as ``argv`` sets them (the defaults of :func:`add_arguments` otherwise)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


class Review:
    """The stack under review: a gateway with the keys file and short timers, a VAD and an ASR worker,
    and two gateways with a Twilio auth token and an AudioHook client secret, on one redis-server."""

    def __init__(self, args, server: RedisServer, directory: Path) -> None:
        self.args = args
        keys_file = directory / "api-keys"
        keys_file.write_text(keys_text(args))
        self.flags = gateway_flags(args, keys_file)
        secrets = {"STREAMSCRIBE_REDIS_URL": server.url, "STREAMSCRIBE_GATEWAY_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                   "STREAMSCRIBE_GATEWAY_AUDIOHOOK_CLIENT_SECRET": AUDIOHOOK_SECRET}
        self.signing: list[tuple[Process, int]] = []
        try:
            for index in range(2):  # started first, so that they boot while the stack does
                port = free_port()
                self.signing.append((service(f"signing{index}", "gateway", "--host", "127.0.0.1", "--port", str(port),
                                             "--twilio-public-url", TWILIO_PUBLIC_URL, env=secrets), port))
            self.stack = Stack(server, extra_env=environment(self.flags))
            for process, _ in self.signing:
                process.wait_for_line(r"\bready\b", 60)
        except BaseException:
            for process, _ in self.signing:
                process.stop()
            raise
        self.port = self.stack.port
        self.redis = aioredis.from_url(server.url, decode_responses=True)

    @property
    def processes(self) -> list[Process]:
        return [*self.stack.processes, *(process for process, _ in self.signing)]

    def url(self, path: str, key: str) -> str:
        """The review gateway's WebSocket URL of ``path``, with ``key``."""
        return f"ws://127.0.0.1:{self.port}{path}{'&' if '?' in path else '?'}token={key}"

    def gauge(self, name: str) -> float:
        return metric(scrape(self.port), name)

    async def slots(self, key: str) -> int:
        """The session slots ``key`` holds over every gateway."""
        return await self.redis.zcard(claims_key(SESSION, key_id(key)))

    async def until(self, condition, timeout: float, what: str) -> None:
        """Await until ``condition()`` (a coroutine function) is true; a TimeoutError naming ``what`` after it."""
        try:
            async with asyncio.timeout(timeout):
                while not await condition():
                    await asyncio.sleep(0.05)  # the polling interval of a bounded wait
        except TimeoutError:
            raise TimeoutError(f"{what}: not within {timeout:g} s") from None

    async def registered(self, tenant: str, call_id: str, state: str = "live") -> None:
        """Until the registry says the call is in ``state`` (a call is followable once it is registered)."""
        async def there():
            return await self.redis.hget(call_key(tenant, call_id), "state") == state
        await self.until(there, 30, f"call {call_id[:12]} of {tenant} {state}")

    async def close(self) -> None:
        await self.redis.aclose()
        self.stack.close()
        for process, _ in self.signing:
            process.stop()


class Observed(NamedTuple):
    text: str
    ok: bool


@dataclass(frozen=True)
class Case:
    finding: int
    name: str
    expected: str
    run: Callable[[Review], Awaitable[str | Observed]]  # a str passes when it equals ``expected``
    timeout: float = 60
    last: bool = False  # run after the others: if it fails, what it leaves behind would fail them


# -- clients --------------------------------------------------------------------------------------------------


async def until_closed(websocket, timeout: float = 60) -> tuple[list[dict], int | None]:
    """The JSON messages left on ``websocket`` until the server closes it, and the close code."""
    messages = []
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(timeout):
            async for raw in websocket:
                if isinstance(raw, str):
                    messages.append(json.loads(raw))
    return messages, websocket.close_code


async def feed(websocket, frames, interval: float) -> None:
    """Send ``frames`` ``interval`` seconds apart (the client's own pace) until cancelled or closed."""
    with contextlib.suppress(ConnectionClosed):
        async for frame in paced(frames, interval * 1000):
            await websocket.send(frame)


@contextlib.asynccontextmanager
async def fed(websocket, frames, interval: float = 0.1):
    """:func:`feed` while the block runs; by default 100 ms of audio a frame, at real time."""
    feeder = asyncio.create_task(feed(websocket, frames, interval))
    try:
        yield
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)


@contextlib.asynccontextmanager
async def native_call(review: Review, key: str):
    """A native call of ``key`` fed silence at real time, registered; yields its call id."""
    async with connect(review.url("/ws/asr", key), open_timeout=10) as websocket:
        await websocket.send(json.dumps({"type": "config", "encoding": "pcm16"}))
        created = json.loads(await within(websocket.recv(), 30))
        if created["type"] != "session_created":
            raise RuntimeError(f"the call was refused: {created.get('code')}")
        async with fed(websocket, itertools.repeat(PCM16_100MS)):
            yield created["session_id"]
        with contextlib.suppress(ConnectionClosed):
            await websocket.send(json.dumps({"type": "close"}))
        await until_closed(websocket)


@contextlib.asynccontextmanager
async def twilio_call(review: Review, key: str, stream_sid: str):
    """A Twilio call (one inbound track of silence) with ``stream_sid``, live until the block ends."""
    async with connect(review.url("/twilio", key), open_timeout=10) as websocket:
        await websocket.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await websocket.send(twilio_start(["inbound"]).replace(STREAM_SID, stream_sid))
        media = (twilio_media("inbound", n, (n - 1) * 100, MULAW_100MS).replace(STREAM_SID, stream_sid)
                 for n in itertools.count(1))
        async with fed(websocket, media):
            yield
        with contextlib.suppress(ConnectionClosed):
            await websocket.send(TWILIO_STOP.replace(STREAM_SID, stream_sid))
        await until_closed(websocket)


async def follow(review: Review, call_id: str, key: str, *, source: str = "127.0.0.1", to_end: bool = False) -> str:
    """What a follow got: ``following TENANT STATE`` (with ``to_end``: and how it ended), ``CODE CLOSE``
    for a refusal after the handshake, or ``HTTP STATUS`` for one at it."""
    try:
        async with connect(review.url(f"/ws/follow/{call_id}", key), open_timeout=10,
                           local_addr=(source, 0)) as follower:
            first = json.loads(await within(follower.recv(), 30))
            if first["type"] != "following":
                await until_closed(follower)
                return f"{first.get('code')} {follower.close_code}"
            said = f"following {first['tenant']} {first['state']}"
            if not to_end:
                return said
            messages, code = await until_closed(follower)
            return f"{said}, then {tally([message['type'] for message in messages])}, close {code}"
    except InvalidStatus as exc:
        return f"HTTP {exc.response.status_code}"


def error_codes(messages: list[dict]) -> list[str]:
    """Each door's error messages, as their codes."""
    codes = []
    for message in messages:
        kind = message.get("type", message.get("event"))
        if kind in ("error", "Error", "Warning"):
            codes.append(str(message.get("code")).lower())
        elif kind == "disconnect":
            codes.append("disconnect: " + message["parameters"].get("info", "").split(":")[0])
    return codes


def tally(outcomes: Sequence[str | None]) -> str:
    """``3x a, 2x b`` in order of first appearance."""
    return ", ".join(f"{n}x {outcome}" for outcome, n in Counter(outcomes).items())


# -- 1. tenants -----------------------------------------------------------------------------------------------


async def follow_native(review: Review) -> Observed:
    async with native_call(review, K1) as call_id:
        await review.registered("t1", call_id)
        own = await follow(review, call_id, K1)
        other = await follow(review, call_id, K2)
        unknown = await follow(review, uuid.uuid4().hex, K2)
    return Observed(f"k2: {other}; unknown id: {unknown}; k1: {own}",
                    other == unknown == "not_found 1008" and own == "following t1 live")


async def follow_twilio(review: Review) -> Observed:
    stream_sid = "MZ" + uuid.uuid4().hex
    async with twilio_call(review, K1, stream_sid):
        await review.registered("t1", stream_sid)
        own = await follow(review, stream_sid, K1)
        other = await follow(review, stream_sid, K2)
    return Observed(f"k2: {other}; k1: {own}", other == "not_found 1008" and own == "following t1 live")


async def reused_stream_sid(review: Review) -> str:
    """k1's Twilio call ends; k2 starts one with the same streamSid; k1 follows it."""
    stream_sid = "MZ" + uuid.uuid4().hex
    async with twilio_call(review, K1, stream_sid):
        await review.registered("t1", stream_sid)
    await review.registered("t1", stream_sid, "ended")
    before = await review.redis.hgetall(call_key("t1", stream_sid))
    async with twilio_call(review, K2, stream_sid):
        await review.registered("t2", stream_sid)
        k1 = await follow(review, stream_sid, K1, to_end=True)
        k2 = await follow(review, stream_sid, K2)
    kept = await review.redis.hgetall(call_key("t1", stream_sid)) == before
    return f"k1: {k1}; k2: {k2}; t1's log {'unchanged' if kept else 'CHANGED'}"


async def guessed_ids(review: Review) -> Observed:
    guesses = review.args.guesses
    started = time.monotonic()
    outcomes = [await follow(review, uuid.uuid4().hex, GUESSER, source="127.0.0.2") for _ in range(guesses)]
    rate = guesses / (time.monotonic() - started)
    expected = ["not_found 1008"] * FAILED_FOLLOWS + ["HTTP 429"] * (guesses - FAILED_FOLLOWS)
    return Observed(f"{tally(outcomes)} ({rate:.0f}/s)", outcomes == expected)


# -- 2. a trickle is not audio --------------------------------------------------------------------------------


async def open_native(review: Review, key: str, **config) -> tuple[ClientConnection, dict]:
    """A native connection of ``key`` that sent its config, and the server's first answer."""
    websocket = await connect(review.url("/ws/asr", key), open_timeout=10)
    await websocket.send(json.dumps({"type": "config", **config}))
    return websocket, json.loads(await within(websocket.recv(), 30))


async def close_native(websocket) -> int | None:
    with contextlib.suppress(ConnectionClosed):
        await websocket.send(json.dumps({"type": "close"}))
    return (await until_closed(websocket))[1]


async def trickle(review: Review) -> Observed:
    args = review.args
    period = args.trickle_period or 0.8 * args.idle_timeout

    async def one() -> tuple[str, float]:
        websocket, created = await open_native(review, TRICKLER, encoding="mulaw", sample_rate=8000)
        if created["type"] != "session_created":
            await until_closed(websocket)
            return f"refused {created.get('code')}", 0.0
        opened = time.monotonic()
        async with fed(websocket, itertools.repeat(b"\xff"), period):
            messages, code = await until_closed(websocket, args.audio_share_window + 30)
        errors = [m["code"] for m in messages if m["type"] == "error"]
        return f"{errors[-1] if errors else 'no error'} {code}", time.monotonic() - opened

    ended = await asyncio.gather(*(one() for _ in range(args.trickles)))
    outcomes, lasted = [outcome for outcome, _ in ended], [seconds for _, seconds in ended]

    async def freed():
        return await review.slots(TRICKLER) == 0
    await review.until(freed, 15, "the trickles' slots given back")
    again, created = await open_native(review, TRICKLER, encoding="mulaw", sample_rate=8000)
    await close_native(again)
    window = args.audio_share_window
    return Observed(f"{tally(outcomes)} after {min(lasted):.1f}-{max(lasted):.1f} s; then {created['type']}",
                    outcomes == ["idle_timeout 1011"] * args.trickles and created["type"] == "session_created"
                    and window - 0.5 <= min(lasted) and max(lasted) <= window + args.idle_timeout + 5)


# -- 3. parked calls count ------------------------------------------------------------------------------------


async def parked(review: Review) -> Observed:
    """Open a resumable call, send 0.1 s of audio, abort the socket; again and again (one socket at a time)."""
    calls, refused = [], []
    for _ in range(review.args.parks):
        websocket, first = await open_native(review, PARKER, encoding="pcm16", resumable=True)
        if first["type"] == "session_created":
            await websocket.send(PCM16_100MS)
            websocket.transport.abort()
            calls.append(first["session_id"])
        else:
            _, code = await until_closed(websocket)
            refused.append(f"{first.get('code')} {code}")
    held = await review.slots(PARKER)
    other, created = await open_native(review, K2, encoding="pcm16")
    await close_native(other)
    resumed = 0
    for call_id in calls:  # the key's client, at its limit, still resumes its calls
        websocket = await connect(review.url("/ws/asr", PARKER), open_timeout=10)
        await websocket.send(json.dumps({"type": "config", "resume": {"session_id": call_id, "last_seq": 0}}))
        await websocket.send(json.dumps({"type": "close"}))
        messages, code = await until_closed(websocket)
        resumed += any(m["type"] == "session_resumed" for m in messages) and code == 1000
    text = (f"{len(calls)} parked ({held} slots held), {tally(refused) or 'none refused'}; "
            f"other key: {created['type']}; {resumed} resumed")
    return Observed(text, len(calls) == held == PARKED_PER_KEY and created["type"] == "session_created"
                    and refused == ["overloaded 1013"] * (review.args.parks - PARKED_PER_KEY)
                    and resumed == PARKED_PER_KEY)


# -- 4. every connection counts -------------------------------------------------------------------------------


async def first_is(websocket, kind: str) -> None:
    """The server's first message on a socket held open is ``kind``; else the case stops here."""
    first = json.loads(await within(websocket.recv(), 30))
    if first["type"] != kind:
        raise RuntimeError(f"{kind} refused: {first.get('code')}")


async def status_once(review: Review, key: str) -> str:
    """``status``, or the refusal's code and close code."""
    async with connect(review.url("/ws/status", key), open_timeout=10) as watcher:
        first = json.loads(await within(watcher.recv(), 30))
        if first["type"] == "status":
            return "status"
        await until_closed(watcher)
        return f"{first.get('code')} {watcher.close_code}"


async def status_sockets(review: Review) -> Observed:
    async with contextlib.AsyncExitStack() as held:
        for _ in range(STATUS_PER_KEY):
            await first_is(await held.enter_async_context(
                connect(review.url("/ws/status", WATCHER), open_timeout=10)), "status")
        extra = [await status_once(review, WATCHER) for _ in range(EXTRA)]
        other = await status_once(review, PROBER)
    return Observed(f"{STATUS_PER_KEY} open; {EXTRA} more: {tally(extra)}; another key: {other}",
                    extra == ["overloaded 1013"] * EXTRA and other == "status")


async def followers(review: Review) -> Observed:
    async with native_call(review, K1B) as call_id, contextlib.AsyncExitStack() as held:
        await review.registered("t1", call_id)
        for _ in range(FOLLOWERS_PER_KEY):
            await first_is(await held.enter_async_context(
                connect(review.url(f"/ws/follow/{call_id}", K1), open_timeout=10)), "following")
        extra = [await follow(review, call_id, K1) for _ in range(EXTRA)]
        other = await follow(review, call_id, K1B)
    return Observed(f"{FOLLOWERS_PER_KEY} open; {EXTRA} more: {tally(extra)}; t1's other key: {other}",
                    extra == ["overloaded 1013"] * EXTRA and other == "following t1 live")


def pre_call(path: str, message: dict):
    """A connection that sends ``message`` eight times per config timeout and never opens its call."""
    async def run(review: Review) -> Observed:
        deadline = review.args.config_timeout
        async with connect(review.url(path, PROBER), open_timeout=10) as websocket:
            opened = time.monotonic()
            async with fed(websocket, itertools.repeat(json.dumps(message)), deadline / 8):
                messages, code = await until_closed(websocket, deadline + 30)
            lasted = time.monotonic() - opened
        said = ", ".join([*error_codes(messages), *filter(None, [websocket.close_reason])])
        return Observed(f"closed {code} after {lasted:.1f} s" + (f" ({said})" if said else ""),
                        deadline - 0.5 <= lasted <= deadline + 3 and code is not None)
    return run


# -- 5. pacing is not idle ------------------------------------------------------------------------------------


def speech_8k(chunks: int) -> tuple[bytes, str]:
    """``chunks`` chunks of BIG_CHUNK bytes, each the LibriVox clips (1 s apart) at 8 kHz, then silence;
    and their transcript."""
    parts, references = [], []
    for path, reference in librivox_clips():
        samples, rate = soundfile.read(str(path), dtype="float32")
        parts += [np.zeros(8000, np.float32), soxr.resample(samples, rate, 8000, quality="HQ")]
        references.append(reference)
    pcm = (np.clip(np.concatenate(parts) * 32768, -32768, 32767).astype("<i2")).tobytes()
    assert len(pcm) < BIG_CHUNK
    chunk = pcm + bytes(BIG_CHUNK - len(pcm))
    return chunk * chunks, " ".join(references * chunks)


async def big_chunks(review: Review) -> Observed:
    chunks = review.args.big_chunks
    audio, reference = await asyncio.to_thread(speech_8k, chunks)
    paced_before = review.gauge("streamscribe_gateway_paced_seconds_total")
    async with connect(review.url("/v1/listen?encoding=linear16&sample_rate=8000", PACER), open_timeout=10,
                       max_size=None) as websocket:
        for start in range(0, len(audio), BIG_CHUNK):
            await websocket.send(audio[start:start + BIG_CHUNK])
        await websocket.send(json.dumps({"type": "CloseStream"}))
        messages, code = await until_closed(websocket, 300)
    paced_for = review.gauge("streamscribe_gateway_paced_seconds_total") - paced_before
    finals = [m for m in messages if m.get("type") == "Results" and m.get("is_final")]
    errors = [m.get("code") for m in messages if m.get("type") == "Error"]
    text = " ".join(m["channel"]["alternatives"][0]["transcript"] for m in finals)
    wrong, words = word_errors(reference, text)
    last = messages[-1]["type"] if messages else "nothing"
    return Observed(f"{len(finals)} finals, WER {wrong / words:.0%}, {tally(errors) or 'no error'}, {last} last, "
                    f"close {code}; paced {paced_for:.0f} s",
                    code == 1000 and last == "Metadata" and not errors and wrong / words <= 0.25
                    and paced_for > 2 * review.args.idle_timeout)


async def big_frame(review: Review) -> Observed:
    paced_before = review.gauge("streamscribe_gateway_paced_seconds_total")
    websocket, created = await open_native(review, PACER, encoding="mulaw", sample_rate=8000)
    await websocket.send(MULAW_MIB)
    await websocket.send(json.dumps({"type": "close"}))
    messages, code = await until_closed(websocket, 300)
    paced_for = review.gauge("streamscribe_gateway_paced_seconds_total") - paced_before
    errors = [m["code"] for m in messages if m["type"] == "error"]
    return Observed(f"{created['type']}, {tally(errors) or 'no error'}, close {code}; paced {paced_for:.0f} s",
                    created["type"] == "session_created" and not errors and code == 1000
                    and paced_for > 2 * review.args.idle_timeout)


# -- 6. a dead client is noticed while paced ------------------------------------------------------------------


def readyz(http: str) -> int:
    """The gateway's /readyz status (503 while it refuses new sessions)."""
    try:
        with urllib.request.urlopen(http + "/readyz", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


async def killed_client(review: Review) -> Observed:
    """1 MiB mu-law frames of silence, deflated to about 1 KB each, until the gateway paces; then the
    client goes as a killed process does, its frames unread."""
    args = review.args
    websocket = await connect(review.url("/ws/asr", PACER), open_timeout=10, compression="deflate", max_size=None)
    assert websocket.response is not None  # the handshake's
    negotiated = websocket.response.headers.get("Sec-WebSocket-Extensions") or "none"
    await websocket.send(json.dumps({"type": "config", "encoding": "mulaw", "sample_rate": 8000}))
    created = json.loads(await within(websocket.recv(), 30))
    paced_before = review.gauge("streamscribe_gateway_paced_seconds_total")
    sent = 0

    async def flood():
        nonlocal sent
        with contextlib.suppress(ConnectionClosed):
            for _ in range(args.dead_frames):
                await websocket.send(MULAW_MIB)
                sent += 1

    flooding = asyncio.create_task(flood())
    try:
        async def pacing():
            return await asyncio.to_thread(review.gauge, "streamscribe_gateway_paced_seconds_total") > paced_before
        await review.until(pacing, 30, "the gateway pacing the call")
        held = await review.slots(PACER)
        websocket.transport.abort()  # gone with its frames unsent and unread, as a killed client
        killed = time.monotonic()
    finally:
        flooding.cancel()
        await asyncio.gather(flooding, return_exceptions=True)

    async def ended():
        return await review.slots(PACER) == 0
    bound = args.ping_interval + args.ping_timeout
    try:
        await review.until(ended, KILLED_WAIT, "the session's end")
    except TimeoutError:
        ready = await asyncio.to_thread(readyz, review.stack.http)
        freed = f"still held {KILLED_WAIT} s after the kill, /readyz {ready}"
        ok = False
    else:
        after = time.monotonic() - killed
        freed = f"freed {after:.1f} s after the kill"
        ok = after <= bound + 3
    hours = sent * MIB / 8000 / 3600
    return Observed(f"{created['type']}, {negotiated.split(';')[0]}, {sent} frames sent ({hours:.1f} h of audio); "
                    f"slot {freed}", ok and created["type"] == "session_created" and held == 1
                    and negotiated.startswith("permessage-deflate"))


# -- 7. numbers, targets and bodies ---------------------------------------------------------------------------


# door: (path of the call, messages that open it, a message with %s for a number, messages that end it)
JSON_DOORS = {
    "native": ("/ws/asr", ['{"type": "config"}'], '{"type": "keepalive", "n": %s}', ['{"type": "close"}']),
    "deepgram": ("/v1/listen?encoding=mulaw&sample_rate=8000", [], '{"type": "KeepAlive", "n": %s}',
                 ['{"type": "CloseStream"}']),
    "flux": ("/v2/listen?encoding=mulaw&sample_rate=8000", [], '{"type": "KeepAlive", "n": %s}',
             ['{"type": "CloseStream"}']),
    "twilio": ("/twilio", [twilio_start(["inbound"])],
               '{"event": "mark", "streamSid": "%s", "mark": {"name": %%s}}' % STREAM_SID, [TWILIO_STOP]),
    "rnnt": ("/ws/transcribe", ['{"type": "start_recording"}'], '{"type": "ping", "n": [%s]}',
             ['{"type": "stop_recording"}']),
}


def number_on(door: str, *, after: bool, message: str | None = None):
    """A 5000-digit number in ``message`` (else the door's own with a number in it), before the call
    opens (the door's error; the connection may end, not with 1011), or after (the door's non-fatal
    error, and the call ends normally)."""
    path, opening, usual, ending = JSON_DOORS[door]
    if not after:
        path = path.split("?")[0]  # Deepgram and Flux without an encoding wait for a container header

    async def run(review: Review) -> Observed:
        async with connect(review.url(path, PROBER), open_timeout=10) as websocket:
            for text in [*(opening if after else []), (message or usual) % HUGE, *(ending if after else [])]:
                await websocket.send(text)
            messages, code = await until_closed(websocket)
        codes = error_codes(messages)
        ok = codes == ["bad_json"] and code == 1000 if after else codes[:1] == ["bad_json"] and code != 1011
        return Observed(f"{', '.join(codes) or 'no error'}, close {code}", ok)
    return run


async def audiohook(review: Review, bad: Callable[[AudioHookClient], str], *, opened: bool = True,
                    answered: bool = True) -> str:
    """AudioHook's answers to ``bad(client)`` (after open, or as the first message; ``answered``: the
    client waits for the answer, as Genesys does) and to the client's close that follows it, and the
    close code."""
    client = AudioHookClient(str(uuid.uuid4()))
    async with connect(review.url("/audiohook", PROBER), open_timeout=10,
                       additional_headers={"Audiohook-Session-Id": client.id}) as websocket:
        if opened:
            await websocket.send(client.open())
            client.seen(await within(websocket.recv(), 30))
        await websocket.send(bad(client))
        messages = [json.loads(await within(websocket.recv(), 10))] if answered else []
        if opened:
            await websocket.send(client.message("close"))
        rest, code = await until_closed(websocket)
        messages += rest
    kinds = [message["type"] if message["type"] != "disconnect" else error_codes([message])[0]
             for message in messages]
    return f"{', '.join(kinds)}, close {code}"


async def audiohook_number(review: Review, *, after: bool) -> Observed:
    if after:
        result = await audiohook(review, lambda client: client.message(
            "error", {"code": 1, "message": "x"}).replace('"code": 1', f'"code": {HUGE}'))
    else:
        result = await audiohook(review, lambda client: client.open().replace('"seq": 1', f'"seq": {HUGE}'),
                                 opened=False)
    return Observed(result, result.startswith("disconnect: bad_json") and "close 1011" not in result)


async def native_after_config(review: Review, message: str) -> str:
    """The reply to ``message`` after a config, then how the call ends after a close."""
    websocket, _ = await open_native(review, PROBER)
    await websocket.send(message)
    reply = json.loads(await within(websocket.recv(), 10))
    code = await close_native(websocket)
    return f"{reply.get('code')} fatal={reply.get('fatal')}, then close {code}"


async def twilio_errors(review: Review, media: dict) -> str:
    """Twilio's error events for one malformed media message, and how the stream ended."""
    message = json.loads(twilio_media("inbound", 1, 0, MULAW_100MS[:160]))
    message["media"].update(media)
    async with connect(review.url("/twilio", PROBER), open_timeout=10) as websocket:
        for text in (twilio_start(["inbound"]), json.dumps(message), twilio_media("inbound", 2, 20, MULAW_100MS[:160]),
                     TWILIO_STOP):
            await websocket.send(text)
        messages, code = await until_closed(websocket)
    return f"{', '.join(error_codes(messages)) or 'no error'}, close {code}"


async def http_status(review: Review, request: bytes, *, port: int | None = None) -> str:
    """The status a raw HTTP request got (``NNN Reason``), or how the connection ended."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port or review.port)
    try:
        writer.write(request)
        await writer.drain()
        line = await within(reader.readline(), 10)
        return line.decode(errors="replace").strip().removeprefix("HTTP/1.1 ") or "dropped, no response"
    except (ConnectionError, TimeoutError) as exc:
        return type(exc).__name__
    finally:
        writer.close()


UPGRADE = (b"Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer " + PROBER.encode() + b"\r\n")


def raw(request: bytes):
    return lambda review: http_status(review, request)


# -- 8. logs --------------------------------------------------------------------------------------------------


async def logged(review: Review, send: Callable[[], Awaitable], marker: str) -> list[str]:
    """The gateway's log lines with ``marker`` written while ``send()`` ran (and the call it made ended)."""
    gateway = review.stack.gateway
    mark = len(gateway.lines)
    await send()
    # The gateway's stderr is read by a thread: wait for the line itself (bounded), not for a while.
    await asyncio.to_thread(gateway.wait_for_line, marker, 10, start=mark)
    return [line for line in gateway.lines[mark:] if marker in line]


async def forged_line(review: Review) -> Observed:
    report = {"code": 500, "message": "boom" + FORGED}
    mark = len(review.stack.gateway.lines)
    lines = await logged(review, lambda: audiohook(review, lambda client: client.message("error", report),
                                                   answered=False), "client error 500")
    forged = [line for line in review.stack.gateway.lines[mark:] if line.startswith("2099-01-01")]
    return Observed(f"{len(lines)} line(s) of the report, {len(forged)} forged", len(lines) == 1 and not forged)


async def long_stream_sid(review: Review) -> Observed:
    sid = "MZ" + "z" * 30_000

    async def send():
        async with connect(review.url("/twilio", PROBER), open_timeout=10, max_size=None) as websocket:
            await websocket.send(twilio_start(["inbound"]).replace(STREAM_SID, sid))
            await websocket.send(TWILIO_STOP.replace(STREAM_SID, sid))
            await until_closed(websocket)

    lines = await logged(review, send, "MZzzz")
    cut = max(len(match) for line in lines for match in re.findall(r"MZz*(?:\.\.\.\(\d+ chars\))?", line))
    longest = max(map(len, lines))
    return Observed(f"{len(lines)} line(s) with it: the sid in {cut} chars, the line {longest}",
                    cut <= 200 and longest <= 400)


# -- 9. secrets and binds -------------------------------------------------------------------------------------


async def secret_on_command_line(review: Review) -> Observed:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "gateway", "--api-key", "hunter2-key",
                                                   cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        _, stderr = await within(process.communicate(), 60)
    finally:
        if process.returncode is None:  # it started serving: ours to end
            process.kill()
            await process.wait()
    said = stderr.decode(errors="replace").strip()
    last = said.splitlines()[-1] if said else ""
    return Observed(f"exit {process.returncode}: {last}",
                    process.returncode == 2 and "STREAMSCRIBE_GATEWAY_API_KEY" in said
                    and "hunter2-key" not in said and "Traceback" not in said)


async def reachable(host: str, port: int) -> bool:
    try:
        _, writer = await within(asyncio.open_connection(host, port), 5)
    except OSError:
        return False
    writer.close()
    return True


async def worker_binds(review: Review) -> Observed:
    """Each worker's HTTP address as it logs it; reachable on 127.0.0.1 and not on 127.0.0.2 (a wildcard
    bind would answer on every address)."""
    seen, ok = [], True
    for worker in (w for stage in review.stack.workers.values() for w in stage):
        address = worker.wait_for_line(r"HTTP endpoints on", 1).rsplit(" ", 1)[1]
        host, port = address.rsplit(":", 1)
        loopback, other = await reachable("127.0.0.1", int(port)), await reachable("127.0.0.2", int(port))
        seen.append(f"{worker.name} {host} ({'reached' if other else 'refused'} on 127.0.0.2)")
        ok = ok and host == "127.0.0.1" and loopback and not other
    return Observed(", ".join(seen), ok)


def handshake(target: str, headers: dict[str, str]) -> bytes:
    """A WebSocket handshake's bytes, as a captured one would be replayed."""
    fields = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": base64.b64encode(uuid.uuid4().bytes).decode(), **headers}
    lines = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return f"GET {target} HTTP/1.1\r\n{lines}\r\n".encode()


async def twilio_public_url(review: Review) -> str:
    """A signature of the URL made of the Host header (a foreign host's, the gateway's own) against
    one of --twilio-public-url."""
    _, port = review.signing[0]
    target = "/twilio?x=1"
    statuses = []
    for host, url in (("evil.example.com", f"wss://evil.example.com{target}"),
                      (f"127.0.0.1:{port}", f"ws://127.0.0.1:{port}{target}"),
                      (f"127.0.0.1:{port}", TWILIO_PUBLIC_URL + "?x=1")):
        request = handshake(target, {"Host": host, "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url)})
        statuses.append((await http_status(review, request, port=port)).split(" ")[0])
    return f"Host-made: {statuses[0]}, {statuses[1]}; public URL's: {statuses[2]}"


async def audiohook_replay(review: Review) -> str:
    """One signed handshake sent to the first gateway, then byte for byte to the second and the first;
    then a newly signed one."""
    (_, first), (_, second) = review.signing
    target = "/audiohook"
    headers = {"Host": f"127.0.0.1:{first}", "Audiohook-Organization-Id": str(uuid.uuid4()),
               "Audiohook-Correlation-Id": str(uuid.uuid4()), "Audiohook-Session-Id": str(uuid.uuid4()),
               "X-API-KEY": "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh"}

    def signed() -> bytes:
        return handshake(target, {**headers, **audiohook_signature(
            base64.b64decode(AUDIOHOOK_SECRET), target=target, headers=headers, created=int(time.time()))})

    captured = signed()
    statuses = [(await http_status(review, request, port=port)).split(" ")[0]
                for request, port in ((captured, first), (captured, second), (captured, first), (signed(), second))]
    return f"taken {statuses[0]}; replayed on the second {statuses[1]}, on the first {statuses[2]}; new {statuses[3]}"


async def vad_sigterm(review: Review) -> Observed:
    """A VAD worker on a Redis of its own: that Redis killed, then SIGTERM."""
    code, lines = await asyncio.to_thread(stopped_without_redis, "vad_worker", "vad-no-redis")
    traceback = any("Traceback" in line for line in lines)
    return Observed(f"exit {code}, {'a traceback' if traceback else 'no traceback'}; last line "
                    f"'{lines[-1].split(' ', 1)[-1]}'", code == 0 and not traceback)


# -- 10. issue 32's round three ------------------------------------------------------------------------------


def post(target: str, body: bytes) -> bytes:
    """A pre-recorded ``POST`` of ``body`` to ``target``, with the probing key."""
    return (f"POST {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Token {PROBER}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def wav_at(rate: int, frames: int) -> bytes:
    """A WAV of ``frames`` frames of silence whose header says ``rate`` Hz."""
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(frames, np.int16), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


async def native_config(review: Review, config: str) -> str:
    """The first answer to a native ``config`` (its type and code), and the close code."""
    async with connect(review.url("/ws/asr", PROBER), open_timeout=10) as websocket:
        await websocket.send(config)
        first = json.loads(await within(websocket.recv(), 30))
        _, code = await until_closed(websocket)
    return f"{first['type']} {first.get('code')}, close {code}"


# -- the table ------------------------------------------------------------------------------------------------
# -- the table ------------------------------------------------------------------------------------------------


CASES = [
    Case(1, "k2 follows k1's native call", "k2: not_found 1008, as an unknown id; k1 follows", follow_native),
    Case(1, "k2 follows k1's Twilio call", "k2: not_found 1008; k1 follows", follow_twilio),
    Case(1, "k2 reuses k1's ended streamSid, k1 follows it",
         "k1: following t1 ended, then 1x ended, close 1000; k2: following t2 live; t1's log unchanged",
         reused_stream_sid),
    Case(1, "guessed follow ids, one key, one address", f"{FAILED_FOLLOWS}x not_found 1008, then HTTP 429",
         guessed_ids),
    Case(2, "native mu-law, 1 byte every 0.8 x idle timeout", "each idle_timeout 1011 one window in; key opens again",
         trickle),
    Case(3, "resumable calls parked (abort after 0.1 s)", f"{PARKED_PER_KEY} parked (sessions={PARKED_PER_KEY}), "
         "the rest overloaded 1013; another key in; parked resume", parked),
    Case(4, "/ws/status sockets of one key", f"past status={STATUS_PER_KEY}: overloaded 1013; another key opens",
         status_sockets),
    Case(4, "followers of one key", f"past followers={FOLLOWERS_PER_KEY}: overloaded 1013; another key follows",
         followers),
    Case(4, "RNN-T ping before start_recording", "closed at the config timeout (the door's code)",
         pre_call("/ws/transcribe", {"type": "ping"})),
    Case(4, "Twilio connected, again and again", "closed at the config timeout (the door's code)",
         pre_call("/twilio", {"event": "connected", "protocol": "Call", "version": "1.0.0"})),
    Case(4, "Deepgram KeepAlive before any audio", "closed at the config timeout (the door's code)",
         pre_call("/v1/listen", {"type": "KeepAlive"})),
    Case(5, "1,000,000-byte linear16 chunks (8 kHz speech)", "every final (WER <= 25%), Metadata, close 1000",
         big_chunks, timeout=300),
    Case(5, "one 1 MiB mu-law frame on /ws/asr", "no error, close 1000 (paced, not idle)", big_frame, timeout=300),
    Case(6, "deflated client killed with frames unread", "slot freed <= ping interval + timeout + 3 s after",
         killed_client, timeout=KILLED_WAIT + 60, last=True),
    *(Case(7, f"5000-digit number, {door}, {when} the call opens",
           "bad_json, then close 1000" if when == "after" else "bad_json, no 1011",
           number_on(door, after=when == "after"))
      for door in JSON_DOORS for when in ("before", "after")),
    Case(7, "5000-digit number, audiohook, before open", "disconnect: bad_json, no 1011",
         lambda review: audiohook_number(review, after=False)),
    Case(7, "5000-digit number, audiohook, after open", "disconnect: bad_json, then closed",
         lambda review: audiohook_number(review, after=True)),
    Case(7, "5000-digit number as the native config", "bad_json, no 1011",
         number_on("native", after=False, message='{"type": "config", "sample_rate": %s}')),
    Case(7, "NaN in a native message", "bad_json fatal=False, then close 1000",
         lambda review: native_after_config(review, '{"type": "keepalive", "n": NaN}')),
    Case(7, 'Twilio "chunk": "\u00b2"', "protocol, close 1000",
         lambda review: twilio_errors(review, {"chunk": "\u00b2"})),
    Case(7, "Twilio 5000-digit timestamp", "protocol, close 1000",
         lambda review: twilio_errors(review, {"timestamp": HUGE})),
    Case(7, "AudioHook position of 400 nines", "disconnect: protocol, closed, close 1000",
         lambda review: audiohook(review, lambda client: json.dumps(
             {**json.loads(client.message("ping")), "position": "PT" + "9" * 400 + "S"}))),
    Case(7, "GET //[", "400 Bad Request", raw(b"GET //[ HTTP/1.1\r\nHost: x\r\n\r\n")),
    Case(7, "GET //[ upgrade", "400 Bad Request", raw(b"GET //[ HTTP/1.1\r\n" + UPGRADE + b"\r\n")),
    Case(7, "GET /caf\\xc3\\xa9", "400 Bad Request", raw(b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n")),
    Case(7, "POST /ws/asr with a body", "405 Method Not Allowed",
         raw(b"POST /ws/asr HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")),
    Case(7, "PUT /v1/listen, chunked body", "405 Method Not Allowed",
         raw(b"PUT /v1/listen HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")),
    Case(7, "PATCH /healthz with a body", "405 Method Not Allowed",
         raw(b"PATCH /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")),
    Case(7, "GET upgrade with a body", "400 Bad Request",
         raw(b"GET /ws/asr HTTP/1.1\r\n" + UPGRADE + b"Content-Length: 6\r\n\r\n\x81\x80abcd")),
    Case(8, "AudioHook error with a forged log line", "1 line of the report, 0 forged", forged_line),
    Case(8, "30 KB Twilio streamSid", "the sid in <= 200 chars, the line <= 400", long_stream_sid),
    Case(9, "python -m gateway --api-key x", "exit 2, names the variable, not the key", secret_on_command_line),
    Case(9, "workers' HTTP without --http-host", "127.0.0.1 only", worker_binds),
    Case(9, "Twilio signature of the Host header's URL", "Host-made: 403, 403; public URL's: 101",
         twilio_public_url),
    Case(9, "signed AudioHook handshake replayed, 2 gateways",
         "taken 101; replayed on the second 401, on the first 401; new 101", audiohook_replay),
    Case(9, "VAD worker SIGTERM while Redis is down", "exit 0, no traceback", vad_sigterm, timeout=150),
    # 10: issue 32's abuse round three (the aborted upload and the TCP door's SIGTERM: tests/e2e).
    Case(10, "a 40 KB WAV whose header says 1 Hz", "400 Bad Request", raw(post("/v1/listen", wav_at(1, 20000)))),
    Case(10, "a callback URL with CR/LF", "400 Bad Request",
         raw(post("/v1/listen?callback=http://127.0.0.1/a%0D%0AX-Injected:%201", wav_at(16000, 1600)))),
    Case(10, "two GETs in one write", "200 OK",
         raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")),
    Case(10, "GET / HTTP/9.9", "400 Bad Request", raw(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n")),
    Case(10, "a request with bare LFs", "400 Bad Request", raw(b"GET /healthz HTTP/1.1\nHost: x\n\n")),
    Case(10, "a NUL in a header", "400 Bad Request", raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n")),
    Case(10, "a lone surrogate in the native config's context", "error bad_config, close 1008",
         lambda review: native_config(review, '{"type": "config", "context": "Norland \\ud800"}')),
]


def row(cells: list[str], *, markdown: bool) -> str:
    if markdown:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
    finding, name, expected, verdict, result = cells
    return f"{finding:<2} {name:<48} {expected:<52} {verdict:<5} {result}"


async def run_case(review: Review, case: Case) -> Observed:
    marks = {id(process): len(process.lines) for process in review.processes}
    try:
        observed = await within(case.run(review), case.timeout)
    except TimeoutError as exc:
        observed = Observed(f"timed out ({str(exc).splitlines()[0] if str(exc) else f'{case.timeout:g} s'})", False)
    except Exception as exc:  # the outcome is what the review reports
        observed = Observed(f"{type(exc).__name__}: {exc}".splitlines()[0][:160], False)
    if isinstance(observed, str):
        observed = Observed(observed, observed == case.expected)
    traced = [process.name for process in review.processes
              if any("Traceback" in line for line in process.lines[marks[id(process)]:])]
    for process in review.processes:
        if process.name in traced:  # the table says where; stderr says what
            print(f"--- {process.name} during {case.name!r}:", *process.lines[marks[id(process)]:],
                  sep="\n", file=sys.stderr)
    if traced:
        observed = Observed(f"{observed.text}; a traceback in the log of {', '.join(traced)}", False)
    return observed


async def run_review(args, server: RedisServer) -> bool:
    """Run every case against a review stack on ``server``; print the table; True if every case passed."""
    with tempfile.TemporaryDirectory(prefix="ss-abuse-") as directory:
        started = time.monotonic()
        stack = Review(args, server, Path(directory))
        try:
            flags = " ".join(flag if value is None else f"{flag} {value}" for flag, value in stack.flags.items())
            print(f"\nreview stack up in {time.monotonic() - started:.0f} s; gateway flags: {flags}")
            header = ["#", "case", "expected", "", "result"]
            print(row(header, markdown=args.markdown))
            if args.markdown:
                print("|---|---|---|---|---|")
            failed = 0
            cases = [case for case in CASES if args.only is None or args.only in case.name]
            for case in sorted(cases, key=lambda case: case.last):
                observed = await run_case(stack, case)
                failed += not observed.ok
                cells = [str(case.finding), case.name, case.expected, "PASS" if observed.ok else "FAIL", observed.text]
                print(row(cells, markdown=args.markdown), flush=True)
            print(f"{len(cases) - failed} of {len(cases)} cases passed")
            return not failed
        finally:
            await stack.close()
