"""The stage runner: ownership, leases, fencing, checkpoints and input delivery.

A runner hosts one stage (denoise, VAD or ASR) in one worker process and gives
each (session, stage) exactly one owner:

* New sessions arrive on the stage's control stream, read through a consumer
  group, so exactly one worker of the stage sees each; a worker reads it only
  while fewer than its capacity of its sessions are active
  (:meth:`~common.stage.Stage.active`; every owned session, but for the ASR:
  those with an utterance in progress).
* A session is announced to the first stage by the gateway when it is created,
  and to each later stage by the stage before it, just before that stage's
  first write to the later stage's input: a stage claims a session only once it
  has input. The ASR thus claims a session at its first speech (or flush, or
  end); a session in which nobody speaks holds no ASR worker.
* Ownership is a lease key ``worker:epoch`` taken with NX and a TTL and renewed
  by a heartbeat. Outputs and checkpoints go through one Lua script that checks
  the lease first, so a worker that lost its lease cannot write.
* Every owned session is listed in a per-stage sorted set with its lease
  deadline; when a deadline passes, any live worker with room takes the session
  over, restores the checkpoint and replays the input that follows it.

Stages implement :class:`~common.stage.Stage`; the runner calls ``process`` with
every owned session that has new input since the last call, so a stage can
batch across sessions (one Silero call per tick). The runner numbers the
outputs of each session and decides when a checkpoint is due
(:mod:`.checkpoint`); the writes themselves are in :mod:`.fence`, the reading
of input in :mod:`.reader`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError, ResponseError

from . import aio, bus, keys
from .checkpoint import CheckpointPolicy
from .errors import LeaseLost, SessionGone
from .fence import Checkpoint, Commit, CommitRequest, Fence
from .metrics import StageMetrics
from .reader import InputReader
from .records import Error, Record
from .stage import Runner, Session, Stage, Write

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerOptions:
    """How a worker owns sessions. Defaults suit one Redis on a LAN."""

    stage: str
    worker_id: str = ""
    # Ownership
    capacity: int = 100
    lease_ttl: float = 5.0
    # Delivery
    sweep_interval: float = 1.0  # fallback read of every owned session
    read_count: int = 200  # records per session per read
    # Checkpoints: at most this many seconds apart unless a stage forces one
    checkpoint_interval: float = 1.0
    # Retention
    key_ttl: float = 600.0  # expiry of a session's keys when its meta has no TTL (see fence)

    def resolved_worker_id(self) -> str:
        return self.worker_id or f"{self.stage}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class StageRunner:
    """Hosts one stage in a worker: owns its sessions and does all their Redis I/O.

    ``build_stage`` makes the stage, given this runner (the stage's way to commit).
    """

    def __init__(self, redis: bus.Redis, build_stage: Callable[[Runner], Stage], *, options: RunnerOptions,
                 metrics: StageMetrics) -> None:
        self.redis = redis
        self.options = options
        self.metrics = metrics
        self.worker_id = options.resolved_worker_id()
        self.sessions: dict[str, Session] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._draining = False
        self._tasks: list[asyncio.Task] = []
        self._room = asyncio.Event()
        self._closed = False
        self.queue_lag = 0.0  # seconds, as of the last read
        self.fence = Fence(redis, stage=options.stage, worker_id=self.worker_id, lease_ttl=options.lease_ttl,
                           key_ttl=options.key_ttl)
        self.reader = InputReader(redis, stage=options.stage, read_count=options.read_count, metrics=metrics,
                                  report=self.report)
        self.checkpoints = CheckpointPolicy(options.checkpoint_interval)
        self.stage = build_stage(self)
        self.doorbell = bus.Doorbell(
            redis, on_ring=self._on_ring, on_reconnect=self._mark_all_dirty,
            idle_channel=f"{keys.PREFIX}:idle:{self.worker_id}",
        )
        self.metrics.capacity.set(options.capacity)

    @property
    def load(self) -> int:
        """Owned sessions that count against the capacity (:meth:`Stage.active`)."""
        return sum(1 for session in self.sessions.values() if self.stage.active(session))

    # -- life cycle -----------------------------------------------------------

    async def start(self) -> None:
        await self._ensure_group()
        await self._register()
        await self.doorbell.start()
        for coro, name in ((self._claim_loop(), "claim"), (self._process_loop(), "process"),
                           (self._heartbeat_loop(), "heartbeat"), (self._sweep_loop(), "sweep")):
            self._tasks.append(asyncio.create_task(coro, name=f"{self.options.stage}-{name}"))
        log.info("worker %s serving stage %s (capacity %d)", self.worker_id,
                 self.options.stage, self.options.capacity)

    async def run(self) -> None:
        """Run until one of the loops fails (they only return on cancellation)."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()

    async def drain(self) -> None:
        """Stop claiming and hand every owned session over: release leases, mark orphaned."""
        self._draining = True
        for session in list(self.sessions.values()):
            try:
                await self.fence.release(session.keys, session.token)
                await self.redis.zadd(keys.owners(self.options.stage), {session.session_id: 0})
            except RedisError as exc:
                session.log.warning("release failed: %s", exc)
            await self._drop(session, "drained")
        try:
            await self.redis.zrem(keys.workers(self.options.stage), self.worker_id)
            await self.redis.hdel(keys.load(self.options.stage), self.worker_id)
        except RedisError:
            pass

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # A loop whose cancellation was swallowed (seen under load: the sweep went back to
        # sleep, "cancelling", and close waited forever; asyncio.timeout inside a Redis
        # call can eat a cancel that lands as it fires) ends on the flag, or on the
        # repeated cancellation.
        self._wake.set()
        self._room.set()
        await aio.cancel_all(self._tasks)
        self._tasks.clear()
        for session in list(self.sessions.values()):
            await self._drop(session, "worker closing")
        await self.reader.close()
        await self.fence.close()
        await self.doorbell.close()

    async def readiness(self) -> tuple[bool, dict]:
        details = {"stage": self.options.stage, "worker_id": self.worker_id,
                   "sessions": len(self.sessions), "capacity": self.options.capacity}
        try:
            await self.redis.ping()
        except RedisError as exc:
            return False, {**details, "redis": f"unreachable: {exc}"}
        stage_ready, stage_details = await self.stage.readiness()
        details["active"] = self.load
        under_capacity = details["active"] < self.options.capacity and not self._draining
        return stage_ready and under_capacity, {**details, **stage_details, "redis": "ok"}

    # -- ownership --------------------------------------------------------------

    async def _ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(keys.control_stream(self.options.stage), self.options.stage,
                                           id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _claim_loop(self) -> None:
        stream = keys.control_stream(self.options.stage)
        backoff = bus.Backoff()
        while not self._closed:
            if self._draining or self.load >= self.options.capacity:
                await self._wait_for_room()  # a drop sets it; a session going inactive is seen within a sweep
                continue
            try:
                reply = await self.redis.xreadgroup(self.options.stage, self.worker_id, {stream: ">"},
                                                    count=1, block=1000)
                backoff.reset()
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis restarted empty: recreate idempotently
                    await self._ensure_group()
                    continue
                raise
            except (RedisError, OSError) as exc:
                self.metrics.redis_errors.inc()
                log.warning("claim loop: %s; retrying in %.1fs", exc, backoff.delay)
                await backoff.wait()
                continue
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    await self._claim_entry(stream, entry_id, fields)

    async def _wait_for_room(self) -> None:
        self._room.clear()
        await aio.wait_event(self._room, self.options.sweep_interval)

    async def _claim_entry(self, stream: str, entry_id, fields: dict) -> None:
        raw = fields.get(b"sid") or fields.get("sid") or b""
        session_id = raw.decode() if isinstance(raw, bytes) else raw
        try:
            if keys.valid_session_id(session_id):
                if await self.claim(session_id, takeover=False):
                    self.metrics.claims.inc()
            else:
                log.warning("control entry %s has invalid session id %r", entry_id, session_id)
            await self.redis.xack(stream, self.options.stage, entry_id)
        except (RedisError, OSError) as exc:
            # Left pending: the sweep re-claims entries whose claimer went quiet.
            self.metrics.redis_errors.inc()
            log.warning("claim of %s failed: %s", session_id, exc)
        except Exception:
            log.exception("claim of %s failed; acknowledging its control entry", session_id)
            await self.redis.xack(stream, self.options.stage, entry_id)

    async def claim(self, session_id: str, *, takeover: bool) -> bool:
        """Take the lease of ``session_id`` and start delivering its input."""
        if session_id in self.sessions:
            return False
        stage = self.options.stage
        sk = keys.SessionKeys(session_id)
        try:
            lease = await self.fence.acquire(sk)
        except SessionGone:
            await self.redis.zrem(keys.owners(stage), session_id)
            return False
        if lease is None:
            return False
        consumed = lease.consumed
        stages = lease.config.get("stages", [])
        following = stages[stages.index(stage) + 1:] if stage in stages else []
        replay_until = "0-0"
        if takeover:
            last = await self.redis.xrevrange(sk.input(stage), count=1)
            replay_until = bus.text(last[0][0]) if last else "0-0"
        session = Session(
            session_id=session_id, stage=stage, epoch=lease.epoch, token=lease.token, config=lease.config,
            next_stage=following[0] if following else None,
            read_id=consumed or "0-0", input_seq=lease.input_seq, output_seq=lease.output_seq,
            replay_until=replay_until,
        )
        try:
            session.state = self.stage.open(session, lease.state or None)
        except Exception:
            session.log.exception("could not restore state; releasing the session")
            await self.fence.release(sk, session.token)
            raise
        self.sessions[session_id] = session
        await self.redis.zadd(keys.owners(stage), {session_id: self._deadline_ms()})
        await self.doorbell.subscribe(sk.bell(stage))
        self.metrics.sessions_active.set(len(self.sessions))
        if takeover:
            self.metrics.takeovers.inc()
            session.log.info("took over at epoch %d from checkpoint %s", session.epoch, consumed or "start")
        else:
            session.log.info("claimed at epoch %d", session.epoch)
        self._mark_dirty(session_id)
        return True

    def _deadline_ms(self) -> int:
        return int((time.time() + self.options.lease_ttl) * 1000)

    async def _drop(self, session: Session, reason: str) -> None:
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.session_id, None)
        self._dirty.discard(session.session_id)
        self.metrics.sessions_active.set(len(self.sessions))
        if not self.sessions:
            self.queue_lag = 0.0
            self.metrics.queue_lag.set(0)
        await self.doorbell.unsubscribe(session.keys.bell(self.options.stage))
        try:
            await self.stage.close(session, reason)
        except Exception:
            session.log.exception("stage close failed")
        session.log.info("dropped: %s", reason)
        self._room.set()

    async def _register(self) -> None:
        """Announce this worker and its load (gateways read both for admission)."""
        stage = self.options.stage
        await self.redis.zadd(keys.workers(stage), {self.worker_id: self._deadline_ms()})
        await self.redis.hset(keys.load(stage), self.worker_id, json.dumps({
            "sessions": self.load, "owned": len(self.sessions), "capacity": self.options.capacity,
            "lag": round(self.queue_lag, 3), "draining": self._draining}))

    async def _heartbeat_loop(self) -> None:
        stage = self.options.stage
        while not self._closed:
            try:
                await self._register()
                sessions = list(self.sessions.values())
                results = await self.fence.renew_all([(s.keys, s.token) for s in sessions])
                renewed = {}
                for session, result in zip(sessions, results):  # empty when idle
                    if isinstance(result, Exception):
                        continue
                    if result == 1:
                        renewed[session.session_id] = self._deadline_ms()
                    elif result == 0:
                        self.metrics.leases_lost.inc()
                        await self._drop(session, "lease lost")
                    else:
                        await self._cleanup_gone(session)
                if renewed:
                    await self.redis.zadd(keys.owners(stage), renewed)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.metrics.redis_errors.inc()
                log.warning("heartbeat failed: %s", exc)
            await asyncio.sleep(self.options.lease_ttl / 3)

    async def _sweep_loop(self) -> None:
        stage = self.options.stage
        stream = keys.control_stream(stage)
        while not self._closed:
            await asyncio.sleep(self.options.sweep_interval)
            self._mark_all_dirty()
            if self._draining:
                continue
            try:
                await self._adopt_orphans()
                # Forget workers that have not beaten for a minute.
                await self.redis.zremrangebyscore(keys.workers(stage), "-inf", int(time.time() * 1000) - 60_000)
                # Control entries read by a worker that died before acknowledging them.
                _, entries, *_ = await self.redis.xautoclaim(
                    stream, stage, self.worker_id, min_idle_time=int(self.options.lease_ttl * 2000),
                    start_id="0-0", count=10)
                for entry_id, fields in entries:
                    if fields:
                        await self._claim_entry(stream, entry_id, fields)
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await self._ensure_group()
                else:
                    log.warning("sweep failed: %s", exc)
            except (RedisError, OSError) as exc:
                self.metrics.redis_errors.inc()
                log.warning("sweep failed: %s", exc)

    async def _adopt_orphans(self) -> None:
        stage = self.options.stage
        now_ms = int(time.time() * 1000)
        room = self.options.capacity - self.load
        if room <= 0:
            return
        orphans = await self.redis.zrangebyscore(keys.owners(stage), "-inf", now_ms, start=0, num=room)
        for raw in orphans:
            session_id = bus.text(raw)
            if session_id not in self.sessions:
                await self.claim(session_id, takeover=True)

    # -- delivery ---------------------------------------------------------------

    def _on_ring(self, channel: str) -> None:
        session_id = keys.session_id_from_channel(channel)
        if session_id is not None:
            self._mark_dirty(session_id)

    def _mark_dirty(self, session_id: str) -> None:
        self._dirty.add(session_id)
        self._wake.set()

    def _mark_all_dirty(self) -> None:
        for session_id in self.sessions:
            self._mark_dirty(session_id)

    def wake(self, session: Session) -> None:
        """Ask for another read of ``session`` (the stage is ready for more input)."""
        self._mark_dirty(session.session_id)

    async def _process_loop(self) -> None:
        backoff = bus.Backoff()
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            dirty = [self.sessions[sid] for sid in self._dirty if sid in self.sessions]
            self._dirty.clear()
            ready = [s for s in dirty if self.stage.ready_for_input(s)]
            if not ready:
                continue
            try:
                delivery = await self.reader.read(ready)
                backoff.reset()
            except (RedisError, OSError) as exc:
                self.metrics.redis_errors.inc()
                log.warning("read failed: %s; retrying in %.1fs", exc, backoff.delay)
                for session in ready:
                    self._dirty.add(session.session_id)
                await backoff.wait()
                self._wake.set()
                continue
            for session in delivery.more:
                self._mark_dirty(session.session_id)
            self.queue_lag = delivery.lag
            self.metrics.queue_lag.set(self.queue_lag)
            batch = delivery.batch
            if not batch:
                continue
            started = time.perf_counter()
            try:
                await self.stage.process(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug must not take every other session down with the worker. The
                # batch's state is suspect: drop the sessions so that their leases
                # lapse and they resume from their checkpoints.
                log.exception("stage %s failed on a batch of %d sessions", self.options.stage, len(batch))
                self.metrics.reject("stage_error")
                for session, _ in batch:
                    await self._drop(session, "stage error")
            self.metrics.processing.observe(time.perf_counter() - started)
            self.metrics.batch_size.observe(len(batch))

    # -- writing ----------------------------------------------------------------

    def checkpoint_due(self, session: Session, *, force: bool = False) -> bool:
        """True when ``session``'s next commit should carry a checkpoint (see :mod:`.checkpoint`)."""
        return self.checkpoints.due(session.checkpointed_at, force=force)

    async def commit(self, session: Session, outputs: Iterable[Record] = (), *,
                     consumed: str | None = None, state: bytes = b"",
                     to_client: Iterable[Record] = (), finish: bool = False) -> None:
        """Write outputs (and a checkpoint up to ``consumed``) if we still hold the lease.

        ``outputs`` go to the next stage (the client after the last stage),
        ``to_client`` records to the client. Raises :class:`LeaseLost` or
        :class:`SessionGone` after dropping the session.
        """
        write = Write(session, list(outputs), consumed=consumed, state=state, to_client=list(to_client),
                      finish=finish)
        request = await self._request(write)
        try:
            result: Commit | BaseException = await self.fence.commit(session.keys, request)
        except (RedisError, OSError) as exc:
            result = exc
        await self._settle(write, result)

    async def commit_all(self, writes: Sequence[Write]) -> list[Exception | None]:
        """:meth:`commit` of several sessions at once (one batch for the fence, no task each).

        Returns per write None, or the :class:`LeaseLost` / :class:`SessionGone` that
        :meth:`commit` would have raised (the session is dropped then).
        """
        errors: list[Exception | None] = [None] * len(writes)
        pending = []
        for i, write in enumerate(writes):
            try:
                request = await self._request(write)
            except (LeaseLost, SessionGone) as exc:
                errors[i] = exc
                continue
            pending.append((i, write, self.fence.submit(write.session.keys, request)))
        results = await asyncio.gather(*(future for *_, future in pending), return_exceptions=True)
        for (i, write, _), result in zip(pending, results):
            if isinstance(result, BaseException) and not isinstance(result, (RedisError, OSError)):
                raise result
            try:
                await self._settle(write, result if isinstance(result, BaseException) else Commit(int(result)))
            except (LeaseLost, SessionGone) as exc:
                errors[i] = exc
        return errors

    async def _request(self, write: Write) -> CommitRequest:
        """The fenced write of ``write``, after announcing the session to the next stage if due."""
        session = write.session
        if session.closed:
            raise LeaseLost(f"session {session.session_id} is no longer owned here")
        if write.outputs and session.next_stage and not session.announced:
            await self._announce(session)
        checkpoint = None
        if write.consumed is not None:
            checkpoint = Checkpoint(consumed=write.consumed,
                                    input_seq=self.reader.input_seq_after(session, write.consumed),
                                    output_seq=session.output_seq, state=write.state)
        return CommitRequest(token=session.token, output_key=session.output_key,
                             output_bell=session.output_bell, outputs=write.outputs,
                             to_client=write.to_client, checkpoint=checkpoint, finish=write.finish)

    async def _settle(self, write: Write, result: Commit | BaseException) -> None:
        """Act on the outcome of a commit: drop the session (and raise) if it failed."""
        session, stage = write.session, self.options.stage
        if isinstance(result, BaseException):
            # Our in-memory state ran ahead of what Redis holds. Let the lease lapse:
            # the next owner (perhaps us) restores the checkpoint and replays.
            self.metrics.redis_errors.inc()
            await self._drop(session, f"commit failed: {result}")
            raise LeaseLost(f"commit of {session.session_id}/{stage} failed: {result}") from result
        if result is Commit.FENCED:
            self.metrics.fenced_rejects.inc()
            await self._drop(session, "lease lost (write fenced)")
            raise LeaseLost(f"lease of {session.session_id}/{stage} lost")
        if result is Commit.GONE:
            await self._cleanup_gone(session)
            raise SessionGone(session.session_id)
        if write.consumed is not None:
            session.checkpointed_at = time.monotonic()
            self.reader.forget_through(session, write.consumed)
        if write.finish:
            await self.redis.zrem(keys.owners(stage), session.session_id)
            await self._drop(session, "session ended")

    async def _announce(self, session: Session) -> None:
        """Tell the next stage of the session before the first write to its input.

        Before, not after: a session announced whose input is still empty is
        claimed and waits for it; one written but never announced would never be
        claimed. A duplicate (after a takeover here) is harmless: the claim finds
        the lease held. Raises :class:`LeaseLost` after dropping the session if
        Redis fails, as a failed commit does.
        """
        try:
            await self.redis.xadd(keys.control_stream(session.next_stage), {"sid": session.session_id},
                                  maxlen=100_000, approximate=True)
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.inc()
            await self._drop(session, f"announcing to {session.next_stage} failed: {exc}")
            raise LeaseLost(f"announcing {session.session_id} to {session.next_stage} failed: {exc}") from exc
        session.announced = True

    async def report(self, session: Session, code: str, message: str, *, fatal: bool = False) -> None:
        """Send an error to the client through the result stream (fenced)."""
        try:
            await self.commit(session, to_client=[Error(seq=0, code=str(code), message=message, fatal=fatal)])
        except (LeaseLost, SessionGone, RedisError) as exc:
            session.log.warning("could not report %s: %s", code, exc)

    async def _cleanup_gone(self, session: Session) -> None:
        """The session's meta vanished (client left, gateway died): delete our keys."""
        stage = self.options.stage
        sk = session.keys
        try:
            await self.redis.delete(sk.lease(stage), sk.checkpoint(stage), sk.input(stage))
            await self.redis.zrem(keys.owners(stage), session.session_id)
        except RedisError as exc:
            session.log.warning("cleanup failed: %s", exc)
        await self._drop(session, "session gone")

