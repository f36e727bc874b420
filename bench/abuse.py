"""Abuse load against a private stack: does a healthy session still get its finals in time?

    .venv/bin/python -m bench.abuse [--idle 60] [--unpaced 10] [--compressed 10] [--no-config 200]
    .venv/bin/python -m bench.abuse --probes-only

Starts its own redis-server, gateway, VAD and ASR (whisper tiny.en) on free
loopback ports, then, for each load case in turn, measures before (once),
during and after the case:

* Redis ``used_memory`` (peak of samples every 0.25 s) and the gateway's RSS (peak);
* one healthy session streaming a LibriVox clip plus 1.5 s of silence at real
  time: end of speech (the audio at the final's ``end_ms`` sent) to final.

Cases: ``idle`` sessions sending silence at real time (they hold VAD slots and
overbooked ASR slots, never an ASR worker); ``unpaced`` senders pushing silence
as fast as the socket takes it (the gateway paces them to ``--max-audio-lead``
and ``--max-realtime-factor``); ``compressed`` unpaced senders offering
permessage-deflate (off by default: refused, so each byte costs its own wire
byte); ``no-config`` connections that open and never send a config (past
``--max-pending-per-ip`` they get HTTP 429; the rest close at the config timeout).

Then probes: single malformed requests and messages (:data:`PROBES`), each with
what the server should do, printed as a table of case, expectation and result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path

import numpy as np
import redis as sync_redis
import soundfile
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bench.latency import streamscribe_session
from tests.kit.stack import Stack
from tests.kit.support import RedisServer
from tests.kit.telephony import STREAM_SID, AudioHookClient, twilio_media, twilio_start
from tests.kit.testdata import librivox_clips

RATE = 16000
FRAME = np.zeros(RATE // 10, np.int16).tobytes()  # 100 ms of silence
ABUSER = ("127.0.0.2", 0)  # abusers' source address: per-address limits apply to them, not the healthy client


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """Peaks of Redis used_memory and gateway RSS, sampled every 0.25 s while running."""

    def __init__(self, redis_url: str, gateway_pid: int) -> None:
        self.client = sync_redis.Redis.from_url(redis_url)
        self.pid = gateway_pid
        self.redis_mb = self.rss_mb = 0.0
        self._task: asyncio.Task | None = None

    def sample(self) -> tuple[float, float]:
        return self.client.info("memory")["used_memory"] / 2**20, rss_mb(self.pid)

    async def _run(self) -> None:
        while True:
            redis_mb, gateway_mb = await asyncio.to_thread(self.sample)
            self.redis_mb, self.rss_mb = max(self.redis_mb, redis_mb), max(self.rss_mb, gateway_mb)
            await asyncio.sleep(0.25)

    def __enter__(self) -> Sampler:
        self.redis_mb = self.rss_mb = 0.0
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc) -> None:
        self._task.cancel()


async def silent(url: str, stop: asyncio.Event, *, paced: bool, compression: str | None = None,
                 opening: asyncio.Semaphore) -> str:
    try:
        await opening.acquire()  # stay under the gateway's limit of connections without a config per address
        # No client pings: a paced sender's socket is not read for a while, so its pongs come late.
        async with connect(url, compression=compression, max_queue=None, local_addr=ABUSER,
                           ping_interval=None) as websocket:
            try:
                await websocket.send(json.dumps({"type": "config", "encoding": "pcm16"}))
                first = json.loads(await websocket.recv())
            finally:
                opening.release()
            if first["type"] != "session_created":
                return first.get("code", first["type"])
            negotiated = websocket.response.headers.get("Sec-WebSocket-Extensions")
            while not stop.is_set():
                await websocket.send(FRAME)
                if paced:
                    await asyncio.sleep(0.1)  # real time
            await websocket.send(json.dumps({"type": "close"}))
            async for _ in websocket:
                pass
            return f"closed {websocket.close_code}" + (f" deflate={negotiated}" if compression else "")
    except InvalidStatus as exc:
        return f"HTTP {exc.response.status_code}"
    except Exception as exc:  # the outcome is what the bench reports
        return f"{type(exc).__name__}: {exc}"[:90]


async def no_config(url: str, stop: asyncio.Event) -> str:
    try:
        async with connect(url, local_addr=ABUSER) as websocket:
            done = asyncio.create_task(stop.wait())
            closed = asyncio.create_task(websocket.wait_closed())
            await asyncio.wait({done, closed}, return_when=asyncio.FIRST_COMPLETED)
            done.cancel()
            closed.cancel()
            return f"closed {websocket.close_code}" if websocket.close_code else "open"
    except InvalidStatus as exc:
        return f"HTTP {exc.response.status_code}"
    except Exception as exc:
        return type(exc).__name__


# -- probes: one malformed thing each, and what the server said ----------------------------------------

HUGE = "9" * 5000  # past Python's 4300-digit limit of int()
FORGED = "\n2099-01-01T00:00:00.000Z INFO gateway: FORGED"


async def http_status(stack: Stack, request: bytes) -> str:
    """The status line a raw HTTP request got, or how the connection ended."""
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.port)
    try:
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        return line.decode(errors="replace").strip().removeprefix("HTTP/1.1 ") or "dropped, no response"
    except (ConnectionError, TimeoutError) as exc:
        return type(exc).__name__
    finally:
        writer.close()


async def native_after_config(stack: Stack, message: str) -> str:
    """The reply to ``message`` after a config, then whether the call still ends normally."""
    async with connect(stack.url) as ws:
        await ws.send(json.dumps({"type": "config"}))
        await ws.recv()  # session_created
        await ws.send(message)
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(json.dumps({"type": "close"}))
        async for _ in ws:
            pass
        return f"{reply.get('code')} fatal={reply.get('fatal')}, then close {ws.close_code}"


async def native_first(stack: Stack, message: str) -> str:
    async with connect(stack.url) as ws:
        await ws.send(message)
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.wait_closed()
        return f"{reply.get('code')}, close {ws.close_code}"


async def twilio_errors(stack: Stack, media: dict) -> str:
    """Twilio's error events for one malformed media message, and how the stream ended."""
    silence = b"\xff" * 160
    message = json.loads(twilio_media("inbound", 1, 0, silence))
    message["media"].update(media)
    async with connect(f"ws://127.0.0.1:{stack.port}/twilio", max_size=None) as ws:
        for text in (twilio_start(["inbound"]), json.dumps(message), twilio_media("inbound", 2, 20, silence),
                     json.dumps({"event": "stop", "streamSid": STREAM_SID, "stop": {}})):
            await ws.send(text)
        errors = [m["code"] for text in [t async for t in ws] if (m := json.loads(text))["event"] == "error"]
        return f"{', '.join(errors) or 'no error'}, close {ws.close_code}"


async def audiohook(stack: Stack, kind: str, change: dict, *, answered: bool = True) -> str:
    """AudioHook's answer to one message after open (``answered``: wait for it), and how the session ended."""
    client = AudioHookClient(str(uuid.uuid4()))
    async with connect(f"ws://127.0.0.1:{stack.port}/audiohook",
                       additional_headers={"Audiohook-Session-Id": client.id}) as ws:
        await ws.send(client.open())
        client.seen(await ws.recv())
        await ws.send(json.dumps({**json.loads(client.message(kind)), **change}))
        kinds = [json.loads(await asyncio.wait_for(ws.recv(), 10))["type"]] if answered else []
        await ws.send(client.message("close"))
        kinds += [json.loads(text)["type"] for text in [t async for t in ws]]
        return f"{', '.join(kinds)}, close {ws.close_code}"


async def logged(stack: Stack, send, check) -> str:
    """What ``check`` says of the gateway's log lines written while ``send()`` ran."""
    mark = len(stack.gateway.lines)
    await send()
    await asyncio.sleep(0.5)  # the gateway's stderr is read by a thread
    return check(stack.gateway.lines[mark:])


async def forged_line(stack: Stack) -> str:
    report = {"code": 500, "message": "boom" + FORGED}

    def check(lines):
        forged = [line for line in lines if line.startswith("2099-01-01")]
        return f"{len(forged)} forged line(s)"
    return await logged(stack, lambda: audiohook(stack, "error", {"parameters": report}, answered=False), check)


async def long_stream_sid(stack: Stack) -> str:
    sid = "MZ" + "z" * 30_000

    async def send():
        async with connect(f"ws://127.0.0.1:{stack.port}/twilio", max_size=None) as ws:
            await ws.send(twilio_start(["inbound"]).replace(STREAM_SID, sid))
            await ws.send(json.dumps({"event": "stop", "streamSid": sid, "stop": {}}))
            async for _ in ws:
                pass

    def check(lines):
        longest = max(map(len, lines), default=0)
        return f"longest line {'< 500' if longest < 500 else longest} chars"
    return await logged(stack, send, check)


UPGRADE = (b"Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")

# (case, what the server should do, the probe: a coroutine function of the stack returning what it did)
PROBES = [
    ("5000-digit number after config", "bad_json fatal=False, then close 1000",
     lambda stack: native_after_config(stack, '{"type": "keepalive", "n": %s}' % HUGE)),
    ("5000-digit number as the config", "bad_json, close 1008",
     lambda stack: native_first(stack, '{"type": "config", "sample_rate": %s}' % HUGE)),
    ("NaN in a message", "bad_json fatal=False, then close 1000",
     lambda stack: native_after_config(stack, '{"type": "keepalive", "n": NaN}')),
    ('Twilio "chunk": "²"', "protocol, close 1000", lambda stack: twilio_errors(stack, {"chunk": "\u00b2"})),
    ("Twilio 5000-digit timestamp", "protocol, close 1000", lambda stack: twilio_errors(stack, {"timestamp": HUGE})),
    ("AudioHook position of 400 nines", "disconnect, closed, close 1000",
     lambda stack: audiohook(stack, "ping", {"position": "PT" + "9" * 400 + "S"})),
    ("GET //[", "400 Bad Request", lambda stack: http_status(stack, b"GET //[ HTTP/1.1\r\nHost: x\r\n\r\n")),
    ("GET //[ upgrade", "400 Bad Request",
     lambda stack: http_status(stack, b"GET //[ HTTP/1.1\r\n" + UPGRADE + b"\r\n")),
    ("GET /caf\\xc3\\xa9", "400 Bad Request",
     lambda stack: http_status(stack, b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n")),
    ("POST /ws/asr with a body", "405 Method Not Allowed",
     lambda stack: http_status(stack, b"POST /ws/asr HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")),
    ("PUT /v1/listen, chunked body", "405 Method Not Allowed",
     lambda stack: http_status(stack, b"PUT /v1/listen HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      b"2\r\n{}\r\n0\r\n\r\n")),
    ("GET upgrade with a body", "400 Bad Request",
     lambda stack: http_status(stack, b"GET /ws/asr HTTP/1.1\r\n" + UPGRADE
                               + b"Content-Length: 6\r\n\r\n\x81\x80abcd")),
    ("AudioHook error with a forged line", "0 forged line(s)", forged_line),
    ("30 KB Twilio streamSid", "longest line < 500 chars", long_stream_sid),
]


async def probe(stack: Stack) -> None:
    print(f"\n{'case':<36} {'expected':<40} result")
    for name, expected, run_probe in PROBES:
        try:
            result = await asyncio.wait_for(run_probe(stack), 30)
        except Exception as exc:  # the outcome is what the bench reports
            result = f"{type(exc).__name__}: {exc}"[:90]
        print(f"{name:<36} {expected:<40} {result}")


def latency(values: list[float] | str) -> str:
    if isinstance(values, str):
        return values
    return " / ".join(f"{v * 1000:.0f}" for v in values) + " ms" if values else "no final"


async def healthy(url: str, audio: np.ndarray) -> list[float] | str:
    """One real-time session's latencies from the audio at each final's end being sent to the final."""
    run = await streamscribe_session(url, audio, [], chunk_ms=100, finalize_after=None, config={}, timeout=120)
    if run.error:  # refused or failed: that is the result
        return f"healthy session failed: {run.error}"
    return [heard.at - sent for heard in run.heard if heard.final and (sent := run.sent_at(heard.end)) is not None]


async def run(args) -> None:
    server = RedisServer()
    server.start()
    stack = Stack(server)
    try:
        if not args.probes_only:
            await load(args, server, stack)
        await probe(stack)
    finally:
        stack.close()
        server.close()


async def load(args, server: RedisServer, stack: Stack) -> None:
    samples, rate = soundfile.read(str(librivox_clips()[0][0]), dtype="float32")
    assert rate == RATE
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), samples, np.zeros(int(1.5 * RATE), np.float32)])
    sampler = Sampler(server.url, stack.gateway.proc.pid)
    print(f"clip {len(samples) / RATE:.1f} s; latency = end of speech -> final (each final)")
    print(f"{'case':<28} {'phase':<7} {'Redis MB':>9} {'gw RSS MB':>10}  latency")
    with sampler:
        values = await healthy(stack.url, audio)
    print(f"{'none':<28} {'before':<7} {sampler.redis_mb:9.1f} {sampler.rss_mb:10.1f}  {latency(values)}")
    opening = asyncio.Semaphore(20)
    cases = [
        (f"idle x{args.idle} (silence, paced)", args.idle, lambda s: silent(stack.url, s, paced=True, opening=opening)),
        (f"unpaced x{args.unpaced}", args.unpaced, lambda s: silent(stack.url, s, paced=False, opening=opening)),
        (f"deflate offered x{args.compressed}", args.compressed,
         lambda s: silent(stack.url, s, paced=False, compression="deflate", opening=opening)),
        (f"no config x{args.no_config}", args.no_config, lambda s: no_config(stack.url, s)),
    ]
    for name, count, make in cases:
        stop = asyncio.Event()
        with sampler:
            tasks = [asyncio.create_task(make(stop)) for _ in range(count)]
            await asyncio.sleep(args.ramp)  # let the load build up before measuring
            values = await healthy(stack.url, audio)
            stop.set()
            outcomes = await asyncio.gather(*tasks)
        summary = ", ".join(f"{outcomes.count(o)}x {o}" for o in sorted(set(outcomes)))
        print(f"{name:<28} {'during':<7} {sampler.redis_mb:9.1f} {sampler.rss_mb:10.1f}  {latency(values)}")
        print(f"{'':<28} {'':<7} {'':>9} {'':>10}  abusers: {summary}")
        with sampler:
            values = await healthy(stack.url, audio)
        print(f"{'':<28} {'after':<7} {sampler.redis_mb:9.1f} {sampler.rss_mb:10.1f}  {latency(values)}")
    left = server.keys("ss:{*")
    print(f"session keys left in Redis at the end: {len(left)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=int, default=60)
    parser.add_argument("--unpaced", type=int, default=10)
    parser.add_argument("--compressed", type=int, default=10)
    parser.add_argument("--no-config", type=int, default=200)
    parser.add_argument("--ramp", type=float, default=3.0, help="seconds of load before the healthy session")
    parser.add_argument("--probes-only", action="store_true", help="only the probes, no load cases")
    started = time.monotonic()
    asyncio.run(run(parser.parse_args()))
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
