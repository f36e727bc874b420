"""Reading a stage's input: new entries of each session, decoded, checked and in order.

Each session's input stream is read from just after the last entry delivered
(``Session.read_id``). An entry that does not decode is dead-lettered (kept on
``ss:dlq:<stage>`` with the reason) and skipped: bad input never reaches stage
logic. Records carry a per-session ``seq``; one already seen (a replay after a
takeover, or a producer's retry) is skipped, and a gap is reported to the
client, since the records in it are lost.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio.cluster import RedisCluster

from . import aio, bus, keys
from .errors import ErrorCode, RecordError
from .metrics import StageMetrics
from .records import SAMPLE_RATE, Audio, Record, decode
from .stage import Input, Session

log = logging.getLogger(__name__)

# Sessions read per round trip: bounds one request and its reply.
PIPELINE_READS = 256

# XREAD of several streams, from a script so that redis-py hands back the raw reply
# (its XREAD reply callback builds a dict per entry in Python). One Redis only.
# KEYS: the streams. ARGV: count, then per stream the id to read after.
READ = """
local args = {'COUNT', ARGV[1], 'STREAMS'}
for i = 1, #KEYS do args[#args + 1] = KEYS[i] end
for i = 2, #ARGV do args[#args + 1] = ARGV[i] end
return redis.call('XREAD', unpack(args))
"""


@functools.lru_cache(maxsize=16384)
def _input_key(sk, stage: str) -> str:
    """A session's input stream (cached: it is read several times a second)."""
    return sk.input(stage)


def _payload(fields: list) -> bytes | None:
    """The ``r`` field of a stream entry's flat [field, value, ...] list, or None."""
    for i in range(0, len(fields) - 1, 2):
        if fields[i] in (b"r", "r"):
            return fields[i + 1]
    return None

# report(session, code, message): send an error to the client.
Report = Callable[[Session, str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ReadResult:
    """What one read produced."""

    batch: list[tuple[Session, Input]]  # sessions with new records
    more: list[Session]  # sessions with more input waiting than one read takes
    lag: float  # seconds: age of the oldest entry read


class InputReader:
    """Reads, decodes and dead-letters the input of one stage's sessions."""

    def __init__(self, redis: bus.Redis, *, stage: str, read_count: int, metrics: StageMetrics,
                 report: Report) -> None:
        self.redis = redis
        self.stage = stage
        self.read_count = read_count
        self.metrics = metrics
        self._report = report
        self._background: set[asyncio.Task] = set()
        self._read_script = redis.register_script(READ)

    async def read(self, sessions: list[Session], *, count: int | None = None) -> ReadResult:
        """Up to ``count`` (default ``read_count``) new entries of each session; raises on Redis errors.

        One round trip per :data:`PIPELINE_READS` sessions, not one per session.
        """
        count = count or self.read_count
        replies: list = []
        for first in range(0, len(sessions), PIPELINE_READS):
            replies += await self._read(sessions[first:first + PIPELINE_READS], count)
        batch, more = [], []
        now_ms = time.time() * 1000
        lag_ms = 0.0
        for session, entries in zip(sessions, replies):
            if session.closed or not entries:
                continue
            lag_ms = max(lag_ms, now_ms - bus.id_ms(bus.text(entries[0][0])))
            if len(entries) == count:
                more.append(session)
            records = []
            for raw_id, payload in entries:
                entry_id = bus.text(raw_id)
                session.read_id = entry_id
                record = self._decode(session, entry_id, payload)
                if record is not None:
                    records.append((entry_id, record))
            if records:
                batch.append((session, records))
        return ReadResult(batch=batch, more=more, lag=max(0.0, lag_ms) / 1000)

    async def _read(self, sessions: list[Session], count: int) -> list[list[tuple]]:
        """The (id, payload) of the entries after ``read_id`` of each session's input.

        On one Redis one READ script call reads every stream (one command to pack,
        one reply to read and no per-entry conversion in redis-py); on a cluster,
        whose slots one command cannot span, a pipeline of one XRANGE per stream.
        """
        streams = [_input_key(s.keys, self.stage) for s in sessions]
        if isinstance(self.redis, RedisCluster):
            async with self.redis.pipeline(transaction=False) as pipe:
                for stream, session in zip(streams, sessions):
                    pipe.xrange(stream, min="(" + session.read_id, count=count)
                replies = await pipe.execute()
            return [[(entry_id, fields.get(b"r", fields.get("r"))) for entry_id, fields in entries]
                    for entries in replies]
        [reply] = await bus.run_scripts(self.redis, [(self._read_script, streams,
                                                      [count, *(s.read_id for s in sessions)])])
        if isinstance(reply, Exception):
            raise reply
        found = {bus.text(stream): [(entry_id, _payload(fields)) for entry_id, fields in entries]
                 for stream, entries in reply or ()}
        return [found.get(stream, []) for stream in streams]

    def _decode(self, session: Session, entry_id: str, payload: bytes | None) -> Record | None:
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
        seq = record.seq
        if seq < session.input_seq:
            self.metrics.duplicates.inc()
            return None
        if seq > session.input_seq:
            self.metrics.sequence_gaps.inc()
            session.log.error("input gap: expected seq %d, got %d", session.input_seq, seq)
            self._spawn(self._report(session, ErrorCode.SEQUENCE_GAP,
                                     f"{seq - session.input_seq} record(s) lost before "
                                     f"{self.stage} input seq {seq}"))
        session.input_seq = seq + 1
        session.ids_to_seq[entry_id] = seq
        if isinstance(record, Audio):
            seconds = record.samples / SAMPLE_RATE
            self.metrics.audio_seconds.inc(seconds)
            if bus.id_le(entry_id, session.replay_until):
                self.metrics.replayed_audio.inc(seconds)
        return record

    @staticmethod
    def input_seq_after(session: Session, consumed: str) -> int:
        """The seq of the input record that follows entry ``consumed`` (for a checkpoint)."""
        return session.ids_to_seq.get(consumed, session.input_seq - 1) + 1

    @staticmethod
    def forget_through(session: Session, consumed: str) -> None:
        """Drop the bookkeeping of entries up to ``consumed`` (checkpointed)."""
        for entry_id in [i for i in session.ids_to_seq if bus.id_le(i, consumed)]:
            del session.ids_to_seq[entry_id]

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _dead_letter(self, session: Session, entry_id: str, payload, reason: str) -> None:
        try:
            await self.redis.xadd(f"{keys.PREFIX}:dlq:{self.stage}",
                                  {"sid": session.session_id, "id": entry_id, "reason": reason,
                                   "r": payload if isinstance(payload, bytes) else b""},
                                  maxlen=10_000, approximate=True)
        except bus.CONNECTION_ERRORS as exc:
            session.log.warning("dead letter failed: %s", exc)

    async def close(self) -> None:
        """Cancel dead letters and reports still being written; idempotent."""
        await aio.cancel_all(list(self._background))
