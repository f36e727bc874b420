"""The seed RNN-T server's status endpoints: ``/health``, ``/health/extended`` and ``/ws/status``.

``/health`` (always 200 while the process runs): ``{"status": "healthy" |
"degraded", "service", "gateway_id", "uptime_s", "sessions", "timestamp"}``;
``degraded`` means a new session would be refused now (``/readyz`` says why).

``/health/extended`` (200, or 503 when Redis does not answer; with API keys
configured, only for an admin key): the same, plus
``redis`` (``ok``, ``latency_ms``), ``sessions_by_protocol`` and
``connections_by_protocol`` of this gateway, and per stage (``denoise``,
``vad``, ``asr``): ``live_workers``, ``capacity`` (sessions its open workers
take), ``sessions`` (on its workers), ``reserved`` (admitted sessions, all
gateways), ``max_lag_s``, ``accepting``, ``refusal`` and ``workers`` (each
``id``, ``sessions``, ``capacity``, ``lag_s``, ``draining``), read from the
workers' heartbeats in Redis.

``/ws/status`` (a WebSocket, same access checks as the doors): pushes
``{"type": "status", "timestamp", "gateway_id", "sessions": {protocol: n},
"connections": {protocol: n}, "total_sessions", "stages": {stage:
{"live_workers", "capacity", "accepting"}}}`` at once, every
``interval`` seconds, and on any text message from the client (e.g.
``{"type": "get_status"}``). It reads only this gateway's own counters and
cached stage state: watching costs Redis nothing. A key that is not an admin's
sees the sessions and connections of its own tenant only (with ``"tenant"``
added, and ``"redaction"``: the kinds its keys force, ``forced``, and its live
sessions with redaction by policy, ``sessions``: ``client``, ``tenant``,
``tenant+client``); an admin key, or anyone on a gateway without keys, sees the gateway's.
A gateway serves ``max_watchers`` status sockets; more get an ``overloaded``
error and close 1013.
"""

from __future__ import annotations

import http
import json
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from prometheus_client import Gauge
from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from common import keys
from common.aio import within
from common.config import non_negative, option, positive
from common.errors import ErrorCode
from common.http import Reply
from common.metrics import GatewayMetrics

from ..core.hub import SessionHub
from ..core.tenant import Tenant

HEALTH_PATHS = ("/health", "/health/extended")
ADMIN_PATHS = ("/health/extended",)  # with API keys configured, for admin keys only
WEBSOCKET_PATH = "/ws/status"
MAX_REQUEST_BYTES = 1024  # a watcher's message only asks for a push


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _by_protocol(gauge: Gauge) -> dict[str, int]:
    return {sample.labels["protocol"]: int(sample.value)
            for metric in gauge.collect() for sample in metric.samples}


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusOptions:
    max_watchers: int = field(default=100, metadata=option(
        "open /ws/status sockets per gateway; more are refused (close 1013)", flag="--max-status-sockets",
        parse=positive(int)))
    max_watchers_per_key: int = field(default=5, metadata=option(
        "open /ws/status sockets of one API key over all gateways (0: no limit; a keys file's status= "
        "sets a key's own)", flag="--max-status-per-key", parse=non_negative(int)))
    interval: float = 1.0  # seconds between two pushes


class GatewayStatus:
    def __init__(self, hub: SessionHub, metrics: GatewayMetrics, *, options: StatusOptions = StatusOptions()) -> None:
        self.hub = hub
        self.metrics = metrics
        self.options = options
        self.watchers = 0
        self.started = time.monotonic()

    # -- HTTP -----------------------------------------------------------------------------

    async def route(self, path: str) -> Reply | None:
        """The reply to ``/health`` or ``/health/extended``, else None."""
        if path == "/health":
            return Reply(http.HTTPStatus.OK, json.dumps(self.summary()).encode())
        if path == "/health/extended":
            body = await self.extended()
            status = http.HTTPStatus.OK if body["redis"]["ok"] else http.HTTPStatus.SERVICE_UNAVAILABLE
            return Reply(status, json.dumps(body).encode())
        return None

    def summary(self) -> dict:
        sessions = _by_protocol(self.metrics.sessions_active)
        accepting = not any(self.hub.stages.refusals[stage] for stage in self.hub.stages.default_stages)
        return {"status": "healthy" if accepting else "degraded", "service": "streamscribe-gateway",
                "host": socket.gethostname(), "gateway_id": self.hub.gateway_id,
                "uptime_s": round(time.monotonic() - self.started, 1), "sessions": sum(sessions.values()),
                "timestamp": _now()}

    async def extended(self) -> dict:
        body = self.summary()
        body["sessions_by_protocol"] = _by_protocol(self.metrics.sessions_active)
        body["connections_by_protocol"] = _by_protocol(self.metrics.connections)
        started = time.perf_counter()
        try:
            await self.hub.redis.ping()
            latency = (time.perf_counter() - started) * 1000
            body["stages"] = {stage: await self._stage(stage) for stage in keys.STAGES}
        except (RedisError, OSError) as exc:
            body.update(status="unhealthy", redis={"ok": False, "error": str(exc)})
            return body
        body["redis"] = {"ok": True, "latency_ms": round(latency, 2)}
        return body

    async def _stage(self, stage: str) -> dict:
        live = await self.hub.stages.workers(stage)
        reserved = await self.hub.redis.zcount(keys.slots(stage), int(time.time() * 1000), "+inf")
        workers: list[dict] = []
        for worker_id, state in live:
            state = state or {}
            workers.append({"id": worker_id, "sessions": state.get("sessions"), "capacity": state.get("capacity"),
                            "lag_s": state.get("lag"), "draining": state.get("draining")})
        reported = [w for w in workers if w["capacity"] is not None]
        return {"live_workers": len(live),
                "capacity": sum(w["capacity"] for w in reported if not w["draining"]),
                "sessions": sum(w["sessions"] for w in reported),
                "reserved": reserved,
                "max_lag_s": max((w["lag_s"] for w in reported), default=0.0),
                "accepting": not self.hub.stages.refusals.get(stage), "refusal": self.hub.stages.refusals.get(stage) or None,
                "workers": workers}

    # -- /ws/status --------------------------------------------------------------------------

    def snapshot(self, tenant: Tenant | None = None, *, forced: tuple[str, ...] = ()) -> dict:
        """The gateway's status; with ``tenant``, its sessions and connections are that tenant's, and
        ``forced`` the redaction its policy forces."""
        sessions = _by_protocol(self.metrics.sessions_active)
        connections = _by_protocol(self.metrics.connections)
        mine = {}
        if tenant is not None:
            sessions = {protocol: tenant.sessions[protocol] for protocol in sessions}
            connections = {protocol: tenant.connections[protocol] for protocol in connections}
            mine = {"tenant": tenant.name, "redaction": {
                "forced": list(forced), "sessions": {p: n for p, n in tenant.redacted.items() if n}}}
        return {"type": "status", "timestamp": _now(), "gateway_id": self.hub.gateway_id, **mine,
                "sessions": sessions, "connections": connections,
                "total_sessions": sum(sessions.values()),
                "stages": {stage: {"live_workers": int(self._live(stage)), "capacity": self.hub.stages.capacity[stage],
                                   "accepting": not self.hub.stages.refusals[stage]} for stage in keys.STAGES}}

    def _live(self, stage: str) -> float:
        for metric in self.metrics.live_workers.collect():
            for sample in metric.samples:
                if sample.labels.get("stage") == stage:
                    return sample.value
        return 0

    async def serve(self, websocket: ServerConnection, *, tenant: Tenant | None = None,
                    forced: tuple[str, ...] = ()) -> None:
        """Push a status every ``interval`` s, and at once after each client message, until it leaves.

        ``tenant``: show that tenant's sessions and connections only (None: the gateway's), and
        ``forced``, the redaction kinds its policy forces (as its key was admitted).
        """
        self.watchers += 1
        try:
            if self.watchers > self.options.max_watchers:
                await self.refuse(websocket, ErrorCode.OVERLOADED, f"this gateway already serves "
                             f"{self.options.max_watchers} status sockets; try again later")
                return
            while True:
                await websocket.send(json.dumps(self.snapshot(tenant, forced=forced)))
                try:
                    message = await within(websocket.recv(), self.options.interval)
                except TimeoutError:
                    continue
                if len(message) > MAX_REQUEST_BYTES:
                    await websocket.close(1009, "status requests are short text messages")
                    return
        except ConnectionClosed:
            pass
        finally:
            self.watchers -= 1

    @staticmethod
    async def refuse(websocket: ServerConnection, code: ErrorCode, message: str,
                     close_code: int = CloseCode.TRY_AGAIN_LATER) -> None:
        """End a status socket with a fatal ``error`` message and ``close_code``."""
        try:
            await websocket.send(json.dumps({"type": "error", "code": str(code), "message": message, "fatal": True}))
            await websocket.close(close_code, str(code))
        except ConnectionClosed:
            pass
