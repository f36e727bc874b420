"""HAProxy (the Debian package) in front of a stack's gateways: a real balancer for rolling restarts.

Round robin over the gateways, each checked on ``/readyz`` every half second; a
connection refused by a gateway that is going away is retried on another one
(``option redispatch 1``), so a client that reconnects during a restart reaches
a live gateway. WebSockets are tunnels: ``timeout tunnel`` bounds them, not the
request timeouts.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .support import Process, free_port, wait_until

HAPROXY = "/usr/sbin/haproxy"

CONFIG = """\
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
frontend streamscribe
    bind 127.0.0.1:{port}
    default_backend gateways
backend gateways
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fastinter 250ms fall 1 rise 1
{servers}
"""


class Balancer:
    """An HAProxy process on a free port, balancing over ``ports`` (the gateways' HTTP ports)."""

    def __init__(self, ports: list[int]) -> None:
        binary = shutil.which("haproxy") or (HAPROXY if Path(HAPROXY).exists() else None)
        if binary is None:
            raise RuntimeError("haproxy is not installed (Debian package haproxy)")
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ws/asr"
        self.dir = Path(tempfile.mkdtemp(prefix="ss-haproxy-"))
        config = self.dir / "haproxy.cfg"
        servers = "\n".join(f"    server gw{i} 127.0.0.1:{port} check" for i, port in enumerate(ports))
        config.write_text(CONFIG.format(port=self.port, servers=servers))
        self.process = Process("haproxy", [binary, "-f", str(config), "-db"])
        try:
            wait_until(lambda: self._listening(), 10, "haproxy listening")
        except BaseException:
            self.close()
            raise

    def _listening(self) -> bool:
        import socket

        if self.process.proc.poll() is not None:
            raise RuntimeError(f"haproxy exited:\n{self.process.tail()}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def close(self) -> None:
        self.process.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
