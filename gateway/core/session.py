"""One pipeline session in Redis: publishing a channel's audio, relaying its results.

Audio goes to the first stage's input stream as canonical chunks with a
gap-free ``seq``. Results come back on the session's result stream; a relay task
reads it whenever the doorbell rings (or the hub's sweep does) and hands each
record to its call. Finals of an utterance already delivered are dropped here:
workers deliver at least once, clients get exactly one final per utterance.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import logging
import time
from array import array
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING


from common import aio, keys
from common.bus import CONNECTION_ERRORS, Backoff, next_id
from common.errors import BacklogFull, RecordError
from common.logs import SessionLogger
from common.records import Record, Transcript, decode, encode, encode_audio

from .audio import BATCH_MAX_CHUNK, MAX_CHUNK
from .hub import SessionHub
from .writer import Append

if TYPE_CHECKING:
    import numpy as np

    from common.pipeline_config import PipelineConfig

log = logging.getLogger(__name__)

FINAL_IDS_KEPT = 10_000  # finals remembered for duplicate suppression
FINAL_IDS_PARKED = 500  # of those, carried in a parked call's record (a replay repeats recent ones only)
ARRIVALS_KEPT = 3_000  # chunk arrival times kept for latency metrics (at least ~5 min at 100 ms)
READ_BATCH = 200  # result records read per round trip
RELAY_STOP_TIMEOUT = 5.0  # seconds a closing session waits for its relay task
BACKLOG_CHECK_EVERY = 10  # records appended between reads of the input stream's length

RecordHandler = Callable[["PipelineSession", Record], Awaitable[None]]
LostHandler = Callable[["PipelineSession", str], Awaitable[None]]


class FinalFilter:
    """Exactly one final per utterance: remembers delivered finals by utterance id."""

    def __init__(self, *, kept: int = FINAL_IDS_KEPT) -> None:
        self._finals: OrderedDict[str, None] = OrderedDict()
        self._kept = kept

    def seen(self, utterance_id: str) -> bool:
        return utterance_id in self._finals

    def add(self, utterance_id: str) -> None:
        self._finals[utterance_id] = None
        if len(self._finals) > self._kept:
            self._finals.popitem(last=False)

    def recent(self, count: int) -> list[str]:
        """The ``count`` latest delivered finals, oldest first (what a parked call carries along)."""
        return list(self._finals)[-count:]


class Arrivals:
    """When the audio up to each chunk's end arrived (wall clock), for latency metrics.

    Two flat arrays, not a deque of tuples: a thousand sessions' deques held
    millions of tuples that every full garbage collection walked (seen: 250-300 ms
    pauses of the event loop at 600 sessions). Keeps the latest ``kept`` to ``2 * kept``.
    """

    def __init__(self, kept: int = ARRIVALS_KEPT) -> None:
        self._ends = array("q")
        self._times = array("d")
        self._kept = kept

    def add(self, end: int, when: float) -> None:
        self._ends.append(end)
        self._times.append(when)
        if len(self._ends) >= 2 * self._kept:
            del self._ends[:self._kept]
            del self._times[:self._kept]

    def of(self, sample: int) -> float | None:
        """When the audio up to ``sample`` arrived, if still remembered."""
        index = bisect.bisect_left(self._ends, sample)
        return self._times[index] if index < len(self._ends) else None


class PipelineSession:
    """The Redis side of one channel of a call."""

    def __init__(self, hub: SessionHub, *, session_id: str, pipeline: PipelineConfig, on_record: RecordHandler,
                 on_lost: LostHandler) -> None:
        self.hub = hub
        self.session_id = session_id
        self.keys = keys.SessionKeys(session_id)
        self.pipeline = pipeline
        self.first_stage = pipeline.stages[0]
        # Key names used for every frame or sweep, built once.
        self.input_key = self.keys.input(self.first_stage)
        self.bell_key = self.keys.bell(self.first_stage)
        self.out_key = self.keys.out
        self.meta_key = self.keys.meta
        # The stages' admission sets holding this session's slots (recordings have their own).
        slots = keys.batch_slots if pipeline.batch else keys.slots
        self.slot_keys = [slots(stage) for stage in pipeline.stages]
        # Unprocessed input records before audio waits: a recording's records are longer
        # (audio.BATCH_MAX_CHUNK), so fewer of them hold as much audio in Redis.
        self.max_backlog = max(1, hub.options.max_backlog_records * MAX_CHUNK // BATCH_MAX_CHUNK) \
            if pipeline.batch else hub.options.max_backlog_records
        self.log = SessionLogger(log, {"session_id": session_id, "stage": "gateway"})
        self.finals = FinalFilter()
        self.ended = asyncio.Event()  # the pipeline delivered End (or a fatal error)
        self._on_record = on_record
        self._on_lost = on_lost
        self._seq = 0  # next input record seq
        self._backlog = 0  # input records not yet consumed: at least as many as in the stream
        self._unchecked = 0  # records appended since the stream's length was last read
        self._expired_at = 0.0  # wall time the input stream's TTL was last set
        self._in_flight: Append | None = None  # the append queued last, until the next one settles it
        self._pending = 0  # records of that append
        self._arrivals = Arrivals()
        self._wake = asyncio.Event()
        self._out_id = "0-0"
        # Entries left in the result stream that were already delivered (trimmed by the
        # next read); the hub rings the relay when the stream holds more than these.
        self.untrimmed = 0
        self._relay_task: asyncio.Task | None = None
        self._created = False
        self.closed = False

    # -- set-up and teardown ------------------------------------------------------

    async def create(self) -> None:
        redis = self.hub.redis
        meta = {"config": self.pipeline.encode(), "gateway": self.hub.gateway_id,
                "created": f"{time.time():.3f}"}
        # The meta must exist before any stage hears of the session: a stage that
        # claims a session without meta takes it for gone. On a cluster these keys
        # live on different nodes, so the two steps are two round trips. Only the
        # first stage hears of it here; each stage announces it to the next before
        # its first write there (common/commits.py), so the ASR claims at first speech.
        self._created = True
        async with redis.pipeline(transaction=False) as pipe:
            # redis-py's mapping type has an invariant key type, the union of every kind of field name.
            pipe.hset(self.keys.meta, mapping=meta)  # type: ignore[arg-type]
            pipe.expire(self.keys.meta, int(self.hub.options.session_ttl))
            await pipe.execute()
        await redis.xadd(keys.control_stream(self.first_stage), {"sid": self.session_id}, maxlen=100_000,
                         approximate=True)
        self.hub.register(self)
        await self.hub.doorbell.subscribe(self.keys.bell("out"))
        self._relay_task = asyncio.create_task(self._relay(), name=f"relay-{self.session_id}")
        self.log.info("session created: %s", "+".join(self.pipeline.stages))

    async def close(self) -> None:
        """Forget the session: delete every key of it (meta, results, stages' inputs, leases, checkpoints).

        Stages find the meta gone at their next write or heartbeat and drop the
        session; their fenced writes check the meta first, so none re-creates a key.

        Deleting the keys comes first and is retried: nothing that fails after it
        (unsubscribing, stopping the relay) may leave a session behind in Redis.
        Idempotent.
        """
        if self.closed:
            return
        self.closed = True
        try:
            if self._in_flight is not None and not self._in_flight.done():
                await asyncio.wait({self._in_flight.waiter()}, timeout=RELAY_STOP_TIMEOUT)
            if self._created:
                await self._delete_keys()
        finally:
            await self._stop_relay()
        self.log.info("session closed")

    async def _stop_relay(self) -> None:
        """Leave the hub and the doorbell and end the relay (``closed`` is set already)."""
        self.hub.unregister(self)
        if self._relay_task is not None:
            # The flag and the wake-up end the relay even if a library swallows the
            # cancellation (seen: relays of closed sessions waiting forever).
            self._wake.set()
            self._relay_task.cancel()
            await asyncio.wait({self._relay_task}, timeout=RELAY_STOP_TIMEOUT)
        await self.hub.doorbell.unsubscribe(self.keys.bell("out"))

    async def park(self) -> dict:
        """Stop relaying, leaving every key in Redis for whoever resumes the call; the state to resume from.

        The append in flight settles first (its records are written, its error raised),
        so the seq handed on is the next one to write. Results that arrive meanwhile
        wait in the result stream: the relay that resumes reads on from ``out_id``.
        """
        if self._in_flight is not None:
            append, self._in_flight = self._in_flight, None
            if not append.done():
                await append.waiter()
            self._settle(append.result())
        self.closed = True
        self._created = False  # the keys are no longer this object's to delete
        await self._stop_relay()
        self.log.info("session parked")
        return {"session_id": self.session_id, "seq": self._seq, "out_id": self._out_id,
                "finals": self.finals.recent(FINAL_IDS_PARKED)}

    def mark_created(self) -> None:
        """The session's keys exist (a parked session taken over): :meth:`close` deletes them."""
        self._created = True

    async def attach(self, state: dict) -> None:
        """Relay a parked session (:meth:`park`'s ``state``) from this gateway: it renews the meta from now on."""
        self._seq = state["seq"]
        self._out_id = state["out_id"]
        for utterance_id in state["finals"]:
            self.finals.add(utterance_id)
        await self.hub.redis.hset(self.meta_key, "gateway", self.hub.gateway_id)
        self.hub.register(self)
        await self.hub.doorbell.subscribe(self.keys.bell("out"))
        self._relay_task = asyncio.create_task(self._relay(), name=f"relay-{self.session_id}")
        self._wake.set()  # results that came while the call was parked
        self.log.info("session resumed on this gateway")

    async def _delete_keys(self) -> None:
        for attempt in range(3):
            try:
                await self.hub.redis.delete(*self.keys.all())
                await self.hub.stages.release(self.session_id, list(self.pipeline.stages))
                return
            except CONNECTION_ERRORS as exc:
                self.log.warning("deleting session keys failed (attempt %d): %s", attempt + 1, exc)
                await asyncio.sleep(0.2 * (attempt + 1))

    # -- audio in -----------------------------------------------------------------------

    async def publish_audio(self, chunks: list[tuple[int, np.ndarray]], *then: Record) -> None:
        """Append audio chunks (offset, pcm16), then any markers (Flush, End), to the first stage.

        Audio alone returns once it is queued for Redis; its outcome (an error
        fails the next publish) is awaited by the next publish of the session, so a
        real-time session does not wait a round trip per frame. With markers it
        returns once everything is written: a close or finalize is only done then.
        """
        if not chunks and not then:
            return
        append = await self._publish(chunks, then)
        if then and append is not None:
            await append  # raises its error

    async def _publish(self, chunks: list[tuple[int, np.ndarray]], then: tuple[Record, ...]) -> Append | None:
        """Queue the records (numbered from ``self._seq``); their append, or None after close."""
        if self.closed:
            return None  # after close: a stage may have cleaned up, and nothing may re-create its input
        # One append in flight per session: its records reach Redis in seq order, and a
        # slow Redis holds the connection here (backpressure) instead of queueing more.
        previous = self._in_flight
        if previous is not None:
            if not previous.done():
                # A cancelled caller leaves the append to finish (only the waiter is
                # cancelled), and close() waits for it, so a late write cannot recreate
                # a stream after the keys are gone.
                await previous.waiter()
            self._in_flight = None
            self._settle(previous.result())  # raises the append's error
        stream = self.input_key
        options = self.hub.options
        if self._backlog >= self.max_backlog:
            await self._wait_for_backlog(stream)
        now = time.time()
        payloads = []
        for seq, (offset, pcm) in enumerate(chunks, self._seq):
            payloads.append(encode_audio(seq, offset, pcm.tobytes()))
            self._arrivals.add(offset + len(pcm), now)
        for seq, marker in enumerate(then, self._seq + len(chunks)):
            payloads.append(encode(dataclasses.replace(marker, seq=seq)))
        count = len(payloads)
        # The stream's length (the backlog) is read every few appends; in between the
        # estimate only grows, so the bound is never passed unnoticed. The TTL (the
        # session's: no key outlives its session by more) is renewed now and then.
        check = self._unchecked + count >= BACKLOG_CHECK_EVERY or \
            self._backlog + count >= self.max_backlog
        expire = now - self._expired_at >= options.session_ttl / 10
        append = Append(stream=stream, payloads=payloads, bell=self.bell_key,
                        expire=int(options.session_ttl) if expire else 0, length=check)
        await self.hub.writer.submit(append)  # waits while the writer's queue is full
        # Queued: the records will be written in this order, so their seqs are taken (the
        # session's one caller, its connection, publishes again only after this returns).
        self._seq += count
        self._pending = count
        if expire:
            self._expired_at = now
        self._in_flight = append
        return append

    def _settle(self, length: int | None) -> None:
        """Account for the append that completed (``length``: its stream's length, if it read it)."""
        if length is None:
            self._backlog += self._pending
            self._unchecked += self._pending
        else:
            self._backlog, self._unchecked = length, 0

    async def _wait_for_backlog(self, stream: str) -> None:
        """Wait for the first stage to consume input; raise :class:`BacklogFull` after ``backlog_timeout``.

        The stage trims what it has consumed, so the stream's length is the backlog.
        A full stream is never trimmed from here: that would drop audio silently.
        A batch session's pipeline takes its audio only as fast as live calls leave
        room (and its first stage waits for the next, common/lead.py): it waits as
        long as the backlog moves, ``batch_backlog_timeout`` s at most between moves.
        """
        options = self.hub.options
        self.hub.metrics.backlog_waits.inc()
        timeout = options.batch_backlog_timeout if self.pipeline.batch else options.backlog_timeout
        deadline = time.monotonic() + timeout
        lowest = self.max_backlog
        while (backlog := await self.hub.redis.xlen(stream)) >= self.max_backlog:
            if self.pipeline.batch and backlog < lowest:
                lowest, deadline = backlog, time.monotonic() + timeout
            if time.monotonic() >= deadline:
                raise BacklogFull(f"the {self.first_stage} stage has {backlog} unprocessed audio records "
                                  f"for this session and took more than {timeout:.0f} s to catch up")
            await asyncio.sleep(0.1)
        self._backlog, self._unchecked = backlog, 0

    # -- results out ----------------------------------------------------------------------

    def ring(self) -> None:
        self._wake.set()

    async def lost(self, reason: str) -> None:
        """The hub found this session's data gone from Redis: its call is told ``reason``."""
        await self._on_lost(self, reason)

    async def _relay(self) -> None:
        """Deliver the session's results until it closes. A relay that died would leave its call
        waiting for results forever; a bug of ours ends the call with an error instead."""
        try:
            await self._relay_results()
        except Exception as exc:
            self.log.exception("relaying results failed")
            await self._on_lost(self, f"the gateway could not relay this session's results ({type(exc).__name__}); "
                                      "please reconnect")

    async def _relay_results(self) -> None:
        backoff = Backoff()
        # Results delivered but not yet trimmed: trimmed in the round trip of the next read.
        trim_to = ""
        while True:
            await self._wake.wait()  # the doorbell, or the hub's sweep found unread results
            self._wake.clear()
            if self.closed:
                return
            try:
                async with self.hub.reads:  # a bounded share of the pool for all relays
                    entries = await self._read_results(trim_to)
                trim_to = ""
                backoff.reset()
            except CONNECTION_ERRORS as exc:  # (redis-py's disconnect race too: common.bus)
                if aio.current_task().cancelling():
                    raise asyncio.CancelledError from exc  # a cancellation redis turned into an error
                self.log.warning("reading results failed: %s; retrying in %.1fs", exc, backoff.delay)
                await backoff.wait()
                self._wake.set()
                continue
            if len(entries) == READ_BATCH:
                self._wake.set()
            for raw_id, fields in entries:
                self._out_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                try:
                    record = decode(fields.get(b"r", fields.get("r")) or b"")
                except RecordError as exc:
                    self.log.error("malformed result record: %s", exc)
                    continue
                if isinstance(record, Transcript) and self.finals.seen(record.utterance_id):
                    if record.final:
                        self.hub.metrics.duplicate_finals.inc()
                    continue  # a late partial or a replayed final of a finished utterance
                if isinstance(record, Transcript) and record.final:
                    self.finals.add(record.utterance_id)
                await self._on_record(self, record)
            if entries:
                trim_to = next_id(self._out_id)
            self.untrimmed = len(entries)

    async def _read_results(self, trim_to: str) -> list:
        """New result entries; first trims those already delivered (one round trip)."""
        redis = self.hub.redis
        if not trim_to:
            entries = await redis.xrange(self.keys.out, min="(" + self._out_id, count=READ_BATCH)
            assert entries is not None  # no entries: []
            return entries
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xtrim(self.keys.out, minid=trim_to)
            pipe.xrange(self.keys.out, min="(" + self._out_id, count=READ_BATCH)
            return (await pipe.execute())[1]

    def arrival_of(self, sample: int) -> float | None:
        """When the audio up to ``sample`` arrived (wall clock), if still remembered."""
        return self._arrivals.of(sample)
