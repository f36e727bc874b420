"""Gateway throughput: sessions per gateway core and send -> Redis latency.

    .venv/bin/python -m bench.gateway_load --sessions 100,300,1000 --seconds 20

One gateway process on a private redis-server; for each N, N native sessions each send 100 ms
PCM16 frames at real time from ``--clients`` processes of a minimal raw-asyncio WebSocket client,
cheap enough not to starve what it measures. The bench stands in for the VAD (``--workers none``:
it registers room for every session and trims the input streams) or starts real workers. It
reports the gateway's cores and sessions per core (also "by work", from the frames appended,
which holds when the gateway falls behind), send -> Redis per frame of ``--sampled`` sessions
against a plain client's raw ``XADD`` in the same run, errors, and the load generator's own CPU
and lateness.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import socket
import sys
import time

import numpy as np
import redis as sync_redis
import redis.asyncio as aioredis

from common import bus, keys
from common.errors import RecordError
from common.records import Audio, decode
from tests.kit.support import RedisServer, cpu_seconds, free_port, service

RATE = 16_000
FRAME_MS = 100
FRAME_SAMPLES = RATE * FRAME_MS // 1000
SLOTS = 10  # timer ticks per frame period in a client process: sessions send in 10 groups
OPENING = 32  # handshakes in flight per client process
MAX_CLIENT_BUFFER = 1 << 20  # bytes a client lets pile up unsent before it counts the session as failed
KEEP_UNSAMPLED = 10  # entries left in an unsampled input stream when trimming
MASK = b"\x5a\xc3\x3c\xa5"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


# -- the load generator: one process drives a share of the sessions -----------------------------

def client_frame(opcode: int, payload: bytes) -> bytes:
    """A complete, masked client-to-server WebSocket frame (FIN set)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = np.frombuffer(MASK * (n // 4 + 1), np.uint8)[:n]
    return head + MASK + (np.frombuffer(payload, np.uint8) ^ key).tobytes()


class RawSession(asyncio.Protocol):
    """One native session on a bare transport: handshake, config, then frames written by the timer."""

    def __init__(self, request: bytes, config: bytes, opened: asyncio.Future) -> None:
        self.request = request
        self.config = config
        self.opened = opened  # resolved when session_created (or a failure) arrives
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.live = False  # sending frames
        self.leaving = False  # the client itself is closing
        self.session_id = ""
        self.error = ""
        self.sent: list[float] = []  # wall-clock ms at which frame i was written

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[:self.buffer.find(b"\r\n")])
            del self.buffer[:end + 4]
            if not status.startswith(b"HTTP/1.1 101"):
                self._fail(f"handshake refused: {status.decode(errors='replace')}")
                return
            self.upgraded = True
            assert self.transport is not None  # connected
            self.transport.write(self.config)
        self._frames()

    def _frames(self) -> None:
        assert self.transport is not None  # connected
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode, length, at = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, at = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, at = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < at + length:
                return
            payload = bytes(buffer[at:at + length])
            del buffer[:at + length]
            if opcode == 0x1:
                self._message(json.loads(payload))
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self._fail(f"closed {code} {payload[2:].decode(errors='replace')}")
            elif opcode == 0x9:
                self.transport.write(client_frame(0xA, payload))  # pong

    def _message(self, body: dict) -> None:
        kind = body.get("type")
        if kind == "session_created" and not self.session_id:
            self.session_id = body["session_id"]
            self.live = True
            if not self.opened.done():
                self.opened.set_result(None)
        elif kind == "error":
            self.error = self.error or f"error {body.get('code')}: {body.get('message')}"

    def send(self, frame: bytes) -> None:
        assert self.transport is not None  # connected
        if self.transport.get_write_buffer_size() > MAX_CLIENT_BUFFER:
            self._fail(f"over {MAX_CLIENT_BUFFER} bytes unsent: the gateway stopped reading")
            return
        self.sent.append(time.time() * 1000)
        self.transport.write(frame)

    def _fail(self, why: str) -> None:
        if not self.leaving:
            self.error = self.error or why
        self.live = False
        if self.transport is not None:
            self.transport.close()
        if not self.opened.done():
            self.opened.set_result(None)

    def connection_lost(self, exc) -> None:
        self._fail(f"connection lost: {exc}" if exc else "connection closed by the gateway")

    def leave(self) -> None:
        """Drop the connection, as a client that goes away does."""
        self.leaving = True
        self.live = False
        if self.transport is not None:
            self.transport.abort()


async def drive(port: int, count: int, frame: bytes, spread: float, stop, results) -> None:
    """Open ``count`` sessions, send a frame per session every 100 ms until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    config = client_frame(0x1, json.dumps({"type": "config", "encoding": "pcm16", "sample_rate": RATE}).encode())
    sessions: list[RawSession] = []
    slots: list[list[RawSession]] = [[] for _ in range(SLOTS)]
    lateness: list[float] = []  # seconds each timer tick ran after its due time
    gate = asyncio.Semaphore(OPENING)

    async def open_one(index: int) -> None:
        await asyncio.sleep(index * spread)  # spreads the handshakes over time
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET /ws/asr HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        opened = loop.create_future()
        session = RawSession(request, config, opened)
        sessions.append(session)
        async with gate:
            try:
                await loop.create_connection(lambda: session, "127.0.0.1", port)
                await asyncio.wait_for(opened, 30)
            except (OSError, TimeoutError) as exc:
                session._fail(f"{type(exc).__name__}: {exc}")
        slots[index % SLOTS].append(session)

    async def pace() -> None:
        start = loop.time()
        tick = 0
        while not stop.is_set():
            due = start + tick * FRAME_MS / 1000 / SLOTS
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the clients' real-time clock
            else:
                lateness.append(-delay)
            for session in slots[tick % SLOTS]:
                if session.live:
                    session.send(frame)
            tick += 1

    pacer = asyncio.create_task(pace())
    await asyncio.gather(*(open_one(i) for i in range(count)))
    results.put(("opened", [(s.session_id, s.error) for s in sessions]))
    await pacer
    report = [(s.session_id, s.error, s.sent) for s in sessions]
    for session in sessions:
        session.leave()
    late = sorted(lateness) or [0.0]
    results.put(("done", report, {"late_ticks": len(lateness), "late_p99_ms": percentile(late, 99) * 1000,
                                  "late_max_ms": late[-1] * 1000}))


def client_process(port: int, count: int, frame: bytes, spread: float, stop, results) -> None:
    asyncio.run(drive(port, count, frame, spread, stop, results))


# -- the bench's side of Redis ---------------------------------------------------------------

async def collect(redis: aioredis.Redis, sampled: dict[str, str], others: list[str], stop: asyncio.Event,
                  *, trim: bool, entries: list[tuple[str, int, int]]) -> None:
    """Read the sampled sessions' input streams as they grow: (session, frame index, entry ms) per frame.

    Trims what it read, and (every half second) the unsampled streams to their last few entries.
    """
    last = {stream: "0-0" for stream in sampled}
    trimmed = time.monotonic()
    while not stop.is_set():
        # Not a blocking read: the entries' ids carry their times, so reading every 100 ms
        # costs the bench far less CPU and measures the same.
        await asyncio.sleep(0.1)
        # (A type error to mypy only: redis-py's key type is invariant, the union of every kind of name.)
        reply = await redis.xread(dict(last), count=1000) if last else None  # type: ignore[arg-type]
        assert not isinstance(reply, dict)  # RESP2: [[stream, entries]]
        trims = {}
        for raw_stream, stream_entries in reply or []:
            stream = bus.text(raw_stream)
            for raw_id, fields in stream_entries:
                entry_id = bus.text(raw_id)
                last[stream] = entry_id
                try:
                    record = decode(fields[b"r"])
                except (RecordError, KeyError):
                    continue
                if isinstance(record, Audio) and not record.offset % FRAME_SAMPLES:
                    entries.append((sampled[stream], record.offset // FRAME_SAMPLES, bus.id_ms(entry_id) + 1))
            trims[stream] = bus.next_id(last[stream])
        if not trim:
            continue
        async with redis.pipeline(transaction=False) as pipe:
            for stream, min_id in trims.items():
                pipe.xtrim(stream, minid=min_id)
            if time.monotonic() - trimmed >= 0.5:
                trimmed = time.monotonic()
                for stream in others:
                    pipe.xtrim(stream, maxlen=KEEP_UNSAMPLED, approximate=False)
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


async def xadd_calls(redis: aioredis.Redis) -> int:
    """XADDs the Redis server has run so far (all clients)."""
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_xadd", {}).get("calls", 0))


async def run_level(n: int, *, port: int, redis_url: str, gateway_pid: int, redis_pid: int, args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    rng = np.random.default_rng(n)
    frame = client_frame(0x2, rng.normal(0, 30, FRAME_SAMPLES).astype(np.int16).tobytes())  # quiet noise
    stop, results = ctx.Event(), ctx.Queue()
    processes = max(1, min(args.clients, n))
    shares = [n // processes + (1 if p < n % processes else 0) for p in range(processes)]
    # Handshakes spread over a frame period per 50 sessions, as a fleet of clients would arrive.
    clients = [ctx.Process(target=client_process, args=(port, share, frame, FRAME_MS / 1000 / 50 * processes,
                                                        stop, results), daemon=True)
               for share in shares]
    opening = time.monotonic()
    for process in clients:
        process.start()
    loop = asyncio.get_running_loop()
    opened = []
    for _ in clients:
        kind, report = await loop.run_in_executor(None, results.get)
        opened.extend(report)
    opened_in = time.monotonic() - opening
    ids = [sid for sid, _ in opened if sid]
    every = -(-len(ids) // args.sampled) if args.sampled else 0  # ceil: at most --sampled sessions
    sampled = {keys.SessionKeys(sid).input("vad"): sid for sid in (ids[::every] if every else [])}
    others = [keys.SessionKeys(sid).input("vad") for sid in ids if keys.SessionKeys(sid).input("vad") not in sampled]
    redis = aioredis.from_url(redis_url, max_connections=4)
    entries: list[tuple[str, int, int]] = []
    done_collecting = asyncio.Event()
    collector = asyncio.create_task(collect(redis, sampled, others, done_collecting, trim=args.workers == "none",
                                            entries=entries))
    await asyncio.sleep(args.warmup)
    probe_results = ctx.Queue()
    probe = ctx.Process(target=raw_xadd, args=(redis_url, args.seconds, args.raw_rate, 3300, probe_results))
    window = [time.time() * 1000, 0.0]
    pids = [p.pid for p in clients if p.pid is not None]  # (all started)
    cpu0, wall0 = cpu_seconds(gateway_pid), time.monotonic()
    others0 = cpu_seconds(redis_pid), sum(cpu_seconds(p) for p in pids), cpu_seconds(os.getpid())
    xadds0 = await xadd_calls(redis)
    load0 = os.getloadavg()
    probe.start()
    await asyncio.sleep(args.seconds)
    cpu1, wall1 = cpu_seconds(gateway_pid), time.monotonic()
    others1 = cpu_seconds(redis_pid), sum(cpu_seconds(p) for p in pids), cpu_seconds(os.getpid())
    xadds1 = await xadd_calls(redis)
    window[1] = time.time() * 1000
    load1 = os.getloadavg()
    rtt, stamp = await loop.run_in_executor(None, probe_results.get)
    probe.join()
    await asyncio.sleep(0.5)  # the collector reads the last frames of the window
    stop.set()
    reports, lateness = [], []
    for _ in clients:
        kind, report, late = await loop.run_in_executor(None, results.get)
        reports.extend(report)
        lateness.append(late)
    for process in clients:
        process.join(10)
    done_collecting.set()
    await collector
    sent = {sid: times for sid, _, times in reports if sid}
    latencies = [entry_ms - sent[sid][index] for sid, index, entry_ms in entries
                 if index < len(sent.get(sid, ())) and window[0] <= sent[sid][index] <= window[1]]
    frames_sampled = sum(1 for sid in sampled.values() for t in sent.get(sid, ()) if window[0] <= t <= window[1])
    await wait_released(redis, 30)
    await redis.aclose()
    wall = wall1 - wall0
    cores = (cpu1 - cpu0) / wall
    written = (xadds1 - xadds0 - len(rtt)) / wall  # the sessions' frames appended per second
    errors = [error for _, error, _ in reports if error]
    raw_p99 = percentile(rtt, 99)
    p99 = percentile(latencies, 99)
    return {
        "sessions": n, "opened": len(ids), "open_seconds": round(opened_in, 1),
        "errors": len(errors), "error_kinds": sorted({e[:70] for e in errors})[:5],
        "gateway_cores": round(cores, 3), "sessions_per_core": round(n / cores) if cores else None,
        "frames_per_s": round(written), "sessions_per_core_by_work": round(written / 10 / cores) if cores else None,
        "redis_cores": round((others1[0] - others0[0]) / wall, 3),
        "client_cores": round((others1[1] - others0[1]) / wall, 3), "client_processes": processes,
        "collector_cores": round((others1[2] - others0[2]) / wall, 3),
        "client_late_ms": {"p99": round(max(x["late_p99_ms"] for x in lateness), 1),
                           "max": round(max(x["late_max_ms"] for x in lateness), 1)},
        "sampled_sessions": len(sampled), "frames_sampled": frames_sampled, "frames_seen": len(latencies),
        "send_to_redis_ms": {"p50": round(percentile(latencies, 50), 2), "p99": round(p99, 2),
                             "max": round(max(latencies, default=float("nan")), 2)},
        "raw_xadd_ms": {"rtt_p50": round(percentile(rtt, 50), 2), "rtt_p99": round(raw_p99, 2),
                        "stamp_p99": round(percentile(stamp, 99), 2), "n": len(rtt)},
        "ratio_p99": round(p99 / raw_p99, 2) if rtt and latencies else None,
        "loadavg": [round(load0[0], 2), round(load1[0], 2)],
    }


async def wait_released(redis: aioredis.Redis, timeout: float) -> None:
    """Wait (bounded) until the gateway has released every session of the level."""
    deadline = time.monotonic() + timeout
    while await redis.zcard(keys.slots("vad")) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # polling the gateway's releases, with a deadline


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
        assert server.process is not None  # started
        print(json.dumps({"gateway_pid": gateway.proc.pid, "redis_pid": server.process.proc.pid}), flush=True)
        for n in levels:
            result = await run_level(n, port=port, redis_url=server.url, gateway_pid=gateway.proc.pid,
                                     redis_pid=server.process.proc.pid, args=args)
            result["gateway_alive"] = gateway.proc.poll() is None
            print(json.dumps(result), flush=True)
            if not result["gateway_alive"]:
                print(gateway.tail(), file=sys.stderr)
                break
        rc = gateway.stop(timeout=20)
        print(json.dumps({"gateway_exit": rc}), flush=True)
    finally:
        for process in processes:
            process.stop()
        server.close()


def wait_listening(port: int, timeout: float = 60.0) -> None:
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
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes")
    parser.add_argument("--sampled", type=int, default=200,
                        help="sessions whose frames are read back for send -> Redis (0: none)")
    parser.add_argument("--workers", choices=("none", "real"), default="none",
                        help="none: the bench stands in for the first stage; real: VAD and ASR workers")
    parser.add_argument("--raw-rate", type=float, default=200.0, help="raw XADD probes per second")
    args = parser.parse_args()
    print(json.dumps({"uptime": open("/proc/loadavg").read().strip(), "cpus": os.cpu_count()}), flush=True)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
