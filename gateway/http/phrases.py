"""The admin API of a tenant's phrase list: ``GET``, ``PUT`` and ``DELETE /v1/analytics/phrases``.

The phrases that a tenant's analysed calls spot (docs/analytics.md "Phrases") come from its keys
file's ``phrases=``, or from here: a list set here replaces the keys file's, for calls that open
after the change, on every gateway (it is kept in Redis: :mod:`gateway.core.phrase_lists`);
deleting it brings the keys file's back. Who may: a key with ``perms=settings``, for its own
tenant; a key with ``perms=admin``, for any tenant, named by ``?tenant=`` (the gate,
:class:`~gateway.security.gate.Purpose.SETTINGS`). A key may not read another tenant's list
either: a tenant's phrases say what it listens for.

- ``GET``: ``{"tenant", "phrases", "source"}``: the list its calls get now, and where it comes from
  (``api``, ``keys_file``, or ``none``).
- ``PUT`` with ``{"phrases": [...]}`` (JSON, at most :data:`MAX_BODY` bytes): the new list, checked
  as a call's (1 to 200 phrases of at most 100 characters and 12 words, each with a letter or digit);
  answers as ``GET`` does. An empty list is refused: ``DELETE`` removes a list.
- ``DELETE``: removes the tenant's list; answers as ``GET`` does (the keys file's list, if any).

Errors are JSON ``{"error", "message"}``: 400 for a bad list or body (saying which phrase and why),
403 for a key that may not, 404 for a ``PUT`` for a tenant no API key belongs to (an admin key's
typo would otherwise store a list no call ever reads; ``GET`` and ``DELETE`` still answer, so a
list left by a tenant since removed can be read and deleted), 405 for another method, 413 for a
body over :data:`MAX_BODY`, 503 when Redis cannot be reached.
"""

from __future__ import annotations

import http
import json
import logging
from collections.abc import Callable

from redis.exceptions import RedisError
from websockets.http11 import Request, Response

from common import bus
from common.errors import ConfigError

from ..core import phrase_lists
from ..policy.analytics import MAX_PHRASES, TenantAnalytics, parse_phrases
from .routes import refusal, response
from .wire import BodyError, GatewayConnection, has_body

log = logging.getLogger(__name__)

ROUTE = "/v1/analytics/phrases"
METHODS = ("GET", "HEAD", "PUT", "DELETE")
MAX_BODY = 64 * 1024  # bytes of a PUT's body: 200 phrases of 100 characters, escaped, fit with room
BODY_TIMEOUT = 10.0  # seconds without a byte of the body before the request is answered 408


def parse_body(data: bytes) -> tuple[str, ...]:
    """A PUT's body, ``{"phrases": [...]}``, as the list to store; :class:`ConfigError` saying what is wrong."""
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ConfigError('the body is not JSON; send {"phrases": ["cancel my account", ...]}') from None
    except RecursionError:  # (as the WebSocket doors answer it: gateway.doors.kit)
        raise ConfigError("the body is nested too deeply") from None
    if not isinstance(body, dict) or "phrases" not in body:
        raise ConfigError('the body must be a JSON object with "phrases", a list of phrases')
    unknown = sorted(set(body) - {"phrases"})
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(map(str, unknown))[:200]}; the body has \"phrases\" only")
    if body["phrases"] == []:
        raise ConfigError("phrases is empty; send DELETE to remove the tenant's list (its keys file's applies then)")
    return parse_phrases(body["phrases"])


class PhraseLists:
    """Serves the route for a gateway: ``redis`` where the lists are, ``keys_file`` a tenant's keys-file
    settings, ``knows`` whether a tenant is one an API key belongs to now."""

    def __init__(self, redis: bus.Redis, *, keys_file: Callable[[str], TenantAnalytics],
                 knows: Callable[[str], bool]) -> None:
        self.redis = redis
        self.keys_file = keys_file
        self.knows = knows

    async def serve(self, connection: GatewayConnection, request: Request, tenant: str) -> Response:
        """Answer ``request`` for ``tenant``, whose settings the gate let its key read and change."""
        try:
            if request.method in ("GET", "HEAD"):
                if has_body(request.headers):
                    return refusal(http.HTTPStatus.BAD_REQUEST, "bad_request", f"a {request.method} request has "
                                                                               "no body")
                return await self._current(tenant)
            if request.method == "DELETE":
                if await phrase_lists.delete(self.redis, tenant):
                    log.info("tenant %s's phrase list was deleted over the admin API", tenant)
                return await self._current(tenant)
            return await self._put(connection, request, tenant)
        except RedisError as exc:
            log.warning("tenant phrase lists: Redis failed: %s", exc)
            return refusal(http.HTTPStatus.SERVICE_UNAVAILABLE, "unavailable",
                           "the service cannot reach its store; try again")

    async def _put(self, connection: GatewayConnection, request: Request, tenant: str) -> Response:
        if not self.knows(tenant):
            return refusal(http.HTTPStatus.NOT_FOUND, "unknown_tenant",
                           f"no API key belongs to tenant {tenant!r}: a phrase list is set for a tenant of the "
                           "keys file (tenant=...), add a key of it first")
        if not has_body(request.headers):
            return refusal(http.HTTPStatus.BAD_REQUEST, "bad_request",
                           'the request has no body: send {"phrases": [...]} as JSON')
        connection.lift_open_timeout()
        try:
            data = await connection.read_body(limit=MAX_BODY).complete(idle_timeout=BODY_TIMEOUT)
        except BodyError as exc:
            if exc.too_large:
                return refusal(http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large",
                               f"{exc}: a list holds {MAX_PHRASES} phrases at most")
            return refusal(http.HTTPStatus.BAD_REQUEST, "bad_request", str(exc))
        except TimeoutError as exc:
            return refusal(http.HTTPStatus.REQUEST_TIMEOUT, "timeout", str(exc))
        try:
            phrases = parse_body(bytes(data))
        except ConfigError as exc:
            return refusal(http.HTTPStatus.BAD_REQUEST, "bad_request", str(exc))
        await phrase_lists.put(self.redis, tenant, phrases)
        log.info("tenant %s's phrase list was set over the admin API (%d phrases)", tenant, len(phrases))
        return await self._current(tenant)

    async def _current(self, tenant: str) -> Response:
        try:
            stored = await phrase_lists.get(self.redis, tenant)
        except ConfigError as exc:  # written by hand into Redis: said, and not applied (Call reads it the same)
            return refusal(http.HTTPStatus.INTERNAL_SERVER_ERROR, "internal", str(exc))
        own = self.keys_file(tenant).phrases
        phrases, source = (stored, "api") if stored is not None else (own, "keys_file") if own else ((), "none")
        body = {"tenant": tenant, "phrases": list(phrases), "source": source}
        return response(http.HTTPStatus.OK, json.dumps(body).encode(), "application/json")
