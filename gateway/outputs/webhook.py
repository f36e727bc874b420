"""Finals webhooks: POST every final to a URL, with retries, never holding up a call.

A final goes to the gateway's ``--finals-webhook URL`` (the operator's: every
tenant's finals) and to its tenant's own ``webhook=`` from the API keys file
(:mod:`gateway.policy.keyfile`): a tenant's URL never receives another tenant's
finals.

Each final is one ``POST`` of a JSON object (the follower's ``final`` message plus
``tenant``, ``protocol`` and ``gateway``) with the header ``Idempotency-Key: <utterance id>``:
the receiver drops a delivery it has already taken, so a retry after a lost reply
never counts a final twice. With a secret (``--finals-webhook-secret-file``, or the
keys file's ``webhook_secret=``) each attempt is signed: ``Streamscribe-Signature:
t=UNIX_TIME,v1=HEX``, HEX being the HMAC-SHA256 of ``UNIX_TIME.BODY`` with the
secret. The receiver recomputes it, compares in constant time and refuses an old
timestamp, so neither a forged nor a replayed delivery is taken (Stripe's scheme).

Finals wait in one bounded queue per gateway and a few sender tasks deliver
them. A failed delivery (connection error, timeout, HTTP 408, 425, 429 or 5xx)
is retried with doubling delays (or the server's ``Retry-After``) up to
``attempts`` times; other 4xx answers are final failures. When the queue is
full (the receiver is down or slow) new finals are dropped and counted: calls
never wait for the webhook.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import httpx

from common.aio import cancel_all, within
from common.config import option, positive
from common.errors import ConfigError
from common.metrics import GatewayMetrics

from ..policy.webhook import MIN_SECRET, Destination, http_url, signing_secret

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429})  # plus every 5xx
SIGNATURE_HEADER = "Streamscribe-Signature"


def signature(secret: bytes, body: bytes, *, timestamp: int) -> str:
    """The :data:`SIGNATURE_HEADER` value of ``body`` sent at ``timestamp`` (Unix seconds)."""
    digest = hmac.new(secret, b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookOptions:
    url: str = field(default="", metadata=option(
        "POST every tenant's finals as JSON to this URL (Idempotency-Key: the utterance id), with retries; "
        "a tenant's own URL is its keys file webhook=",
        flag="--finals-webhook", parse=http_url))
    secret: bytes | None = field(default=None, repr=False, metadata=option(
        f"sign each --finals-webhook delivery with this secret (at least {MIN_SECRET} characters): "
        f"{SIGNATURE_HEADER}: t=UNIX_TIME,v1=HMAC-SHA256(secret, UNIX_TIME.BODY) in hex",
        flag="--finals-webhook-secret", parse=signing_secret, secret=True, file=True))
    # Deliveries tried per final, the first included.
    attempts: int = field(default=6, metadata=option(
        "deliveries tried per final before it counts as failed", flag="--finals-webhook-attempts",
        parse=positive(int)))
    first_delay: float = 0.5  # seconds before the first retry; doubles after each
    max_delay: float = 30.0  # longest wait between attempts (also caps Retry-After)
    timeout: float = 10.0  # seconds one request may take
    queue: int = 10_000  # finals waiting for delivery; beyond it they are dropped
    senders: int = 4  # deliveries in flight at once
    drain_timeout: float = 5.0  # at shutdown, seconds queued finals get to go out

    def __post_init__(self) -> None:
        if self.secret is not None and not self.url:
            raise ConfigError("--finals-webhook-secret signs --finals-webhook deliveries: give the URL too")


class FinalsWebhook:
    """The deliveries of one gateway, to every destination: one bounded queue, a few senders."""

    def __init__(self, options: WebhookOptions, *, metrics: GatewayMetrics) -> None:
        self.options = options
        self.metrics = metrics
        # The operator's destination, if any; tenants' come with each final.
        self.destination = Destination(options.url, options.secret) if options.url else None
        self._queue: asyncio.Queue[tuple[bytes, str, Destination]] = asyncio.Queue(maxsize=options.queue)
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task] = []
        self._closed = False

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.options.timeout, follow_redirects=False)
        self._tasks = [asyncio.create_task(self._send(), name=f"webhook-{i}") for i in range(self.options.senders)]
        if self.destination is not None:
            log.info("finals webhook: POST %s%s", self.destination.url, " (signed)" if self.destination.secret else "")

    def submit(self, payload: dict, *, key: str, to: Destination) -> bool:
        """Queue one final for delivery to ``to``; False (and counted) when the queue is full or closed."""
        if self._closed:
            return False
        try:
            self._queue.put_nowait((json.dumps(payload, ensure_ascii=False).encode(), key, to))
        except asyncio.QueueFull:
            self.metrics.webhook_deliveries.labels(result="dropped").inc()
            log.warning("finals webhook queue is full (%d); dropped the final of %s", self.options.queue, key)
            return False
        return True

    async def close(self) -> None:
        """Give queued finals ``drain_timeout`` seconds to go out, then stop; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._tasks:
            try:
                await within(self._queue.join(), self.options.drain_timeout)
            except TimeoutError:
                log.warning("finals webhook: %d final(s) not delivered at shutdown", self._queue.qsize())
            await cancel_all(self._tasks)
            self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _send(self) -> None:
        while True:
            body, key, to = await self._queue.get()
            try:
                await self._deliver(body, key, to)
            finally:
                self._queue.task_done()

    async def _deliver(self, body: bytes, key: str, to: Destination) -> None:
        options = self.options
        assert self._client is not None  # made by start() before the senders
        failure = await deliver(self._client, "POST", to, body, key=key,
                                schedule=Schedule(options.attempts, options.first_delay, options.max_delay),
                                on_retry=self.metrics.webhook_retries.inc, what="finals webhook")
        self.metrics.webhook_deliveries.labels(result="failed" if failure else "delivered").inc()
        if failure:
            log.warning("finals webhook %s: the final of %s was not delivered: %s", to.url, key, failure)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a failed delivery is tried again (pure): ``attempts`` in all, the first included; after
    attempt N fails, a wait of ``first_delay * 2**(N-1)`` s, or the server's ``Retry-After`` if
    longer, ``max_delay`` at most. Shared by the finals webhooks and the pre-recorded callbacks
    (those stored in Redis keep their attempt count, so any gateway goes on with the same schedule)."""

    attempts: int = 6
    first_delay: float = 0.5
    max_delay: float = 30.0

    def wait(self, attempt: int, retry_after: float = 0.0) -> float:
        """Seconds between failed attempt ``attempt`` (1 for the first) and the next."""
        delay = self.first_delay * 2.0 ** min(max(attempt - 1, 0), 62)
        return min(max(delay, retry_after), self.max_delay)

    def exhausted(self, attempt: int) -> bool:
        """Whether attempt ``attempt`` (1 for the first) was the last."""
        return attempt >= self.attempts


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: ``why`` None when delivered; else whether trying again may help
    (connection error, timeout, HTTP 408, 425, 429, 5xx) and the server's ``Retry-After`` (s)."""

    why: str | None = None
    retry: bool = False
    retry_after: float = 0.0

    @property
    def delivered(self) -> bool:
        return self.why is None


@dataclass(frozen=True, slots=True)
class Next:
    """What follows an attempt: ``done`` (delivered), ``retry`` after ``wait`` s, or ``give_up`` (``why``)."""

    action: Literal["done", "retry", "give_up"]
    wait: float = 0.0
    why: str | None = None


def after(attempts: int, outcome: Outcome, schedule: Schedule) -> Next:
    """What follows the ``attempts``-th attempt (1 for the first), which came to ``outcome``."""
    if outcome.delivered:
        return Next("done")
    if not outcome.retry:
        return Next("give_up", why=f"{outcome.why} (refused: not retried)")
    if schedule.exhausted(attempts):
        return Next("give_up", why=f"{outcome.why} (attempt {attempts} of {schedule.attempts}: no more retries)")
    return Next("retry", wait=schedule.wait(attempts, outcome.retry_after), why=outcome.why)


async def send(client: httpx.AsyncClient, method: str, to: Destination, body: bytes, *,
               headers: Mapping[str, str]) -> Outcome:
    """One attempt: ``body`` (JSON) to ``to`` with ``headers``, signed now with its secret."""
    headers = {"Content-Type": "application/json", **headers}
    if to.secret is not None:  # signed per attempt: a retry carries a fresh timestamp
        headers[SIGNATURE_HEADER] = signature(to.secret, body, timestamp=int(time.time()))
    try:
        response = await client.request(method, to.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(f"{type(exc).__name__}: {exc}", retry=True)
    except httpx.InvalidURL as exc:  # not an HTTPError: it would end the sender's task; no retry sends it
        return Outcome(f"the URL cannot be sent: {exc}")
    status = response.status_code
    if status < 300:
        return Outcome()
    if status < 500 and status not in RETRIED_STATUSES:
        return Outcome(f"HTTP {status}")  # the receiver refuses it; sending it again changes nothing
    return Outcome(f"HTTP {status}", retry=True, retry_after=_retry_after(response.headers.get("Retry-After")))


async def deliver(client: httpx.AsyncClient, method: str, to: Destination, body: bytes, *, key: str,
                  schedule: Schedule, on_retry: Callable[[], None] = lambda: None,
                  headers: Mapping[str, str] | None = None, what: str) -> str | None:
    """Send a JSON ``body`` to ``to`` with retries (``Idempotency-Key: key``, signed with its secret);
    None when delivered, else why not.

    A failed delivery (connection error, timeout, HTTP 408, 425, 429 or 5xx) is
    retried on ``schedule`` (:class:`Schedule`); other 4xx answers are final.
    """
    headers = {"Idempotency-Key": key, **(headers or {})}
    attempt = 0
    while True:
        attempt += 1
        outcome = await send(client, method, to, body, headers=headers)
        step = after(attempt, outcome, schedule)
        if step.action != "retry":
            return outcome.why
        on_retry()
        log.info("%s %s: %s for %s (attempt %d of %d); retrying in %.1f s",
                 what, to.url, outcome.why, key, attempt, schedule.attempts, step.wait)
        await asyncio.sleep(step.wait)


def _retry_after(value: str | None) -> float:
    """Seconds of a ``Retry-After`` header (its date form is not used by webhooks in practice)."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
