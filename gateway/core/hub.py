"""The gateway's side of the pipeline: Redis, the doorbell, admission, and the sessions it relays.

Pipeline sessions register here. One periodic tick finds results no doorbell announced (one
pipelined ``XLEN`` of every result stream) and renews the sessions' meta TTL, the gateway's
liveness lease; a meta already gone means Redis lost the session. A watcher tracks live workers
and their load per stage. Admission reserves a slot per stage for each session against the
stage's live capacity; ASR slots are overbooked (``asr_overbooking``) because an ASR worker holds
a session only while it speaks, and idle sockets must not lock speakers out; the queue-lag check
refuses new calls when more speak than the ASR decodes. Recordings take slots of their own, only
where live calls leave room, so a recording never refuses a call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

from redis.exceptions import RedisError

from common import aio, bus, keys
from common.config import fraction, option, positive
from common.languages import ModelLanguages
from common.metrics import GatewayMetrics

from .resp import Command, Lane
from .writer import AppendWriter

log = logging.getLogger(__name__)

# Reserve a slot in every stage for every session of a call, or none: admission is
# atomic across gateways, so capacity is never oversold (seen: 60 admitted for 50).
# KEYS: per stage its live and its batch slot set. ARGV: now_ms, deadline_ms, n, batch (1 or 0),
# per stage its slots and its batch slots, then the session ids. Returns the index of the
# first stage without room, or 0 when every session has its slots.
RESERVE = """
local now, deadline, n, batch = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1'
local stages = #KEYS / 2
for i = 1, stages do
  local live, recordings = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('ZREMRANGEBYSCORE', live, '-inf', now)
  redis.call('ZREMRANGEBYSCORE', recordings, '-inf', now)
  local taken = redis.call('ZCARD', live)
  if batch then
    local held = redis.call('ZCARD', recordings)
    if held + n > tonumber(ARGV[4 + 2 * i]) or taken + held + n > tonumber(ARGV[3 + 2 * i]) then return i end
  elseif taken + n > tonumber(ARGV[3 + 2 * i]) then
    return i
  end
end
for i = 1, stages do
  local key = KEYS[batch and 2 * i or 2 * i - 1]
  for j = 1, n do redis.call('ZADD', key, deadline, ARGV[4 + 2 * stages + j]) end
  if redis.call('PEXPIRETIME', key) < tonumber(deadline) then redis.call('PEXPIREAT', key, deadline) end
end
return 0
"""


class Relay(Protocol):
    """A registered session as the hub sees it (:class:`~gateway.core.session.PipelineSession`).

    The hub wakes it, renews its keys and tells it when Redis lost it; this is all
    it needs, so the hub does not depend on the session module (which uses the hub).
    """

    session_id: str
    slot_keys: list[str]  # the stages' admission sets holding its slots
    out_key: str
    meta_key: str
    untrimmed: int  # delivered entries still in the result stream

    def ring(self) -> None:
        """Results may be waiting: read them."""

    async def lost(self, reason: str) -> None:
        """Redis lost the session's data; tell its call ``reason``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HubOptions:
    enable_noise_suppression: bool = field(default=False, metadata=option(
        "send sessions through the denoise stage by default"))
    max_queue_lag: float = field(default=5.0, metadata=option(
        "refuse new sessions (close 1013) while a stage lags more than this many seconds", parse=positive(float)))
    # An ASR slot is an utterance in progress.
    asr_overbooking: float = field(default=2.0, metadata=option(
        "sessions admitted per ASR slot (ASR workers count only sessions that are speaking)",
        parse=positive(float)))
    # Recordings take slots only where calls leave room, and a share of the capacity at most.
    batch_share: float = field(default=0.5, metadata=option(
        "batch sessions (recordings) a stage admits, as a share of its workers' capacity (0: none)",
        parse=fraction))
    batch_backlog_timeout: float = field(default=120.0, metadata=option(
        "seconds a batch session's audio waits for its full input stream to move before the session fails",
        parse=positive(float)))
    # The meta's TTL, renewed while the client is connected.
    session_ttl: float = field(default=30.0, metadata=option(
        "seconds a session outlives its gateway (meta TTL)", parse=positive(float)))
    # Last line behind pacing: unprocessed input records per session (100 ms each at most),
    # and how long audio waits for a full stream to drain before the session fails.
    max_backlog_records: int = field(default=3000, metadata=option(
        "unprocessed input records per session before its audio waits (then fails); a recording's: a fifth "
        "as many, of 500 ms each", parse=positive(int)))
    backlog_timeout: float = field(default=10.0, metadata=option(
        "seconds audio waits for a full input stream to drain before the session fails", parse=positive(float)))
    sweep_interval: float = 1.0


class SessionHub:
    def __init__(self, redis: bus.Redis, *, options: HubOptions, metrics: GatewayMetrics) -> None:
        self.redis = redis
        self.options = options
        self.metrics = metrics
        self.gateway_id = f"gw-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.doorbell = bus.Doorbell(redis, on_ring=self._on_ring, on_reconnect=self._ring_all,
                                     idle_channel=f"{keys.PREFIX}:idle:{self.gateway_id}")
        # stage -> why new sessions are refused ("" when they are accepted)
        self.refusals: dict[str, str] = {stage: "" for stage in keys.STAGES}
        self.capacity: dict[str, int] = {stage: 0 for stage in keys.STAGES}  # of live, open workers
        self._models: ModelLanguages | None = None  # what the live ASR workers decode (None: not read yet)
        self._reserve = redis.register_script(RESERVE)
        self._sessions: dict[str, Relay] = {}
        self._listeners: dict[str, Callable[[], None]] = {}  # channel -> what a message there runs
        self._tasks: list[asyncio.Task] = []
        self.writer = AppendWriter(redis)
        self._sweeps = Lane(redis)  # the tick's batches: a command per session each
        self.reads = asyncio.Semaphore(bus.CONCURRENCY)  # relays' reads in flight

    async def start(self) -> None:
        await self.doorbell.start()
        self.writer.start()
        self._tasks = [asyncio.create_task(self._tick(), name="hub-tick"),
                       asyncio.create_task(self._watch_stages(), name="watch-stages")]

    async def close(self) -> None:
        await aio.cancel_all(self._tasks)
        self._tasks = []
        await self.writer.close()
        await self._sweeps.close()
        await self.doorbell.close()

    def register(self, session: Relay) -> None:
        self._sessions[session.session_id] = session

    def unregister(self, session: Relay) -> None:
        self._sessions.pop(session.session_id, None)

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    # -- waking relays and renewing sessions -----------------------------------------------

    def _on_ring(self, channel: str) -> None:
        listener = self._listeners.get(channel)
        if listener is not None:
            listener()
            return
        session = self._sessions.get(keys.session_id_from_channel(channel) or "")
        if session is not None:
            session.ring()

    async def listen(self, channel: str, listener: Callable[[], None]) -> None:
        """Run ``listener`` when a message comes on ``channel`` (a parked call's let-go, say)."""
        self._listeners[channel] = listener
        await self.doorbell.subscribe(channel)

    async def unlisten(self, channel: str) -> None:
        if self._listeners.pop(channel, None) is not None:
            await self.doorbell.unsubscribe(channel)

    def _ring_all(self) -> None:
        for session in self._sessions.values():
            session.ring()

    async def _tick(self) -> None:
        renew_every = min(2.0, self.options.session_ttl / 3)
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.options.sweep_interval)
            await self._ring_unread()
            if time.monotonic() - renewed >= renew_every:
                renewed = time.monotonic()
                await self._renew_sessions()

    async def _ring_unread(self) -> None:
        """Ring the relays whose result stream holds entries they have not read."""
        sessions = list(self._sessions.values())
        if not sessions:
            return
        try:
            lengths = await self._sweeps.execute([("XLEN", session.out_key) for session in sessions])
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.inc()
            log.warning("looking for unread results failed: %s; ringing every relay", exc)
            self._ring_all()
            return
        for session, length in zip(sessions, lengths):
            if isinstance(length, Exception) or length > session.untrimmed:
                session.ring()

    async def _renew_sessions(self) -> None:
        sessions = list(self._sessions.values())
        if not sessions:
            return
        try:
            deadline = self._slot_deadline()
            ttl = int(self.options.session_ttl)
            commands: list[Command] = [("EXPIRE", session.meta_key, ttl) for session in sessions]
            slot_keys = set()
            for session in sessions:
                for key in session.slot_keys:
                    slot_keys.add(key)
                    commands.append(("ZADD", key, "XX", deadline, session.session_id))
            commands += [("PEXPIREAT", key, deadline, "GT") for key in slot_keys]
            alive = (await self._sweeps.execute(commands))[:len(sessions)]
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.inc()
            log.warning("renewing sessions failed: %s", exc)
            return
        for session, renewed in zip(sessions, alive):
            # Only 0 says the meta is gone (an error reply is no proof); a session that the call of an
            # earlier lost one closed meanwhile is no longer registered.
            if renewed == 0 and self._sessions.get(session.session_id) is session:
                self.unregister(session)
                self.metrics.sessions_lost.inc()
                await session.lost("the service lost this session's data (its queue restarted); please reconnect")

    # -- admission and readiness ----------------------------------------------------------

    async def _watch_stages(self) -> None:
        while True:
            try:
                for stage in keys.STAGES:
                    await self._check_stage(stage)
                self.metrics.redis_up.set(1)
            except (RedisError, OSError) as exc:
                self.metrics.redis_up.set(0)
                self.metrics.redis_errors.inc()
                log.warning("watching stages failed: %s", exc)
            await asyncio.sleep(self.options.sweep_interval)

    async def workers(self, stage: str) -> list[tuple[str, dict | None]]:
        """The live workers of ``stage`` with the load each last reported (None: not yet)."""
        now_ms = int(time.time() * 1000)
        members = cast("list[bytes | str]", await self.redis.zrangebyscore(keys.workers(stage), now_ms, "+inf"))
        live = [bus.text(w) for w in members]  # (redis-py types it for withscores too)
        loads = await self.redis.hmget(keys.load(stage), live) if live else []
        return [(worker, json.loads(raw) if raw else None) for worker, raw in zip(live, loads)]

    @property
    def default_stages(self) -> list[str]:
        """The stages of a session with the default config."""
        return ["vad", "asr"] + (["denoise"] if self.options.enable_noise_suppression else [])

    async def _check_stage(self, stage: str) -> str:
        workers = await self.workers(stage)
        live = [worker for worker, _ in workers]
        self.metrics.live_workers.labels(stage=stage).set(len(live))
        states = [state for _, state in workers if state is not None]
        self.capacity[stage] = sum(s["capacity"] for s in states if not s["draining"])
        if stage == "asr" and states:
            self._models = ModelLanguages.of(states)
        self.refusals[stage] = _refusal(stage, live, states, self.options.max_queue_lag)
        return self.refusals[stage]

    async def models(self) -> ModelLanguages:
        """What the live ASR workers decode (read now if no worker has reported yet); empty if none has."""
        if self._models is None:
            await self._check_stage("asr")
        return self._models or ModelLanguages()

    async def admission(self, stages: list[str], session_ids: list[str], *, batch: bool = False) -> str:
        """Reserve a slot per stage for each of ``session_ids`` (``batch``: batch sessions); or say
        why the call is refused.

        Returns "" when admitted. The reservation lasts while the hub renews it
        (its sessions' meta TTL) and ends with :meth:`release`.
        """
        for stage in stages:
            # The cached verdict is a second old at most; confirm a refusal before giving it.
            if self.refusals[stage] and await self._check_stage(stage):
                return self.refusals[stage]
        full = await self._try_reserve(stages, session_ids, batch=batch)
        if full:
            # The capacity may have grown since the last check; or the stage has no room at
            # all, for a reason better than "0 sessions" (no live worker yet, say).
            if refusal := await self._check_stage(full):
                return refusal
            full = await self._try_reserve(stages, session_ids, batch=batch)
        if not full:
            return ""
        if batch:
            return f"the {full} stage has no room for recordings ({self.batch_slots(full)} batch sessions at most)"
        return self._at_capacity(full)

    async def _try_reserve(self, stages: list[str], session_ids: list[str], *, batch: bool) -> str:
        """Run ``RESERVE`` with the capacities known now; the first stage found full, or ""."""
        limits = [limit for stage in stages for limit in (self.slots(stage), self.batch_slots(stage))]
        full = await self._reserve(keys=[key for stage in stages for key in (keys.slots(stage),
                                                                               keys.batch_slots(stage))],
                                   args=[int(time.time() * 1000), self._slot_deadline(), len(session_ids),
                                         int(batch), *limits, *session_ids])
        return stages[full - 1] if full else ""

    def _at_capacity(self, stage: str) -> str:
        return f"every {stage} worker is at capacity ({self.slots(stage)} sessions)"

    def slots(self, stage: str) -> int:
        """Sessions admissible to ``stage``: its live workers' capacity (overbooked for the ASR)."""
        if stage == "asr":
            return int(self.capacity[stage] * self.options.asr_overbooking)
        return self.capacity[stage]

    def batch_slots(self, stage: str) -> int:
        """Batch sessions admissible to ``stage``: a share of its live workers' capacity (not
        overbooked: a recording is speech from start to end), at least one when the share is not 0."""
        return batch_slots(self.capacity[stage], self.options.batch_share)

    async def release(self, session_id: str, stages: list[str]) -> None:
        """Give back a session's slots (its reservation also lapses on its own)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for stage in stages:
                pipe.zrem(keys.slots(stage), session_id)
                pipe.zrem(keys.batch_slots(stage), session_id)
            await pipe.execute()

    def _slot_deadline(self) -> int:
        return int((time.time() + self.options.session_ttl) * 1000)

    async def readiness(self) -> tuple[bool, dict]:
        """Ready when Redis answers and every stage of a default session has a live worker."""
        try:
            await self.redis.ping()
            now_ms = int(time.time() * 1000)
            workers = {stage: await self.redis.zcount(keys.workers(stage), now_ms, "+inf")
                       for stage in keys.STAGES}
        except (RedisError, OSError) as exc:
            return False, {"redis": f"unreachable: {exc}"}
        needed = self.default_stages
        missing = [stage for stage in needed if not workers[stage]]
        details = {"redis": "ok", "workers": workers}
        if missing:
            details["missing_stages"] = missing
            return False, details
        # Not ready when a new session would be refused: a balancer should route elsewhere.
        try:
            for stage in needed:
                reserved = await self.redis.zcount(keys.slots(stage), now_ms, "+inf")
                refusal = await self._check_stage(stage) or (
                    self._at_capacity(stage) if reserved >= self.slots(stage) else "")
                if refusal:
                    details["refusing"] = refusal
                    return False, details
        except (RedisError, OSError) as exc:
            return False, {"redis": f"unreachable: {exc}"}
        return True, details


def _refusal(stage: str, live: list[str], states: list[dict], max_lag: float) -> str:
    """Why a stage cannot take new sessions now, or "" if it can."""
    if not live:  # what to run says more than "wait": nothing starts one by itself
        return f"no live {stage} workers (none is running: start one, python -m {stage}_worker)"
    if len(states) < len(live):
        return ""  # a worker that has not reported its load yet has room
    open_workers = [s for s in states if not s["draining"] and s["sessions"] < s["capacity"]]
    if not open_workers:
        return f"every {stage} worker is at capacity"
    if min(s["lag"] for s in open_workers) > max_lag:
        return f"{stage} workers are {min(s['lag'] for s in open_workers):.1f} s behind"
    return ""


def batch_slots(capacity: int, batch_share: float) -> int:
    """Batch sessions admissible against ``capacity``: ``batch_share`` of it, at least one unless
    the share or the capacity is 0 (a small fleet still serves recordings)."""
    if capacity <= 0 or batch_share <= 0:
        return 0
    return max(1, int(capacity * batch_share))
