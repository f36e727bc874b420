from __future__ import annotations

import pytest
import redis as sync_redis

from .support import RedisServer, free_port, service
from .testdata import librivox_clips


@pytest.fixture(scope="session")
def clips():
    return librivox_clips()


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.close()


def session_keys(url: str) -> list[str]:
    client = sync_redis.Redis.from_url(url)
    try:
        return sorted(k.decode() for k in client.scan_iter("ss:{*"))
    finally:
        client.close()


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
        try:
            for i in range(vad_workers):
                self.add_worker("vad", env=env)
            for i in range(asr_workers):
                self.add_worker("asr", env=env)
            self.gateway = service("gateway", "gateway", "--host", "127.0.0.1", "--port", str(self.port), env=env)
            self.processes.append(self.gateway)
            for process in self.processes:
                process.wait_for_line(r"\bready\b", 60)
        except BaseException:
            self.close()
            raise

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

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail(60)}" for p in self.processes)

    def close(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture(scope="module")
def stack(redis_server):
    running = Stack(redis_server)
    yield running
    running.close()
