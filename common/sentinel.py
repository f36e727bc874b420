"""Redis behind Sentinel: the ``redis+sentinel://`` URL, and a client that waits out a failover.

The URL names the sentinels, not the master, and the master by its Sentinel
service name::

    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db][?option=value&...]

* ``host[:port]``: the sentinels, port 26379 unless given (``[::1]:26379`` for IPv6);
  any one that answers names the master.
* ``service``: the name in the sentinels' ``sentinel monitor <service> ...``.
* ``db``: the database number, 0 unless given.
* ``user`` and ``password`` (percent-encoded): of the master, as in ``redis://``.
* options: ``sentinel_username`` and ``sentinel_password`` (the sentinels' own
  ``requirepass`` or ACL user, when they have one); ``failover_wait`` (seconds,
  default 30): how long a connection waits for the sentinels to name a master
  that accepts it; ``wait_replicas`` (default 0) and ``wait_timeout_ms`` (default
  100): the writes that carry a call (the gateway's audio, the stages' outputs and
  checkpoints) return only once that many replicas have them, or that many ms
  passed (:class:`WaitForReplicas`).

Every connection asks the sentinels for the master when it connects, so a
connection made after a failover goes to the new master. When the master dies,
a command in flight fails on its connection and redis-py sends it once more on a
new one (as on ``redis://``); that connection waits until a master is named and
answers, up to ``failover_wait``, so the services stall for the failover instead
of failing their calls. ``failover_wait`` must exceed the sentinels'
``down-after-milliseconds`` plus the failover itself (about 2 s on a LAN).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import (MasterNotFoundError, Sentinel, SentinelConnectionPool,
                                    SentinelManagedConnection)
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, ConnectionError, TimeoutError

from .errors import ConfigError

log = logging.getLogger(__name__)

SCHEME = "redis+sentinel://"
DEFAULT_PORT = 26379
DEFAULT_FAILOVER_WAIT = 30.0

# Seconds a question to one sentinel may take: one that does not answer is skipped for the next.
SENTINEL_TIMEOUT = 1.0
# Delays between attempts to reach a master while none is named or answers.
FIRST_DELAY = 0.05
MAX_DELAY = 0.5


# The most wait_timeout_ms may be: a gateway's batch of appends, WAIT included, must end within 5 s.
MAX_WAIT_TIMEOUT_MS = 2000
# Seconds between two warnings that replicas did not acknowledge writes in time.
SHORTFALL_WARNING_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class WaitForReplicas:
    """``WAIT replicas timeout_ms`` after a batch of writes, on the batch's connection.

    Redis acknowledges a write before its replicas have it; a master that dies then takes
    the write with it, and the replica promoted in its place never had it. WAIT returns
    once ``replicas`` replicas acknowledged every earlier write of the connection, or
    after ``timeout_ms`` with how many did. A writer that sees its connection fail
    before then does not know whether the write survived, and writes it again (the
    gateway's appends) or resumes from what the new master holds (a stage's commits).
    """

    replicas: int
    timeout_ms: int


class ShortfallLog:
    """Warns, at most every :data:`SHORTFALL_WARNING_INTERVAL` s, when fewer replicas
    acknowledged a batch of writes than :class:`WaitForReplicas` asked for.

    The writes stand: the master has them, and failing them would not take them back.
    Only a failover before the replicas catch up can lose them.
    """

    def __init__(self, wait: WaitForReplicas, *, what: str) -> None:
        self.wait = wait
        self.what = what
        self._shortfalls = 0  # since the last warning
        self._warned_at = -math.inf

    def check(self, acknowledged: int | Exception) -> None:
        """Note WAIT's reply: the replicas that acknowledged, or its error."""
        if isinstance(acknowledged, int) and acknowledged >= self.wait.replicas:
            return
        self._shortfalls += 1
        now = time.monotonic()
        if now - self._warned_at < SHORTFALL_WARNING_INTERVAL:
            return
        log.warning("%d batch(es) of %s not acknowledged by %d replica(s) within %d ms (last: %s); "
                    "a failover now could lose them", self._shortfalls, self.what, self.wait.replicas,
                    self.wait.timeout_ms, acknowledged)
        self._shortfalls = 0
        self._warned_at = now


@dataclass(frozen=True, slots=True, kw_only=True)
class SentinelURL:
    """A parsed ``redis+sentinel://`` URL (see the module's docstring)."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    failover_wait: float = DEFAULT_FAILOVER_WAIT
    wait_replicas: int = 0
    wait_timeout_ms: int = 100

    @property
    def wait(self) -> WaitForReplicas | None:
        return WaitForReplicas(self.wait_replicas, self.wait_timeout_ms) if self.wait_replicas else None


def is_sentinel_url(url: str) -> bool:
    return url.startswith(SCHEME) or url.startswith("rediss+sentinel://")


def parse_url(url: str) -> SentinelURL:
    """``url`` parsed; :class:`ConfigError` naming what is wrong.

    A URL with credentials is never echoed, not even in part: a password with a reserved
    character left unencoded (``/``, ``?``, ``,``) spills into the parts after it.
    """
    show = _hidden if "@" in url else _quoted
    if url.startswith("rediss+sentinel://"):
        raise ConfigError("Redis URL: rediss+sentinel:// (TLS) is not supported; use redis+sentinel://")
    if not url.startswith(SCHEME):
        raise ConfigError(f"Redis URL: a Sentinel URL starts with {SCHEME}")
    rest = url[len(SCHEME):]
    rest, _, query = rest.partition("?")
    if "#" in query or "#" in rest:
        raise ConfigError("Redis URL: a Sentinel URL has no #fragment")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinels = tuple(_host_port(part, show) for part in hosts.split(","))
    service, db = _service_and_db(path, show)
    options = _options(query, show)
    return SentinelURL(sentinels=sentinels, service=service, db=db, username=username, password=password,
                       **options)


def _quoted(text: str) -> str:
    return f" {text!r}"


def _hidden(text: str) -> str:
    return ""


def _host_port(text: str, show) -> tuple[str, int]:
    if not text:
        raise ConfigError("Redis URL: name each sentinel as host[:port], separated by commas "
                          f"({SCHEME}host1:26379,host2:26379/service)")
    if text.startswith("["):  # [IPv6]:port
        host, bracket, port = text[1:].partition("]")
        if not bracket or not host or (port and not port.startswith(":")):
            raise ConfigError(f"Redis URL: a sentinel{show(text)} is not [IPv6 address]:port")
        port = port[1:]
    else:
        host, _, port = text.partition(":")
        if not host or ":" in port:
            raise ConfigError(f"Redis URL: a sentinel{show(text)} is not host[:port] "
                              "(an IPv6 address goes in [])")
    if not port:
        return host, DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"Redis URL: a sentinel{show(text)} has no valid port")
    return host, int(port)


def _service_and_db(path: str, show) -> tuple[str, int]:
    parts = path.split("/") if path else []
    if parts and parts[-1] == "" and len(parts) > 1:  # a trailing slash
        parts.pop()
    if not parts or not parts[0]:
        raise ConfigError(f"Redis URL: name the master's Sentinel service after the sentinels "
                          f"({SCHEME}host:26379/mymaster)")
    if len(parts) > 2:
        raise ConfigError(f"Redis URL: after the sentinels come /service and an optional /db, "
                          f"not {len(parts)} path parts")
    service = unquote(parts[0])
    if len(parts) == 1:
        return service, 0
    if not parts[1].isdigit():
        raise ConfigError(f"Redis URL: the database{show(parts[1])} is not a number")
    return service, int(parts[1])


def _options(query: str, show) -> dict:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigError("Redis URL: the query is not name=value pairs joined by &") from None
    options: dict = {}
    for name, value in pairs:
        if name in options:
            raise ConfigError(f"Redis URL: option{show(name)} is given twice")
        if name in ("sentinel_username", "sentinel_password"):
            options[name] = value or None
        elif name == "wait_replicas":
            if not value.isdigit():
                raise ConfigError(f"Redis URL: wait_replicas{show(value)} is not a number of replicas (0 or more)")
            options[name] = int(value)
        elif name == "wait_timeout_ms":
            if not value.isdigit() or not 0 < int(value) <= MAX_WAIT_TIMEOUT_MS:
                raise ConfigError(f"Redis URL: wait_timeout_ms{show(value)} is not a number of ms from 1 to "
                                  f"{MAX_WAIT_TIMEOUT_MS}")
            options[name] = int(value)
        elif name == "failover_wait":
            try:
                seconds = float(value)
            except ValueError:
                seconds = math.nan
            if not (math.isfinite(seconds) and seconds > 0):
                raise ConfigError(f"Redis URL: failover_wait{show(value)} is not a positive number of seconds")
            options[name] = seconds
        else:
            raise ConfigError(f"Redis URL: an unknown option{show(name)} (a Sentinel URL takes sentinel_username, "
                              "sentinel_password, failover_wait, wait_replicas and wait_timeout_ms)")
    return options


class FailoverConnection(SentinelManagedConnection):
    """A connection to the master the sentinels name, made anew each time it connects.

    redis-py reconnects by two paths (``connect``, and ``connect_check_health`` from
    ``send_packed_command``); its Sentinel connection asks the sentinels on the first
    only and reconnects to the old address on the second. Both ask here, and both wait
    for a master up to ``failover_wait`` seconds.
    """

    def __init__(self, *, failover_wait: float, **kwargs) -> None:
        self.failover_wait = failover_wait
        super().__init__(**kwargs)

    async def connect(self) -> None:
        await self.connect_check_health(check_health=True)

    async def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        if self.is_connected:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.failover_wait
        delay = FIRST_DELAY
        waited = False
        while True:
            try:
                self.host, self.port = await self.connection_pool.get_master_address()
                await super().connect_check_health(check_health=check_health, retry_socket_connect=False)
            except AuthenticationError:
                raise  # waiting would not mend a wrong password
            except (ConnectionError, TimeoutError) as exc:
                await self.disconnect()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise
                if not waited:
                    # MasterNotFoundError's own message lists every sentinel client's settings.
                    reason = "the sentinels name none" if isinstance(exc, MasterNotFoundError) else exc
                    log.warning("no Redis master of %r answers (%s); waiting up to %g s for a failover",
                                self.connection_pool.service_name, reason, self.failover_wait)
                    waited = True
                await asyncio.sleep(min(delay, remaining))  # back-off between attempts
                delay = min(delay * 2, MAX_DELAY)
                continue
            if waited:
                log.info("connected to the Redis master of %r at %s:%s", self.connection_pool.service_name,
                         self.host, self.port)
            return


class BlockingSentinelPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """Sentinel's pool of master connections, waiting for a free connection when all are busy
    (backpressure, as on ``redis://``) instead of failing at once."""


class SentinelRedis(aioredis.Redis):
    """The master's client; closing it also closes its clients of the sentinels.

    ``wait_for_replicas``: the WAIT that writes which must survive a failover are followed by.
    """

    wait_for_replicas: WaitForReplicas | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        pool = self.connection_pool
        assert isinstance(pool, SentinelConnectionPool)  # master_for's connection_pool_class
        manager = pool.sentinel_manager
        try:
            await super().aclose(close_connection_pool)
        finally:
            await manager.aclose()


def connect(url: SentinelURL, *, max_connections: int, timeout: float, **options) -> SentinelRedis:
    """A client of ``url``'s master: ``max_connections`` at most, waiting up to ``timeout`` s for a
    free one; ``options`` are those of every connection (``client_name``, timeouts ...)."""
    sentinel_options = dict(socket_connect_timeout=SENTINEL_TIMEOUT, socket_timeout=SENTINEL_TIMEOUT,
                            retry=Retry(NoBackoff(), 0), username=url.sentinel_username,
                            password=url.sentinel_password)
    manager = Sentinel(url.sentinels, sentinel_kwargs=sentinel_options)
    client = manager.master_for(
        url.service, redis_class=SentinelRedis, connection_pool_class=BlockingSentinelPool,
        connection_class=FailoverConnection, failover_wait=url.failover_wait,
        db=url.db, username=url.username, password=url.password,
        max_connections=max_connections, timeout=timeout, retry_on_timeout=True, **options)
    client.wait_for_replicas = url.wait
    return client
