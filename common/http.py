"""``/metrics``, ``/healthz`` and ``/readyz``: one routing for every process.

:func:`health_route` answers the three paths; the gateway calls it from its
WebSocket server's HTTP hook, and workers, which have no web framework, from
:class:`HealthServer`: plain GET requests on asyncio streams, one response per
connection, which is all Prometheus and container health checks need.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .aio import within

log = logging.getLogger(__name__)

# A readiness probe returns (ready, details) where details explain what is missing.
ReadinessProbe = Callable[[], Awaitable[tuple[bool, dict]]]


JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP response, whatever the server that sends it."""

    status: http.HTTPStatus
    body: bytes
    content_type: str = JSON


NOT_FOUND = Reply(http.HTTPStatus.NOT_FOUND, b'{"error":"not found"}')


async def health_route(path: str, *, registry: CollectorRegistry, readiness: ReadinessProbe) -> Reply | None:
    """The reply to a GET of ``path`` if it is ``/metrics``, ``/healthz`` or ``/readyz``, else None.

    ``/healthz`` says the process runs; ``/readyz`` is 503 with the probe's
    details while it is not ready to take sessions.
    """
    if path == "/metrics":
        return Reply(http.HTTPStatus.OK, generate_latest(registry), CONTENT_TYPE_LATEST)
    if path == "/healthz":
        return Reply(http.HTTPStatus.OK, b'{"status":"alive"}')
    if path == "/readyz":
        ready, details = await readiness()
        status = http.HTTPStatus.OK if ready else http.HTTPStatus.SERVICE_UNAVAILABLE
        return Reply(status, json.dumps({"ready": ready, **details}).encode())
    return None


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
            request_line = await within(reader.readline(), 5)
            while (await within(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            reply = await health_route(path, registry=self.registry, readiness=self.readiness) or NOT_FOUND
            writer.write(
                f"HTTP/1.1 {reply.status.value} {reply.status.phrase}\r\nContent-Type: {reply.content_type}\r\n"
                f"Content-Length: {len(reply.body)}\r\nConnection: close\r\n\r\n".encode() + reply.body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
