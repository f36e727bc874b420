"""The stage runner: ownership, leases, fencing, checkpoints and input delivery.

A runner hosts one stage (denoise, VAD or ASR) in one worker process and gives
each (session, stage) exactly one owner:

* New sessions arrive on the stage's control stream, read through a consumer
  group, so exactly one worker of the stage sees each; a worker reads it only
  while it owns fewer sessions than its capacity.
* Ownership is a lease key ``worker:epoch`` taken with NX and a TTL and renewed
  by a heartbeat. Outputs and checkpoints go through one Lua script that checks
  the lease first, so a worker that lost its lease cannot write.
* Every owned session is listed in a per-stage sorted set with its lease
  deadline; when a deadline passes, any live worker with room takes the session
  over, restores the checkpoint and replays the input that follows it.

Stages implement :class:`Stage`; the runner calls ``process`` with every owned
session that has new input since the last call, so a stage can batch across
sessions (one Silero call per tick).
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from redis.exceptions import RedisError, ResponseError

from . import bus, keys
from .errors import LeaseLost, RecordError, SessionGone
from .logs import SessionLogger
from .metrics import StageMetrics
from .records import Audio, Error, Record, decode, encode

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
    max_pending: int = 400  # a session's unprocessed records before reading pauses
    # Retention
    key_ttl: float = 600.0  # safety-net expiry of streams and checkpoints

    def resolved_worker_id(self) -> str:
        return self.worker_id or f"{self.stage}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(eq=False)
class Session:
    """One session owned by this worker: identity, lease token and delivery position."""

    session_id: str
    stage: str
    epoch: int
    token: str
    config: dict
    next_stage: str | None  # None: outputs go to the gateway's result stream
    read_id: str  # last input id delivered to the stage
    next_seq: int  # expected seq of the next input record
    replay_until: str  # input up to this id is a replay after a takeover
    state: object = None  # the stage's per-session state
    ids_to_seq: dict[str, int] = field(default_factory=dict)
    closed: bool = False
    log: logging.LoggerAdapter = field(init=False)

    def __post_init__(self) -> None:
        self.keys = keys.SessionKeys(self.session_id)
        self.log = SessionLogger(log, {"session_id": self.session_id, "stage": self.stage})

    @property
    def output_key(self) -> str:
        return self.keys.input(self.next_stage) if self.next_stage else self.keys.out

    @property
    def output_bell(self) -> str:
        return self.keys.bell(self.next_stage or "out")


class Stage(abc.ABC):
    """What a stage implements; the runner owns everything about Redis."""

    name: str

    @abc.abstractmethod
    def open(self, session: Session, state: bytes | None) -> object:
        """Return the per-session state, restored from a checkpoint blob if given."""

    @abc.abstractmethod
    async def process(self, batch: list[tuple[Session, list[tuple[str, Record]]]]) -> None:
        """Handle new input of several sessions; commit through ``runner.commit``."""

    async def close(self, session: Session, reason: str) -> None:
        """The session left this worker (ended, lease lost, drained); drop its state."""

    def ready_for_input(self, session: Session) -> bool:
        """False pauses reading a session's input (per-session backpressure)."""
        return True

    async def readiness(self) -> tuple[bool, dict]:
        return True, {}


class StageRunner:
    def __init__(self, redis: bus.Redis, stage: Stage, *, options: RunnerOptions,
                 metrics: StageMetrics) -> None:
        self.redis = redis
        self.stage = stage
        self.options = options
        self.metrics = metrics
        self.worker_id = options.resolved_worker_id()
        self.sessions: dict[str, Session] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._draining = False
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self._room = asyncio.Event()
        self._closed = False
        self.queue_lag = 0.0  # seconds, as of the last read
        self._scripts = {
            name: redis.register_script(body)
            for name, body in (("acquire", bus.ACQUIRE), ("renew", bus.RENEW),
                               ("commit", bus.COMMIT), ("release", bus.RELEASE))
        }
        self.doorbell = bus.Doorbell(
            redis, on_ring=self._on_ring, on_reconnect=self._mark_all_dirty,
            idle_channel=f"{keys.PREFIX}:idle:{self.worker_id}",
        )
        self._bell_prefix = f"{keys.PREFIX}:{{"
        self.metrics.capacity.set(options.capacity)

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
                await self._scripts["release"](keys=[session.keys.lease(self.options.stage)],
                                               args=[session.token])
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
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for session in list(self.sessions.values()):
            await self._drop(session, "worker closing")
        await self.doorbell.close()

    async def readiness(self) -> tuple[bool, dict]:
        details = {"stage": self.options.stage, "worker_id": self.worker_id,
                   "sessions": len(self.sessions), "capacity": self.options.capacity}
        try:
            await self.redis.ping()
        except RedisError as exc:
            return False, {**details, "redis": f"unreachable: {exc}"}
        stage_ready, stage_details = await self.stage.readiness()
        under_capacity = len(self.sessions) < self.options.capacity and not self._draining
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
        while True:
            if self._draining or len(self.sessions) >= self.options.capacity:
                await self._wait_for_room()
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
        try:
            await asyncio.wait_for(self._room.wait(), self.options.sweep_interval)
        except asyncio.TimeoutError:
            pass

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
        reply = await self._scripts["acquire"](
            keys=[sk.lease(stage), sk.checkpoint(stage), sk.meta],
            args=[self.worker_id, int(self.options.lease_ttl * 1000)],
        )
        status = int(reply[0])
        if status == -1:
            await self.redis.zrem(keys.owners(stage), session_id)
            return False
        if status == 0:
            return False
        epoch, consumed, next_seq, state, config_raw = reply[1:]
        consumed = _text(consumed)
        config = json.loads(_text(config_raw) or "{}")
        stages = config.get("stages", [])
        following = stages[stages.index(stage) + 1:] if stage in stages else []
        replay_until = "0-0"
        if takeover:
            last = await self.redis.xrevrange(sk.input(stage), count=1)
            replay_until = _text(last[0][0]) if last else "0-0"
        session = Session(
            session_id=session_id, stage=stage, epoch=int(epoch),
            token=f"{self.worker_id}:{int(epoch)}", config=config,
            next_stage=following[0] if following else None,
            read_id=consumed or "0-0", next_seq=int(next_seq or 0), replay_until=replay_until,
        )
        try:
            session.state = self.stage.open(session, state or None)
        except Exception:
            session.log.exception("could not restore state; releasing the session")
            await self._scripts["release"](keys=[sk.lease(stage)], args=[session.token])
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
            "sessions": len(self.sessions), "capacity": self.options.capacity,
            "lag": round(self.queue_lag, 3), "draining": self._draining}))

    async def _heartbeat_loop(self) -> None:
        stage = self.options.stage
        while True:
            try:
                await self._register()
                sessions = list(self.sessions.values())
                ttl_ms = int(self.options.lease_ttl * 1000)
                results = await bus.gather_bounded((
                    self._scripts["renew"](keys=[s.keys.lease(stage), s.keys.meta], args=[s.token, ttl_ms])
                    for s in sessions
                ), return_exceptions=True)
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
        while True:
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
        room = self.options.capacity - len(self.sessions)
        if room <= 0:
            return
        orphans = await self.redis.zrangebyscore(keys.owners(stage), "-inf", now_ms, start=0, num=room)
        for raw in orphans:
            session_id = _text(raw)
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
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty = [self.sessions[sid] for sid in self._dirty if sid in self.sessions]
            self._dirty.clear()
            ready = [s for s in dirty if self.stage.ready_for_input(s)]
            if not ready:
                continue
            try:
                batch = await self._read(ready)
                backoff.reset()
            except (RedisError, OSError) as exc:
                self.metrics.redis_errors.inc()
                log.warning("read failed: %s; retrying in %.1fs", exc, backoff.delay)
                for session in ready:
                    self._dirty.add(session.session_id)
                await backoff.wait()
                self._wake.set()
                continue
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

    async def _read(self, sessions: list[Session]) -> list[tuple[Session, list[tuple[str, Record]]]]:
        stage = self.options.stage
        count = self.options.read_count
        replies = await bus.gather_bounded(
            self.redis.xrange(s.keys.input(stage), min="(" + s.read_id, count=count) for s in sessions
        )
        batch = []
        now_ms = time.time() * 1000
        lag_ms = 0.0
        for session, entries in zip(sessions, replies):
            if session.closed or not entries:
                continue
            lag_ms = max(lag_ms, now_ms - _id_ms(_text(entries[0][0])))
            if len(entries) == count:
                self._mark_dirty(session.session_id)  # more waiting
            records = []
            for raw_id, fields in entries:
                entry_id = _text(raw_id)
                session.read_id = entry_id
                record = self._decode(session, entry_id, fields)
                if record is not None:
                    records.append((entry_id, record))
            if records:
                batch.append((session, records))
        self.queue_lag = max(0.0, lag_ms) / 1000
        self.metrics.queue_lag.set(self.queue_lag)
        return batch

    def _decode(self, session: Session, entry_id: str, fields: dict) -> Record | None:
        payload = fields.get(b"r", fields.get("r"))
        try:
            if payload is None:
                raise RecordError("entry has no 'r' field")
            record = decode(payload)
        except RecordError as exc:
            self.metrics.reject("malformed")
            session.log.warning("dead-lettering input %s: %s", entry_id, exc)
            self._spawn(self._dead_letter(session, entry_id, payload, str(exc)))
            return None
        self.metrics.records.inc()
        seq = getattr(record, "seq")
        if seq < session.next_seq:
            self.metrics.duplicates.inc()
            return None
        if seq > session.next_seq:
            self.metrics.sequence_gaps.inc()
            session.log.error("input gap: expected seq %d, got %d", session.next_seq, seq)
            self._spawn(self.report(session, "sequence_gap",
                                    f"{seq - session.next_seq} record(s) lost before "
                                    f"{self.options.stage} input seq {seq}"))
        session.next_seq = seq + 1
        session.ids_to_seq[entry_id] = seq
        if isinstance(record, Audio):
            seconds = record.samples / 16000
            self.metrics.audio_seconds.inc(seconds)
            if _id_le(entry_id, session.replay_until):
                self.metrics.replayed_audio.inc(seconds)
        return record

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _dead_letter(self, session: Session, entry_id: str, payload, reason: str) -> None:
        try:
            await self.redis.xadd(f"{keys.PREFIX}:dlq:{self.options.stage}",
                                  {"sid": session.session_id, "id": entry_id, "reason": reason,
                                   "r": payload if isinstance(payload, bytes) else b""},
                                  maxlen=10_000, approximate=True)
        except RedisError as exc:
            session.log.warning("dead letter failed: %s", exc)

    # -- writing ----------------------------------------------------------------

    async def commit(self, session: Session, outputs: Iterable[Record] = (), *,
                     consumed: str | None = None, state: bytes = b"",
                     errors: Iterable[Record] = (), finish: bool = False) -> None:
        """Write outputs (and a checkpoint up to ``consumed``) if we still hold the lease.

        Raises :class:`LeaseLost` or :class:`SessionGone` after dropping the session.
        """
        if session.closed:
            raise LeaseLost(f"session {session.session_id} is no longer owned here")
        stage = self.options.stage
        sk = session.keys
        next_seq, trim = "0", ""
        if consumed is not None:
            next_seq = str(session.ids_to_seq.get(consumed, session.next_seq - 1) + 1)
            trim = bus.next_id(consumed)
        args: list = [session.token, consumed or "", next_seq, state, trim, "1" if finish else "0",
                      int(self.options.key_ttl), session.output_bell, sk.bell("out")]
        for record in outputs:
            args += ["n", encode(record)]
        for record in errors:
            args += ["o", encode(record)]
        try:
            result = await self._scripts["commit"](
                keys=[sk.lease(stage), sk.checkpoint(stage), sk.input(stage), sk.meta,
                      session.output_key, sk.out],
                args=args,
            )
        except (RedisError, OSError) as exc:
            # Our in-memory state ran ahead of what Redis holds. Let the lease lapse:
            # the next owner (perhaps us) restores the checkpoint and replays.
            self.metrics.redis_errors.inc()
            await self._drop(session, f"commit failed: {exc}")
            raise LeaseLost(f"commit of {session.session_id}/{stage} failed: {exc}") from exc
        if result == -1:
            self.metrics.fenced_rejects.inc()
            await self._drop(session, "lease lost (write fenced)")
            raise LeaseLost(f"lease of {session.session_id}/{stage} lost")
        if result == -2:
            await self._cleanup_gone(session)
            raise SessionGone(session.session_id)
        if consumed is not None:
            for entry_id in [i for i in session.ids_to_seq if _id_le(i, consumed)]:
                del session.ids_to_seq[entry_id]
        if finish:
            await self.redis.zrem(keys.owners(stage), session.session_id)
            await self._drop(session, "session ended")

    async def report(self, session: Session, code: str, message: str, *, fatal: bool = False) -> None:
        """Send an error to the client through the result stream (fenced)."""
        try:
            await self.commit(session, errors=[Error(seq=0, code=code, message=message, fatal=fatal)])
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


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _id_ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def _id_le(a: str, b: str) -> bool:
    ams, _, aseq = a.partition("-")
    bms, _, bseq = b.partition("-")
    return (int(ams), int(aseq or 0)) <= (int(bms), int(bseq or 0))
