"""Pre-recorded callbacks that outlive their gateway: stored in Redis, delivered by any gateway of the fleet.

The gateway that transcribed a recording sends a callback's first attempt itself; if that fails
and may be retried (or a drain cuts it), the delivery (no secret, no signature) is stored in
Redis, due when the retry schedule says, and every gateway's :class:`Courier` claims due
deliveries, signs each at send time with the tenant's secret and sends it. A claim is a lease: a
gateway that dies leaves its claims to lapse after :data:`LEASE` and another takes them, so
delivery is at least once (receivers de-duplicate by ``dg-request-id``). The store is bounded in
number, bytes and age, and every time is Redis' ``TIME``, so gateway clocks play no part. Keys
share the hash tag ``{callbacks}`` (one Cluster slot, so each script is legal there).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client import Counter
from redis.exceptions import RedisError

from common import aio, bus, keys
from common.metrics import GatewayMetrics

from ..policy.webhook import Destination
from .delivery import BadRecord, Delivery
from .webhook import Next, Outcome, Schedule, after, send

log = logging.getLogger(__name__)

TAG = "{callbacks}"
DUE = f"{keys.PREFIX}:callbacks:{TAG}:due"
CREATED = f"{keys.PREFIX}:callbacks:{TAG}:created"
RECORDS = f"{keys.PREFIX}:callbacks:{TAG}:records"
KEYS = (DUE, CREATED, RECORDS)

TIMEOUT = 30.0  # seconds one attempt may take
LEASE = TIMEOUT + 10.0  # seconds a claim holds a delivery; a claimer that died lets it go after this
POLL = 1.0  # seconds between looks for due deliveries (sooner when one is due sooner, or stored here)
HANDOVER_TIMEOUT = 3.0  # seconds a cut attempt gets to store its delivery again
PURGE_BATCH = 100  # expired records dropped per script call

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function purge(retention)
  local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - retention, 'LIMIT', 0, %d)
  for _, id in ipairs(old) do
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
  end
  return old
end
""" % PURGE_BATCH

# Store a delivery due in ARGV[1] ms unless ARGV[2] are stored already or the records would then
# hold over ARGV[6] bytes (a new one; storing one again is always taken). ARGV: delay ms, most,
# retention ms, id, record, most bytes. Returns {1 stored | 0 full, expired ids}. The bytes are
# summed here, not kept in a counter that could drift: puts are rare (failed first attempts)
# and the records few (ARGV[2]).
_PUT = _NOW + """
local expired = purge(tonumber(ARGV[3]))
local new = redis.call('HEXISTS', KEYS[3], ARGV[4]) == 0
if new then
  if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[2]) then return {0, expired} end
  local bytes = #ARGV[5]
  for _, id in ipairs(redis.call('HKEYS', KEYS[3])) do
    bytes = bytes + redis.call('HSTRLEN', KEYS[3], id)
  end
  if bytes > tonumber(ARGV[6]) then return {0, expired} end
end
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
if new then redis.call('ZADD', KEYS[2], now, ARGV[4]) end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[4])
return {1, expired}
"""

# Claim the first due delivery for ARGV[1] ms. ARGV: lease ms, retention ms.
# Returns {expired ids, id, record, token, stored, ms until the next is due (-1: none)}; id '' when none is due.
_CLAIM = _NOW + """
local expired = purge(tonumber(ARGV[2]))
while true do
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
  if #due == 0 then break end
  local id = due[1]
  local record = redis.call('HGET', KEYS[3], id)
  if record then
    local token = now + tonumber(ARGV[1])
    redis.call('ZADD', KEYS[1], token, id)
    return {expired, id, record, token, redis.call('HLEN', KEYS[3]), 0}
  end
  redis.call('ZREM', KEYS[1], id)  -- no record (cannot happen but by hand): gone, as an expired one
  redis.call('ZREM', KEYS[2], id)
  table.insert(expired, id)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_in = -1
if #first > 0 then next_in = math.max(0, tonumber(first[2]) - now) end
return {expired, '', '', 0, redis.call('HLEN', KEYS[3]), next_in}
"""

# Done with a claimed delivery (delivered or given up), if the claim is still ours. ARGV: id, token.
_ACK = """
if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '-1') ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""

# Store a claimed delivery again (its next attempt, or handed back) due in ARGV[3] ms, if the claim is
# still ours. ARGV: id, token, delay ms, record.
_AGAIN = """
if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '-1') ~= tonumber(ARGV[2]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
return 1
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """What a look for due deliveries found: ``request_id`` and ``record`` empty when none is due."""

    expired: list[str]
    request_id: str
    record: bytes
    token: int
    stored: int  # deliveries in Redis
    next_in: float | None  # seconds until the next is due (None: none stored)


class Store:
    """The fleet's stored callback deliveries in Redis (the layout in the module docstring)."""

    def __init__(self, redis: bus.Redis, *, most: int, most_bytes: int, retention: float) -> None:
        self.most = most
        self.most_bytes = most_bytes
        self.retention_ms = int(retention * 1000)
        self._put = redis.register_script(_PUT)
        self._claim = redis.register_script(_CLAIM)
        self._ack = redis.register_script(_ACK)
        self._again = redis.register_script(_AGAIN)

    async def put(self, delivery: Delivery, *, wait: float) -> tuple[bool, list[str]]:
        """Store ``delivery`` due in ``wait`` s: (stored, or False when full, by count or by bytes; the ids
        that expired meanwhile)."""
        stored, expired = await self._put(keys=KEYS, args=[
            int(wait * 1000), self.most, self.retention_ms, delivery.request_id, delivery.encode(), self.most_bytes])
        return bool(stored), [bus.text(i) for i in expired]

    async def claim(self, *, lease: float) -> Claim:
        expired, request_id, record, token, stored, next_in = await self._claim(
            keys=KEYS, args=[int(lease * 1000), self.retention_ms])
        return Claim([bus.text(i) for i in expired], bus.text(request_id), record if isinstance(record, bytes)
                     else str(record).encode(), int(token), int(stored),
                     None if int(next_in) < 0 else int(next_in) / 1000)

    async def ack(self, request_id: str, token: int) -> bool:
        return bool(await self._ack(keys=KEYS, args=[request_id, token]))

    async def again(self, delivery: Delivery, token: int, *, wait: float) -> bool:
        return bool(await self._again(keys=KEYS, args=[delivery.request_id, token, int(wait * 1000),
                                                       delivery.encode()]))


class Courier:
    """One gateway's part in delivering callbacks: first attempts, hand-overs, and the loop over Redis.

    ``hosts``: the hosts this gateway calls back (``--prerecorded-callback-hosts``): a stored
    delivery to any other (a host taken off the list since it was stored, or a gateway with a
    shorter list) is given up, not sent; ``secret_of(tenant)``: what signs a delivery of
    ``tenant`` (None: unsigned); ``undelivered``: the counter of callbacks given up
    (``kind="callback"``).
    """

    def __init__(self, redis: bus.Redis, *, schedule: Schedule, most: int, most_bytes: int, retention: float,
                 senders: int = 4, hosts: frozenset[str], secret_of: Callable[[str], bytes | None],
                 metrics: GatewayMetrics, undelivered: Counter, gateway_id: str = "") -> None:
        self.schedule = schedule
        self.hosts = hosts
        self.retention = retention
        self.senders = senders  # claimed attempts in flight at once (0: this gateway claims none)
        self.store = Store(redis, most=most, most_bytes=most_bytes, retention=retention)
        self.secret_of = secret_of
        self.metrics = metrics
        self.undelivered = undelivered
        self.gateway_id = gateway_id
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.Task | None = None
        self._sending: set[asyncio.Task] = set()
        self._wake = asyncio.Event()
        undelivered.labels(kind="callback")  # exported from the start, at 0
        for reason in ("full", "expired"):
            metrics.prerecorded_callbacks_dropped.labels(reason=reason)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        if self.senders > 0:
            self._loop = asyncio.create_task(self._run(), name="callback-courier")
        else:
            log.info("stored pre-recorded callbacks: this gateway sends none (--prerecorded-callback-senders 0)")

    async def drain(self, *, timeout: float) -> None:
        """At shutdown: claim no more; the attempts in flight get ``timeout`` s, then go back to Redis, due."""
        await aio.cancel_all([self._loop])
        self._loop = None
        sending = set(self._sending)
        if sending:
            await asyncio.wait(sending, timeout=timeout)
        left = [task for task in sending if not task.done()]
        for task in left:  # once: each stores its delivery again while it ends
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=HANDOVER_TIMEOUT + 1.0)
            await aio.cancel_all(left)
            log.info("shutdown: %d pre-recorded callback attempt(s) in flight handed back to Redis", len(left))

    async def close(self) -> None:
        await self.drain(timeout=0)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- the gateway that transcribed it ------------------------------------------------

    async def first(self, delivery: Delivery, *, handed: Callable[[], None]) -> None:
        """Deliver a new callback: its first attempt here; when it fails and may be retried, hand it to the
        fleet (Redis), else retry here. Cancelled (the drain's cut) between or during attempts, it is
        handed over due at once, ``handed()`` is called, and the cancellation goes on."""
        try:
            while True:
                outcome = await self._attempt(delivery)
                delivery = delivery.tried()
                step = after(delivery.attempts, outcome, self.schedule)
                if step.action != "retry":
                    self._finish(delivery, step)
                    return
                self.metrics.prerecorded_callback_retries.inc()
                if await self.hand_over(delivery, wait=step.wait):
                    log.info("pre-recorded %s: callback attempt %d of %d failed (%s); handed over to the fleet "
                             "(Redis), next attempt in %.1f s by any gateway", delivery.request_id,
                             delivery.attempts, self.schedule.attempts, step.why, step.wait)
                    return
                log.info("pre-recorded %s: callback attempt %d of %d failed (%s); retrying here in %.1f s",
                         delivery.request_id, delivery.attempts, self.schedule.attempts, step.why, step.wait)
                await asyncio.sleep(step.wait)
        except asyncio.CancelledError:
            try:
                stored = await aio.within(self.hand_over(delivery, wait=0.0), HANDOVER_TIMEOUT)
            except TimeoutError:
                stored = False
                log.warning("pre-recorded %s: handing the callback over timed out", delivery.request_id)
            if stored:
                handed()
                log.info("pre-recorded %s: shutdown: callback handed over to the fleet (Redis) after %d "
                         "attempt(s), due now", delivery.request_id, delivery.attempts)
            raise

    async def hand_over(self, delivery: Delivery, *, wait: float) -> bool:
        """Store ``delivery`` in Redis, due in ``wait`` s, for any gateway to deliver; False (logged) when
        Redis is full or unreachable: its gateway keeps it."""
        try:
            stored, expired = await self.store.put(delivery, wait=wait)
        except (RedisError, OSError) as exc:
            log.warning("pre-recorded %s: the callback could not be handed over to Redis (%s); this gateway "
                        "keeps retrying it, and a shutdown before it is delivered loses it",
                        delivery.request_id, exc)
            return False
        self._expired(expired)
        if not stored:
            self.metrics.prerecorded_callbacks_dropped.labels(reason="full").inc()
            log.warning("pre-recorded %s: Redis holds --prerecorded-callback-backlog (%d) callbacks or "
                        "--prerecorded-callback-backlog-bytes (%d) already; this gateway keeps retrying this one, "
                        "and a shutdown before it is delivered loses it",
                        delivery.request_id, self.store.most, self.store.most_bytes)
            return False
        self.metrics.prerecorded_callbacks_stored.inc()
        self._wake.set()
        return True

    # -- any gateway ------------------------------------------------------------------------

    async def _run(self) -> None:
        outage = False
        while True:
            if len(self._sending) >= self.senders:
                await asyncio.wait(self._sending, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                claim = await self.store.claim(lease=LEASE)
            except bus.CONNECTION_ERRORS as exc:  # (redis-py's disconnect race too: common.bus)
                if not outage:
                    log.warning("stored pre-recorded callbacks: Redis failed (%s); trying again every %.0f s",
                                exc, POLL)
                outage = True
                await self._pause(POLL)
                continue
            if outage:
                log.info("stored pre-recorded callbacks: Redis answers again")
                outage = False
            self.metrics.prerecorded_callbacks_pending.set(claim.stored)
            self._expired(claim.expired)
            if not claim.request_id:
                await self._pause(POLL if claim.next_in is None else min(POLL, claim.next_in))
                continue
            try:
                delivery = Delivery.decode(claim.record)
            except BadRecord as exc:  # a newer gateway's? left to lapse: another may read it, else it expires
                log.warning("pre-recorded %s: a stored callback this gateway cannot read (%s); left for another "
                            "gateway (or to expire)", claim.request_id, exc)
                continue
            if delivery.host not in self.hosts:
                await self._refuse(delivery, claim.token)
                continue
            task = asyncio.create_task(self._resend(delivery, claim.token), name=f"callback-{claim.request_id}")
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _pause(self, seconds: float) -> None:
        try:
            await aio.within(self._wake.wait(), seconds)
        except TimeoutError:
            pass
        self._wake.clear()

    async def _refuse(self, delivery: Delivery, token: int) -> None:
        """Give up a claimed delivery whose host this gateway does not call back."""
        try:
            mine = await self.store.ack(delivery.request_id, token)
        except (RedisError, OSError) as exc:
            log.warning("pre-recorded %s: Redis failed while giving up a callback to a host not allowed here "
                        "(%s); its claim lapses in %.0f s", delivery.request_id, exc, LEASE)
            return
        if mine:
            self._finish(delivery, Next("give_up", why=f"its host {delivery.host!r} is not in this gateway's "
                                                       "--prerecorded-callback-hosts (taken off since it was stored?)"))

    async def _resend(self, delivery: Delivery, token: int) -> None:
        """One attempt of a claimed delivery, then acknowledge it or store it again for its next one."""
        try:
            outcome = await self._attempt(delivery)
        except asyncio.CancelledError:  # the drain's cut: back to Redis, due at once, for another gateway
            try:
                await aio.within(self.store.again(delivery, token, wait=0.0), HANDOVER_TIMEOUT)
            except (TimeoutError, RedisError, OSError) as exc:
                log.info("pre-recorded %s: the callback was not handed back (%s); its claim lapses in %.0f s "
                         "and another gateway takes it", delivery.request_id, exc, LEASE)
            raise
        delivery = delivery.tried()
        step = after(delivery.attempts, outcome, self.schedule)
        try:
            if step.action == "retry":
                self.metrics.prerecorded_callback_retries.inc()
                await self.store.again(delivery, token, wait=step.wait)
                log.info("pre-recorded %s: callback attempt %d of %d failed (%s); next in %.1f s",
                         delivery.request_id, delivery.attempts, self.schedule.attempts, step.why, step.wait)
                return
            mine = await self.store.ack(delivery.request_id, token)
        except (RedisError, OSError) as exc:
            log.warning("pre-recorded %s: Redis failed after callback attempt %d (%s); its claim lapses in "
                        "%.0f s and another gateway goes on", delivery.request_id, delivery.attempts, exc, LEASE)
            if step.action == "done":
                self._finish(delivery, step)
            return
        if step.action == "done" or mine:  # a lapsed claim's give-up is the new claimer's to report
            self._finish(delivery, step)

    async def _attempt(self, delivery: Delivery) -> Outcome:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        to = Destination(delivery.url, self.secret_of(delivery.tenant))
        return await send(self._client, delivery.method, to, delivery.body, headers=delivery.headers)

    def _finish(self, delivery: Delivery, step: Next) -> None:
        if step.action == "done":
            self.metrics.prerecorded_callbacks_delivered.inc()
            log.info("pre-recorded %s: callback delivered (attempt %d)%s", delivery.request_id, delivery.attempts,
                     f" by gateway {self.gateway_id}" if self.gateway_id else "")
            return
        self.undelivered.labels(kind="callback").inc()
        log.warning("pre-recorded %s: the callback was not delivered: %s", delivery.request_id, step.why)

    def _expired(self, request_ids: list[str]) -> None:
        for request_id in request_ids:
            self.metrics.prerecorded_callbacks_dropped.labels(reason="expired").inc()
            self.undelivered.labels(kind="callback").inc()
            log.warning("pre-recorded %s: the callback was not delivered: stored longer than "
                        "--prerecorded-callback-retention (%.0f s); dropped", request_id, self.retention)
