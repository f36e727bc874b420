"""The gateway server: the doors' WebSockets and HTTP on one port, wired, served and drained.

Every request is routed by path (:meth:`Gateway._route`) and, unless it is a plain
page, goes through the gate (:mod:`gateway.security.gate`), which holds every access
rule: origin, API key, pending connections per address, the key's permissions, follow
lookups, signed handshakes' nonces and per-key limits. Its :class:`Admission` travels
with the socket (:class:`AdmittedConnection`) to the handler, which serves it:

- a door's WebSocket (:mod:`gateway.doors`) is driven by
  :class:`~gateway.calls.connection.Connection`, which counts it and then its call against
  its API key (:mod:`gateway.security.limits`; resumable calls wait in
  :mod:`gateway.calls.resume` after a drop);
- a follower (``/ws/follow/{call_id}``) takes a follower slot of its key and reads the
  transcripts of a call of a tenant its key may follow (:mod:`gateway.outputs.follow`);
- ``/ws/status`` takes a status slot of its key and streams :mod:`gateway.http.status`,
  the key's tenant's part unless the key is an admin's;
- ``POST /v1/listen`` is Deepgram's pre-recorded API (:mod:`gateway.http.prerecorded`), and
  ``GET /v1/listen/{request_id}/audio`` a recording's redacted audio, for its tenant's keys;
- ``GET``/``PUT``/``DELETE /v1/analytics/phrases``: a tenant's phrase list (:mod:`gateway.http.phrases`),
  for keys with ``perms=settings`` (their tenant's) or ``perms=admin``.

Every call, follower and status socket belongs to the tenant of its key
(:mod:`gateway.core.tenant`). Other GET requests get the browser demo, health
(``/healthz``, ``/health``, ``/health/extended``, the last for admin keys only when keys
are configured), readiness and metrics (:mod:`gateway.http.routes`).
"""

from __future__ import annotations

import asyncio
import functools
import http
import json
import logging
import ssl
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client import CollectorRegistry
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import MultipleValuesError
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.protocol import State

from common import bus
from common.config import option, positive
from common.errors import ErrorCode
from common.logs import WIRE_CONTENTS
from common.metrics import GatewayMetrics

from . import features
from .calls.connection import Connection, ConnectionOptions
from .calls.resume import Parking
from .core.hub import HubOptions, SessionHub
from .core.tenant import Tenants
from .diarization.pool import DiarizeOptions, Diarizer
from .doors import ROUTES, door_for
from .doors.base import BadTarget, Handshake
from .http import phrases, prerecorded, routes
from .http.status import ADMIN_PATHS, GatewayStatus, StatusOptions
from .http.status import WEBSOCKET_PATH as STATUS_PATH
from .http.wire import OPEN_TIMEOUT, GatewayConnection
from .outputs import follow
from .outputs.courier import Courier
from .outputs.follow import FollowOptions, Followers
from .outputs.redacted_audio import RedactedAudio
from .outputs.transcript_log import TranscriptLog, TranscriptOptions
from .outputs.webhook import Schedule
from .policy.keyfile import is_tenant_name
from .security import auth
from .security.gate import AccessOptions, AccessRequest, Admission, Allowances, Gate, Purpose, Refusal
from .security.limits import FOLLOWERS, STATUS, KeyLimits, NoSlot
from .security.replay import Nonces

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


class AdmittedConnection(GatewayConnection):
    """A gateway connection that carries its handshake's result to its handler.

    ``admission``: what the gate let in (None until it did); ``driver``: the
    :class:`Connection` that drives a door's socket, once its handler runs.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.admission: Admission | None = None
        self.driver: Connection | None = None

    @property
    def pending(self) -> bool:
        """Whether this door's socket has not opened (or resumed) its call yet."""
        return self.driver is None or self.driver.call is None


class Gateway:
    def __init__(self, redis: bus.Redis, *, registry: CollectorRegistry, listen: ListenOptions = ListenOptions(),
                 connection: ConnectionOptions = ConnectionOptions(), hub: HubOptions = HubOptions(),
                 access: AccessOptions = AccessOptions(), doors: Iterable[object] = (),
                 transcripts: TranscriptOptions = TranscriptOptions(), follow: FollowOptions = FollowOptions(),
                 status: StatusOptions = StatusOptions(),
                 recordings: prerecorded.PrerecordedOptions = prerecorded.PrerecordedOptions(),
                 diarize: DiarizeOptions = DiarizeOptions()) -> None:
        """``doors``: the options of the doors that have some (``TwilioOptions``...); a door's missing ones
        are its defaults."""
        self.registry = registry
        self.metrics = GatewayMetrics(registry)
        self.listen = listen
        self.connection_options = connection
        self.hub = SessionHub(redis, options=hub, metrics=self.metrics)
        # The gateway's one diarizer process, for live calls and recordings (started by start() with
        # --diarize-preload, else by the first diarize=true).
        self.diarizer = Diarizer(options=diarize, metrics=self.metrics)
        self.transcripts = TranscriptLog(redis, options=transcripts, ttl=hub.session_ttl,
                                         gateway_id=self.hub.gateway_id, metrics=self.metrics,
                                         tenant_webhook=lambda tenant: access.api_keys.policy_of(tenant).webhook)
        self.tenants = Tenants()
        # What plugs into every call of this gateway (gateway/features).
        self.plugs = features.plugs(features.Shared(tenants=self.tenants, transcripts=self.transcripts,
                                                    diarizer=self.diarizer))
        self.followers = Followers(redis, options=follow, metrics=self.metrics)
        # Callbacks whose first attempt failed go to Redis; this gateway's courier delivers any gateway's.
        self.courier = Courier(redis, schedule=Schedule(attempts=recordings.callback_attempts),
                               most=recordings.callback_backlog,
                               most_bytes=recordings.callback_backlog_bytes, retention=recordings.callback_retention,
                               senders=recordings.callback_senders, hosts=recordings.callback_hosts,
                               secret_of=self.transcripts.signing_secret, metrics=self.metrics,
                               undelivered=self.metrics.prerecorded_undelivered, gateway_id=self.hub.gateway_id)
        self.prerecorded = prerecorded.Prerecorded(self.hub, options=recordings,
                                                   undelivered=self.metrics.prerecorded_undelivered,
                                                   courier=self.courier, diarizer=self.diarizer,
                                                   plugs=self.plugs,
                                                   redacted=RedactedAudio(redis,
                                                                          retention=recordings.redacted_audio_retention))
        self.port = listen.port
        self._server: Server | None = None
        self.api_keys = access.api_keys
        self.key_limits = KeyLimits(redis, limits=Allowances(access, followers=follow.max_followers_per_key,
                                                             status=status.max_watchers_per_key),
                                    ttl=hub.session_ttl)
        self.gate = Gate(access, metrics=self.metrics, nonces=Nonces(redis), lookups=self.followers.lookups,
                         slots=self.key_limits, pending=self._pending,
                         doors={type(options): options for options in doors})
        self.phrases = phrases.PhraseLists(redis, keys_file=lambda tenant: access.api_keys.policy_of(tenant).analytics,
                                             knows=access.api_keys.knows)
        # Door sockets the gate let in, until their handler ends (or, if their handshake failed, they are gone).
        self._calls: weakref.WeakSet[AdmittedConnection] = weakref.WeakSet()
        self.status = GatewayStatus(self.hub, self.metrics, options=status)
        self.pages = routes.Pages(registry=registry, readiness=self.hub.stages.readiness, status=self.status)
        self.parking = Parking(self.hub, grace=connection.resume_grace, limits=self.key_limits,
                               transcripts=self.transcripts)
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
        if self.diarizer.options.preload:
            self.diarizer.preload()
        await self.hub.start()
        await self.transcripts.start()
        self.key_limits.start()
        await self.courier.start()
        self._server = server = await serve(
            self._handle, self.listen.host, self.listen.port, process_request=self._http,
            process_response=self._add_headers, create_connection=AdmittedConnection,
            open_timeout=None, ssl_handshake_timeout=OPEN_TIMEOUT if self.listen.tls else None,  # GatewayConnection's
            max_size=self.listen.max_frame_bytes,
            compression="deflate" if self.listen.permessage_deflate else None,
            ping_interval=self.listen.ping_interval, ping_timeout=self.listen.ping_timeout,
            close_timeout=self.listen.close_timeout, ssl=self.listen.tls,
            logger=_ProbesAtDebug(_websockets_log()),
        )
        if server.sockets:
            self.port = server.sockets[0].getsockname()[1]
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
            for websocket in list(self._calls):
                if websocket.driver is not None:
                    calls.add(websocket)
                    websocket.driver.stop(timeout=finish)
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
        self.diarizer.close()
        await self.hub.close()

    # -- HTTP and handshakes ----------------------------------------------------------

    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        try:
            return await self._route(_admitted(connection), request)
        except MultipleValuesError as exc:  # headers.get of a header sent twice
            return routes.refusal(http.HTTPStatus.BAD_REQUEST, "bad_request",
                            f"the request repeats the header {exc}, which must come once")

    async def _route(self, connection: AdmittedConnection, request: Request) -> Response | None:
        """What ``request`` asks for, put to the gate; None lets a WebSocket's handshake proceed."""
        if request.method == "POST" and request.path.partition("?")[0] == prerecorded.ROUTE:
            return await self._prerecorded(connection, request)
        if request.path.partition("?")[0] == phrases.ROUTE:
            return await self._phrases(connection, request)
        if refused := routes.method_refusal(request):
            return refused
        try:
            handshake = Handshake.from_target(request.path, request.headers)
        except BadTarget as exc:
            return routes.refusal(http.HTTPStatus.BAD_REQUEST, "bad_request", str(exc))
        path = handshake.path
        if (request_id := prerecorded.audio_request_id(path)) is not None:
            return await self._redacted_audio(connection, request, handshake, request_id)
        door = door_for(handshake.path)
        followed = follow.call_id_of(path)
        if door is not None or followed is not None or "upgrade" in request.headers.get("Connection", "").lower():
            purpose = (Purpose.FOLLOW if followed is not None else Purpose.STATUS if path == STATUS_PATH
                       else Purpose.CALL if door is not None else Purpose.UPGRADE)
            admission = await self.gate.admit(AccessRequest(purpose=purpose, handshake=handshake, door=door,
                                                            call_id=followed, address=_address(connection)))
            if isinstance(admission, Refusal):
                return _response(admission)
            if purpose is Purpose.UPGRADE:
                body = {"error": str(ErrorCode.NOT_FOUND),
                        "message": f"no WebSocket endpoint at {path}; use one of {', '.join(ROUTES)} "
                                   f"or {follow.ROUTE}"}
                return routes.response(http.HTTPStatus.NOT_FOUND, json.dumps(body).encode(), "application/json")
            connection.admission = admission
            if purpose is Purpose.CALL:
                self._calls.add(connection)
            return None  # the WebSocket handshake proceeds
        if path in ADMIN_PATHS and self.api_keys.enabled:
            admission = await self.gate.admit(AccessRequest(purpose=Purpose.ADMIN, handshake=handshake,
                                                            address=_address(connection)))
            if isinstance(admission, Refusal):
                return _response(admission)
        response = await self.pages.reply(path)
        if request.method == "HEAD":
            response = replace(response, body=b"")  # Content-Length stays the GET's
        return response

    async def _prerecorded(self, connection: AdmittedConnection, request: Request) -> Response:
        """Deepgram's pre-recorded API: the live door's checks, a session slot of the key, then the request.

        Its handler is not one of :attr:`_handlers`: the shutdown's drain of :attr:`prerecorded`
        bounds it, answering 503 to one it cuts.
        """
        if self.prerecorded.closing:  # on a connection opened before the shutdown closed the port
            return prerecorded.restarting(str(uuid.uuid4()))
        try:
            handshake = Handshake.from_target(request.path, request.headers)
        except BadTarget as exc:
            return routes.refusal(http.HTTPStatus.BAD_REQUEST, "bad_request", str(exc))
        admission = await self.gate.admit(AccessRequest(purpose=Purpose.RECORDING, handshake=handshake,
                                                        door=ROUTES[prerecorded.ROUTE], address=_address(connection)))
        if isinstance(admission, Refusal):
            return _response(admission)
        return await self.prerecorded.serve(connection, request, admission.handshake,
                                            policy=self.api_keys.policy_of(admission.key.tenant),
                                            give_back=functools.partial(self.gate.give_back, admission.slot))

    async def _phrases(self, connection: AdmittedConnection, request: Request) -> Response:
        """The admin API of a tenant's phrase list (:mod:`gateway.http.phrases`): the key's own tenant's, or
        with ``?tenant=`` another's for an admin key."""
        if request.method not in phrases.METHODS:
            allowed = ", ".join(phrases.METHODS)
            return routes.refusal(http.HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed",
                                  f"{request.method} is not allowed here; use {allowed}", [("Allow", allowed)])
        try:
            handshake = Handshake.from_target(request.path, request.headers)
        except BadTarget as exc:
            return routes.refusal(http.HTTPStatus.BAD_REQUEST, "bad_request", str(exc))
        named = [value for name, value in handshake.query if name == "tenant"]
        if len(named) > 1 or (named and not is_tenant_name(named[0])):
            return routes.refusal(http.HTTPStatus.BAD_REQUEST, "bad_request",
                                  "tenant= names one tenant (letters, digits, '.', '_', '-'; 64 at most)")
        admission = await self.gate.admit(AccessRequest(purpose=Purpose.SETTINGS, handshake=handshake,
                                                        address=_address(connection),
                                                        tenant=named[0] if named else None))
        if isinstance(admission, Refusal):
            return _response(admission)
        response = await self.phrases.serve(connection, request, named[0] if named else admission.key.tenant)
        if request.method == "HEAD":
            response = replace(response, body=b"")  # Content-Length stays the GET's
        return response

    async def _redacted_audio(self, connection: AdmittedConnection, request: Request, handshake: Handshake,
                              request_id: str) -> Response:
        """``GET /v1/listen/{request_id}/audio``: a key that may use the pre-recorded door, its tenant's copy."""
        admission = await self.gate.admit(AccessRequest(purpose=Purpose.RECORDED_AUDIO, handshake=handshake,
                                                        door=ROUTES[prerecorded.ROUTE], address=_address(connection)))
        if isinstance(admission, Refusal):
            return _response(admission)
        response = await self.prerecorded.redacted_audio(request_id, tenant=admission.key.tenant)
        if request.method == "HEAD":
            response = replace(response, body=b"")  # Content-Length stays the GET's
        return response

    def _pending(self, address: str) -> int:
        """Door sockets from ``address`` the gate let in that have not opened their call yet."""
        return sum(1 for websocket in list(self._calls)
                   if websocket.admission is not None and websocket.admission.address == address
                   and websocket.pending and websocket.state is not State.CLOSED)

    def _add_headers(self, connection: ServerConnection, request: Request, response: Response) -> None:
        admission = _admitted(connection).admission
        if (admission is not None and admission.door is not None
                and response.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS):
            for name, value in admission.door.response_headers():
                response.headers[name] = value
            # A browser that sent its key as the subprotocol pair "token, KEY" fails the
            # handshake unless the server selects one of the subprotocols it offered.
            if ("Sec-WebSocket-Protocol" not in response.headers
                    and auth.SUBPROTOCOL in auth.offered_subprotocols(request.headers)):
                response.headers["Sec-WebSocket-Protocol"] = auth.SUBPROTOCOL

    # -- WebSocket ----------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        websocket = _admitted(connection)
        admission = websocket.admission
        assert admission is not None  # the gate let every socket in that got this far
        if admission.purpose is Purpose.FOLLOW:
            await self._follow(websocket, admission)
        elif admission.purpose is Purpose.STATUS:
            await self._watch(websocket, admission)
        else:
            await self._call(websocket, admission)

    async def _call(self, websocket: AdmittedConnection, admission: Admission) -> None:
        door, key = admission.door, admission.key
        assert door is not None  # a call's admission opened its door
        tenant = self.tenants[key.tenant]
        gauge = self.metrics.connections.labels(protocol=door.name)
        gauge.inc()
        tenant.connections[door.name] += 1
        handler = _current_task()
        self._handlers.add(handler)
        try:
            websocket.driver = Connection(websocket, door, self.hub, options=self.connection_options,
                                          parking=self.parking, key_id=key.key_id,
                                          policy=self.api_keys.policy_of(key.tenant), limits=self.key_limits,
                                          plugs=self.plugs)
            await websocket.driver.run()
        finally:
            self._calls.discard(websocket)
            self._handlers.discard(handler)
            tenant.connections[door.name] -= 1
            gauge.dec()

    async def _follow(self, websocket: AdmittedConnection, admission: Admission) -> None:
        key, address = admission.key, admission.address
        tenant = self.tenants[key.tenant]
        gauge = self.metrics.connections.labels(protocol=FOLLOW)
        gauge.inc()
        tenant.connections[FOLLOW] += 1
        handler = _current_task()
        self._handlers.add(handler)
        slot = None
        try:
            try:
                slot = await self.gate.take(FOLLOWERS, key)
            except NoSlot as refused:
                await self.followers.lookups.take_back(key.key_id, address)  # it looked nothing up
                await self.followers.refuse(websocket, refused.code, str(refused), CloseCode.TRY_AGAIN_LATER)
                return
            await self.followers.serve(websocket, admission.call_id or "", admission.handshake.query,
                                       key=key, address=address)
        finally:
            await self.gate.give_back(slot)
            self._handlers.discard(handler)
            tenant.connections[FOLLOW] -= 1
            gauge.dec()

    async def _watch(self, websocket: AdmittedConnection, admission: Admission) -> None:
        key = admission.key
        slot = None
        try:
            try:
                slot = await self.gate.take(STATUS, key)
            except NoSlot as refused:
                await self.status.refuse(websocket, refused.code, str(refused))
                return
            await self.status.serve(websocket, tenant=None if key.admin else self.tenants[key.tenant],
                                    forced=self.api_keys.policy_of(key.tenant).redact)
        finally:
            await self.gate.give_back(slot)


def _websockets_log() -> logging.Logger:
    """websockets' server logger, which never shows what a connection carried, whatever the
    process's logging set-up (:class:`common.logs.WireContents`)."""
    logger = logging.getLogger("websockets.server")
    logger.addFilter(WIRE_CONTENTS)  # (once: a filter already there is not added again)
    return logger


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




def _current_task() -> asyncio.Task:
    task = asyncio.current_task()
    assert task is not None  # a connection handler runs as a task
    return task


def _admitted(connection: ServerConnection) -> AdmittedConnection:
    """``connection`` as this server makes them (``serve(create_connection=AdmittedConnection)``)."""
    assert isinstance(connection, AdmittedConnection)
    return connection


def _response(refusal: Refusal) -> Response:
    """The HTTP response that says ``refusal``."""
    status = http.HTTPStatus(refusal.status)
    if refusal.body is not None:  # a door's own
        return routes.response(status, refusal.body, refusal.content_type, refusal.headers)
    return routes.refusal(status, refusal.error, refusal.message, refusal.headers)
