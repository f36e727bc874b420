"""A call's transcripts in Redis for whoever follows them: the call registry, its log, ``ss:finals``.

A call belongs to its API key's tenant, and its id (the door's: ``session_id``, ``streamSid``,
the AudioHook session id) names it within that tenant only, since clients choose some ids. Its
gateway keeps ``ss:call:{TENANT/CALL_ID}`` (a hash: the registry entry any gateway finds) and
``ss:call:{TENANT/CALL_ID}:log`` (a stream of every partial and final, then ``ended``, with ids
``0-SEQ`` so that a follower reads "after seq N" and a rewrite after a lost reply is refused
instead of duplicated). Both live while the call does and ``retention`` seconds after, for late
followers. A call id still registered is never taken over: the new call runs without a log.
Every final also goes once to ``ss:finals`` and to the finals webhook. One writer task per call
appends in order; a call's own client comes first, and partials are dropped from the log before
finals wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.exceptions import RedisError, ResponseError

from common import aio, bus, keys
from common.config import option, positive
from common.logs import Untrusted
from common.metrics import GatewayMetrics

from ..core import events
from ..core.resp import Lane
from ..policy.webhook import Destination
from .webhook import FinalsWebhook, WebhookOptions

log = logging.getLogger(__name__)

CALL_PREFIX = f"{keys.PREFIX}:call"
FINALS_STREAM = f"{keys.PREFIX}:finals"
BATCH = 100  # entries written per round trip
_PARKED = {"type": "parked"}  # queued by CallLog.park: the writer stops after what came before
FLAGS = ("no_words", "truncated")  # a final's flags, logged and in ss:finals

# Register a call unless its id is taken, by a live call or an ended one still kept.
# KEYS: the registry hash, the log. ARGV: TTL (s), then the registry's field/value pairs.
CLAIM = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


def call_key(tenant: str, call_id: str) -> str:
    """Hash: the registry entry of the call ``call_id`` of ``tenant``.

    Neither a tenant name nor a valid call id holds ``/`` or braces, so each pair has a key of its own.
    """
    return f"{CALL_PREFIX}:{{{tenant}/{call_id}}}"


def log_key(tenant: str, call_id: str) -> str:
    """Stream: the call's partials, finals and end, ids ``0-SEQ``."""
    return call_key(tenant, call_id) + ":log"


def entry_id(seq: int) -> str:
    return f"0-{seq}"


def seq_of(stream_id: bytes | str) -> int:
    return int(bus.text(stream_id).partition("-")[2])


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptOptions:
    # Entries kept per call log (~2 h of a busy two-party call).
    log_maxlen: int = field(default=10_000, metadata=option(
        "entries (partials, finals) kept per call's transcript log", flag="--transcript-log-maxlen",
        parse=positive(int)))
    finals_maxlen: int = field(default=100_000, metadata=option(
        "entries kept (approximately) in the ss:finals stream of every call's finals", parse=positive(int)))
    # Seconds an ended call's registry entry and log stay readable.
    retention: float = field(default=60.0, metadata=option(
        "seconds a call's transcript log stays readable for followers after the call ended",
        flag="--transcript-retention", parse=positive(float)))
    queue: int = 1_000  # entries waiting for a call's writer; partials beyond it are dropped
    close_timeout: float = 5.0  # seconds a closing call waits for its writer to finish
    webhook: WebhookOptions = WebhookOptions()  # POST each final (to no URL by default)


def transcript_message(call_id: str, event: events.Transcript, party: str | None) -> dict:
    """The follower's message for a partial or final (native field names, plus call, channel and party)."""
    final = isinstance(event, events.Final)
    message: dict[str, object] = {"type": "final" if final else "partial", "call_id": call_id, "channel": event.channel,
               "party": party, "session_id": event.session_id, "utterance_id": event.utterance_id,
               "text": event.text, "start_ms": event.start_ms, "end_ms": event.end_ms, "language": event.language}
    if isinstance(event, events.Final):
        message["is_speech_final"] = event.speech_final
        for flag in FLAGS:  # what the final says of itself: words missing (the native door's fields)
            if getattr(event, flag):
                message[flag] = True
        if event.speaker is not None:
            message["speaker"] = event.speaker
    if event.confidence is not None:
        message["confidence"] = round(event.confidence, 4)
    if final and event.words:
        message["words"] = [_word(w) for w in event.words]
    return message


def _word(word: events.Word) -> dict:
    out: dict[str, object] = {"word": word.text, "start_ms": word.start_ms, "end_ms": word.end_ms,
                              "confidence": round(word.confidence, 4)}
    if word.speaker is not None:  # a diarized call's
        out["speaker"] = word.speaker
    return out


def ended_message(call_id: str, event: events.Ended) -> dict:
    return {"type": "ended", "call_id": call_id, "reason": event.reason, "complete": event.complete,
            "audio_ms": event.audio_ms}


def finals_fields(message: dict, *, tenant: str, protocol: str, gateway: str, language_asked: str = "") -> dict:
    """The ``ss:finals`` entry of a final's message (every value a string). ``language_asked``: the
    session's language as asked for ("": detected), so that a reader tells "asked for es" from
    "detected es"; ``flags`` the final's (``no_words``, ``truncated``), comma-separated."""
    confidence = message.get("confidence")
    return {"tenant": tenant, "call_id": message["call_id"], "channel": str(message["channel"]),
            "party": message["party"] or "", "session_id": message["session_id"],
            "utterance_id": message["utterance_id"], "text": message["text"],
            "start_ms": str(message["start_ms"]), "end_ms": str(message["end_ms"]),
            "language": message["language"] or "", "confidence": "" if confidence is None else str(confidence),
            "is_speech_final": "1" if message["is_speech_final"] else "0",
            "words": json.dumps(message.get("words", []), ensure_ascii=False), "protocol": protocol,
            "gateway": gateway, "language_asked": language_asked,
            "flags": ",".join(flag for flag in FLAGS if message.get(flag))}


class TranscriptLog:
    """The gateway's side: opens each call's :class:`CallLog`, owns the finals webhook."""

    def __init__(self, redis: bus.Redis, *, options: TranscriptOptions, ttl: float, gateway_id: str,
                 metrics: GatewayMetrics,
                 tenant_webhook: Callable[[str], Destination | None] = lambda tenant: None) -> None:
        """``tenant_webhook``: a tenant's own webhook as the keys file says now (what signs a stored
        callback of the tenant's, delivered later by any gateway); a call's comes with it (its policy)."""
        self.redis = redis
        self.options = options
        self.ttl = int(ttl)
        self.gateway_id = gateway_id
        self.metrics = metrics
        self.webhook = FinalsWebhook(options.webhook, metrics=metrics)
        self._tenant_webhook = tenant_webhook
        self._claim = redis.register_script(CLAIM)
        self.live: set[CallLog] = set()  # logs whose call has not ended: renewed together
        self._renew_every = max(0.5, min(2.0, self.ttl / 3))
        self._renewer: asyncio.Task | None = None
        self._lane = Lane(redis)  # the renewals' batches

    def webhooks(self, tenant_webhook: Destination | None) -> tuple[Destination, ...]:
        """Where a call's finals are delivered: the operator's webhook and its tenant's own."""
        return tuple(to for to in (self.webhook.destination, tenant_webhook) if to is not None)

    def signing_secret(self, tenant: str) -> bytes | None:
        """What signs a delivery to ``tenant``: its own webhook's secret, else the operator's."""
        for to in (self._tenant_webhook(tenant), self.webhook.destination):
            if to is not None and to.secret is not None:
                return to.secret
        return None

    async def start(self) -> None:
        await self.webhook.start()
        self._renewer = asyncio.create_task(self._renew(), name="transcript-log-renew")

    async def close(self) -> None:
        await aio.cancel_all([self._renewer])
        self._renewer = None
        await self._lane.close()
        await self.webhook.close()

    async def _renew(self) -> None:
        """Every few seconds, one pipeline renews the keys of every live call (not a round trip per call)."""
        while True:
            await asyncio.sleep(self._renew_every)
            commands = [("EXPIRE", key, self.ttl) for call_log in list(self.live) for key in call_log.keys]
            try:
                await self._lane.execute(commands)
            except (RedisError, OSError) as exc:
                self.metrics.redis_errors.inc()
                log.warning("renewing %d call transcript logs failed: %s", len(commands) // 2, exc)

    async def open_call(self, *, tenant: str, call_id: str, protocol: str, parties: tuple[str, ...],
                        session_ids: tuple[str, ...], redaction: str = "",
                        webhook: Destination | None = None, asked: dict | None = None) -> CallLog | None:
        """Register the call of ``tenant`` and start its log; None when it cannot have one (the call runs anyway).

        ``redaction``: the policy and kinds its finals were redacted with (``client:pci``), recorded with it;
        ``webhook``: the tenant's own, as its policy said when the call was admitted; ``asked``: what the
        call asked for (``SessionConfig.asked``), recorded with it (its ``language`` goes with each final
        to ``ss:finals``)."""
        asked = asked or {}
        if not keys.valid_session_id(call_id):
            log.warning("call %r: not followable (a call id is 1-64 letters, digits, '-' or '_')", Untrusted(call_id))
            return None
        info = {"tenant": tenant, "protocol": protocol, "gateway": self.gateway_id, "channels": str(len(session_ids)),
                "parties": json.dumps(list(parties)), "session_ids": json.dumps(list(session_ids)),
                "started": f"{time.time():.3f}", "state": "live", "redaction": redaction,
                "asked": json.dumps(asked, ensure_ascii=False)}
        try:
            claimed = await self._claim(keys=[call_key(tenant, call_id), log_key(tenant, call_id)],
                                        args=[self.ttl, *(item for pair in info.items() for item in pair)])
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.inc()
            log.warning("call %s: registering it for followers failed: %s", call_id, exc)
            return None
        if not claimed:
            log.warning("call %s of tenant %s: the tenant's live call, or an ended one still kept, has this id; "
                        "this one cannot be followed", call_id, tenant)
            return None
        call_log = CallLog(self, tenant=tenant, call_id=call_id, protocol=protocol, parties=parties,
                           webhooks=self.webhooks(webhook), language_asked=str(asked.get("language") or ""))
        call_log.start()
        return call_log

    async def adopt_call(self, *, tenant: str, call_id: str, protocol: str, parties: tuple[str, ...],
                         seq: int, webhook: Destination | None = None, language_asked: str = "") -> CallLog:
        """Go on with the log of a parked call that this gateway resumes (:meth:`CallLog.park`)."""
        try:
            await self.redis.hset(call_key(tenant, call_id), "gateway", self.gateway_id)
        except (RedisError, OSError) as exc:  # the registry only says where the call runs
            self.metrics.redis_errors.inc()
            log.warning("call %s: updating its registry entry failed: %s", call_id, exc)
        call_log = CallLog(self, tenant=tenant, call_id=call_id, protocol=protocol, parties=parties,
                           webhooks=self.webhooks(webhook), language_asked=language_asked)
        call_log.seq = seq
        call_log.start()
        return call_log


class CallLog:
    """One call's log, written in order by one task."""

    def __init__(self, owner: TranscriptLog, *, tenant: str, call_id: str, protocol: str,
                 parties: tuple[str, ...], webhooks: tuple[Destination, ...] = (), language_asked: str = "") -> None:
        self.owner = owner
        self.language_asked = language_asked  # the call's language as asked ("": detected), in ss:finals
        self.webhooks = webhooks  # where its finals and summary are delivered
        self.tenant = tenant
        self.call_id = call_id
        self.protocol = protocol
        self.parties = parties
        self.keys = (call_key(tenant, call_id), log_key(tenant, call_id))
        self.seq = 0  # of the last entry taken from the queue
        self._queue: asyncio.Queue[dict] = asyncio.Queue(maxsize=owner.options.queue)
        self._ended = False  # the ended entry was handed over
        self._pending_end: dict | None = None  # ... but the queue was full
        self._pending_summary: dict | None = None  # the analytics summary, when the queue was full
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self.owner.live.add(self)
        self._task = asyncio.create_task(self._write(), name=f"log-{self.call_id}")

    async def add(self, event: events.Transcript) -> None:
        """Log a partial or final; a final waits for room, a partial is dropped when there is none."""
        if self._ended:
            return
        party = self.parties[event.channel] if event.channel < len(self.parties) else None
        message = transcript_message(self.call_id, event, party)
        if isinstance(event, events.Final):
            await self._queue.put(message)
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.owner.metrics.log_dropped.inc()

    def add_analytics(self, data: dict, *, summary: bool = False) -> None:
        """Log an analytics event (dropped, as a partial, when the writer lags far behind) or the call's
        summary (kept for the end: it goes to the finals webhook too)."""
        if self._ended:
            return
        message = {"type": "analytics_summary", "call_id": self.call_id, "summary": data} if summary else \
            {"type": "analytics", "call_id": self.call_id, **data}
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            if summary:
                self._pending_summary = message  # the writer takes it once the queue is empty, before the end
            else:
                self.owner.metrics.log_dropped.inc()

    def add_warning(self, option: str, message: str) -> None:
        """Log that the call runs without something it asked for (``option``: its name, e.g.
        ``sentiment``), as its client was told; dropped, as a partial, when the writer lags far behind."""
        if self._ended:
            return
        try:
            self._queue.put_nowait({"type": "warning", "call_id": self.call_id, "option": option, "message": message})
        except asyncio.QueueFull:
            self.owner.metrics.log_dropped.inc()

    def end(self, event: events.Ended) -> None:
        """Log the end of the call (once); the writer stops after writing it."""
        if self._ended:
            return
        self._ended = True
        self.owner.live.discard(self)  # the ended entry's write sets the retention TTL
        message = ended_message(self.call_id, event)
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._pending_end = message  # the writer takes it once the queue is empty

    async def park(self) -> int:
        """Write what is queued and stop, the call still live (it is parked to resume elsewhere); the seq to go on from.

        The keys' TTL is renewed by whichever gateway resumes the call; until then they
        keep the one the last write set.
        """
        self.owner.live.discard(self)
        task, self._task = self._task, None
        if task is not None:
            await self._queue.put(_PARKED)
            done, _ = await asyncio.wait({task}, timeout=self.owner.options.close_timeout)
            if not done:
                log.warning("call %s: its transcript log was not written before parking within %.0f s",
                            self.call_id, self.owner.options.close_timeout)
                await aio.cancel_all([task])
        return self.seq

    async def close(self) -> None:
        """Wait (a bounded time) for the log to be written up to its end, then stop; idempotent."""
        self.end(events.Ended(1011, "the call was released", complete=False))
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=self.owner.options.close_timeout)
        if not done:
            log.warning("call %s: its transcript log was not written to its end within %.0f s",
                        self.call_id, self.owner.options.close_timeout)
            await aio.cancel_all([task])
        elif not task.cancelled() and task.exception() is not None:
            log.error("call %s: transcript log writer failed", self.call_id, exc_info=task.exception())

    # -- the writer ------------------------------------------------------------------------

    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if batch[-1] is _PARKED:
                if batch[:-1]:
                    await self._commit(batch[:-1])
                return
            if self._queue.empty() and self._pending_summary is not None:
                batch.append(self._pending_summary)
                self._pending_summary = None
            if self._queue.empty() and self._pending_end is not None:
                batch.append(self._pending_end)
                self._pending_end = None
            await self._commit(batch)
            if batch[-1]["type"] == "ended":
                return

    async def _commit(self, batch: list[dict]) -> None:
        """Write a batch, retrying what failed until it is written (or the call's close gives up)."""
        owner, registry, stream = self.owner, *self.keys
        commands = []  # (kind, seq, message); kind: log, finals, end
        for message in batch:
            self.seq += 1
            commands.append(("log", self.seq, message))
            if message["type"] == "final":
                commands.append(("finals", self.seq, message))
            elif message["type"] == "ended":
                commands.append(("end", self.seq, message))
        ended = batch[-1]["type"] == "ended"
        backoff = bus.Backoff()
        while commands:
            try:
                async with owner.redis.pipeline(transaction=False) as pipe:
                    for kind, seq, message in commands:
                        if kind == "log":
                            pipe.xadd(stream, {"m": json.dumps(message, ensure_ascii=False)}, id=entry_id(seq),
                                      maxlen=owner.options.log_maxlen, approximate=True)
                        elif kind == "finals":
                            pipe.xadd(FINALS_STREAM, finals_fields(message, tenant=self.tenant, protocol=self.protocol,
                                                                   gateway=owner.gateway_id,
                                                                   language_asked=self.language_asked),
                                      maxlen=owner.options.finals_maxlen, approximate=True)
                        else:
                            pipe.hset(registry, mapping={"state": "ended", "ended": f"{time.time():.3f}"})
                    ttl = int(owner.options.retention) if ended else owner.ttl
                    for key in self.keys:
                        pipe.expire(key, max(1, ttl))
                    results = await pipe.execute(raise_on_error=False)
            except bus.CONNECTION_ERRORS as exc:  # (redis-py's disconnect race too: common.bus)
                owner.metrics.redis_errors.inc()
                log.warning("call %s: writing its transcript log failed: %s; retrying in %.1f s",
                            self.call_id, exc, backoff.delay)
                await backoff.wait()
                continue
            failed = []
            for command, result in zip(commands, results):
                kind, seq, message = command
                if isinstance(result, ResponseError) and kind == "log" and "equal or smaller" in str(result):
                    continue  # written by an earlier attempt whose reply was lost
                if isinstance(result, Exception):
                    failed.append(command)
                elif kind == "log":
                    owner.metrics.log_entries.inc()
                    if message["type"] == "analytics_summary":  # to the webhook once it is logged, as a final
                        self._deliver(message, key=f"{self.call_id}/summary")
                elif kind == "finals":
                    self._deliver(message, key=message["utterance_id"])
            if failed:
                owner.metrics.redis_errors.inc()
                log.warning("call %s: %d transcript log command(s) failed (%s); retrying in %.1f s",
                            self.call_id, len(failed), next(r for r in results if isinstance(r, Exception)),
                            backoff.delay)
                await backoff.wait()
            commands = failed

    def _deliver(self, message: dict, *, key: str) -> None:
        """Hand a final or the analytics summary to the tenant's webhooks."""
        owner = self.owner
        for to in self.webhooks:
            owner.webhook.submit({**message, "tenant": self.tenant, "protocol": self.protocol,
                                  "gateway": owner.gateway_id}, key=key, to=to)
