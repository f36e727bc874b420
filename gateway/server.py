"""The gateway server: WebSocket sessions at ``/ws/asr`` and HTTP on the same port."""

from __future__ import annotations

import asyncio
import http
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from importlib import resources

from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from common import bus, keys
from common.errors import ProtocolError
from common.http import metrics_body
from common.metrics import GatewayMetrics

from .protocol import parse_config, parse_control
from .session import ClientSession

log = logging.getLogger(__name__)

# Close codes (RFC 6455): 1008 policy violation, 1011 server error, 1013 try again later.
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayOptions:
    host: str = "0.0.0.0"
    port: int = 8000
    # Protocol limits
    max_frame_bytes: int = 1 << 20
    config_timeout: float = 10.0  # seconds to wait for the first message
    send_queue: int = 256  # messages buffered per client
    close_timeout: float = 30.0  # seconds to wait for results after a client's close
    # Pipeline
    enable_noise_suppression: bool = False
    max_queue_lag: float = 5.0  # refuse new sessions (1013) when a stage lags more than this
    session_ttl: float = 30.0  # meta TTL, renewed while the client is connected
    key_ttl: float = 600.0
    sweep_interval: float = 1.0


class Gateway:
    def __init__(self, redis: bus.Redis, *, options: GatewayOptions, registry: CollectorRegistry) -> None:
        self.redis = redis
        self.options = options
        self.registry = registry
        self.metrics = GatewayMetrics(registry)
        self.gateway_id = f"gw-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.sessions: dict[str, ClientSession] = {}
        self.doorbell = bus.Doorbell(redis, on_ring=self._on_ring, on_reconnect=self._ring_all,
                                     idle_channel=f"{keys.PREFIX}:idle:{self.gateway_id}")
        self._server = None
        self._keepalive: asyncio.Task | None = None
        self._watcher: asyncio.Task | None = None
        # stage -> why new sessions are refused ("" when they are accepted)
        self.refusals: dict[str, str] = {stage: "" for stage in keys.STAGES}
        self._page = resources.files("gateway").joinpath("static/index.html").read_bytes()
        self._closed = False

    async def start(self) -> None:
        await self.doorbell.start()
        self._server = await serve(
            self._handle, self.options.host, self.options.port, process_request=self._http,
            max_size=self.options.max_frame_bytes, ping_interval=20, ping_timeout=20,
        )
        self.port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self.options.port
        self._keepalive = asyncio.create_task(self._renew_sessions(), name="renew-sessions")
        self._watcher = asyncio.create_task(self._watch_stages(), name="watch-stages")
        log.info("gateway %s listening on %s:%d", self.gateway_id, self.options.host, self.port)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in (self._keepalive, self._watcher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.doorbell.close()

    def _on_ring(self, channel: str) -> None:
        start, end = channel.find("{"), channel.find("}")
        session = self.sessions.get(channel[start + 1:end])
        if session is not None:
            session.ring()

    def _ring_all(self) -> None:
        for session in self.sessions.values():
            session.ring()

    async def _renew_sessions(self) -> None:
        """Keep the meta of live sessions from expiring (it is our liveness lease).

        A meta that is already gone means Redis lost the session (restarted empty,
        failed over without the data): the client is told and disconnected rather
        than left waiting for results that will never come.
        """
        while True:
            await asyncio.sleep(min(2.0, self.options.session_ttl / 3))
            sessions = [s for s in self.sessions.values() if not s.closed]
            if not sessions:
                continue
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for session in sessions:
                        pipe.expire(session.keys.meta, int(self.options.session_ttl))
                    alive = await pipe.execute()
            except (RedisError, OSError) as exc:
                self.metrics.redis_errors.inc()
                log.warning("renewing sessions failed: %s", exc)
                continue
            for session, renewed in zip(sessions, alive):
                if not renewed and session.session_id in self.sessions:
                    self.metrics.sessions_lost.inc()
                    await session.lose("the service lost this session's data (its queue restarted); "
                                       "please reconnect")

    async def _watch_stages(self) -> None:
        """Track live workers and load per stage, for admission, readiness and metrics."""
        while True:
            try:
                for stage in keys.STAGES:
                    await self._check_stage(stage)
                self.metrics.redis_up.set(1)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.metrics.redis_up.set(0)
                self.metrics.redis_errors.inc()
                log.warning("watching stages failed: %s", exc)
            await asyncio.sleep(self.options.sweep_interval)

    async def _check_stage(self, stage: str) -> str:
        now_ms = int(time.time() * 1000)
        live = [_text(w) for w in await self.redis.zrangebyscore(keys.workers(stage), now_ms, "+inf")]
        loads = await self.redis.hmget(keys.load(stage), live) if live else []
        self.metrics.live_workers.labels(stage=stage).set(len(live))
        self.refusals[stage] = _refusal(stage, live, loads, self.options.max_queue_lag)
        return self.refusals[stage]

    async def _admission(self, stages: list[str]) -> str:
        """Why a new session through ``stages`` is refused now, or "" to accept it."""
        for stage in stages:
            # The cached verdict is a second old at most; confirm a refusal before giving it.
            if self.refusals[stage] and await self._check_stage(stage):
                return self.refusals[stage]
        return ""

    # -- HTTP ---------------------------------------------------------------------

    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?")[0]
        if path == "/ws/asr" or path.startswith("/ws/"):
            return None  # the WebSocket handshake proceeds
        if path in ("/", "/index.html"):
            return _response(http.HTTPStatus.OK, self._page, "text/html; charset=utf-8")
        if path == "/healthz":
            return _response(http.HTTPStatus.OK, b'{"status":"alive"}', "application/json")
        if path == "/readyz":
            ready, details = await self.readiness()
            status = http.HTTPStatus.OK if ready else http.HTTPStatus.SERVICE_UNAVAILABLE
            return _response(status, json.dumps({"ready": ready, **details}).encode(), "application/json")
        if path == "/metrics":
            body, content_type = metrics_body(self.registry)
            return _response(http.HTTPStatus.OK, body, content_type)
        return _response(http.HTTPStatus.NOT_FOUND, b'{"error":"not found"}', "application/json")

    async def readiness(self) -> tuple[bool, dict]:
        """Ready when Redis answers and every stage of a default session has a live worker."""
        try:
            await self.redis.ping()
            now_ms = int(time.time() * 1000)
            workers = {stage: await self.redis.zcount(keys.workers(stage), now_ms, "+inf")
                       for stage in keys.STAGES}
        except (RedisError, OSError) as exc:
            return False, {"redis": f"unreachable: {exc}"}
        needed = ["vad", "asr"] + (["denoise"] if self.options.enable_noise_suppression else [])
        missing = [stage for stage in needed if not workers[stage]]
        details = {"redis": "ok", "workers": workers}
        if missing:
            details["missing_stages"] = missing
        return not missing, details

    # -- WebSocket ------------------------------------------------------------------

    async def _handle(self, websocket: ServerConnection) -> None:
        path = websocket.request.path.split("?")[0] if websocket.request else ""
        self.metrics.connections.inc()
        try:
            if path != "/ws/asr":
                await self._fail(websocket, "not_found", f"no WebSocket endpoint at {path}; use /ws/asr",
                                 POLICY_VIOLATION)
                return
            await self._serve(websocket)
        finally:
            self.metrics.connections.dec()

    async def _fail(self, websocket: ServerConnection, code: str, message: str, close_code: int) -> None:
        self.metrics.errors_sent.labels(code=code).inc()
        try:
            await websocket.send(json.dumps({"type": "error", "code": code, "message": message, "fatal": True}))
            await websocket.close(close_code, message[:120])
        except ConnectionClosed:
            pass

    async def _serve(self, websocket: ServerConnection) -> None:
        try:
            first = await asyncio.wait_for(websocket.recv(), self.options.config_timeout)
            config = parse_config(first)
        except asyncio.TimeoutError:
            await self._fail(websocket, "config_required",
                             f"no config within {self.options.config_timeout:.0f} s", POLICY_VIOLATION)
            return
        except ProtocolError as exc:
            self.metrics.sessions_refused.labels(reason=exc.code).inc()
            await self._fail(websocket, exc.code, str(exc), POLICY_VIOLATION)
            return
        except ConnectionClosed:
            return
        queue: asyncio.Queue = asyncio.Queue(maxsize=self.options.send_queue)
        session = ClientSession(self, config, queue)
        try:
            refusal = await self._admission(session.pipeline["stages"])
        except (RedisError, OSError):
            refusal = ""  # creating the session reports the Redis failure
        if refusal:
            self.metrics.sessions_refused.labels(reason="overloaded").inc()
            await self._fail(websocket, "overloaded", refusal + "; try again later", TRY_AGAIN_LATER)
            return
        try:
            await session.create()
        except (RedisError, OSError) as exc:
            log.warning("cannot create a session: %s", exc)
            self.metrics.sessions_refused.labels(reason="redis_unavailable").inc()
            await self._fail(websocket, "unavailable", "the service cannot reach its queue; try again later",
                             TRY_AGAIN_LATER)
            return
        self.sessions[session.session_id] = session
        self.metrics.sessions.inc()
        self.metrics.sessions_active.inc()
        sender = asyncio.create_task(self._sender(websocket, queue), name=f"send-{session.session_id}")
        session.sender_task = sender
        try:
            await session.send({"type": "session_created", "session_id": session.session_id})
            await self._receive(websocket, session)
        except Exception:
            session.log.exception("session failed")
            await self._fail(websocket, "internal", "internal error; the session ends", INTERNAL_ERROR)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            self.sessions.pop(session.session_id, None)
            self.metrics.sessions_active.dec()
            await session.close()

    async def _sender(self, websocket: ServerConnection, queue: asyncio.Queue) -> None:
        try:
            while True:
                message = await queue.get()
                if isinstance(message, _Close):
                    await websocket.close(message.code, message.reason)
                    return
                await websocket.send(json.dumps(message, ensure_ascii=False))
        except ConnectionClosed:
            pass

    async def _receive(self, websocket: ServerConnection, session: ClientSession) -> None:
        metrics = self.metrics
        try:
            async for message in websocket:
                try:
                    if isinstance(message, bytes):
                        await session.audio(message)
                        continue
                    body = parse_control(message)
                    kind = body["type"]
                    if kind == "finalize":
                        await session.finalize()
                    elif kind == "close":
                        await self._graceful_close(websocket, session)
                        return
                except ProtocolError as exc:
                    metrics.frames_rejected.labels(reason=exc.code).inc()
                    metrics.errors_sent.labels(code=exc.code).inc()
                    await session.send({"type": "error", "code": exc.code, "message": str(exc), "fatal": False})
                except (RedisError, OSError) as exc:
                    session.log.warning("publishing failed: %s", exc)
                    metrics.errors_sent.labels(code="unavailable").inc()
                    await session.send({"type": "error", "code": "unavailable",
                                        "message": "audio could not be queued; the session ends", "fatal": True})
                    await self._drain_and_close(session, INTERNAL_ERROR, "queue unavailable")
                    return
        except ConnectionClosed:
            pass
        if websocket.close_code is not None and websocket.close_code != 1000 and websocket.close_code != 1001:
            session.log.info("client closed with code %s", websocket.close_code)
        try:
            await session.end("client_disconnected")
        except (RedisError, OSError):
            pass

    async def _graceful_close(self, websocket: ServerConnection, session: ClientSession) -> None:
        """Finish the session: flush, wait for every result, then close with 1000."""
        await session.end("client_closed")
        try:
            await asyncio.wait_for(session.ended.wait(), self.options.close_timeout)
        except asyncio.TimeoutError:
            await session.send({"type": "error", "code": "timeout", "fatal": True,
                                "message": f"results did not complete within {self.options.close_timeout:.0f} s"})
        await self._drain_and_close(session, 1000, "session complete")

    async def close_session(self, session: ClientSession, code: int, reason: str) -> None:
        await self._drain_and_close(session, code, reason)

    async def _drain_and_close(self, session: ClientSession, code: int, reason: str) -> None:
        """Send what is queued, then close: the sender task does both, in order."""
        await session.send_queue.put(_Close(code, reason))
        await asyncio.wait({session.sender_task}, timeout=self.options.close_timeout)


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


def _refusal(stage: str, live: list[str], loads: list, max_lag: float) -> str:
    """Why a stage cannot take new sessions now, or "" if it can."""
    if not live:
        return f"no live {stage} workers"
    states = [json.loads(raw) for raw in loads if raw]
    if len(states) < len(live):
        return ""  # a worker that has not reported its load yet has room
    open_workers = [s for s in states if not s["draining"] and s["sessions"] < s["capacity"]]
    if not open_workers:
        return f"every {stage} worker is at capacity"
    if min(s["lag"] for s in open_workers) > max_lag:
        return f"{stage} workers are {min(s['lag'] for s in open_workers):.1f} s behind"
    return ""


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _response(status: http.HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store")])
    return Response(status.value, status.phrase, headers, body)
