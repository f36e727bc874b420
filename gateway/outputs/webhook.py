"""``--finals-webhook URL``: POST every final to a URL, with retries, never holding up a call.

Each final is one ``POST`` of a JSON object (the follower's ``final`` message plus
``tenant``, ``protocol`` and ``gateway``) with the header ``Idempotency-Key: <utterance id>``:
the receiver drops a delivery it has already taken, so a retry after a lost reply
never counts a final twice.

Finals wait in one bounded queue per gateway and a few sender tasks deliver
them. A failed delivery (connection error, timeout, HTTP 408, 425, 429 or 5xx)
is retried with doubling delays (or the server's ``Retry-After``) up to
``attempts`` times; other 4xx answers are final failures. When the queue is
full (the receiver is down or slow) new finals are dropped and counted: calls
never wait for the webhook.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

import httpx

from common.aio import cancel_all, within
from common.config import option, positive
from common.metrics import GatewayMetrics

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429})  # plus every 5xx


def http_url(text: str) -> str:
    """``text``, an http:// or https:// URL (or empty: no webhook)."""
    if text and not text.startswith(("http://", "https://")):
        raise ValueError("not an http:// or https:// URL")
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookOptions:
    url: str = field(metadata=option(
        "POST each final as JSON to this URL (Idempotency-Key: the utterance id), with retries",
        flag="--finals-webhook", parse=http_url))
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


class FinalsWebhook:
    def __init__(self, options: WebhookOptions, *, metrics: GatewayMetrics) -> None:
        self.options = options
        self.metrics = metrics
        self._queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue(maxsize=options.queue)
        self._client: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task] = []
        self._closed = False

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.options.timeout, follow_redirects=False)
        self._tasks = [asyncio.create_task(self._send(), name=f"webhook-{i}") for i in range(self.options.senders)]
        log.info("finals webhook: POST %s", self.options.url)

    def submit(self, payload: dict, *, key: str) -> bool:
        """Queue one final for delivery; False (and counted) when the queue is full or closed."""
        if self._closed:
            return False
        try:
            self._queue.put_nowait((json.dumps(payload, ensure_ascii=False).encode(), key))
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
            body, key = await self._queue.get()
            try:
                await self._deliver(body, key)
            finally:
                self._queue.task_done()

    async def _deliver(self, body: bytes, key: str) -> None:
        options = self.options
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        delay = options.first_delay
        for attempt in range(1, options.attempts + 1):
            wait = delay
            try:
                response = await self._client.post(options.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                why = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status < 300:
                    self.metrics.webhook_deliveries.labels(result="delivered").inc()
                    return
                why = f"HTTP {status}"
                if status < 500 and status not in RETRIED_STATUSES:
                    break  # the receiver refuses this final; sending it again changes nothing
                wait = max(delay, _retry_after(response.headers.get("Retry-After")))
            if attempt == options.attempts:
                break
            self.metrics.webhook_retries.inc()
            log.info("finals webhook: %s for %s (attempt %d of %d); retrying in %.1f s",
                     why, key, attempt, options.attempts, min(wait, options.max_delay))
            await asyncio.sleep(min(wait, options.max_delay))
            delay = min(delay * 2, options.max_delay)
        self.metrics.webhook_deliveries.labels(result="failed").inc()
        log.warning("finals webhook: the final of %s was not delivered: %s", key, why)


def _retry_after(value: str | None) -> float:
    """Seconds of a ``Retry-After`` header (its date form is not used by webhooks in practice)."""
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
