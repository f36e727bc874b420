"""Abuse load against a private stack: does a healthy session still get its finals in time?

    .venv/bin/python -m bench.abuse [--idle 60] [--unpaced 10] [--compressed 10] [--no-config 200]
    .venv/bin/python -m bench.abuse --probes-only [--markdown]

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

Then the abuse review (:mod:`tests.kit.abuse_review`): every case of issue 19's
findings against a second stack with API keys and short timers, printed as a
table of finding, case, expectation, PASS or FAIL and result. The exit status
is 1 if a case failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np
import redis as sync_redis
import soundfile
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.kit.abuse_review import add_arguments, run_review
from bench.latency import streamscribe_session
from tests.kit.stack import Stack
from tests.kit.support import RedisServer
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
        assert self._task is not None  # made by __enter__
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
            assert websocket.response is not None  # the handshake's
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


async def run(args) -> bool:
    """The load cases (unless ``--probes-only``), then the review; True if every review case passed."""
    server = RedisServer()
    server.start()
    try:
        if not args.probes_only:
            stack = Stack(server)
            try:
                await load(args, server, stack)
            finally:
                stack.close()
        return await run_review(args, server)
    finally:
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
    parser.add_argument("--probes-only", action="store_true", help="only the review's cases, no load cases")
    parser.add_argument("--markdown", action="store_true", help="print the review's table in Markdown")
    add_arguments(parser)
    started = time.monotonic()
    passed = asyncio.run(run(parser.parse_args()))
    print(f"took {time.monotonic() - started:.0f} s")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
