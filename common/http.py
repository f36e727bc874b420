"""A minimal HTTP endpoint for workers: ``/metrics``, ``/healthz`` and ``/readyz``.

Workers have no web framework; this answers plain GET requests on asyncio streams
and closes each connection after one response, which is all Prometheus and
container health checks need.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

# A readiness probe returns (ready, details) where details explain what is missing.
ReadinessProbe = Callable[[], Awaitable[tuple[bool, dict]]]


def metrics_body(registry: CollectorRegistry) -> tuple[bytes, str]:
    return generate_latest(registry), CONTENT_TYPE_LATEST


class HealthServer:
    """Serves the three endpoints on ``host:port`` until :meth:`close`."""

    def __init__(self, *, registry: CollectorRegistry, readiness: ReadinessProbe,
                 host: str = "0.0.0.0", port: int) -> None:
        self.registry = registry
        self.readiness = readiness
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("HTTP endpoints on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            status, body, content_type = await self.respond(path)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()

    async def respond(self, path: str) -> tuple[str, bytes, str]:
        if path == "/metrics":
            body, content_type = metrics_body(self.registry)
            return "200 OK", body, content_type
        if path == "/healthz":
            return "200 OK", b'{"status":"alive"}', "application/json"
        if path == "/readyz":
            ready, details = await self.readiness()
            body = json.dumps({"ready": ready, **details}).encode()
            return ("200 OK" if ready else "503 Service Unavailable"), body, "application/json"
        return "404 Not Found", b'{"error":"not found"}', "application/json"
