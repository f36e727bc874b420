"""The gateway server: the doors' WebSockets and HTTP on one port.

A WebSocket handshake first passes the access checks (origin, API key, pending
connections per address; :mod:`gateway.security.auth`, :mod:`gateway.security.origins`), the same
for every door, then the key's permissions (:mod:`gateway.security.keyfile`), then is
routed by path to a door (:mod:`gateway.doors`),
which may refuse it (HTTP 4xx) from what the request says; an accepted
connection is driven by :class:`~gateway.core.connection.Connection`, which counts it
and then its call against its API key (:mod:`gateway.security.limits`; resumable calls wait in
:mod:`gateway.core.resume` after a drop). Followers (``/ws/follow/{call_id}``) pass
the same checks, take a follower slot of their key and read the transcripts of a call of
a tenant their key may follow (:mod:`gateway.outputs.follow`).
``/ws/status`` is no door: it takes a status slot of its key and streams
:mod:`gateway.http.status`, the key's tenant's part unless the key is an admin's. Every
call, follower and status socket belongs to the tenant of its key (:mod:`gateway.core.tenant`).
``POST /v1/listen`` is Deepgram's pre-recorded API, after the same checks
(:mod:`gateway.http.prerecorded`). Other GET requests get the browser demo, health
(``/healthz``, ``/health``, ``/health/extended``, the last for admin keys only when keys are
configured), readiness and metrics (:mod:`gateway.http.routes`).
"""

from __future__ import annotations

import asyncio
import functools
import http
import json
import logging
import math
import ssl
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import MultipleValuesError
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.protocol import State

from common import bus
from common.config import non_negative, option, positive
from common.errors import ErrorCode
from common.logs import Untrusted
from common.metrics import GatewayMetrics

from .core.connection import Connection, ConnectionOptions
from .core.hub import HubOptions, SessionHub
from .core.resume import Parking
from .core.tenant import Tenants
from .doors import ROUTES, door_for
from .doors.base import BadTarget, Door, Handshake, HandshakeRefused
from .http import prerecorded, routes
from .http.status import ADMIN_PATHS, GatewayStatus, StatusOptions
from .http.status import WEBSOCKET_PATH as STATUS_PATH
from .http.wire import OPEN_TIMEOUT, GatewayConnection
from .outputs import follow
from .outputs.courier import Courier
from .outputs.follow import FollowOptions, Followers
from .outputs.transcript_log import TranscriptLog, TranscriptOptions
from .outputs.webhook import Schedule
from .security import auth
from .security.auth import ApiKeys
from .security.keyfile import OPEN, ApiKey
from .security.limits import FOLLOWERS, PENDING, SESSION, STATUS, KeyLimits, Limit, NoSlot, Slot
from .security.origins import OriginPolicy
from .security.replay import Nonce, Nonces

log = logging.getLogger(__name__)

FOLLOW = "follow"  # the protocol label of follower connections
FINISH_MARGIN = 2.0  # seconds of the drain left for a finished call's goodbye after its results


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenOptions:
    host: str = field(default="0.0.0.0", metadata=option("listen address"))
    port: int = field(default=8000, metadata=option("listen port (0: any free port)"))
    # Largest WebSocket message (after decompression).
    max_frame_bytes: int = field(default=1 << 20, metadata=option("largest client frame", parse=positive(int)))
    # Off by default: a compressed stream can carry far more audio than its bytes suggest.
    # Pacing bounds the decompressed audio rate either way.
    permessage_deflate: bool = field(default=False, metadata=option(
        "offer WebSocket compression (off by default; pacing still bounds the audio rate)"))
    drain_timeout: float = field(default=10.0, metadata=option(
        "seconds connection handlers, pre-recorded requests and their callbacks' attempts in flight get to "
        "finish at shutdown before they are cancelled (an undelivered callback then goes on from Redis)",
        parse=positive(float)))
    # Keepalive pings; a missing pong ends the connection (a call's connection counts only the
    # time it reads the client: its pong may wait behind audio that pacing holds back, see Connection).
    ping_interval: float = field(default=20.0, metadata=option(
        "seconds between WebSocket keepalive pings", parse=positive(float)))
    ping_timeout: float = field(default=20.0, metadata=option(
        "seconds to wait for a pong before dropping the connection (a call's counts only while the "
        "gateway reads its audio, not while it paces it)", parse=positive(float)))
    close_timeout: float = field(default=10.0, metadata=option(
        "seconds a closing WebSocket waits for the client's close frame before it drops the connection",
        parse=positive(float)))
    tls: ssl.SSLContext | None = None  # serve https:// and wss:// with this context (TlsOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessOptions:
    """Who may open a WebSocket; /metrics, /healthz, /readyz and the demo page stay open."""

    api_keys: ApiKeys = field(default_factory=ApiKeys)  # none configured: open to all (KeyOptions)
    origins: OriginPolicy = field(default_factory=OriginPolicy, metadata=option(
        "comma-separated origins (scheme://host[:port]) whose pages may connect, or '*'; "
        "same-origin pages and clients without an Origin header are always accepted",
        flag="--allowed-origins", parse=OriginPolicy.parse))
    max_sessions_per_key: int = field(default=0, metadata=option(
        "concurrent sessions of one API key over all gateways, parked resumable ones included (0: no limit; "
        "a keys file's sessions= sets a key's own)", parse=non_negative(int)))
    max_pending_per_key: int = field(default=0, metadata=option(
        "connections of one API key over all gateways that have not opened their session yet "
        "(0: as many as the key's sessions)", parse=non_negative(int)))
    max_pending_per_ip: int = field(default=50, metadata=option(
        "connections from one address that have not sent a config yet (0: no limit)", parse=non_negative(int)))


@dataclass(slots=True)
class _Accepted:
    """A WebSocket whose handshake passed: its door, key, address and (once running) its connection."""

    door: Door
    key: ApiKey
    address: str
    connection: Connection | None = None

    @property
    def pending(self) -> bool:
        return self.connection is None or self.connection.call is None


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.reason_phrase)
        self.response = response


class Gateway:
    def __init__(self, redis: bus.Redis, *, registry: CollectorRegistry, listen: ListenOptions = ListenOptions(),
                 connection: ConnectionOptions = ConnectionOptions(), hub: HubOptions = HubOptions(),
                 access: AccessOptions = AccessOptions(), doors: Iterable[object] = (),
                 transcripts: TranscriptOptions = TranscriptOptions(), follow: FollowOptions = FollowOptions(),
                 status: StatusOptions = StatusOptions(),
                 recordings: prerecorded.PrerecordedOptions = prerecorded.PrerecordedOptions()) -> None:
        """``doors``: the options of the doors that have some (``TwilioOptions``...); a door's missing ones
        are its defaults."""
        self.registry = registry
        self.metrics = GatewayMetrics(registry)
        self.listen = listen
        self.connection_options = connection
        self.door_options = {type(options): options for options in doors}
        self.hub = SessionHub(redis, options=hub, metrics=self.metrics)
        self.transcripts = TranscriptLog(redis, options=transcripts, ttl=hub.session_ttl,
                                         gateway_id=self.hub.gateway_id, metrics=self.metrics,
                                         tenant_webhook=access.api_keys.webhook_of)
        self.followers = Followers(redis, options=follow, metrics=self.metrics)
        self.nonces = Nonces(redis)
        # Callbacks whose first attempt failed go to Redis; this gateway's courier delivers any gateway's.
        self.courier = Courier(redis, schedule=Schedule(attempts=recordings.callback_attempts),
                               most=recordings.callback_backlog,
                               most_bytes=recordings.callback_backlog_bytes, retention=recordings.callback_retention,
                               senders=recordings.callback_senders, hosts=recordings.callback_hosts,
                               secret_of=self.transcripts.signing_secret, metrics=self.metrics,
                               undelivered=self.metrics.prerecorded_undelivered, gateway_id=self.hub.gateway_id)
        self.prerecorded = prerecorded.Prerecorded(self.hub, transcripts=self.transcripts, options=recordings,
                                                   undelivered=self.metrics.prerecorded_undelivered,
                                                   courier=self.courier)
        self.port = listen.port
        self._server = None
        self.access = access
        self.api_keys = access.api_keys
        self.key_limits = KeyLimits(redis, limits=self._key_limit, ttl=hub.session_ttl)
        self.tenants = Tenants()
        # Built at the handshake, dropped by the handler; a handshake that fails drops its entry.
        self._accepted: weakref.WeakKeyDictionary[ServerConnection, _Accepted] = weakref.WeakKeyDictionary()
        # Followers whose handshake passed: the call id, query, key and address of each.
        self._following: weakref.WeakKeyDictionary[ServerConnection, tuple[str, list, ApiKey, str]] = \
            weakref.WeakKeyDictionary()
        self.status = GatewayStatus(self.hub, self.metrics, options=status)
        self.pages = routes.Pages(registry=registry, readiness=self.hub.readiness, status=self.status)
        self.parking = Parking(self.hub, grace=connection.resume_grace, limits=self.key_limits,
                               transcripts=self.transcripts)
        # /ws/status sockets whose handshake passed, with their keys.
        self._watchers: weakref.WeakKeyDictionary[ServerConnection, ApiKey] = weakref.WeakKeyDictionary()
        self._drained: asyncio.Future | None = None
        self._closed = False
        self._handlers: set[asyncio.Task] = set()
        for door in ROUTES.values():  # export every door's series from the start
            self.metrics.connections.labels(protocol=door.name)
            self.metrics.sessions_active.labels(protocol=door.name)
            self.metrics.sessions.labels(protocol=door.name)
        self.metrics.connections.labels(protocol=FOLLOW)

    async def start(self) -> None:
        if not self.api_keys.enabled:
            log.warning("no API keys configured (--api-key, --api-keys-file): anyone who can reach "
                        "this port may use the service")
        await self.hub.start()
        await self.transcripts.start()
        self.key_limits.start()
        await self.courier.start()
        self._server = await serve(
            self._handle, self.listen.host, self.listen.port, process_request=self._http,
            process_response=self._add_headers, create_connection=GatewayConnection,
            open_timeout=None, ssl_handshake_timeout=OPEN_TIMEOUT if self.listen.tls else None,  # GatewayConnection's
            max_size=self.listen.max_frame_bytes,
            compression="deflate" if self.listen.permessage_deflate else None,
            ping_interval=self.listen.ping_interval, ping_timeout=self.listen.ping_timeout,
            close_timeout=self.listen.close_timeout, ssl=self.listen.tls,
            logger=_ProbesAtDebug(logging.getLogger("websockets.server")),
        )
        if self._server.sockets:
            self.port = self._server.sockets[0].getsockname()[1]
        log.info("gateway %s listening on %s:%d (%s)", self.hub.gateway_id, self.listen.host, self.port,
                 "TLS" if self.listen.tls else "no TLS")

    async def drain(self) -> None:
        """Stop accepting and end open connections and requests; idempotent.

        Calls do not wait out the drain: a resumable call is parked in Redis and its
        client told to reconnect now (close 1012), to another gateway or to this one's
        successor; any other call delivers the results of the audio it took, then
        closes (1001) saying so (:meth:`Connection.stop`). Followers and status
        sockets close with 1001. Handlers still running after ``drain_timeout`` are cancelled.
        Pre-recorded requests in flight, callbacks included, get the same ``drain_timeout``
        to finish, from now (:meth:`Prerecorded.drain`); new ones are answered 503. Callbacks
        not yet delivered then go on from Redis, delivered by another gateway.
        """
        if self._drained is None:
            self._drained = asyncio.ensure_future(self._drain())
        await asyncio.shield(self._drained)  # a second caller waits for the same drain

    async def _drain(self) -> None:
        recordings = asyncio.ensure_future(self.prerecorded.drain(timeout=self.listen.drain_timeout))
        if self._server is not None:
            self._server.close(close_connections=False)  # stops listening now
            finish = max(1.0, self.listen.drain_timeout - FINISH_MARGIN)
            calls = set()
            for websocket, accepted in list(self._accepted.items()):
                if accepted.connection is not None:
                    calls.add(websocket)
                    accepted.connection.stop(timeout=finish)
            others = [websocket.close(CloseCode.GOING_AWAY, "the server is restarting; reconnect")
                      for websocket in self._server.connections if websocket not in calls]
            await asyncio.gather(*others, return_exceptions=True)
            waiter = asyncio.ensure_future(self._server.wait_closed())
            done, _ = await asyncio.wait({waiter}, timeout=self.listen.drain_timeout)
            if not done:
                await recordings  # ends by now: its requests answer (503 if cut) rather than being cancelled
                if self._handlers:
                    log.warning("%d connection handler(s) still running after %.0f s; cancelling them",
                                len(self._handlers), self.listen.drain_timeout)
                for task in self._handlers:
                    task.cancel()
                await asyncio.wait({waiter}, timeout=self.listen.drain_timeout)
                waiter.cancel()
        await recordings

    async def close(self) -> None:
        """:meth:`drain`, then stop the hub and let go of Redis; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.drain()
        await self.parking.close()  # parked calls stay in Redis, for any gateway to resume
        await self.key_limits.close()
        await self.followers.close()
        await self.transcripts.close()
        await self.hub.close()

    # -- HTTP and handshakes ----------------------------------------------------------

    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        try:
            return await self._route(connection, request)
        except MultipleValuesError as exc:  # headers.get of a header sent twice
            return routes.refusal(http.HTTPStatus.BAD_REQUEST, "bad_request",
                            f"the request repeats the header {exc}, which must come once")

    async def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.method == "POST" and request.path.partition("?")[0] == prerecorded.ROUTE:
            return await self._prerecorded(connection, request)
        if refused := routes.method_refusal(request):
            return refused
        try:
            handshake = Handshake.from_target(request.path, request.headers)
        except BadTarget as exc:
            return routes.refusal(http.HTTPStatus.BAD_REQUEST, "bad_request", str(exc))
        door = door_for(handshake.path)
        path = handshake.path
        followed = follow.call_id_of(path)
        if door is not None or followed is not None or "upgrade" in request.headers.get("Connection", "").lower():
            try:
                key = self._check_access(connection, handshake)
                if followed is not None:
                    address = _address(connection)
                    await self._check_follow(key, address)
                    self._following[connection] = (followed, _without_token(handshake).query, key, address)
                    return None
                if path == STATUS_PATH:
                    self._watchers[connection] = key
                    return None
                if door is not None:
                    self._check_door(key, door)
            except _Refused as refused:
                return refused.response
            if door is not None:
                try:
                    opened = door(_without_token(handshake), options=self.door_options.get(door.options_class))
                except HandshakeRefused as exc:
                    return routes.response(http.HTTPStatus(exc.status), exc.body, exc.content_type, exc.headers)
                if opened.nonce is not None:
                    refused = await self._check_nonce(opened.nonce)
                    if refused is not None:
                        return refused
                self._accepted[connection] = _Accepted(opened, key, _address(connection))
                return None  # the WebSocket handshake proceeds
            body = {"error": str(ErrorCode.NOT_FOUND),
                    "message": f"no WebSocket endpoint at {path}; use one of {', '.join(ROUTES)} "
                               f"or {follow.ROUTE}"}
            return routes.response(http.HTTPStatus.NOT_FOUND, json.dumps(body).encode(), "application/json")
        if path in ADMIN_PATHS and self.api_keys.enabled:
            try:
                self._check_admin(handshake)
            except _Refused as refused:
                return refused.response
        response = await self.pages.reply(path)
        if request.method == "HEAD":
            response = replace(response, body=b"")  # Content-Length stays the GET's
        return response

    async def _prerecorded(self, connection: ServerConnection, request: Request) -> Response:
        """Deepgram's pre-recorded API: the live door's checks, a session slot of the key, then the request.

        Its handler is not one of :attr:`_handlers`: the shutdown's drain of :attr:`prerecorded`
        bounds it, answering 503 to one it cuts.
        """
        if self.prerecorded.closing:  # on a connection opened before the shutdown closed the port
            return prerecorded.restarting(str(uuid.uuid4()))
        try:
            handshake = Handshake.from_target(request.path, request.headers)
            key = self._check_access(connection, handshake)
            self._check_door(key, ROUTES[prerecorded.ROUTE])
            slot = await self._take(SESSION, key)
        except BadTarget as exc:
            return routes.refusal(http.HTTPStatus.BAD_REQUEST, "bad_request", str(exc))
        except _Refused as refused:
            return refused.response
        except NoSlot as refused:
            return routes.refusal(http.HTTPStatus.TOO_MANY_REQUESTS, str(refused.code), str(refused),
                                  [("Retry-After", "1")])
        return await self.prerecorded.serve(connection, request, _without_token(handshake),
                                            tenant=self.tenants[key.tenant],
                                            give_back=functools.partial(self._give_back, slot))

    def _check_access(self, connection: ServerConnection, handshake: Handshake) -> ApiKey:
        """The key of an allowed handshake (:data:`OPEN` when keys are off); raise :class:`_Refused` if not."""
        headers = handshake.headers
        origin = headers.get("Origin")
        if not self.access.origins.allowed_origin(origin, headers.get("Host")):
            self._refused("forbidden_origin")
            log.info("refused %s: the origin %r is not in --allowed-origins", _address(connection), Untrusted(origin))
            raise _Refused(routes.refusal(http.HTTPStatus.FORBIDDEN, "forbidden_origin",
                                    f"WebSocket connections from the origin {origin} are not allowed "
                                    "(see the gateway's --allowed-origins)"))
        key = self._key(handshake)
        limit = self.access.max_pending_per_ip
        if limit:
            address = _address(connection)
            pending = sum(1 for ws, accepted in list(self._accepted.items())
                          if accepted.address == address and accepted.pending and ws.state is not State.CLOSED)
            if pending >= limit:
                self._refused("too_many_pending")
                raise _Refused(routes.refusal(http.HTTPStatus.TOO_MANY_REQUESTS, "too_many_pending",
                                        f"{address} already has {pending} connection(s) that sent no config "
                                        f"yet (the limit is {limit}); send a config first",
                                        [("Retry-After", "1")]))
        return key

    def _key(self, handshake: Handshake) -> ApiKey:
        """The key a request presents (:data:`OPEN` when keys are off); raise :class:`_Refused` (401) if invalid."""
        if not self.api_keys.enabled:
            return OPEN
        presented = auth.credential(handshake.headers, handshake.query)
        key = self.api_keys.identify(presented)
        if key is None:
            self._refused("unauthorized")
            why = "the API key is not valid" if presented else (
                "an API key is required: send 'Authorization: Bearer KEY', 'X-API-KEY: KEY', '?token=KEY' "
                "or the Sec-WebSocket-Protocol pair 'token, KEY'")
            raise _Refused(routes.refusal(http.HTTPStatus.UNAUTHORIZED, "unauthorized", why,
                                    [("WWW-Authenticate", 'Bearer realm="streamscribe"')]))
        return key

    def _forbidden(self, message: str) -> _Refused:
        self._refused("forbidden")
        return _Refused(routes.refusal(http.HTTPStatus.FORBIDDEN, str(ErrorCode.FORBIDDEN), message))

    def _check_door(self, key: ApiKey, door: type[Door]) -> None:
        if not key.may_stream(door.name):
            raise self._forbidden(f"this API key may not stream to the {door.name} door "
                                  "(see its perms= and doors= in the API keys file)")

    async def _check_follow(self, key: ApiKey, address: str) -> None:
        """Refuse a key without the follow permission, and a key or address that failed too many follows."""
        if not key.may_follow:
            raise self._forbidden("this API key may not follow calls (see its perms= in the API keys file)")
        wait = await self.followers.lookups.attempt(key.key_id, address)
        if wait:
            self._refused("too_many_lookups")
            raise _Refused(routes.refusal(
                http.HTTPStatus.TOO_MANY_REQUESTS, "too_many_lookups",
                f"too many follows of unknown calls from this key or address (the limit is "
                f"{self.followers.options.max_failed_follows} a minute); retry in {math.ceil(wait)} s",
                [("Retry-After", str(math.ceil(wait)))]))

    def _check_admin(self, handshake: Handshake) -> None:
        if not self._key(handshake).admin:
            raise self._forbidden("this page needs an admin API key (perms=admin in the API keys file)")

    async def _check_nonce(self, nonce: Nonce) -> Response | None:
        """The refusal of a handshake whose signature's nonce was used before (a replay), else None."""
        try:
            if await self.nonces.first_use(nonce):
                return None
        except RedisError as exc:
            log.warning("cannot check a handshake's nonce: %s", exc)
            return routes.refusal(http.HTTPStatus.SERVICE_UNAVAILABLE, str(ErrorCode.UNAVAILABLE),
                                  "the service cannot reach its queue; try again")
        self._refused("replayed")
        return routes.refusal(http.HTTPStatus.UNAUTHORIZED, "unauthorized",
                              "this signed handshake was used before (its signature's nonce): a replay")

    def _key_limit(self, kind: str, key_id: str) -> int:
        """How many slots of ``kind`` (:mod:`gateway.security.limits`) an API key may hold (0: no limit).

        A pending connection holds no pipeline, only a socket until --config-timeout, and a
        client at its session limit must still be able to connect to resume a parked call:
        so pending connections have an allowance of their own, by default the session limit.
        """
        if kind == PENDING:
            return self.access.max_pending_per_key or self.access.max_sessions_per_key
        if kind == SESSION:
            return self.access.max_sessions_per_key
        return 0

    def _refused(self, reason: str) -> None:
        self.metrics.sessions_refused.labels(reason=reason).inc()

    def _add_headers(self, connection: ServerConnection, request: Request, response: Response) -> None:
        accepted = self._accepted.get(connection)
        if accepted is not None and response.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS:
            for name, value in accepted.door.response_headers():
                response.headers[name] = value
            # A browser that sent its key as the subprotocol pair "token, KEY" fails the
            # handshake unless the server selects one of the subprotocols it offered.
            if ("Sec-WebSocket-Protocol" not in response.headers
                    and auth.SUBPROTOCOL in auth.offered_subprotocols(request.headers)):
                response.headers["Sec-WebSocket-Protocol"] = auth.SUBPROTOCOL

    # -- WebSocket ----------------------------------------------------------------------

    async def _handle(self, websocket: ServerConnection) -> None:
        following = self._following.pop(websocket, None)
        if following is not None:
            await self._follow(websocket, *following)
            return
        watcher = self._watchers.pop(websocket, None)
        if watcher is not None:
            await self._watch(websocket, watcher)
            return
        accepted = self._accepted[websocket]
        door, key = accepted.door, accepted.key
        tenant = self.tenants[key.tenant]
        gauge = self.metrics.connections.labels(protocol=door.name)
        gauge.inc()
        tenant.connections[door.name] += 1
        handler = asyncio.current_task()
        self._handlers.add(handler)
        try:
            accepted.connection = Connection(websocket, door, self.hub, options=self.connection_options,
                                             transcripts=self.transcripts, parking=self.parking,
                                             key_id=key.key_id, tenant=tenant, limits=self.key_limits)
            await accepted.connection.run()
        finally:
            self._accepted.pop(websocket, None)
            self._handlers.discard(handler)
            tenant.connections[door.name] -= 1
            gauge.dec()

    async def _follow(self, websocket: ServerConnection, call_id: str, query: list, key: ApiKey,
                      address: str) -> None:
        tenant = self.tenants[key.tenant]
        gauge = self.metrics.connections.labels(protocol=FOLLOW)
        gauge.inc()
        tenant.connections[FOLLOW] += 1
        handler = asyncio.current_task()
        self._handlers.add(handler)
        slot = None
        try:
            try:
                slot = await self._take(FOLLOWERS, key)
            except NoSlot as refused:
                await self.followers.lookups.take_back(key.key_id, address)  # it looked nothing up
                await self.followers.refuse(websocket, refused.code, str(refused), CloseCode.TRY_AGAIN_LATER)
                return
            await self.followers.serve(websocket, call_id, query, key=key, address=address)
        finally:
            await self._give_back(slot)
            self._handlers.discard(handler)
            tenant.connections[FOLLOW] -= 1
            gauge.dec()

    async def _watch(self, websocket: ServerConnection, key: ApiKey) -> None:
        slot = None
        try:
            try:
                slot = await self._take(STATUS, key)
            except NoSlot as refused:
                await self.status.refuse(websocket, refused.code, str(refused))
                return
            await self.status.serve(websocket, tenant=None if key.admin else self.tenants[key.tenant])
        finally:
            await self._give_back(slot)

    # -- a key's slots --------------------------------------------------------------------

    def _key_limit(self, kind: str, key_id: str) -> Limit:
        """How many slots of ``kind`` (:mod:`gateway.security.limits`) an API key may hold (0: no limit).

        The key's own setting in the keys file (``sessions=``, ``followers=``, ``status=``;
        read at each count, so a reloaded file applies to the next), else the gateway's flag.
        A pending connection holds no pipeline, only a socket until --config-timeout, and a
        client at its session limit must still be able to connect to resume a parked call:
        so pending connections have an allowance of their own, by default the session limit.
        """
        access = self.access
        # kind: (its setting in the keys file, the flag that sets the default, the default)
        where = {
            SESSION: ("sessions", "max-sessions-per-key", access.max_sessions_per_key),
            PENDING: (None if access.max_pending_per_key else "sessions", "max-pending-per-key",
                      access.max_pending_per_key or access.max_sessions_per_key),
            FOLLOWERS: ("followers", "max-followers-per-key", self.followers.options.max_followers_per_key),
            STATUS: ("status", "max-status-per-key", self.status.options.max_watchers_per_key),
        }.get(kind)
        if where is None:
            return Limit(0)
        setting, flag, default = where
        key = self.api_keys.find(key_id) if setting is not None else None
        own = getattr(key, setting) if key is not None else None
        if own is not None:
            return Limit(own, f"{setting}={own} in the API keys file")
        return Limit(default, f"{flag} {default}")

    async def _take(self, kind: str, key: ApiKey) -> Slot | None:
        """A slot of ``kind`` for ``key`` (None: keys are off, nothing is counted); raise :class:`NoSlot`."""
        if key.key_id is None:
            return None
        try:
            return await self.key_limits.take(kind, key.key_id)
        except NoSlot as refused:
            if refused.reason is not None:
                self._refused(refused.reason)
            raise

    async def _give_back(self, slot: Slot | None) -> None:
        if slot is not None:
            await self.key_limits.release(slot)


class _ProbesAtDebug(logging.LoggerAdapter):
    """websockets' server log, with the lines of health probes and metric scrapes at DEBUG.

    Probes come every few seconds (scripts/stack polls twice a second while the
    stack starts); two INFO lines for each buried the rest of the log.
    """

    PATHS = frozenset({"/healthz", "/readyz", "/health", "/health/extended", "/metrics"})

    def process(self, msg, kwargs):
        return msg, kwargs  # keep the connection that websockets passes as extra

    def log(self, level, msg, *args, **kwargs) -> None:
        request = getattr((kwargs.get("extra") or {}).get("websocket"), "request", None)
        if level == logging.INFO and request is not None and request.path.partition("?")[0] in self.PATHS:
            level = logging.DEBUG
        super().log(level, msg, *args, **kwargs)


def _address(connection: ServerConnection) -> str:
    peer = connection.remote_address
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "")


def _without_token(handshake: Handshake) -> Handshake:
    """The handshake as doors see it: without the ``token`` query parameter (a key is no option)."""
    query = [(name, value) for name, value in handshake.query if name != auth.QUERY_PARAMETER]
    return Handshake(handshake.path, query, handshake.headers, handshake.target) if len(query) != len(handshake.query) else handshake

