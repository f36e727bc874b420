"""Gateway throughput: sessions per gateway core and send -> Redis latency.

    .venv/bin/python bench/gateway_load.py --sessions 100,300,1000 --seconds 20

Starts a private redis-server and one gateway process (``python -m gateway``),
then for each N opens N native sessions that each send 100 ms PCM16 frames at
real time, and measures over the steady part of the run:

* the gateway's CPU (``/proc/<pid>/stat``), as cores and as sessions per core;
* send -> Redis per frame: from the client's wall-clock time just before it
  sends a frame to the Redis time of that frame's stream entry (its id's
  millisecond, rounded up: an upper bound), read back from the sessions' input
  streams with ``XREAD``;
* errors: sessions refused, error messages, and closes the client did not ask for;
* the raw ``XADD`` latency of a plain redis-py client in another process, in
  the same run (round trip, and send -> entry time like the frames), for the ratio.

By default the bench stands in for the first stage (``--workers none``): it
registers one worker with room for every session so admission passes, and
trims the input streams it has read, so Redis memory stays flat. With
``--workers real`` real VAD and ASR workers (``--capacity`` N) consume the
audio instead; on a small box they compete with the gateway for the CPU.
The audio is quiet noise: with real workers the VAD finds no speech.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
import redis as sync_redis
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import bus, keys  # noqa: E402
from common.errors import RecordError  # noqa: E402
from common.records import Audio, decode  # noqa: E402
from tests.support import RedisServer, free_port, service  # noqa: E402

RATE = 16_000
FRAME_MS = 100
FRAME_SAMPLES = RATE * FRAME_MS // 1000
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class Client:
    """One real-time session: config, then a frame every 100 ms until told to stop."""

    def __init__(self, url: str, frame: bytes) -> None:
        self.url = url
        self.frame = frame
        self.session_id = ""
        self.sent: list[float] = []  # wall-clock ms at which frame i was sent
        self.error = ""  # what went wrong, if anything
        self.opened = asyncio.Event()

    async def run(self, stop: asyncio.Event, start_delay: float) -> None:
        await asyncio.sleep(start_delay)  # spreads the sessions over a frame period
        try:
            async with connect(self.url, max_size=None, open_timeout=30, close_timeout=5) as ws:
                await ws.send(json.dumps({"type": "config", "encoding": "pcm16", "sample_rate": RATE}))
                reply = json.loads(await ws.recv())
                if reply.get("type") != "session_created":
                    self.error = f"refused: {reply}"
                    return
                self.session_id = reply["session_id"]
                self.opened.set()
                reader = asyncio.create_task(self._read(ws))
                started = time.monotonic()
                index = 0
                while not stop.is_set() and not reader.done():
                    due = started + index * FRAME_MS / 1000
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)  # real-time pacing of the client
                    self.sent.append(time.time() * 1000)
                    await ws.send(self.frame)
                    index += 1
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
        except ConnectionClosed as exc:
            self.error = self.error or f"closed {exc.rcvd.code if exc.rcvd else '?'} " \
                                       f"{exc.rcvd.reason if exc.rcvd else ''}"
        except Exception as exc:  # refused handshakes, timeouts, resets: all count as errors
            self.error = self.error or f"{type(exc).__name__}: {exc}"
        finally:
            self.opened.set()

    async def _read(self, ws) -> None:
        try:
            async for message in ws:
                body = json.loads(message)
                if body.get("type") == "error":
                    self.error = self.error or f"error {body.get('code')}: {body.get('message')}"
                    return
        except ConnectionClosed as exc:
            self.error = self.error or f"closed {exc.rcvd.code if exc.rcvd else '?'} " \
                                       f"{exc.rcvd.reason if exc.rcvd else ''}"


async def collect(redis: aioredis.Redis, clients: list[Client], stop: asyncio.Event, *, trim: bool,
                  latencies: list[float], window: list[float], written: list[int]) -> None:
    """Read every session's input stream as it grows; one latency per frame inside ``window``."""
    last: dict[str, str] = {}
    owner: dict[str, Client] = {}
    while not stop.is_set():
        for client in clients:
            if client.session_id and client.session_id not in owner:
                stream = keys.SessionKeys(client.session_id).input("vad")
                owner[stream] = client
                last.setdefault(stream, "0-0")
        if not last:
            await asyncio.sleep(0.05)
            continue
        reply = await redis.xread(dict(last), count=1000, block=100)
        trims = {}
        for raw_stream, entries in reply or []:
            stream = bus.text(raw_stream)
            client = owner[stream]
            for raw_id, fields in entries:
                entry_id = bus.text(raw_id)
                last[stream] = entry_id
                try:
                    record = decode(fields[b"r"])
                except (RecordError, KeyError):
                    continue
                if not isinstance(record, Audio) or record.offset % FRAME_SAMPLES:
                    continue
                if window[0] <= bus.id_ms(entry_id) <= window[1]:
                    written[0] += 1
                index = record.offset // FRAME_SAMPLES
                if index < len(client.sent) and window[0] <= client.sent[index] <= window[1]:
                    latencies.append(bus.id_ms(entry_id) + 1 - client.sent[index])
            trims[stream] = bus.next_id(last[stream])
        if trim and trims:
            async with redis.pipeline(transaction=False) as pipe:
                for stream, min_id in trims.items():
                    pipe.xtrim(stream, minid=min_id)
                await pipe.execute()


def raw_xadd(url: str, seconds: float, rate: float, payload_bytes: int, results) -> None:
    """A plain redis-py client in its own process: XADD round trips and send -> entry times (ms)."""
    client = sync_redis.Redis.from_url(url)
    payload = os.urandom(payload_bytes)
    rtt, stamp = [], []
    started = time.monotonic()
    index = 0
    while time.monotonic() - started < seconds:
        due = started + index / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing of the probe
        sent = time.time() * 1000
        t0 = time.perf_counter()
        entry_id = client.xadd("bench:raw", {"r": payload}, maxlen=1000, approximate=True)
        rtt.append((time.perf_counter() - t0) * 1000)
        stamp.append(bus.id_ms(bus.text(entry_id)) + 1 - sent)
        index += 1
    client.delete("bench:raw")
    client.close()
    results.put((rtt, stamp))


def register_stand_in(url: str, capacity: int) -> None:
    """One 'worker' per stage with room for every session, so the gateway admits them."""
    client = sync_redis.Redis.from_url(url)
    far = int((time.time() + 24 * 3600) * 1000)
    for stage in ("vad", "asr"):
        client.zadd(keys.workers(stage), {"bench": far})
        client.hset(keys.load(stage), "bench", json.dumps({"sessions": 0, "capacity": capacity, "lag": 0,
                                                           "draining": False}))
    client.close()


async def run_level(n: int, *, url: str, redis_url: str, gateway_pid: int, redis_pid: int, seconds: float, warmup: float,
                    trim: bool, raw_rate: float) -> dict:
    rng = np.random.default_rng(n)
    frame = (rng.normal(0, 30, FRAME_SAMPLES)).astype(np.int16).tobytes()  # quiet noise
    clients = [Client(url, frame) for _ in range(n)]
    stop = asyncio.Event()
    redis = aioredis.from_url(redis_url, max_connections=4)
    latencies: list[float] = []
    window = [float("inf"), float("inf")]
    written = [0]  # frames appended to Redis within the window
    opening = time.monotonic()
    # Open in waves so connection set-up does not dominate the first seconds.
    tasks = [asyncio.create_task(c.run(stop, (i % 50) * FRAME_MS / 1000 / 50 + (i // 50) * 0.1))
             for i, c in enumerate(clients)]
    collector = asyncio.create_task(collect(redis, clients, stop, trim=trim, latencies=latencies, window=window,
                                            written=written))
    for client in clients:
        await client.opened.wait()
    opened_in = time.monotonic() - opening
    await asyncio.sleep(warmup)
    results = multiprocessing.Queue()
    probe = multiprocessing.Process(target=raw_xadd, args=(redis_url, seconds, raw_rate, 3300, results))
    window[0] = time.time() * 1000
    cpu0, wall0 = cpu_seconds(gateway_pid), time.monotonic()
    others0 = cpu_seconds(redis_pid), cpu_seconds(os.getpid())
    load0 = os.getloadavg()
    probe.start()
    await asyncio.sleep(seconds)
    cpu1, wall1 = cpu_seconds(gateway_pid), time.monotonic()
    others1 = cpu_seconds(redis_pid), cpu_seconds(os.getpid())
    window[1] = time.time() * 1000
    rtt, stamp = await asyncio.get_running_loop().run_in_executor(None, results.get)
    probe.join()
    await asyncio.sleep(0.5)  # let the collector read the last frames of the window
    stop.set()
    await asyncio.gather(*tasks, collector, return_exceptions=True)
    await redis.aclose()
    cores = (cpu1 - cpu0) / (wall1 - wall0)
    errors = [c.error for c in clients if c.error]
    frames_expected = sum(1 for c in clients for t in c.sent if window[0] <= t <= window[1])
    raw_p99 = percentile(rtt, 99)
    return {
        "sessions": n, "opened": sum(1 for c in clients if c.session_id), "open_seconds": round(opened_in, 1),
        "errors": len(errors), "error_kinds": sorted({e[:60] for e in errors})[:5],
        # Frames the gateway appended per CPU second / 10 frames a second: sessions per core
        # by work done, which holds also when the box starves the gateway and it falls behind.
        "frames_written": written[0],
        "sessions_per_core_by_work": round(written[0] / (wall1 - wall0) / 10 / cores) if cores else None,
        "gateway_cores": round(cores, 3), "redis_cores": round((others1[0] - others0[0]) / (wall1 - wall0), 3),
        "client_cores": round((others1[1] - others0[1]) / (wall1 - wall0), 3), "sessions_per_core": round(n / cores) if cores else None,
        "frames": frames_expected, "frames_seen": len(latencies),
        "send_to_redis_ms": {"p50": round(percentile(latencies, 50), 2), "p99": round(percentile(latencies, 99), 2),
                             "max": round(max(latencies, default=float("nan")), 2)},
        "raw_xadd_ms": {"rtt_p50": round(percentile(rtt, 50), 2), "rtt_p99": round(raw_p99, 2),
                        "stamp_p99": round(percentile(stamp, 99), 2), "n": len(rtt)},
        "ratio_p99": round(percentile(latencies, 99) / raw_p99, 2) if rtt and latencies else None,
        "loadavg_before": [round(x, 2) for x in load0],
    }


async def main_async(args) -> None:
    server = RedisServer()
    server.start()
    processes = []
    try:
        env = {"STREAMSCRIBE_REDIS_URL": server.url}
        levels = [int(x) for x in args.sessions.split(",")]
        capacity = max(levels) * 2
        if args.workers == "real":
            for module in ("vad_worker", "asr_worker"):
                processes.append(service(module, module, "--http-port", str(free_port()),
                                         "--capacity", str(capacity), env=env))
        else:
            register_stand_in(server.url, capacity)
        port = free_port()
        gateway = service("gateway", "gateway", "--host", "127.0.0.1", "--port", str(port),
                          "--max-queue-lag", "1000", "--max-pending-per-ip", "0", "--log-level", "WARNING", env=env)
        processes.append(gateway)
        for process in processes[:-1]:
            process.wait_for_line(r"\bready\b", 120)
        await asyncio.get_running_loop().run_in_executor(None, lambda: wait_listening(port))
        url = f"ws://127.0.0.1:{port}/ws/asr"
        print(json.dumps({"gateway_pid": gateway.proc.pid, "redis_pid": server.process.proc.pid}), flush=True)
        for n in levels:
            result = await run_level(n, url=url, redis_url=server.url, gateway_pid=gateway.proc.pid,
                                     redis_pid=server.process.proc.pid,
                                     seconds=args.seconds, warmup=args.warmup, trim=args.workers == "none",
                                     raw_rate=args.raw_rate)
            result["gateway_alive"] = gateway.proc.poll() is None
            print(json.dumps(result), flush=True)
            if not result["gateway_alive"]:
                print(gateway.tail(), file=sys.stderr)
                break
            await asyncio.sleep(2.0)  # sessions of this level close before the next
        rc = gateway.stop(timeout=20)
        print(json.dumps({"gateway_exit": rc}), flush=True)
    finally:
        for process in processes:
            process.stop()
        server.close()


def wait_listening(port: int, timeout: float = 60.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # polling for the listener, with a deadline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="100,300,1000", help="comma-separated session counts")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after all sessions opened")
    parser.add_argument("--workers", choices=("none", "real"), default="none",
                        help="none: the bench stands in for the first stage; real: VAD and ASR workers")
    parser.add_argument("--raw-rate", type=float, default=200.0, help="raw XADD probes per second")
    args = parser.parse_args()
    print(json.dumps({"uptime": open("/proc/loadavg").read().strip(), "cpus": os.cpu_count()}), flush=True)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
