"""A call's results: the records its pipeline sessions send, relayed as events to its client and handed
to its features, in order; with what that needs to remember (flushes still to confirm, the end of each
channel's last words, which sessions ended)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import Histogram

from common.errors import ErrorCode
from common.metrics import GatewayMetrics
from common.records import SAMPLE_RATE, End, Flush, Record, SpeechStart, Transcript
from common.records import Error as ErrorRecord

from ..core import events
from ..core.session import PipelineSession
from .feature import Features


def samples_to_ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


class Results:
    def __init__(self, sessions: Sequence[PipelineSession], features: Features, metrics: GatewayMetrics, *,
                 batch: bool, emit: Callable[[events.Event], Awaitable[None]], full: Callable[[], bool],
                 fatal: Callable[[str], Awaitable[None]]) -> None:
        """``emit``: send the client an event (nothing once the call ended); ``full``: whether its queue
        is (partials are dropped then); ``fatal``: end the call for a pipeline's fatal error."""
        self.sessions = sessions
        self.features = features
        self.metrics = metrics
        self.batch = batch  # a recording: its latencies are not the live path's
        self._emit = emit
        self._full = full
        self._fatal = fatal
        self._channel = {session.session_id: index for index, session in enumerate(sessions)}
        self.flushes = 0
        self.flush_pending: dict[int, int] = {}  # flush id -> channels yet to confirm it
        self.last_word_end: dict[int, int] = {}  # channel -> end (ms) of its latest final with words
        self._partial_seen: set[str] = set()
        self.all_ended = asyncio.Event()  # every session's pipeline ended
        self.last_result = time.monotonic()  # the last record (a batch call's close waits on it)

    def flush(self) -> int:
        """A new flush's id: :class:`events.Flushed` goes out once every channel confirmed it."""
        self.flushes += 1
        self.flush_pending[self.flushes] = len(self.sessions)
        return self.flushes

    def state(self) -> dict:
        """What a parked call hands on (JSON)."""
        return {"flushes": self.flushes, "flush_pending": {str(k): v for k, v in self.flush_pending.items()},
                "last_word_end": {str(k): v for k, v in self.last_word_end.items()}}

    def restore(self, state: dict) -> None:
        """Take up a parked call's :meth:`state`."""
        self.flushes = state["flushes"]
        self.flush_pending = {int(k): v for k, v in state["flush_pending"].items()}
        self.last_word_end = {int(k): v for k, v in state["last_word_end"].items()}

    async def relay(self, session: PipelineSession, record: Record) -> None:
        """One record of ``session``'s pipeline: to the client as its event, then to the features."""
        self.last_result = time.monotonic()
        channel = self._channel[session.session_id]
        if isinstance(record, Transcript):
            await self._transcript(session, channel, record)
        elif isinstance(record, SpeechStart):
            await self._emit(events.SpeechStarted(channel, samples_to_ms(record.start)))
        elif isinstance(record, Flush):
            left = self.flush_pending.get(record.flush_id, 1) - 1
            if left > 0:
                self.flush_pending[record.flush_id] = left
            else:
                self.flush_pending.pop(record.flush_id, None)
                await self._emit(events.Flushed(record.flush_id))
        elif isinstance(record, ErrorRecord):
            self.metrics.errors_sent.labels(code=record.code).inc()
            code = ErrorCode(record.code) if record.code in ErrorCode._value2member_map_ else ErrorCode.INTERNAL
            await self._emit(events.Error(code, record.message, record.fatal))
            if record.fatal:
                self._ended(session)
                await self._fatal(record.message)
        elif isinstance(record, End):
            self._ended(session)
        # (a SpeechEnd goes to the features only: clients hear of turns from finals)
        self.features.record(channel, record)

    def _ended(self, session: PipelineSession) -> None:
        session.ended.set()
        if all(s.ended.is_set() for s in self.sessions):
            self.all_ended.set()

    async def _transcript(self, session: PipelineSession, channel: int, record: Transcript) -> None:
        metrics = self.metrics
        fields: dict[str, Any] = dict(channel=channel, session_id=session.session_id, utterance_id=record.utterance_id,
                      text=record.text, start_ms=samples_to_ms(record.start), end_ms=samples_to_ms(record.end),
                      language=record.language, confidence=record.confidence,
                      words=tuple(events.Word(text=word.text, start_ms=samples_to_ms(word.start),
                                              end_ms=samples_to_ms(word.end), confidence=word.probability)
                                  for word in record.words),
                      redactions=tuple(events.Redaction(entity=r.entity, label=r.label, start_ms=samples_to_ms(r.start),
                                                        end_ms=samples_to_ms(r.end)) for r in record.redactions))
        if record.final:
            self._partial_seen.discard(record.utterance_id)
            metrics.finals.inc()
            from_finalize = bool(self.flush_pending) and record.speech_final
            final = await self.features.final(events.Final(
                **fields, speech_final=record.speech_final, from_finalize=from_finalize, truncated=record.truncated,
                no_words=record.no_words))
            self._observe(metrics.final_latency, session, record.end)  # the features' waits included
            await self._emit(final)
            await self.features.result(final)  # after the final went to the client
            if record.text:
                self.last_word_end[channel] = fields["end_ms"]
            # After an eager final, the turn's end comes as an empty final.
            if record.speech_final and channel in self.last_word_end:
                await self._emit(events.UtteranceEnd(channel, self.last_word_end.pop(channel)))
            return
        if record.utterance_id not in self._partial_seen:
            self._partial_seen.add(record.utterance_id)
            self._observe(metrics.first_partial_latency, session, record.start)
        metrics.partials.inc()
        partial = events.Partial(**fields)
        if self._full():
            metrics.partials_dropped.inc()
        else:
            await self._emit(partial)
        await self.features.result(partial)

    def _observe(self, histogram: Histogram, session: PipelineSession, sample: int) -> None:
        """Latency from the arrival of audio up to ``sample`` until now (of live calls: a recording
        arrives long before the pipeline gets to it)."""
        if self.batch:
            return
        arrived = session.arrival_of(sample)
        if arrived is not None:
            histogram.observe(max(0.0, time.time() - arrived))
