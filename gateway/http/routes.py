"""The gateway's plain HTTP: GET routes open to all, and the responses that refuse a handshake.

The routes: the browser demo (``/``), ``/metrics``, ``/healthz``, ``/readyz``
(:mod:`common.http`) and the status pages ``/health`` and ``/health/extended``
(:mod:`gateway.http.status`). Every response says ``Cache-Control: no-store``.
Which methods and bodies the gateway takes is :func:`method_refusal`'s to say.
"""

from __future__ import annotations

import http
import json
from collections.abc import Iterable
from importlib import resources

from prometheus_client import CollectorRegistry
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from common.http import NOT_FOUND, ReadinessProbe, health_route

from .status import GatewayStatus
from .wire import has_body

METHODS = ("GET", "HEAD")  # every route's; a WebSocket handshake is a GET


class Pages:
    """The replies to GET requests that open no WebSocket."""

    def __init__(self, *, registry: CollectorRegistry, readiness: ReadinessProbe, status: GatewayStatus) -> None:
        self.registry = registry
        self.readiness = readiness
        self.status = status
        self._demo = resources.files("gateway").joinpath("static/index.html").read_bytes()

    async def reply(self, path: str) -> Response:
        if path in ("/", "/index.html"):
            return response(http.HTTPStatus.OK, self._demo, "text/html; charset=utf-8")
        reply = (await health_route(path, registry=self.registry, readiness=self.readiness)
                 or await self.status.route(path) or NOT_FOUND)
        return response(reply.status, reply.body, reply.content_type)


def method_refusal(request: Request) -> Response | None:
    """The answer to a request refused for its method or its body; None when it goes on to its route."""
    if request.method not in METHODS:
        allowed = ", ".join(METHODS)
        return refusal(http.HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed",
                       f"{request.method} is not allowed here; use {allowed}", [("Allow", allowed)])
    if has_body(request.headers):
        return refusal(http.HTTPStatus.BAD_REQUEST, "bad_request", f"a {request.method} request has no body")
    return None


def refusal(status: http.HTTPStatus, error: str, message: str,
            headers: Iterable[tuple[str, str]] = ()) -> Response:
    """An HTTP refusal of a handshake or request, with a JSON body saying why."""
    refused = response(status, json.dumps({"error": error, "message": message}).encode(), "application/json")
    for name, value in headers:
        refused.headers[name] = value
    return refused


def response(status: http.HTTPStatus, body: bytes, content_type: str,
             extra_headers: Iterable[tuple[str, str]] = ()) -> Response:
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store"), *extra_headers])
    return Response(status.value, status.phrase, headers, body)
