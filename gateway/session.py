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
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from common import keys
from common.bus import Backoff, next_id
from common.errors import BacklogFull, RecordError
from common.logs import SessionLogger
from common.records import Audio, Record, Transcript, decode, encode

if TYPE_CHECKING:
    import numpy as np

    from .hub import SessionHub

log = logging.getLogger(__name__)

FINAL_IDS_KEPT = 10_000  # finals remembered for duplicate suppression
ARRIVALS_KEPT = 3_000  # chunk arrival times kept for latency metrics (~5 min at 100 ms)
READ_BATCH = 200  # result records read per round trip
RELAY_STOP_TIMEOUT = 5.0  # seconds a closing session waits for its relay task

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


class PipelineSession:
    """The Redis side of one channel of a call."""

    def __init__(self, hub: SessionHub, *, session_id: str, pipeline: dict, on_record: RecordHandler,
                 on_lost: LostHandler) -> None:
        self.hub = hub
        self.session_id = session_id
        self.keys = keys.SessionKeys(session_id)
        self.pipeline = pipeline
        self.first_stage = pipeline["stages"][0]
        self.log = SessionLogger(log, {"session_id": session_id, "stage": "gateway"})
        self.finals = FinalFilter()
        self.ended = asyncio.Event()  # the pipeline delivered End (or a fatal error)
        self._on_record = on_record
        self._on_lost = on_lost
        self._seq = 0  # next input record seq
        self._backlog = 0  # input records not yet consumed, as of the last publish
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=ARRIVALS_KEPT)
        self._wake = asyncio.Event()
        self._out_id = "0-0"
        self._relay_task: asyncio.Task | None = None
        self._created = False
        self.closed = False

    # -- set-up and teardown ------------------------------------------------------

    async def create(self) -> None:
        redis = self.hub.redis
        meta = {"config": json.dumps(self.pipeline), "gateway": self.hub.gateway_id,
                "created": f"{time.time():.3f}"}
        # The meta must exist before any stage hears of the session: a stage that
        # claims a session without meta takes it for gone. On a cluster these keys
        # live on different nodes, so the two steps are two round trips. Only the
        # first stage hears of it here; each stage announces it to the next before
        # its first write there (common/runner.py), so the ASR claims at first speech.
        self._created = True
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.meta, mapping=meta)
            pipe.expire(self.keys.meta, int(self.hub.options.session_ttl))
            await pipe.execute()
        await redis.xadd(keys.control_stream(self.first_stage), {"sid": self.session_id}, maxlen=100_000,
                         approximate=True)
        self.hub.register(self, self._on_lost)
        await self.hub.doorbell.subscribe(self.keys.bell("out"))
        self._relay_task = asyncio.create_task(self._relay(), name=f"relay-{self.session_id}")
        self.log.info("session created: %s", "+".join(self.pipeline["stages"]))

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
            if self._created:
                await self._delete_keys()
        finally:
            self.hub.unregister(self)
            if self._relay_task is not None:
                # The flag and the wake-up end the relay even if a library swallows the
                # cancellation (seen: relays of closed sessions waiting forever).
                self._wake.set()
                self._relay_task.cancel()
                await asyncio.wait({self._relay_task}, timeout=RELAY_STOP_TIMEOUT)
            await self.hub.doorbell.unsubscribe(self.keys.bell("out"))
        self.log.info("session closed")

    async def _delete_keys(self) -> None:
        for attempt in range(3):
            try:
                await self.hub.redis.delete(*self.keys.all())
                await self.hub.release(self.session_id, self.pipeline["stages"])
                return
            except (RedisError, OSError) as exc:
                self.log.warning("deleting session keys failed (attempt %d): %s", attempt + 1, exc)
                await asyncio.sleep(0.2 * (attempt + 1))

    # -- audio in -----------------------------------------------------------------------

    async def publish_audio(self, chunks: list[tuple[int, np.ndarray]], *then: Record) -> None:
        """Append audio chunks (offset, pcm16), then any markers (Flush, End), to the first stage."""
        records = [Audio(seq=0, offset=offset, pcm=pcm.tobytes()) for offset, pcm in chunks]
        await self._publish(records + list(then))

    async def _publish(self, records: list[Record]) -> None:
        if not records or self.closed:
            return  # after close: a stage may have cleaned up, and nothing may re-create its input
        redis = self.hub.redis
        stream = self.keys.input(self.first_stage)
        if self._backlog >= self.hub.options.max_backlog_records:
            await self._wait_for_backlog(stream)
        now = time.time()
        async with redis.pipeline(transaction=False) as pipe:
            pipe.xlen(stream)
            for record in records:
                record = dataclasses.replace(record, seq=self._seq)
                self._seq += 1
                if isinstance(record, Audio):
                    self._arrivals.append((record.offset + record.samples, now))
                pipe.xadd(stream, {"r": encode(record)})
            pipe.expire(stream, int(self.hub.options.session_ttl))  # a key outlives its session by a TTL at most
            results = await pipe.execute()
        self._backlog = results[0] + len(records)
        # Rung after the append, not in the pipeline: cluster pipelines refuse PUBLISH.
        await redis.publish(self.keys.bell(self.first_stage), "1")

    async def _wait_for_backlog(self, stream: str) -> None:
        """Wait for the first stage to consume input; raise :class:`BacklogFull` after ``backlog_timeout``.

        The stage trims what it has consumed, so the stream's length is the backlog.
        A full stream is never trimmed from here: that would drop audio silently.
        """
        options = self.hub.options
        self.hub.metrics.backlog_waits.inc()
        deadline = time.monotonic() + options.backlog_timeout
        while (backlog := await self.hub.redis.xlen(stream)) >= options.max_backlog_records:
            if time.monotonic() >= deadline:
                raise BacklogFull(f"the {self.first_stage} stage has {backlog} unprocessed audio records "
                                  f"for this session and took more than {options.backlog_timeout:.0f} s "
                                  f"to catch up")
            await asyncio.sleep(0.1)
        self._backlog = backlog

    # -- results out ----------------------------------------------------------------------

    def ring(self) -> None:
        self._wake.set()

    async def _relay(self) -> None:
        redis = self.hub.redis
        backoff = Backoff()
        while True:
            await self._wake.wait()  # the doorbell, or the hub's periodic sweep
            self._wake.clear()
            if self.closed:
                return
            try:
                entries = await redis.xrange(self.keys.out, min="(" + self._out_id, count=READ_BATCH)
                backoff.reset()
            except (RedisError, OSError) as exc:
                if asyncio.current_task().cancelling():
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
                try:
                    await redis.xtrim(self.keys.out, minid=next_id(self._out_id))
                except (RedisError, OSError) as exc:
                    self.log.warning("trimming results failed: %s", exc)

    def arrival_of(self, sample: int) -> float | None:
        """When the audio up to ``sample`` arrived (wall clock), if still remembered."""
        ends = [end for end, _ in self._arrivals]
        index = bisect.bisect_left(ends, sample)
        return self._arrivals[index][1] if index < len(self._arrivals) else None
