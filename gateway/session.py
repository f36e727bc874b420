"""One client connection's session: publishing audio and relaying results.

Audio goes to the first stage's input stream as canonical chunks with a
gap-free ``seq``. Results come back on the session's result stream; a relay task
reads it when the doorbell rings and puts messages on a bounded send queue, from
which a sender task writes to the socket. A slow client therefore only delays
itself: partials are dropped when its queue is full, finals wait.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import json
import logging
import time
import uuid
from collections import OrderedDict, deque
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from common import keys
from common.bus import next_id
from common.errors import RecordError
from common.logs import SessionLogger
from common.records import Audio, End, Error, Flush, Transcript, decode, encode

from .audio import AudioConverter
from .protocol import SessionConfig, samples_to_ms

if TYPE_CHECKING:
    from .server import Gateway

log = logging.getLogger(__name__)

FINAL_IDS_KEPT = 10_000  # finals remembered for duplicate suppression
ARRIVALS_KEPT = 3_000  # chunk arrival times kept for latency metrics (~5 min at 100 ms)


class ClientSession:
    def __init__(self, gateway: Gateway, config: SessionConfig, send_queue: asyncio.Queue) -> None:
        self.gateway = gateway
        self.config = config
        self.session_id = uuid.uuid4().hex
        self.keys = keys.SessionKeys(self.session_id)
        self.pipeline = config.pipeline(denoise_default=gateway.options.enable_noise_suppression)
        self.first_stage = self.pipeline["stages"][0]
        self.converter = AudioConverter(sample_rate=config.sample_rate, encoding=config.encoding)
        self.log = SessionLogger(log, {"session_id": self.session_id, "stage": "gateway"})
        self.send_queue = send_queue
        self.seq = 0  # next input record seq
        self.client_seq = 0  # seq of messages to the client
        self.flushes = 0
        self.finals: OrderedDict[str, None] = OrderedDict()
        self.partial_seen: set[str] = set()
        self.arrivals: deque[tuple[int, float]] = deque(maxlen=ARRIVALS_KEPT)
        self.ended = asyncio.Event()  # the pipeline delivered End
        self.wake = asyncio.Event()
        self.out_id = "0-0"
        self.relay_task: asyncio.Task | None = None
        self.sender_task: asyncio.Task | None = None
        self.closed = False

    # -- set-up and teardown ------------------------------------------------------

    async def create(self) -> None:
        redis = self.gateway.redis
        meta = {"config": json.dumps(self.pipeline), "gateway": self.gateway.gateway_id,
                "created": f"{time.time():.3f}"}
        # The meta must exist before any stage hears of the session: a stage that
        # claims a session without meta takes it for gone. On a cluster these keys
        # live on different nodes, so the two steps are two round trips.
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.meta, mapping=meta)
            pipe.expire(self.keys.meta, int(self.gateway.options.session_ttl))
            await pipe.execute()
        async with redis.pipeline(transaction=False) as pipe:
            for stage in self.pipeline["stages"]:
                pipe.xadd(keys.control_stream(stage), {"sid": self.session_id}, maxlen=100_000, approximate=True)
            await pipe.execute()
        await self.gateway.doorbell.subscribe(self.keys.bell("out"))
        self.relay_task = asyncio.create_task(self._relay(), name=f"relay-{self.session_id}")
        self.log.info("session created: %s", "+".join(self.pipeline["stages"]))

    async def close(self) -> None:
        """Forget the session: delete its meta and results; stages clean up their own keys.

        Deleting the keys comes first and is retried: nothing that fails after it
        (unsubscribing, stopping the relay) may leave a session behind in Redis.
        """
        if self.closed:
            return
        self.closed = True
        try:
            for attempt in range(3):
                try:
                    await self.gateway.redis.delete(self.keys.meta, self.keys.out)
                    break
                except (RedisError, OSError) as exc:
                    self.log.warning("deleting session keys failed (attempt %d): %s", attempt + 1, exc)
                    await asyncio.sleep(0.2 * (attempt + 1))
        finally:
            if self.relay_task is not None:
                self.relay_task.cancel()
                await asyncio.gather(self.relay_task, return_exceptions=True)
            await self.gateway.doorbell.unsubscribe(self.keys.bell("out"))
        self.log.info("session closed")

    async def lose(self, reason: str) -> None:
        """The session's data is gone from Redis: tell the client and disconnect it."""
        self.log.warning("session lost: %s", reason)
        self.gateway.metrics.errors_sent.labels(code="session_lost").inc()
        await self.send({"type": "error", "code": "session_lost", "message": reason, "fatal": True})
        self.ended.set()
        await self.gateway.close_session(self, 1011, "session lost")

    # -- client to pipeline ---------------------------------------------------------

    async def audio(self, data: bytes) -> None:
        chunks = self.converter.push(data)  # raises ProtocolError on bad audio
        self.gateway.metrics.audio_seconds.inc(len(data) / self._bytes_per_second())
        await self._publish([Audio(seq=0, offset=offset, pcm=pcm.tobytes()) for offset, pcm in chunks])

    async def finalize(self) -> int:
        self.flushes += 1
        chunks = self.converter.flush()
        await self._publish([Audio(seq=0, offset=o, pcm=p.tobytes()) for o, p in chunks]
                            + [Flush(seq=0, flush_id=self.flushes)])
        return self.flushes

    async def end(self, reason: str) -> None:
        chunks = self.converter.flush()
        await self._publish([Audio(seq=0, offset=o, pcm=p.tobytes()) for o, p in chunks]
                            + [End(seq=0, reason=reason)])

    def _bytes_per_second(self) -> float:
        width = {"float32": 4, "pcm16": 2}.get(self.config.encoding, 1)
        return float(width * self.config.sample_rate)

    async def _publish(self, records: list) -> None:
        if not records:
            return
        stream = self.keys.input(self.first_stage)
        now = time.time()
        async with self.gateway.redis.pipeline(transaction=False) as pipe:
            for record in records:
                record = dataclasses.replace(record, seq=self.seq)
                self.seq += 1
                if isinstance(record, Audio):
                    self.arrivals.append((record.offset + record.samples, now))
                pipe.xadd(stream, {"r": encode(record)})
            pipe.expire(stream, int(self.gateway.options.key_ttl))
            await pipe.execute()
        # Rung after the append, not in the pipeline: cluster pipelines refuse PUBLISH.
        await self.gateway.redis.publish(self.keys.bell(self.first_stage), "1")

    # -- pipeline to client -------------------------------------------------------------

    def ring(self) -> None:
        self.wake.set()

    async def _relay(self) -> None:
        redis = self.gateway.redis
        delay = 0.1
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), self.gateway.options.sweep_interval)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            try:
                entries = await redis.xrange(self.keys.out, min="(" + self.out_id, count=200)
                if len(entries) == 200:
                    self.wake.set()
                delay = 0.1
            except (RedisError, OSError) as exc:
                self.log.warning("reading results failed: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            for raw_id, fields in entries:
                self.out_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                await self._deliver(fields.get(b"r", fields.get("r")))
            if entries:
                try:
                    await redis.xtrim(self.keys.out, minid=next_id(self.out_id))
                except (RedisError, OSError) as exc:
                    self.log.warning("trimming results failed: %s", exc)

    async def _deliver(self, payload) -> None:
        try:
            record = decode(payload or b"")
        except RecordError as exc:
            self.log.error("malformed result record: %s", exc)
            return
        metrics = self.gateway.metrics
        if isinstance(record, Transcript):
            if record.utterance_id in self.finals:
                if record.final:
                    metrics.duplicate_finals.inc()
                return  # a late partial or a replayed final of a finished utterance
            message = {
                "type": "final" if record.final else "partial", "session_id": self.session_id,
                "utterance_id": record.utterance_id, "text": record.text,
                "start_ms": samples_to_ms(record.start), "end_ms": samples_to_ms(record.end),
                "language": record.language,
            }
            if record.final:
                message["is_speech_final"] = record.speech_final
                self.finals[record.utterance_id] = None
                if len(self.finals) > FINAL_IDS_KEPT:
                    self.finals.popitem(last=False)
                self.partial_seen.discard(record.utterance_id)
                metrics.finals.inc()
                self._observe(metrics.final_latency, record.end)
                await self.send(message)
            else:
                if record.utterance_id not in self.partial_seen:
                    self.partial_seen.add(record.utterance_id)
                    self._observe(metrics.first_partial_latency, record.start)
                metrics.partials.inc()
                self.send_nowait(message)
        elif isinstance(record, Flush):
            await self.send({"type": "flushed", "session_id": self.session_id, "flush_id": record.flush_id})
        elif isinstance(record, Error):
            metrics.errors_sent.labels(code=record.code).inc()
            await self.send({"type": "error", "code": record.code, "message": record.message,
                             "fatal": record.fatal})
            if record.fatal:
                self.ended.set()
        elif isinstance(record, End):
            self.ended.set()

    def _observe(self, histogram, sample: int) -> None:
        """Latency from the arrival of audio up to ``sample`` until now."""
        ends = [end for end, _ in self.arrivals]
        index = bisect.bisect_left(ends, sample)
        if index < len(self.arrivals):
            histogram.observe(max(0.0, time.time() - self.arrivals[index][1]))

    async def send(self, message: dict) -> None:
        message["seq"] = self.client_seq
        self.client_seq += 1
        await self.send_queue.put(message)

    def send_nowait(self, message: dict) -> None:
        if self.send_queue.full():
            self.gateway.metrics.partials_dropped.inc()
            return
        message["seq"] = self.client_seq
        self.client_seq += 1
        self.send_queue.put_nowait(message)
