"""The whole pipeline as real processes: the gateway, VAD and ASR workers against one Redis.

Used by the end-to-end tests (through the ``stacks`` fixture of tests/e2e/conftest.py)
and by the benchmarks that start their own stack.
"""

from __future__ import annotations

from common import keys

from .faults import metric, scrape
from .support import RedisServer, free_port, service

SESSION_KEYS = f"{keys.PREFIX}:{{*"  # every key of a session carries the hash tag {sid}
SLOT_KEYS = keys.slots("*")  # admission reservations, gone with the last session


class Stack:
    """Gateway, VAD and ASR workers as real processes against one redis-server."""

    def __init__(self, redis_server: RedisServer, *, vad_workers: int = 1, asr_workers: int = 1,
                 extra_env: dict | None = None) -> None:
        self.redis = redis_server
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ws/asr"
        self.http = f"http://127.0.0.1:{self.port}"
        env = {"STREAMSCRIBE_REDIS_URL": redis_server.url, **(extra_env or {})}
        self.env = env
        self.workers = {"vad": [], "asr": []}
        self._started = {"vad": 0, "asr": 0}  # worker ids are never reused
        self.processes = []
        self.gateways = []  # (process, port)
        try:
            for i in range(vad_workers):
                self.add_worker("vad", env=env)
            for i in range(asr_workers):
                self.add_worker("asr", env=env)
            self.gateway = self._start_gateway("gateway", self.port)
            for process in self.processes:
                process.wait_for_line(r"\bready\b", 60)
        except BaseException:
            self.close()
            raise

    def _start_gateway(self, name: str, port: int):
        gateway = service(name, "gateway", "--host", "127.0.0.1", "--port", str(port), env=self.env)
        self.processes.append(gateway)
        self.gateways.append((gateway, port))
        return gateway

    def add_gateway(self) -> str:
        """Start one more gateway on the same Redis; return its WebSocket URL once it is ready."""
        port = free_port()
        self._start_gateway(f"gateway{len(self.gateways)}", port).wait_for_line(r"\bready\b", 60)
        return f"ws://127.0.0.1:{port}/ws/asr"

    def add_worker(self, stage: str, *, env: dict, args: tuple = ()):
        module = {"vad": "vad_worker", "asr": "asr_worker"}[stage]
        name = f"{stage}{self._started[stage]}"
        self._started[stage] += 1
        worker = service(name, module, "--http-port", str(free_port()), "--lease-ttl", "2", "--worker-id", name,
                         *args, env=env)
        self.workers[stage].append(worker)
        self.processes.append(worker)
        return worker

    def worker(self, name: str):
        return next(w for ws in self.workers.values() for w in ws if w.name == name)

    def sessions_created(self) -> float:
        """Pipeline sessions the gateways of this stack created (their sessions_total counters)."""
        return sum(metric(scrape(port), "streamscribe_gateway_sessions_total")
                   for process, port in self.gateways if process.proc.poll() is None)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail(60)}" for p in self.processes)

    def close(self) -> None:
        for process in self.processes:
            process.stop()
