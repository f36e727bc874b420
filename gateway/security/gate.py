"""The gate: every access rule of the gateway, decided in one place and without sockets.

A request that the server has routed (:class:`AccessRequest`: what it asks for,
its handshake, the address it comes from) goes through :meth:`Gate.admit`, which
answers an :class:`Admission` (the key, and for a door the door opened on the
handshake) or a :class:`Refusal` (the HTTP status and what the response says).
The rules, in the order they are checked:

- origin: a browser page may connect only from an allowed origin (:mod:`gateway.security.origins`);
- key: with keys configured, the request must present a valid one (:mod:`gateway.security.auth`);
- pending connections per address: at most ``max_pending_per_ip`` connections from one
  address that have not opened their call yet;
- permissions: a door's key may stream to that door, a follower's key may follow
  (:mod:`gateway.policy.keyfile`), an admin page needs an admin key;
- follow lookups: a key or address that followed too many unknown calls waits
  (:class:`~gateway.outputs.follow.FailedLookups`);
- nonces: a signed handshake's nonce is taken once over every gateway (:mod:`gateway.security.replay`);
- per-key limits: how many slots of each kind a key may hold (:class:`Allowances`); a
  pre-recorded request takes its session slot here, other sockets take theirs once open
  (:meth:`Gate.take`), so that their refusal is a close frame the client can read.

The gate knows no paths and no sockets: the server says what a request asks for, and
turns a refusal into its HTTP response. What it touches (Redis through the nonce and
lookup counters and the key limits, the count of pending connections) comes in as small
interfaces, so the rules are tested with fakes.
"""

from __future__ import annotations

import enum
import http
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from redis.exceptions import RedisError

from common.config import non_negative, option
from common.errors import ErrorCode
from common.logs import Untrusted
from common.metrics import GatewayMetrics

from ..doors.base import Door, Handshake, HandshakeRefused
from ..doors.httpsig import Nonce
from ..policy.keyfile import OPEN, ApiKey
from . import auth
from .auth import ApiKeys
from .limits import FOLLOWERS, PENDING, SESSION, STATUS, Limit, NoSlot, Slot
from .origins import OriginPolicy

log = logging.getLogger(__name__)


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


class Purpose(enum.Enum):
    """What a request asks for, as the server routed it."""

    CALL = "call"  # a door's WebSocket: a call
    FOLLOW = "follow"  # a follower of a call (/ws/follow/{call_id})
    STATUS = "status"  # the /ws/status socket
    UPGRADE = "upgrade"  # a WebSocket to no endpoint: it passes the access checks before its 404
    ADMIN = "admin"  # a page for admin keys only (/health/extended)
    RECORDING = "recording"  # Deepgram's pre-recorded POST /v1/listen
    RECORDED_AUDIO = "recorded_audio"  # GET /v1/listen/{request_id}/audio: a redacted recording
    SETTINGS = "settings"  # a tenant's settings over the admin API (/v1/analytics/phrases)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRequest:
    """A request to admit: what it asks for, its handshake (the key still in it) and its peer's address."""

    purpose: Purpose
    handshake: Handshake
    address: str
    door: type[Door] | None = None  # CALL, RECORDING, RECORDED_AUDIO: the door it streams to
    call_id: str | None = None  # FOLLOW: the call it follows
    tenant: str | None = None  # SETTINGS: the tenant whose settings it reads or changes (None: the key's own)


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    """A request let in: its key and address, the handshake as doors see it (no ``token``), and what it got.

    This one object is the handshake's result that travels to the socket's handler.
    """

    purpose: Purpose
    key: ApiKey
    address: str
    handshake: Handshake
    door: Door | None = None  # CALL: the door opened on the handshake
    call_id: str | None = None  # FOLLOW
    slot: Slot | None = None  # RECORDING: its session slot (None: keys are off), to give back when it ends


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """A request turned away: its HTTP status, and ``error`` and ``message`` for the JSON body that says why.

    A door that refuses a handshake writes its own body (``body``, ``content_type``) in its
    platform's shape instead.
    """

    status: int
    error: str = ""
    message: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str = "application/json"


class Nonces(Protocol):
    async def first_use(self, nonce: Nonce) -> bool:
        """Whether ``nonce`` is new over every gateway; raises ``RedisError`` when nobody can tell."""
        ...


class Lookups(Protocol):
    limit: int  # follows of unknown calls a key or address may make in a window

    async def attempt(self, key_id: str | None, address: str) -> float:
        """Count a follow; the seconds until this key and address may follow again (0: now)."""
        ...


class Slots(Protocol):
    async def take(self, kind: str, key_id: str) -> Slot:
        """A slot of ``kind`` for ``key_id``, or :class:`NoSlot`."""
        ...

    async def release(self, slot: Slot) -> None: ...


class Allowances:
    """How many slots of each kind (:mod:`gateway.security.limits`) an API key may hold (0: no limit).

    The key's own setting in the keys file (``sessions=``, ``followers=``, ``status=``;
    read at each count, so a reloaded file applies to the next), else the gateway's flag.
    A pending connection holds no pipeline, only a socket until --config-timeout, and a
    client at its session limit must still be able to connect to resume a parked call:
    so pending connections have an allowance of their own, by default the session limit.
    """

    def __init__(self, access: AccessOptions, *, followers: int, status: int) -> None:
        """``followers``, ``status``: the gateway's defaults of the follower and status slots of a key."""
        # kind: (its setting in the keys file, the flag that sets the default, the default)
        self._where: dict[str, tuple[str | None, str, int]] = {
            SESSION: ("sessions", "max-sessions-per-key", access.max_sessions_per_key),
            PENDING: (None if access.max_pending_per_key else "sessions", "max-pending-per-key",
                      access.max_pending_per_key or access.max_sessions_per_key),
            FOLLOWERS: ("followers", "max-followers-per-key", followers),
            STATUS: ("status", "max-status-per-key", status),
        }
        self._keys = access.api_keys

    def __call__(self, kind: str, key_id: str) -> Limit:
        where = self._where.get(kind)
        if where is None:
            return Limit(0)
        setting, flag, default = where
        key = self._keys.find(key_id) if setting is not None else None
        own = getattr(key, setting) if key is not None and setting is not None else None
        if own is not None:
            return Limit(own, f"{setting}={own} in the API keys file")
        return Limit(default, f"{flag} {default}")


class Gate:
    """The access rules over ``options``; see the module's docstring for the rules and their order.

    ``pending(address)``: how many connections from ``address`` were admitted to a door and have
    not opened their call yet (the server knows its sockets). ``doors``: the options of the doors
    that have some, by their options class.
    """

    def __init__(self, options: AccessOptions, *, metrics: GatewayMetrics, nonces: Nonces, lookups: Lookups,
                 slots: Slots, pending: Callable[[str], int],
                 doors: Mapping[type | None, object] | None = None) -> None:
        self.options = options
        self.api_keys = options.api_keys
        self.metrics = metrics
        self.nonces = nonces
        self.lookups = lookups
        self.slots = slots
        self.pending = pending
        self.doors = dict(doors or {})

    async def admit(self, request: AccessRequest) -> Admission | Refusal:
        """Let ``request`` in, or say why not (each refusal counted by its reason)."""
        try:
            return await self._admit(request)
        except _Refused as refused:
            return refused.refusal

    async def _admit(self, request: AccessRequest) -> Admission | Refusal:
        purpose = request.purpose
        if purpose is Purpose.ADMIN:
            key = self._key(request.handshake)
            if not key.admin:  # OPEN, without keys, is an admin's
                raise self._forbidden("this page needs an admin API key (perms=admin in the API keys file)")
            return self._admission(request, key)
        key = self._access(request)
        if purpose is Purpose.FOLLOW:
            await self._check_follow(key, request.address)
            return self._admission(request, key, call_id=request.call_id)
        if purpose is Purpose.RECORDING:
            self._check_door(key, _door_of(request))
            try:
                slot = await self.take(SESSION, key)
            except NoSlot as refused:
                return Refusal(status=http.HTTPStatus.TOO_MANY_REQUESTS, error=str(refused.code),
                               message=str(refused), headers=(("Retry-After", "1"),))
            return self._admission(request, key, slot=slot)
        if purpose is Purpose.SETTINGS:
            tenant = request.tenant or key.tenant
            if not key.may_manage(tenant):
                raise self._forbidden(
                    "this API key may not read or change this tenant's settings (perms=settings in the API keys "
                    "file: its own tenant's; perms=admin: any tenant's)")
            return self._admission(request, key)
        if purpose is Purpose.RECORDED_AUDIO:  # a key that may send recordings may fetch its tenant's
            self._check_door(key, _door_of(request))
            return self._admission(request, key)
        if purpose is Purpose.CALL:
            door = _door_of(request)
            self._check_door(key, door)
            handshake = without_token(request.handshake)
            try:
                opened = door(handshake, options=self.doors.get(door.options_class))
            except HandshakeRefused as exc:
                return Refusal(status=exc.status, body=exc.body, content_type=exc.content_type,
                               headers=tuple(exc.headers))
            if opened.nonce is not None:
                await self._check_nonce(opened.nonce)
            return self._admission(request, key, door=opened)
        return self._admission(request, key)  # STATUS, UPGRADE

    def _access(self, request: AccessRequest) -> ApiKey:
        """The key of a request that passes the origin, key and pending-connection checks."""
        headers = request.handshake.headers
        origin = headers.get("Origin")
        if not self.options.origins.allowed_origin(origin, headers.get("Host")):
            log.info("refused %s: the origin %r is not in --allowed-origins", request.address, Untrusted(origin))
            raise self._refuse("forbidden_origin", http.HTTPStatus.FORBIDDEN,
                               f"WebSocket connections from the origin {origin} are not allowed "
                               "(see the gateway's --allowed-origins)")
        key = self._key(request.handshake)
        limit = self.options.max_pending_per_ip
        if limit:
            pending = self.pending(request.address)
            if pending >= limit:
                raise self._refuse("too_many_pending", http.HTTPStatus.TOO_MANY_REQUESTS,
                                   f"{request.address} already has {pending} connection(s) that sent no config "
                                   f"yet (the limit is {limit}); send a config first", [("Retry-After", "1")])
        return key

    def _key(self, handshake: Handshake) -> ApiKey:
        """The key a request presents (:data:`OPEN` when keys are off); refused (401) if invalid."""
        if not self.api_keys.enabled:
            return OPEN
        presented = auth.credential(handshake.headers, handshake.query)
        key = self.api_keys.identify(presented)
        if key is None:
            why = "the API key is not valid" if presented else (
                "an API key is required: send 'Authorization: Bearer KEY', 'X-API-KEY: KEY', '?token=KEY' "
                "or the Sec-WebSocket-Protocol pair 'token, KEY'")
            raise self._refuse("unauthorized", http.HTTPStatus.UNAUTHORIZED, why,
                               [("WWW-Authenticate", 'Bearer realm="streamscribe"')])
        return key

    def _check_door(self, key: ApiKey, door: type[Door]) -> None:
        if not key.may_stream(door.name):
            raise self._forbidden(f"this API key may not stream to the {door.name} door "
                                  "(see its perms= and doors= in the API keys file)")

    async def _check_follow(self, key: ApiKey, address: str) -> None:
        """Refuse a key without the follow permission, and a key or address that failed too many follows."""
        if not key.may_follow:
            raise self._forbidden("this API key may not follow calls (see its perms= in the API keys file)")
        wait = await self.lookups.attempt(key.key_id, address)
        if wait:
            raise self._refuse("too_many_lookups", http.HTTPStatus.TOO_MANY_REQUESTS,
                               f"too many follows of unknown calls from this key or address (the limit is "
                               f"{self.lookups.limit} a minute); retry in {math.ceil(wait)} s",
                               [("Retry-After", str(math.ceil(wait)))])

    async def _check_nonce(self, nonce: Nonce) -> None:
        """Refuse a handshake whose signature's nonce was used before (a replay)."""
        try:
            if await self.nonces.first_use(nonce):
                return
        except RedisError as exc:
            log.warning("cannot check a handshake's nonce: %s", exc)
            raise _Refused(Refusal(status=http.HTTPStatus.SERVICE_UNAVAILABLE, error=str(ErrorCode.UNAVAILABLE),
                                   message="the service cannot reach its queue; try again")) from None
        raise self._refuse("replayed", http.HTTPStatus.UNAUTHORIZED,
                           "this signed handshake was used before (its signature's nonce): a replay",
                           error="unauthorized")

    # -- a key's slots ----------------------------------------------------------------------

    async def take(self, kind: str, key: ApiKey) -> Slot | None:
        """A slot of ``kind`` for ``key`` (None: keys are off, nothing is counted); raise :class:`NoSlot`."""
        if key.key_id is None:
            return None
        try:
            return await self.slots.take(kind, key.key_id)
        except NoSlot as refused:
            if refused.reason is not None:
                self.refused(refused.reason)
            raise

    async def give_back(self, slot: Slot | None) -> None:
        if slot is not None:
            await self.slots.release(slot)

    def refused(self, reason: str) -> None:
        """Count a refusal by ``reason``."""
        self.metrics.sessions_refused.labels(reason=reason).inc()

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _admission(request: AccessRequest, key: ApiKey, *, door: Door | None = None, call_id: str | None = None,
                   slot: Slot | None = None) -> Admission:
        return Admission(purpose=request.purpose, key=key, address=request.address,
                         handshake=without_token(request.handshake), door=door, call_id=call_id, slot=slot)

    def _forbidden(self, message: str) -> _Refused:
        return self._refuse("forbidden", http.HTTPStatus.FORBIDDEN, message, error=str(ErrorCode.FORBIDDEN))

    def _refuse(self, reason: str, status: http.HTTPStatus, message: str,
                headers: list[tuple[str, str]] | None = None, *, error: str | None = None) -> _Refused:
        """A refusal counted as ``reason``; its body's error is ``error``, by default the reason."""
        self.refused(reason)
        return _Refused(Refusal(status=status, error=reason if error is None else error, message=message,
                                headers=tuple(headers or ())))


class _Refused(Exception):
    """Raised inside :meth:`Gate.admit` by a failed rule, which it answers."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def without_token(handshake: Handshake) -> Handshake:
    """The handshake as doors see it: without the ``token`` query parameter (a key is no option)."""
    query = [(name, value) for name, value in handshake.query if name != auth.QUERY_PARAMETER]
    if len(query) == len(handshake.query):
        return handshake
    return Handshake(handshake.path, query, handshake.headers, handshake.target)


def _door_of(request: AccessRequest) -> type[Door]:
    if request.door is None:
        raise ValueError(f"a {request.purpose.value} request names its door")
    return request.door
