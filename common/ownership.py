"""Which sessions a worker owns: claims, leases and their heartbeat, takeovers, drains.

* New sessions arrive on the stage's control stream, read through a consumer
  group, so exactly one worker of the stage sees each; a worker reads it only
  while fewer than its capacity of its sessions are active
  (:meth:`~.stage.Stage.active`).
* Ownership is a lease key ``worker:epoch`` taken with NX and a TTL
  (:mod:`.fence`) and renewed by a heartbeat, which also announces the worker
  and its load (gateways read both for admission).
* Every owned session is listed in a per-stage sorted set with its lease
  deadline; when a deadline passes, any live worker with room takes the session
  over, restores the checkpoint and replays the input that follows it.
* A session whose pipeline config this worker cannot read (malformed, or of a
  newer version) is refused: its config is dead-lettered, the client gets a
  fatal error and the stage lets go of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Protocol

from redis.exceptions import ResponseError

from . import bus, keys
from .errors import ConfigError, ErrorCode, SessionGone
from .fence import CommitRequest, Fence, Lease
from .metrics import StageMetrics
from .pipeline_config import PipelineConfig
from .records import Error
from .stage import Session, Stage

log = logging.getLogger(__name__)


class OwnershipOptions(Protocol):
    """The runner's settings that ownership reads (:class:`~.runner.RunnerOptions`)."""

    @property
    def stage(self) -> str: ...

    @property
    def capacity(self) -> int: ...  # live sessions this worker may own

    @property
    def lease_ttl(self) -> float: ...

    @property
    def sweep_interval(self) -> float: ...


class Host(Protocol):
    """What ownership asks of the runner it works for (:class:`~.runner.StageRunner`).

    The runner owns the table of the sessions it hosts: ownership reads it, hands a
    claimed session in (:meth:`serve`) and asks for one to go (:meth:`drop`), and
    changes nothing of the runner itself. How busy the sessions keep it is announced
    with the heartbeat.
    """

    @property
    def closed(self) -> bool: ...

    @property
    def sessions(self) -> Mapping[str, Session]: ...  # owned here, by id

    @property
    def load(self) -> int: ...  # live sessions that count against the capacity

    @property
    def batch_load(self) -> int: ...

    @property
    def queue_lag(self) -> float: ...  # seconds

    async def serve(self, session: Session) -> None:
        """Add a claimed session to the table and start delivering its input."""
        ...

    async def drop(self, session: Session, reason: str) -> None:
        """The session leaves the table (idempotent)."""
        ...

    def mark_all_dirty(self) -> None:
        """Read every owned session's input once more (the sweep's fallback for a missed doorbell)."""
        ...

    async def wait_for_room(self, timeout: float) -> None:
        """Return when a session leaves or the runner closes, or after ``timeout`` seconds."""
        ...


class Ownership:
    """The ownership side of one runner (``host``): its loops run as the runner's tasks.

    ``fence`` takes, renews and releases the leases; ``stage`` opens a claimed session's
    state. The runner calls in (the loops, :meth:`drain`, :attr:`draining`); this side
    sees it only as its :class:`Host`.
    """

    def __init__(self, host: Host, *, redis: bus.Redis, fence: Fence, stage: Stage, metrics: StageMetrics,
                 options: OwnershipOptions, worker_id: str) -> None:
        self.host = host
        self.redis = redis
        self.fence = fence
        self._stage = stage
        self.metrics = metrics
        self.options = options
        self.worker_id = worker_id
        self.stage = options.stage
        self._draining = False

    @property
    def draining(self) -> bool:
        """Whether :meth:`drain` has begun: no more claims."""
        return self._draining

    # -- claims ---------------------------------------------------------------------

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(keys.control_stream(self.stage), self.stage, id="0",
                                           mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def claim_loop(self) -> None:
        host = self.host
        stream = keys.control_stream(self.stage)
        backoff = bus.Backoff()
        recreate_group = False
        while not host.closed:
            if self.draining or host.load >= self.options.capacity:
                # A session leaving ends the wait; one going inactive is seen within a sweep.
                await host.wait_for_room(self.options.sweep_interval)
                continue
            try:
                if recreate_group:  # Redis restarted empty: recreate it idempotently
                    await self.ensure_group()
                    recreate_group = False
                reply = await self.redis.xreadgroup(self.stage, self.worker_id, {stream: ">"}, count=1,
                                                    block=1000)
                backoff.reset()
            except bus.CONNECTION_ERRORS as exc:
                if isinstance(exc, ResponseError) and str(exc).startswith("UNBLOCKED"):
                    # A failover made the stream's master a replica while this read waited on it
                    # (CLUSTER FAILOVER, SENTINEL FAILOVER): read again, from the new master.
                    log.warning("claim loop: %s; reading again", exc)
                    continue
                # Every other error is retried too, replies included: during a failover a node
                # answers READONLY, CLUSTERDOWN, TRYAGAIN or MASTERDOWN for a while, and a worker
                # that died of one would take its sessions' leases down with it.
                recreate_group = recreate_group or isinstance(exc, ResponseError) and "NOGROUP" in str(exc)
                self.metrics.redis_errors.inc()
                log.warning("claim loop: %s; retrying in %.1fs", exc, backoff.delay)
                await backoff.wait()
                continue
            assert not isinstance(reply, dict)  # RESP2: [[stream, entries]], None when none came
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    await self._claim_entry(stream, entry_id, fields)

    async def _claim_entry(self, stream: str, entry_id, fields: dict) -> None:
        raw = fields.get(b"sid") or fields.get("sid") or b""
        session_id = raw.decode() if isinstance(raw, bytes) else raw
        try:
            if keys.valid_session_id(session_id):
                if await self.claim(session_id, takeover=False):
                    self.metrics.claims.inc()
            else:
                log.warning("control entry %s has invalid session id %r", entry_id, session_id)
            await self.redis.xack(stream, self.stage, entry_id)
        except bus.CONNECTION_ERRORS as exc:
            # Left pending: the sweep re-claims entries whose claimer went quiet.
            self.metrics.redis_errors.inc()
            log.warning("claim of %s failed: %s", session_id, exc)
        except Exception:
            log.exception("claim of %s failed; acknowledging its control entry", session_id)
            await self.redis.xack(stream, self.stage, entry_id)

    async def claim(self, session_id: str, *, takeover: bool) -> bool:
        """Take the lease of ``session_id`` and start delivering its input."""
        host = self.host
        if session_id in host.sessions:
            return False
        sk = keys.SessionKeys(session_id)
        try:
            lease = await self.fence.acquire(sk)
        except SessionGone:
            await self.redis.zrem(keys.owners(self.stage), session_id)
            return False
        if lease is None:
            return False
        try:
            config = PipelineConfig.decode(lease.config)
        except ConfigError as exc:
            await self._refuse(sk, lease, str(exc))
            return False
        replay_until = "0-0"
        if takeover:
            last = await self.redis.xrevrange(sk.input(self.stage), count=1)
            newest = last[0][0] if last else "0-0"
            assert newest is not None  # an id is None only for an entry deleted while pending
            replay_until = bus.text(newest)
        session: Session = Session(
            session_id=session_id, stage=self.stage, epoch=lease.epoch, token=lease.token, config=config,
            next_stage=config.next_stage(self.stage), read_id=lease.consumed or "0-0", input_seq=lease.input_seq,
            output_seq=lease.output_seq, replay_until=replay_until,
        )
        try:
            session.state = self._stage.open(session, lease.state or None)
        except Exception:
            session.log.exception("could not restore state; releasing the session")
            await self.fence.release(sk, session.token)
            raise
        await host.serve(session)
        await self.redis.zadd(keys.owners(self.stage), {session_id: self.deadline_ms()})
        if takeover:
            self.metrics.takeovers.inc()
            session.log.info("took over at epoch %d from checkpoint %s", session.epoch, lease.consumed or "start")
        else:
            session.log.info("claimed at epoch %d", session.epoch)
        return True

    async def _refuse(self, sk: keys.SessionKeys, lease: Lease, reason: str) -> None:
        """Let go of a session whose config this worker cannot read: dead-letter the config,
        send the client a fatal error and end the session here (lease, checkpoint and input
        deleted, so that no worker of this stage takes it up again)."""
        log.error("session %s: %s; refusing it", sk.session_id, reason)
        self.metrics.reject("bad_config")
        await self.redis.xadd(f"{keys.PREFIX}:dlq:{self.stage}",
                              {"sid": sk.session_id, "reason": reason, "config": lease.config},
                              maxlen=10_000, approximate=True)
        error = Error(code=str(ErrorCode.BAD_CONFIG), fatal=True,
                      message=f"the {self.stage} stage cannot read this session's config: {reason}")
        await self.fence.commit(sk, CommitRequest(token=lease.token, output_key=sk.out, output_bell=sk.bell("out"),
                                                  to_client=[error], finish=True))
        await self.redis.zrem(keys.owners(self.stage), sk.session_id)

    def deadline_ms(self) -> int:
        return int((time.time() + self.options.lease_ttl) * 1000)

    async def register(self) -> None:
        """Announce this worker and its load (gateways read both for admission).

        The load goes first: a gateway that sees the worker live then always finds its
        load (the other way round, a new worker counted with a capacity of 0 until its
        load came, and a gateway refused calls "at capacity (0 sessions)"). Two
        commands, not a transaction: the keys are in different Redis Cluster slots.
        """
        host = self.host
        await self.redis.hset(keys.load(self.stage), self.worker_id, json.dumps({
            "sessions": host.load, "batch": host.batch_load, "owned": len(host.sessions),
            "capacity": self.options.capacity,
            "lag": round(host.queue_lag, 3), "draining": self.draining, **self._stage.describe()}))
        await self.redis.zadd(keys.workers(self.stage), {self.worker_id: self.deadline_ms()})

    # -- leases -----------------------------------------------------------------------

    async def heartbeat_loop(self) -> None:
        host = self.host
        while not host.closed:
            try:
                await self.register()
                sessions = list(host.sessions.values())
                # A batch session's read position paces the stage before (common/lead.py).
                results = await self.fence.renew_all(
                    [(s.keys, s.token, s.input_seq if s.config.batch else None) for s in sessions])
                renewed = {}
                for session, result in zip(sessions, results):  # empty when idle
                    if isinstance(result, Exception):
                        continue
                    if result == 1:
                        renewed[session.session_id] = self.deadline_ms()
                    elif result == 0:
                        if not session.handed_over:  # else our drain released it meanwhile
                            self.metrics.leases_lost.inc()
                            await host.drop(session, "lease lost")
                    else:
                        await self.forget_gone(session)
                if renewed:
                    await self.redis.zadd(keys.owners(self.stage), renewed)
            except asyncio.CancelledError:
                raise
            except bus.CONNECTION_ERRORS as exc:
                self.metrics.redis_errors.inc()
                log.warning("heartbeat failed: %s", exc)
            await asyncio.sleep(self.options.lease_ttl / 3)

    async def forget_gone(self, session: Session) -> None:
        """The session's meta vanished (client left, gateway died): delete our keys."""
        redis, sk = self.redis, session.keys
        try:
            await redis.delete(sk.lease(self.stage), sk.checkpoint(self.stage), sk.input(self.stage))
            await redis.zrem(keys.owners(self.stage), session.session_id)
        except bus.CONNECTION_ERRORS as exc:
            session.log.warning("cleanup failed: %s", exc)
        await self.host.drop(session, "session gone")

    async def drain(self) -> None:
        """Stop claiming and hand every owned session over: release leases, mark orphaned."""
        host = self.host
        self._draining = True
        for session in list(host.sessions.values()):
            session.handed_over = True  # before the release: a write in flight may meet it
            try:
                await self.fence.release(session.keys, session.token)
                await self.redis.zadd(keys.owners(self.stage), {session.session_id: 0})
            except bus.CONNECTION_ERRORS as exc:
                session.log.warning("release failed: %s", exc)
            await host.drop(session, "drained")
        try:
            await self.redis.zrem(keys.workers(self.stage), self.worker_id)
            await self.redis.hdel(keys.load(self.stage), self.worker_id)
        except bus.CONNECTION_ERRORS:
            pass

    # -- takeovers --------------------------------------------------------------------

    async def sweep_loop(self) -> None:
        host = self.host
        stream = keys.control_stream(self.stage)
        while not host.closed:
            await asyncio.sleep(self.options.sweep_interval)
            host.mark_all_dirty()
            if self.draining:
                continue
            try:
                await self._adopt_orphans()
                # Forget workers that have not beaten for a minute.
                await self.redis.zremrangebyscore(keys.workers(self.stage), "-inf",
                                                  int(time.time() * 1000) - 60_000)
                # Control entries read by a worker that died before acknowledging them.
                _, entries, *_ = await self.redis.xautoclaim(
                    stream, self.stage, self.worker_id, min_idle_time=int(self.options.lease_ttl * 2000),
                    start_id="0-0", count=10)
                for entry_id, fields in entries:
                    if fields:
                        await self._claim_entry(stream, entry_id, fields)
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await self.ensure_group()
                else:
                    log.warning("sweep failed: %s", exc)
            except bus.CONNECTION_ERRORS as exc:
                self.metrics.redis_errors.inc()
                log.warning("sweep failed: %s", exc)

    async def _adopt_orphans(self) -> None:
        host = self.host
        room = self.options.capacity - host.load
        if room <= 0:
            return
        orphans = await self.redis.zrangebyscore(keys.owners(self.stage), "-inf", int(time.time() * 1000),
                                                 start=0, num=room)
        for raw in orphans:
            assert isinstance(raw, (bytes, str))  # members without scores
            session_id = bus.text(raw)
            if session_id not in host.sessions:
                await self.claim(session_id, takeover=True)
