"""The gateway server: the doors' WebSockets and HTTP on one port.

A WebSocket handshake is routed by path to a door (:mod:`gateway.protocols`),
which may refuse it (HTTP 4xx) from what the request says; an accepted
connection is driven by :class:`~gateway.connection.Connection`. Other GET
requests get the browser demo, health, readiness and metrics.
"""

from __future__ import annotations

import http
import json
import logging
import weakref
from dataclasses import dataclass
from importlib import resources

from prometheus_client import CollectorRegistry
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from common import bus
from common.errors import ErrorCode
from common.http import metrics_body
from common.metrics import GatewayMetrics

from .connection import Connection, ConnectionOptions
from .hub import HubOptions, SessionHub
from .protocols import ROUTES, door_for
from .protocols.base import Door, DoorOptions, Handshake, HandshakeRefused

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenOptions:
    host: str = "0.0.0.0"
    port: int = 8000
    max_frame_bytes: int = 1 << 20  # largest WebSocket message


class Gateway:
    def __init__(self, redis: bus.Redis, *, registry: CollectorRegistry, listen: ListenOptions = ListenOptions(),
                 connection: ConnectionOptions = ConnectionOptions(), hub: HubOptions = HubOptions(),
                 doors: DoorOptions = DoorOptions()) -> None:
        self.registry = registry
        self.metrics = GatewayMetrics(registry)
        self.listen = listen
        self.connection_options = connection
        self.door_options = doors
        self.hub = SessionHub(redis, options=hub, metrics=self.metrics)
        self.port = listen.port
        self._server = None
        # Built at the handshake, taken by the handler; a handshake that fails drops its door.
        self._doors: weakref.WeakKeyDictionary[ServerConnection, Door] = weakref.WeakKeyDictionary()
        self._page = resources.files("gateway").joinpath("static/index.html").read_bytes()
        self._closed = False
        for door in ROUTES.values():  # export every door's series from the start
            self.metrics.connections.labels(protocol=door.name)
            self.metrics.sessions_active.labels(protocol=door.name)
            self.metrics.sessions.labels(protocol=door.name)

    async def start(self) -> None:
        await self.hub.start()
        self._server = await serve(
            self._handle, self.listen.host, self.listen.port, process_request=self._http,
            process_response=self._add_headers, max_size=self.listen.max_frame_bytes,
            ping_interval=20, ping_timeout=20,
        )
        if self._server.sockets:
            self.port = self._server.sockets[0].getsockname()[1]
        log.info("gateway %s listening on %s:%d", self.hub.gateway_id, self.listen.host, self.port)

    async def close(self) -> None:
        """Stop accepting, close open connections, stop the hub; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.hub.close()

    # -- HTTP and handshakes ----------------------------------------------------------

    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        handshake = Handshake.from_target(request.path, request.headers)
        door = door_for(handshake.path)
        if door is not None:
            try:
                self._doors[connection] = door(handshake, options=self.door_options)
            except HandshakeRefused as exc:
                return _response(http.HTTPStatus(exc.status), exc.body, exc.content_type)
            return None  # the WebSocket handshake proceeds
        path = handshake.path
        if "upgrade" in request.headers.get("Connection", "").lower():
            body = {"error": str(ErrorCode.NOT_FOUND),
                    "message": f"no WebSocket endpoint at {path}; use one of {', '.join(ROUTES)}"}
            return _response(http.HTTPStatus.NOT_FOUND, json.dumps(body).encode(), "application/json")
        if path in ("/", "/index.html"):
            return _response(http.HTTPStatus.OK, self._page, "text/html; charset=utf-8")
        if path == "/healthz":
            return _response(http.HTTPStatus.OK, b'{"status":"alive"}', "application/json")
        if path == "/readyz":
            ready, details = await self.hub.readiness()
            status = http.HTTPStatus.OK if ready else http.HTTPStatus.SERVICE_UNAVAILABLE
            return _response(status, json.dumps({"ready": ready, **details}).encode(), "application/json")
        if path == "/metrics":
            body, content_type = metrics_body(self.registry)
            return _response(http.HTTPStatus.OK, body, content_type)
        return _response(http.HTTPStatus.NOT_FOUND, b'{"error":"not found"}', "application/json")

    def _add_headers(self, connection: ServerConnection, request: Request, response: Response) -> None:
        door = self._doors.get(connection)
        if door is not None and response.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS:
            for name, value in door.response_headers():
                response.headers[name] = value

    # -- WebSocket ----------------------------------------------------------------------

    async def _handle(self, websocket: ServerConnection) -> None:
        door = self._doors.pop(websocket)
        gauge = self.metrics.connections.labels(protocol=door.name)
        gauge.inc()
        try:
            await Connection(websocket, door, self.hub, options=self.connection_options).run()
        finally:
            gauge.dec()


def _response(status: http.HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store")])
    return Response(status.value, status.phrase, headers, body)
