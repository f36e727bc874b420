"""Safe defaults, with real processes: where workers' HTTP listens, how a worker stops
without Redis, and secrets kept off the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit.support import ROOT, free_port, service, stopped_without_redis

pytestmark = pytest.mark.e2e

LISTEN = "0A"  # a listening socket's state in /proc/net/tcp


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp and tcp6 write them) of the sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].rpartition(":")
            if fields[3] == LISTEN and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_a_worker_serves_http_on_loopback_unless_told_otherwise(redis_server):
    port = free_port()
    worker = service("vad-bind", "vad_worker", "--http-port", str(port), "--worker-id", "vad-bind",
                     env={"STREAMSCRIBE_REDIS_URL": redis_server.url})
    try:
        worker.wait_for_line(r"\bready\b", 60)
        assert worker.wait_for_line(r"HTTP endpoints on", 1).endswith(f"HTTP endpoints on 127.0.0.1:{port}")
        # 127.0.0.1 in /proc/net/tcp's little-endian hex; no wildcard (00000000) or IPv6 listener.
        assert listening_addresses(port) == {"0100007F"}
    finally:
        assert worker.stop() == 0, worker.tail()


def test_a_worker_exits_cleanly_on_sigterm_while_redis_is_down():
    """Redis killed under a VAD worker, then SIGTERM: exit 0 at once, no traceback (the doorbell's
    reconnect used to read from a connection it had not opened: "pubsub connection not set")."""
    code, lines = stopped_without_redis("vad_worker", "vad-no-redis")
    logged = "\n".join(lines)
    assert code == 0, logged
    assert "Traceback" not in logged and "pubsub connection not set" not in logged, logged
    assert lines[-1].endswith("stopped"), logged


def test_a_secret_on_the_command_line_is_refused_before_anything_starts():
    """Refused by the parser (exit 2, one line naming the alternatives), so it never runs with it."""
    proc = subprocess.run([sys.executable, "-m", "gateway", "--api-key", "hunter2-key"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "--api-key" in proc.stderr and "STREAMSCRIBE_GATEWAY_API_KEY" in proc.stderr, proc.stderr
    assert "--allow-secrets-in-args" in proc.stderr and "hunter2-key" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
