"""Resumable calls parked in Redis, so that a client may resume its call through any gateway.

A resumable door's call is parked when its connection drops or its gateway shuts down (close
1012, reconnect): its relays stop and one Redis hash records who may resume it and the call's
state (config, each session's seqs and latest finals, the door's numbering and replay buffer),
while the pipeline runs on and results wait in the sessions' streams. Parking pushes the
session's keys and slots (its key's session slot included: parking is no way around a limit)
out by ``grace``. A connection presenting the call's id takes the record atomically if its key
parked the call, rebuilds the call and relays on from the last result read: each final once, the
same utterance ids. An old connection that has not noticed the drop is told to let go through
Redis. A call not resumed within ``grace`` is ended by the gateway that parked it, or its keys
lapse.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from common import aio, keys

from ..core.hub import SessionHub
from ..outputs.transcript_log import TranscriptLog, call_key, log_key
from ..security.limits import SESSION, KeyLimits, Slot
from .call import Call

log = logging.getLogger(__name__)

# Take a parked call if KEYS[1] holds one that ARGV[1] (the API key id, "" without keys) may resume.
_TAKE = """
local key = redis.call('HGET', KEYS[1], 'key')
if not key or key ~= ARGV[1] then return false end
local state = redis.call('HGET', KEYS[1], 'state')
redis.call('DEL', KEYS[1])
return state
"""

RECORD_MARGIN = 5.0  # seconds a record outlives the grace: the parking gateway's expiry must still find it
POLL_EVERY = 0.05  # seconds between looks for the record of a call another connection still holds


class Parking:
    """Parks resumable calls in Redis and takes them back, for every gateway on one Redis."""

    def __init__(self, hub: SessionHub, *, grace: float = 30.0, limits: KeyLimits | None = None,
                 transcripts: TranscriptLog | None = None) -> None:
        self.hub = hub
        self.grace = grace  # 0: resuming is off
        self.limits = limits
        self.transcripts = transcripts
        self._take = hub.redis.register_script(_TAKE)
        self._timers: set[asyncio.Task] = set()

    @property
    def enabled(self) -> bool:
        return self.grace > 0

    async def watch(self, call: Call, let_go: Callable[[], None]) -> None:
        """While the call runs here, ``let_go`` drops its connection when a client resumes it elsewhere."""
        await self.hub.listen(keys.let_go(call.policy.tenant, call.call_id), let_go)

    async def unwatch(self, call: Call) -> None:
        await self.hub.unlisten(keys.let_go(call.policy.tenant, call.call_id))

    async def park(self, call: Call, call_state: dict, door_state: dict, *, key_id: str | None,
                   slot: Slot | None) -> None:
        """Write the record of a call that :meth:`Call.park` stopped (``call_state``), with its door's state
        (``door_state``: after every event the call queued); RedisError passes (the call is lost)."""
        tenant = call.policy.tenant
        state = {"call": call_state, "door": door_state, "slot": slot.member if slot else None}
        hold = self.grace + self.hub.options.session_ttl
        await self._hold(call, tenant, hold, logged=call_state.get("log_seq") is not None)
        if self.limits is not None and slot is not None:
            await self.limits.park(slot, hold)
        record = keys.parked(tenant, call.call_id)
        async with self.hub.redis.pipeline(transaction=False) as pipe:
            pipe.hset(record, mapping={"key": key_id or "", "state": json.dumps(state, ensure_ascii=False)})
            pipe.expire(record, int(self.grace + RECORD_MARGIN))
            await pipe.execute()
        timer = asyncio.create_task(self._expire(call.call_id, tenant, key_id), name=f"parked-{call.call_id}")
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
        log.info("call %s parked in Redis for %.0f s awaiting a resume", call.call_id, self.grace)

    async def _hold(self, call: Call, tenant: str, seconds: float, *, logged: bool) -> None:
        """Keep what nobody renews while the call is parked for ``seconds`` (never shortening a TTL);
        ``logged``: its transcript log's keys too."""
        deadline_ms = int((time.time() + seconds) * 1000)
        async with self.hub.redis.pipeline(transaction=False) as pipe:
            for session in call.sessions:
                for key in session.keys.all():
                    pipe.expire(key, int(seconds), gt=True)
                for key in session.slot_keys:
                    pipe.zadd(key, {session.session_id: deadline_ms}, xx=True)
                    pipe.pexpireat(key, deadline_ms, gt=True)
            if logged:
                for key in (call_key(tenant, call.call_id), log_key(tenant, call.call_id)):
                    pipe.expire(key, int(seconds), gt=True)
            await pipe.execute()

    async def take(self, call_id: str, *, tenant: str, key_id: str | None, timeout: float) -> dict | None:
        """The state of the parked call ``call_id`` of ``tenant`` if ``key_id`` parked it, else None.

        A call still served by a connection that has not seen its client go is told to
        let go; its record is awaited up to ``timeout`` s.
        """
        if not keys.valid_session_id(call_id):
            return None
        record = keys.parked(tenant, call_id)
        state = await self._take(keys=[record], args=[key_id or ""])
        if state is None:
            listeners = await self.hub.redis.publish(keys.let_go(tenant, call_id), "1")
            # On a cluster PUBLISH counts one node's subscribers only: wait there whatever it says.
            if listeners or isinstance(self.hub.redis, RedisCluster):
                loop = asyncio.get_running_loop()
                deadline = loop.time() + timeout
                while state is None and loop.time() < deadline:
                    await asyncio.sleep(POLL_EVERY)  # polling a record another gateway is writing
                    state = await self._take(keys=[record], args=[key_id or ""])
        if state is None:
            return None
        log.info("call %s taken from Redis to resume", call_id)
        return json.loads(state)

    async def _expire(self, call_id: str, tenant: str, key_id: str | None) -> None:
        """End the call after ``grace`` unless a client took it meanwhile."""
        await asyncio.sleep(self.grace)  # a timer
        try:
            raw = await self._take(keys=[keys.parked(tenant, call_id)], args=[key_id or ""])
        except (RedisError, OSError) as exc:
            log.warning("call %s: ending it after its grace failed (its keys lapse by themselves): %s", call_id, exc)
            return
        if raw is None:
            return  # resumed
        state = json.loads(raw)
        log.info("call %s not resumed within %.0f s; it ends", call_id, self.grace)
        # The call does not run again: its sessions go, its key's slot is given back, and its log
        # (the transcript log feature's while it ran) gets its end.
        call = Call.restore(self.hub, state["call"], events_out=asyncio.Queue())
        limits = self.limits
        if limits is not None and state["slot"] is not None and key_id is not None:
            slot = Slot(SESSION, key_id, state["slot"])
            call.on_release(lambda: limits.release(slot))
        seq = state["call"].get("log_seq")
        try:
            await call.release()
        finally:
            if self.transcripts is not None and seq is not None:
                call_log = await self.transcripts.adopt_call(tenant=tenant, call_id=call_id, protocol=call.protocol,
                                                             parties=call.parties, seq=seq)
                await call_log.close()

    async def close(self) -> None:
        """Stop ending parked calls (they stay in Redis for another gateway); idempotent."""
        await aio.cancel_all(list(self._timers))

