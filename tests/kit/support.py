"""Test helpers: a real redis-server on a free port, service processes, WER."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import redis as sync_redis
from websockets.datastructures import Headers

from common.checkpoint import CheckpointPolicy
from common.commits import plan
from common.pipeline_config import PipelineConfig
from common.stage import Session, Write
from gateway.doors import httpsig

from . import contract

ROOT = Path(__file__).resolve().parents[2]


LOWEST_PORT = 10_000
SLICES = 8  # test processes with port ranges of their own (workers gw8 on share gw0's)
_HANDED_OUT: set[int] = set()  # this process's ports handed out by free_port()
KILL_TIMEOUT = 30.0  # seconds for a SIGKILLed child to be gone


def close_all(closers: Iterable[Callable[[], object]]) -> None:
    """Call each of ``closers`` (callables: a process's stop, a stack's close), each even if one
    before it failed, then raise the first failure: a teardown that gave up at the first failure
    left the rest running for the whole session."""
    failures = []
    for close in closers:
        try:
            close()
        except Exception as exc:  # noqa: BLE001 - raised below, after the others
            failures.append(exc)
    if failures:
        raise failures[0]


def free_port() -> int:
    """A port nobody listens on now, below the kernel's ephemeral range. A port the kernel hands
    out for port 0 comes from that range, where every outgoing connection (a Redis client, a
    scrape) takes its local port too, so one of them could take it before the service that was
    given it binds it (seen: a worker that loaded its model first failed "address already in use")."""
    ephemeral = 32768
    with contextlib.suppress(OSError, ValueError):
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    if ephemeral - LOWEST_PORT < 1000:  # no room below it on this host: the kernel's choice
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    # Each test process (pytest-xdist's PYTEST_XDIST_WORKER gwN) draws from a slice of its own,
    # and never draws a port it handed out before (until it has drawn every port of its
    # slice): a port handed out is free only until its service binds it, and another
    # process or test drawing it in that window failed to bind (seen in CI: a gateway's
    # raw TCP door, "address already in use").
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    width = (ephemeral - LOWEST_PORT) // SLICES
    first = LOWEST_PORT + (worker % SLICES) * width
    ports = range(first, first + width)
    if len(_HANDED_OUT) >= width // 2:
        _HANDED_OUT.clear()
    for _ in range(200):
        port = secrets.choice(ports)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError(f"no free port from {ports.start} to {ports.stop - 1}")


class Process:
    """A child process whose stderr lines are kept and can be waited for."""

    def __init__(self, name: str, argv: list[str], *, env: dict | None = None, cwd: Path = ROOT) -> None:
        self.name = name
        self.argv = argv
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None  # a pipe
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float, *, start: int = 0) -> str:
        """Block until a line matching ``pattern`` appears (from index ``start``)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        index = start
        with self._changed:
            while True:
                while index < len(self.lines):
                    if regex.search(self.lines[index]):
                        return self.lines[index]
                    index += 1
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.name}: no line matching {pattern!r} in {timeout}s:\n{self.tail()}")
                self._changed.wait(remaining)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(5)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            # Bounded, generously: a model-sized process took over 5 s to go at a load average of 36.
            self.proc.wait(KILL_TIMEOUT)


def memory_dir(prefix: str) -> str:
    """A new temporary folder in memory (/dev/shm where the machine has one, else the default).

    For the files that redis-sentinel and Redis Cluster nodes rewrite and fsync at each change of
    state, in the middle of a failover: on a disk the suite keeps busy one fsync took 3 s, the
    sentinel saw its own timer late by more than 2 s and went into TILT (it stops acting for 30 s),
    and the failover a test waited for came 30 s late. What the tests check is the service
    through a failover, not the disk under it."""
    shm = Path("/dev/shm")
    return tempfile.mkdtemp(prefix=prefix, dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None)


class RedisServer:
    """A throw-away redis-server on a free loopback port (no persistence)."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (Debian package redis-server)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="ss-redis-")
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = Process("redis", ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--dir", self.dir])
        self.process.wait_for_line(r"Ready to accept connections", 10)
        contract.WATCH.watch(self.url)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.proc.poll() is None:  # its finals, before they go with it (nothing to read if killed)
                contract.WATCH.collect(self.url)
            contract.WATCH.forget(self.url)  # (a test that kills its Redis lost those since the last read)
            self.process.stop()
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def keys(self, pattern: str) -> list[str]:
        """Keys matching ``pattern`` (as :meth:`tests.kit.cluster.RedisClusterServer.keys` offers)."""
        client = sync_redis.Redis.from_url(self.url)
        try:
            return sorted(key.decode() for key in client.scan_iter(pattern))
        finally:
            client.close()


def service(name: str, module: str, *args: str, env: dict | None = None) -> Process:
    return Process(name, [sys.executable, "-m", module, *args], env=env)


@contextlib.contextmanager
def extra_gateway(name: str, *flags: str, env: dict):
    """One more gateway on a free loopback port with ``flags`` (a stack's ``env``: its Redis), ready;
    yields its port and stops it after."""
    port = free_port()
    gateway = service(name, "gateway", "--host", "127.0.0.1", "--port", str(port), *flags, env=env)
    try:
        gateway.wait_for_line(r"\bready\b", 60)
        yield port
    finally:
        gateway.stop()


def stopped_without_redis(module: str, name: str) -> tuple[int, list[str]]:
    """A worker of ``module`` on a Redis of its own, that Redis killed, then SIGTERM once the worker
    noticed: its exit status and its log lines (both the e2e test and bench.abuse look at them)."""
    redis = RedisServer()
    redis.start()
    worker = service(name, module, "--http-port", str(free_port()), "--worker-id", name,
                     env={"STREAMSCRIBE_REDIS_URL": redis.url})
    try:
        worker.wait_for_line(r"\bready\b", 60)
        assert redis.process is not None  # started
        redis.process.kill()  # by its pid: SIGKILL, no shutdown of its own
        # A sweep fails one --sweep-interval (1 s) later: the doorbell (first retry after 0.1 s)
        # has failed to reconnect by then.
        mark = len(worker.lines)
        worker.wait_for_line(r"doorbell connection lost", 30)
        worker.wait_for_line(r"sweep failed", 30, start=mark)
        worker.signal(signal.SIGTERM)
        code = worker.proc.wait(15)
        worker.stop()  # joins the output reader
        return code, worker.lines
    finally:
        worker.stop()
        redis.close()


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation, with the abbreviations the references spell out."""
    text = text.lower().replace("mr.", "mister").replace("mrs.", "missus").replace("-", " ")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return text.split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Words substituted, deleted or inserted to turn ``ref`` into ``hyp`` (Levenshtein over words)."""
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length)."""
    ref = normalise(reference)
    return edit_distance(ref, normalise(hypothesis)), len(ref)


def wait_until(condition, timeout: float, what: str, interval: float = 0.2):
    """Poll ``condition`` until it returns a truthy value (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            last = condition()
        except (OSError, ValueError) as exc:  # not listening yet, connection refused, bad JSON
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")
        time.sleep(interval)  # the polling interval of a bounded wait, not synchronisation


def wait_for_workers(http: str, stages, timeout: float = 30.0, *, exactly: int | None = None) -> None:
    """Until the gateway sees a live worker of each stage (workers register on their first heartbeat);
    with ``exactly``, that many and no more (a stopped worker of an earlier stack lingers until
    its registration lapses)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(http + "/readyz", timeout=5) as response:
                workers = json.load(response).get("workers", {})
        except urllib.error.HTTPError as exc:  # 503 until ready
            workers = json.loads(exc.read()).get("workers", {})
        if all(workers.get(stage, 0) >= 1 if exactly is None else workers.get(stage, 0) == exactly
               for stage in stages):
            return
        assert time.monotonic() < deadline, f"workers not live after {timeout} s: {workers}"
        time.sleep(0.2)  # polling a condition with a deadline


class RecordingRunner:
    """Stands in for a stage's StageRunner in process (the ``common.stage.Runner`` protocol).

    ``build_stage`` makes the stage, given this runner (:attr:`stage`). Each write is
    numbered and checkpointed as the real runner does (``common.commits.plan``), with
    a checkpoint due at every write that may carry one, and kept as (outputs, consumed,
    state, finish, output seq after it); ``finished`` is set when the stage passes the
    End of the session on.
    """

    def __init__(self, build_stage) -> None:
        self.commits: list[tuple[list, str | None, bytes, bool, int]] = []
        self.finished = asyncio.Event()
        self.stage = build_stage(self)

    def open(self, session_id: str, *, config=None, next_stage: str | None = None, epoch: int = 1,
             state: bytes | None = None):
        """A session of the stage owned at ``epoch``, opened from checkpoint ``state`` if given."""
        session: Session = Session(session_id=session_id, stage=self.stage.name, epoch=epoch, token=f"w:{epoch}",
                          config=config or PipelineConfig(), next_stage=next_stage)
        session.state = self.stage.open(session, state)
        return session

    async def commit(self, session, outputs=(), *, consumed=None, boundary=False, to_client=()):
        write = Write(session, list(outputs), consumed=consumed, boundary=boundary, to_client=list(to_client))
        planned = plan(write, policy=CheckpointPolicy(0), snapshot=self.stage.snapshot)
        if planned is None:
            return
        numbered = [dataclasses.replace(r, seq=seq) for seq, r in enumerate(write.outputs, planned.first_seq)]
        checkpoint = planned.checkpoint
        self.commits.append(([*numbered, *write.to_client], checkpoint.consumed if checkpoint else None,
                             checkpoint.state if checkpoint else b"", planned.finish, session.output_seq))
        if planned.finish:
            self.finished.set()

    async def commit_all(self, writes):
        for write in writes:
            await self.commit(write.session, write.outputs, consumed=write.consumed, boundary=write.boundary,
                              to_client=write.to_client)
        return [None] * len(writes)

    async def report(self, session, code, message, *, fatal=False):
        raise AssertionError(f"stage reported {code}: {message}")

    def wake(self, session) -> None:
        pass

    def outputs(self) -> list:
        """Every record committed, in order."""
        return [record for outputs, *_ in self.commits for record in outputs]

async def paced(items, interval_ms: float, *, speed: float = 1.0):
    """Yield ``items`` ``interval_ms`` apart in audio time, at ``speed`` times real time."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for index, item in enumerate(items):
        delay = started + index * interval_ms / 1000 / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing, not synchronisation
        yield item


def pcm_chunks(pcm: bytes, chunk_ms: int = 100, *, rate: int = 16_000) -> list[bytes]:
    """``pcm`` (16-bit mono) cut into ``chunk_ms`` chunks."""
    step = rate * 2 * chunk_ms // 1000
    return [pcm[start:start + step] for start in range(0, len(pcm), step)]


async def converse(websocket, send, on_text, *, timeout: float) -> None:
    """Run ``send()`` while handing every text message to ``on_text``, until the server closes.

    Raises ``TimeoutError`` if the conversation takes longer than ``timeout`` seconds.
    """
    from websockets.exceptions import ConnectionClosed

    sender = asyncio.create_task(send())
    try:
        async with asyncio.timeout(timeout):
            try:
                async for text in websocket:
                    on_text(text)
            except ConnectionClosed:
                pass
            await sender
    finally:
        sender.cancel()


def sound_runs(samples: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each stretch of non-zero ``samples``: the speech a fake engine that times
    words hears in a request's audio (silence is exact zeros there)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(samples) != 0, [0]]).astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


class ManualClock:
    """A monotonic clock that moves only when a test sets ``now``."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def eventually(condition, timeout: float, what: str, interval: float = 0.05) -> None:
    """Await until ``condition()`` (a function, or a coroutine function) is truthy; fail after ``timeout`` s."""
    import inspect

    try:
        async with asyncio.timeout(timeout):
            while True:
                result = condition()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(interval)  # the polling interval of a bounded wait on a condition
    except TimeoutError:
        raise AssertionError(f"{what}: not within {timeout} s") from None


def cpu_seconds(pid: int, *, thread: int | None = None) -> float:
    """User + system CPU seconds a process (or one of its threads) has used so far, from ``/proc``."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def audiohook_signature(secret: bytes, *, target: str, headers: dict[str, str], created: int,
                        components: tuple[str, ...] | None = None, alg: str = "hmac-sha256",
                        keyid: str | None = None, expires: int | None = None,
                        nonce: str | None = None) -> dict[str, str]:
    """The ``Signature-Input`` and ``Signature`` headers Genesys AudioHook adds to a handshake.

    ``headers`` must hold ``Host`` and the covered headers; ``components`` default to the
    ones Genesys covers; ``keyid`` defaults to the ``X-API-KEY`` header; ``nonce`` to a new
    random one, as each handshake has (the gateway takes a nonce once).
    """
    nonce = secrets.token_urlsafe(16) if nonce is None else nonce
    components = httpsig.REQUIRED if components is None else components
    received = Headers(headers)
    # str(): a component the request lacks signs "None", as tests of unsupported components want.
    lines = [(name, str(httpsig.component_value(name, target=target, headers=received))) for name in components]
    keyid = headers["X-API-KEY"] if keyid is None else keyid
    covered = " ".join(f'"{name}"' for name in components)
    params = f'({covered});keyid="{keyid}";nonce="{nonce}";alg="{alg}";created={created}'
    if expires is not None:
        params += f";expires={expires}"
    signature = httpsig.digest(secret, httpsig.signature_base(lines, params))
    return {"Signature-Input": f"sig1={params}", "Signature": f"sig1=:{base64.b64encode(signature).decode()}:"}
