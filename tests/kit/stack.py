"""The whole pipeline as real processes: the gateway, VAD and ASR workers against one Redis.

Used by the end-to-end tests (through the ``stacks`` fixture of tests/e2e/conftest.py)
and by the benchmarks that start their own stack.
"""

from __future__ import annotations

import itertools
import signal
import time

from common import keys

from .faults import metric, scrape
from .support import Process, RedisServer, close_all, free_port, service

# Worker ids, unique in the test run: the stacks of one module share its Redis and live until the
# module ends, and two live workers of one id (seen: two "asr0") overwrite each other's load, so
# a gateway admitted against the other stack's capacity (10 sessions for 4).
WORKER_NUMBERS = {"vad": itertools.count(), "asr": itertools.count(), "denoise": itertools.count()}

SESSION_KEYS = f"{keys.PREFIX}:{{*"  # every key of a session carries the hash tag {sid}
SLOT_KEYS = keys.slots("*")  # admission reservations, gone with the last session


class Stack:
    """Gateway, VAD and ASR workers as real processes against one redis-server."""

    def __init__(self, redis_server: RedisServer, *, vad_workers: int = 1, asr_workers: int = 1,
                 extra_env: dict | None = None, ready_timeout: float = 120.0) -> None:
        self.redis = redis_server
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ws/asr"
        self.http = f"http://127.0.0.1:{self.port}"
        env = {"STREAMSCRIBE_REDIS_URL": redis_server.url,
               # A recording's decodes at nice 19 starve behind the other test processes' stacks
               # (CI runs four): no final within the 120 s batch timeout. The tests check what a
               # recording gets; its priority is checked apart (test_whisper_engine, bench/).
               "STREAMSCRIBE_ASR_BATCH_NICE": "0",
               # Most tests send no recording: their workers start the child (a second model,
               # ~1.3 CPU s) at the first one. Its start with the worker is checked apart
               # (test_batch_pause).
               "STREAMSCRIBE_ASR_BATCH_CHILD_AT_START": "false",
               # A loaded CI box (four test processes' stacks on 2 cores) may take longer than the
               # defaults (30 s, 10 s) to bring a closed call's last finals, or to let a client
               # send again (seen: "results did not complete within 30 s" in four modules, a demo
               # page's idle_timeout). The tests check what arrives; the bounds they leave are the
               # tests' own. Tests of these rules set them (test_idle, tests.kit.abuse_review's flags).
               "STREAMSCRIBE_GATEWAY_RESULTS_TIMEOUT": "120",
               "STREAMSCRIBE_GATEWAY_IDLE_TIMEOUT": "60",
               # A partial decode every 2 s of new speech, not every 1 s: partials were ~60 % of the
               # suite's decode time, and the ASR workers ~40 % of its CPU (BENCHMARKS, "The test
               # suite on 2 cores"). The partial path is the same; the demo page's test
               # (test_browser.py) and the benches run the default cadence.
               "STREAMSCRIBE_ASR_CHUNK_SIZE_SEC": "2",
               # One thread per decode: four test processes' stacks share 2 cores, where a decode's
               # second thread only waits for a core (the same decodes, less CPU in all).
               "STREAMSCRIBE_ASR_CPU_THREADS": "1",
               **(extra_env or {})}
        self.env = env
        self.workers: dict[str, list[Process]] = {"vad": [], "asr": []}
        self.processes: list[Process] = []
        self.gateways: list[tuple[Process, int]] = []  # (process, port)
        self._retired_sessions = 0.0  # sessions created by gateways restarted since
        try:
            for i in range(vad_workers):
                self.add_worker("vad", env=env)
            for i in range(asr_workers):
                self.add_worker("asr", env=env)
            self.gateway = self._start_gateway("gateway", self.port)
            for process in self.processes:
                process.wait_for_line(r"\bready\b", ready_timeout)
        except BaseException:
            self.close()
            raise

    def _start_gateway(self, name: str, port: int, *flags: str):
        gateway = service(name, "gateway", "--host", "127.0.0.1", "--port", str(port), *flags, env=self.env)
        self.processes.append(gateway)
        self.gateways.append((gateway, port))
        return gateway

    def add_gateway(self, *flags: str) -> str:
        """Start one more gateway on the same Redis, with ``flags`` besides the stack's; return its
        WebSocket URL once it is ready."""
        port = free_port()
        self._start_gateway(f"gateway{len(self.gateways)}", port, *flags).wait_for_line(r"\bready\b", 60)
        return f"ws://127.0.0.1:{port}/ws/asr"

    def restart_gateway(self, index: int, *, timeout: float = 60.0, ready_timeout: float = 60.0) -> float:
        """Stop gateway ``index`` (SIGTERM, as a rolling upgrade does; killed after ``timeout``), start
        a new one on its port, wait until it is ready (``ready_timeout``); return the seconds the old
        one took to exit. The two bounds are apart: a test that bounds the old one's drain must not
        bound the new one's start with it (seen at a load average of 25: a new gateway not ready
        within 15 s, and the tests after it found no gateway)."""
        old, port = self.gateways[index]
        self._retired_sessions += metric(scrape(port), "streamscribe_gateway_sessions_total")
        started = time.monotonic()
        old.stop(timeout)
        stopped = time.monotonic() - started
        new = service(f"{old.name.split('@')[0]}@{len(self.processes)}", "gateway", "--host", "127.0.0.1",
                      "--port", str(port), env=self.env)
        self.processes.append(new)
        self.gateways[index] = (new, port)
        new.wait_for_line(r"\bready\b", ready_timeout)
        return stopped

    def sigterm_gateway(self, index: int):
        """SIGTERM gateway ``index`` (as a rolling upgrade does) without waiting or replacing it; its
        process. Its sessions so far still count in :meth:`sessions_created`."""
        process, port = self.gateways[index]
        self._retired_sessions += metric(scrape(port), "streamscribe_gateway_sessions_total")
        process.signal(signal.SIGTERM)
        return process

    def add_worker(self, stage: str, *, env: dict, args: tuple = ()):
        module = {"vad": "vad_worker", "asr": "asr_worker", "denoise": "denoise_worker"}[stage]
        name = f"{stage}{next(WORKER_NUMBERS[stage])}"  # its worker id too
        self.workers.setdefault(stage, [])
        worker = service(name, module, "--http-port", str(free_port()), "--lease-ttl", "2", "--worker-id", name,
                         *args, env=env)
        self.workers[stage].append(worker)
        self.processes.append(worker)
        return worker

    def worker(self, name: str):
        return next(w for ws in self.workers.values() for w in ws if w.name == name)

    def sessions_created(self) -> float:
        """Pipeline sessions the gateways of this stack created (their sessions_total counters, those of
        gateways since restarted included)."""
        return self._retired_sessions + sum(metric(scrape(port), "streamscribe_gateway_sessions_total")
                   for process, port in self.gateways if process.proc.poll() is None)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail(60)}" for p in self.processes)

    def close(self) -> None:
        """Stop every process, each even if stopping one before it failed (then raise the first
        failure): a teardown that gave up at one process left the rest running for the session."""
        close_all(process.stop for process in self.processes)
