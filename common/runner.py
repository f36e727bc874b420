"""The stage runner: hosts one stage in a worker and does all its sessions' Redis I/O.

Each (session, stage) has exactly one owner, and a stage gets its sessions' input in order and,
in effect, once. A later stage learns of a session from the stage before it, just before its
first input, so the ASR claims a session at its first speech and a silent session holds no ASR
worker. Outputs and checkpoints are fenced writes (:mod:`.fence`); after a takeover the new owner
restores the checkpoint and replays what follows, numbering outputs as the first owner did. By
concern: :mod:`.ownership` claims and keeps leases, this module reads owned sessions' input
(:mod:`.reader`) and calls the stage with every session that has some (so a stage can batch
across sessions), :mod:`.commits` numbers and writes what it emits. Recordings come after live
sessions, or in rounds of their own (:attr:`.stage.Stage.batch_apart`), read only while the next
stage keeps up (:mod:`.lead`), and count neither against capacity nor in the queue lag.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from . import aio, bus, keys
from .checkpoint import CheckpointPolicy
from .commits import Commits
from .config import option, positive
from .fence import Fence
from .lead import BatchLead
from .metrics import StageMetrics
from .ownership import Ownership
from .reader import InputReader
from .records import Record
from .stage import Input, Runner, Session, Stage, Write

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerOptions:
    """How a worker owns sessions. Defaults suit one Redis on a LAN."""

    stage: str
    worker_id: str = field(default="", metadata=option("worker id (default: stage-host-pid-random)"))
    # Ownership
    capacity: int = field(default=100, metadata=option("sessions this worker may own", parse=positive(int)))
    lease_ttl: float = field(default=5.0, metadata=option(
        "seconds a session lease lasts unrenewed", parse=positive(float)))
    # Delivery
    sweep_interval: float = field(default=1.0, metadata=option(
        "seconds between fallback sweeps", parse=positive(float)))
    read_count: int = 200  # records per session per read
    batch_read_count: int = field(default=16, metadata=option(
        "records of a batch session (a recording) read at once: its share of one processing round, "
        "which live sessions' next round waits for (fewer: less wait, more rounds for the recording)",
        parse=positive(int)))
    batch_lead: int = field(default=500, metadata=option(
        "records of a batch session (a recording) the next stage may have unread before this stage "
        "stops reading it", parse=positive(int)))
    # Checkpoints: at most this many seconds apart but at utterance ends and markers
    checkpoint_interval: float = field(default=1.0, metadata=option(
        "seconds between checkpoints of a session (the VAD makes them in silence only)", parse=positive(float)))
    # Retention
    key_ttl: float = 600.0  # expiry of a session's keys when its meta has no TTL (see fence)

    def resolved_worker_id(self) -> str:
        return self.worker_id or f"{self.stage}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


# The flags of RunnerOptions that a worker's --help leaves to --help-advanced (--capacity is the
# operator's; --checkpoint-interval, where a worker has it, is its own to place).
TUNING_FLAGS = ("--worker-id", "--lease-ttl", "--sweep-interval", "--batch-read-count", "--batch-lead")


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
        self.sessions: dict[str, Session] = {}  # owned here, by id: changed by serve and drop only
        self.closed = False
        self.queue_lag = 0.0  # seconds, as of the last read
        self._dirty: set[str] = set()
        self._room = asyncio.Event()  # set when a session leaves: the claim loop may read again
        self._tasks: list[asyncio.Task] = []
        self.fence = Fence(redis, stage=options.stage, worker_id=self.worker_id, lease_ttl=options.lease_ttl,
                           key_ttl=options.key_ttl)
        self.reader = InputReader(redis, stage=options.stage, read_count=options.read_count, metrics=metrics,
                                  report=self.report)
        self.lead = BatchLead(redis, max_records=options.batch_lead)
        self.stage = build_stage(self)
        # The processing loops, by the kind of session each reads (None: both): with the stage's
        # batch_apart, recordings have a loop of their own beside the live sessions'.
        self._wakes: dict[bool | None, asyncio.Event] = (
            {False: asyncio.Event(), True: asyncio.Event()} if self.stage.batch_apart else {None: asyncio.Event()})
        self.doorbell = bus.Doorbell(
            redis, on_ring=self._on_ring, on_reconnect=self.mark_all_dirty,
            idle_channel=f"{keys.PREFIX}:idle:{self.worker_id}",
        )
        # Ownership and the writes see this runner through narrow protocols (ownership.Host,
        # commits.Exits) and get the rest handed in: neither imports this module, and neither
        # changes the session table but through serve and drop.
        self.ownership = Ownership(self, redis=redis, fence=self.fence, stage=self.stage, metrics=metrics,
                                   options=options, worker_id=self.worker_id)
        self.commits = Commits(redis=redis, fence=self.fence, stage=self.stage, reader=self.reader, exits=self,
                               metrics=metrics, stage_name=options.stage,
                               policy=CheckpointPolicy(options.checkpoint_interval))
        self.metrics.capacity.set(options.capacity)

    @property
    def load(self) -> int:
        """Owned live sessions that count against the capacity (:meth:`Stage.active`)."""
        return sum(1 for session in self.sessions.values()
                   if not session.config.batch and self.stage.active(session))

    @property
    def batch_load(self) -> int:
        """Owned batch sessions (on top of the capacity: admission bounds them)."""
        return sum(1 for session in self.sessions.values() if session.config.batch)

    # -- life cycle -----------------------------------------------------------

    async def start(self) -> None:
        ownership = self.ownership
        await ownership.ensure_group()
        await ownership.register()
        await self.doorbell.start()
        loops = [(self._process_loop(batch, wake), "process-batch" if batch else "process")
                 for batch, wake in self._wakes.items()]
        for coro, name in ((ownership.claim_loop(), "claim"), *loops,
                           (ownership.heartbeat_loop(), "heartbeat"), (ownership.sweep_loop(), "sweep")):
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
        await self.ownership.drain()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # A loop whose cancellation was swallowed (seen under load: the sweep went back to
        # sleep, "cancelling", and close waited forever; asyncio.timeout inside a Redis
        # call can eat a cancel that lands as it fires) ends on the flag, or on the
        # repeated cancellation.
        for wake in self._wakes.values():
            wake.set()
        self._room.set()
        await aio.cancel_all(self._tasks)
        self._tasks.clear()
        for session in list(self.sessions.values()):
            await self.drop(session, "worker closing")
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
        under_capacity = self.load < self.options.capacity and not self.ownership.draining
        return stage_ready and under_capacity, {**details, **stage_details, "redis": "ok"}

    # -- the session table (ownership.Host) ------------------------------------------

    async def serve(self, session: Session) -> None:
        """A claimed session joins this worker: deliver its input from now on."""
        self.sessions[session.session_id] = session
        await self.doorbell.subscribe(session.keys.bell(self.options.stage))
        self.metrics.sessions_active.set(len(self.sessions))
        self.mark_dirty(session.session_id)

    async def drop(self, session: Session, reason: str) -> None:
        """The session leaves this worker (ended, lease lost, drained, failed): stop
        delivering its input and let the stage close it. Idempotent."""
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.session_id, None)
        self._dirty.discard(session.session_id)
        self.metrics.sessions_active.set(len(self.sessions))
        if all(other.config.batch for other in self.sessions.values()):  # no live input left to lag
            self.queue_lag = 0.0
            self.metrics.queue_lag.set(0)
        await self.doorbell.unsubscribe(session.keys.bell(self.options.stage))
        try:
            await self.stage.close(session, reason)
        except Exception:
            session.log.exception("stage close failed")
        session.log.info("dropped: %s", reason)
        self._room.set()

    async def wait_for_room(self, timeout: float) -> None:
        """Return when a session leaves or the runner closes, or after ``timeout`` seconds."""
        if self.closed:
            return
        self._room.clear()
        await aio.wait_event(self._room, timeout)

    async def forget_gone(self, session: Session) -> None:
        """The session's meta vanished (client left, gateway died): delete its keys here and drop it."""
        await self.ownership.forget_gone(session)

    # -- the stage's runner (common.stage.Runner) ----------------------------------------

    async def commit(self, session: Session, outputs: Iterable[Record] = (), *, consumed: str | None = None,
                     boundary: bool = False, to_client: Iterable[Record] = ()) -> None:
        await self.commits.commit(session, outputs, consumed=consumed, boundary=boundary, to_client=to_client)

    async def commit_all(self, writes: Sequence[Write]) -> list[Exception | None]:
        return await self.commits.commit_all(writes)

    async def report(self, session: Session, code: str, message: str, *, fatal: bool = False) -> None:
        await self.commits.report(session, code, message, fatal=fatal)

    def wake(self, session: Session) -> None:
        """Ask for another read of ``session`` (the stage is ready for more input)."""
        self.mark_dirty(session.session_id)

    # -- delivery ---------------------------------------------------------------

    def _on_ring(self, channel: str) -> None:
        session_id = keys.session_id_from_channel(channel)
        if session_id is not None:
            self.mark_dirty(session_id)

    def mark_dirty(self, session_id: str) -> None:
        """Read the session's input at the next turn of its processing loop."""
        self._dirty.add(session_id)
        for wake in self._wakes.values():
            wake.set()

    def mark_all_dirty(self) -> None:
        for session_id in self.sessions:
            self.mark_dirty(session_id)

    def _take_dirty(self, batch: bool | None) -> list[Session]:
        """The sessions marked dirty of one kind (``batch``; None: both), no longer marked; the
        marks of sessions not owned here go."""
        taken = []
        for session_id in list(self._dirty):
            session = self.sessions.get(session_id)
            if session is None or batch is None or session.config.batch == batch:
                self._dirty.discard(session_id)
                if session is not None:
                    taken.append(session)
        return taken

    async def _process_loop(self, batch: bool | None, wake: asyncio.Event) -> None:
        """Read and process the dirty sessions of one kind (``batch``; None: both) as they come."""
        backoff = bus.Backoff()
        while not self.closed:
            await wake.wait()
            wake.clear()
            ready = [s for s in self._take_dirty(batch) if self.stage.ready_for_input(s)]
            if not ready:
                continue
            try:
                inputs, more = await self._read(ready)
                backoff.reset()
            except bus.CONNECTION_ERRORS as exc:
                self.metrics.redis_errors.inc()
                log.warning("read failed: %s; retrying in %.1fs", exc, backoff.delay)
                for session in ready:
                    self._dirty.add(session.session_id)
                await backoff.wait()
                wake.set()
                continue
            for session in more:
                self.mark_dirty(session.session_id)
            if not inputs:
                continue
            started = time.perf_counter()
            try:
                await self.stage.process(inputs)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug must not take every other session down with the worker. The
                # batch's state is suspect: drop the sessions so that their leases
                # lapse and they resume from their checkpoints.
                log.exception("stage %s failed on a batch of %d sessions", self.options.stage, len(inputs))
                self.metrics.reject("stage_error")
                for session, _ in inputs:
                    await self.drop(session, "stage error")
            # The recordings' loop beside the live one is not a live round: its time stays out of
            # the processing histogram that shows how long live sessions wait for a round.
            if not batch:
                self.metrics.processing.observe(time.perf_counter() - started)
                self.metrics.batch_size.observe(len(inputs))

    async def _read(self, ready: list[Session]) -> tuple[list[tuple[Session, Input]], list[Session]]:
        """New input of the ``ready`` sessions, live ones first, and the sessions with more
        waiting; the queue lag is the live sessions'. Raises on Redis errors."""
        live = [s for s in ready if not s.config.batch]
        delivery = await self.reader.read(live)
        if live:
            self.queue_lag = delivery.lag
            self.metrics.queue_lag.set(self.queue_lag)
        recordings = [s for s in ready if s.config.batch]
        if recordings:
            recordings = await self.lead.ready(recordings)
        if not recordings:
            return delivery.batch, delivery.more
        later = await self.reader.read(recordings, count=self.options.batch_read_count)
        return delivery.batch + later.batch, delivery.more + later.more
