"""What the pipeline's stages can take, and admission against it.

A watcher reads each stage's live workers and their load every sweep: their capacity, and why
the stage refuses new sessions (no live worker, all at capacity, a queue lag over
``max_queue_lag``). Admission reserves a slot per stage for each session of a call against the
stage's live capacity; ASR slots are overbooked (``asr_overbooking``) because an ASR worker holds a
session only while it speaks, and idle sockets must not lock speakers out. Recordings take slots
of their own, only where live calls leave room, so a recording never refuses a call. The gateway
is ready (``/readyz``) when a default session would be admitted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Protocol, cast

from redis.exceptions import RedisError

from common import bus, keys
from common.languages import ModelLanguages
from common.metrics import GatewayMetrics

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


class StageOptions(Protocol):
    """The hub's options that admission reads (:class:`~.hub.HubOptions`)."""

    @property
    def enable_noise_suppression(self) -> bool: ...

    @property
    def max_queue_lag(self) -> float: ...

    @property
    def asr_overbooking(self) -> float: ...

    @property
    def batch_share(self) -> float: ...

    @property
    def session_ttl(self) -> float: ...

    @property
    def sweep_interval(self) -> float: ...


def slot_deadline(session_ttl: float) -> int:
    """When a slot reserved or renewed now lapses, in ms: a session's slots live as long as its meta."""
    return int((time.time() + session_ttl) * 1000)


class Stages:
    def __init__(self, redis: bus.Redis, *, options: StageOptions, metrics: GatewayMetrics) -> None:
        self.redis = redis
        self.options = options
        self.metrics = metrics
        # stage -> why new sessions are refused ("" when they are accepted)
        self.refusals: dict[str, str] = {stage: "" for stage in keys.STAGES}
        self.capacity: dict[str, int] = {stage: 0 for stage in keys.STAGES}  # of live, open workers
        self._models: ModelLanguages | None = None  # what the live ASR workers decode (None: not read yet)
        self._reserve = redis.register_script(RESERVE)

    async def watch(self) -> None:
        """Check every stage every sweep (what :meth:`admission` and the status read meanwhile)."""
        while True:
            try:
                for stage in keys.STAGES:
                    await self.check(stage)
                self.metrics.redis_up.set(1)
            except bus.CONNECTION_ERRORS as exc:  # (redis-py's disconnect race too: common.bus)
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

    async def check(self, stage: str) -> str:
        """Read ``stage``'s live workers and their load now; why it refuses new sessions, or ""."""
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
            await self.check("asr")
        return self._models or ModelLanguages()

    async def admission(self, stages: list[str], session_ids: list[str], *, batch: bool = False) -> str:
        """Reserve a slot per stage for each of ``session_ids`` (``batch``: batch sessions); or say
        why the call is refused.

        Returns "" when admitted. The reservation lasts while the hub renews it
        (:class:`~.hub.SessionHub` renews its sessions' slots) and ends with :meth:`release`.
        """
        for stage in stages:
            # The cached verdict is a second old at most; confirm a refusal before giving it.
            if self.refusals[stage] and await self.check(stage):
                return self.refusals[stage]
        full = await self._try_reserve(stages, session_ids, batch=batch)
        if full:
            # The capacity may have grown since the last check; or the stage has no room at
            # all, for a reason better than "0 sessions" (no live worker yet, say).
            if refusal := await self.check(full):
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
                                   args=[int(time.time() * 1000), slot_deadline(self.options.session_ttl), len(session_ids),
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
                refusal = await self.check(stage) or (
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
