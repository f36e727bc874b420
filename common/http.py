"""A minimal HTTP endpoint for workers: ``/metrics``, ``/healthz`` and ``/readyz``.

Workers have no web framework; this answers plain GET (and HEAD) requests on
asyncio streams and closes each connection after one response, which is all
Prometheus and container health checks need. Anything else gets a 4xx: other
methods 405, an over-long request line 414, too many or too long header lines
431, a client that does not finish its request in time nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .aio import within

log = logging.getLogger(__name__)

# A readiness probe returns (ready, details) where details explain what is missing.
ReadinessProbe = Callable[[], Awaitable[tuple[bool, dict]]]

READ_TIMEOUT = 5.0  # seconds for a client to send its whole request
MAX_LINE = 8192  # bytes of the request line and of each header line
MAX_HEADERS = 100


class _BadRequest(Exception):
    def __init__(self, status: str, message: str, extra: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra  # more header lines, each ending in CRLF


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
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=MAX_LINE)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("HTTP endpoints on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                method, path = await within(_read_request(reader), READ_TIMEOUT)
                status, body, content_type = await self.respond(path)
                extra = ""
            except _BadRequest as exc:
                status, body, content_type, extra = exc.status, f'{{"error":"{exc}"}}'.encode(), \
                    "application/json", exc.extra
                method = ""
            head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n").encode()
            writer.write(head if method == "HEAD" else head + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
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


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """(method, path) of one request, its headers read and ignored; :class:`_BadRequest` if refused."""
    try:
        request_line = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError):  # no newline within MAX_LINE bytes
        raise _BadRequest("414 URI Too Long", "request line too long") from None
    parts = request_line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest("400 Bad Request", "not an HTTP request")
    for _ in range(MAX_HEADERS):
        try:
            line = await reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            raise _BadRequest("431 Request Header Fields Too Large", "header line too long") from None
        if line in (b"\r\n", b"\n", b""):
            break
    else:
        raise _BadRequest("431 Request Header Fields Too Large", "too many header lines")
    method, target = parts[0], parts[1]
    if method not in ("GET", "HEAD"):
        raise _BadRequest("405 Method Not Allowed", "method not allowed", "Allow: GET, HEAD\r\n")
    return method, target.split("?")[0]
