"""``/metrics``, ``/healthz`` and ``/readyz``: one routing for every process.

Workers have no web framework: :class:`HealthServer` answers plain GET (and
HEAD) requests on asyncio streams, closing each connection after one response,
which is all Prometheus and container health checks need; anything else gets a
4xx (other methods 405, an over-long request line 414, too many or too long
header lines 431, a client that does not finish its request in time nothing).
The gateway calls :func:`health_route` from its WebSocket server's HTTP hook.
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

READ_TIMEOUT = 5.0  # seconds for a client to send its whole request
MAX_LINE = 8192  # bytes of the request line and of each header line
MAX_HEADERS = 100


class _BadRequest(Exception):
    def __init__(self, status: str, message: str, extra: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra  # more header lines, each ending in CRLF


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
                 host: str = "127.0.0.1", port: int) -> None:
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
                reply = await health_route(path, registry=self.registry, readiness=self.readiness) or NOT_FOUND
                status, body, content_type = f"{reply.status.value} {reply.status.phrase}", reply.body, \
                    reply.content_type
                extra = ""
            except _BadRequest as exc:
                status, body, content_type, extra = exc.status, f'{{"error":"{exc}"}}'.encode(), JSON, exc.extra
                method = ""
            head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n").encode()
            writer.write(head if method == "HEAD" else head + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()



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
