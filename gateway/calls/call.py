"""A call: one client's call through the pipeline, whatever door it came in by.

A call has one pipeline session per channel (or one for the mixed-down audio).
Doors drive it with :meth:`Call.open`, :meth:`audio`, :meth:`finalize` and
:meth:`close`, and read typed events from the bounded queue they hand in.
Partials are dropped when that queue is full (a slow client only delays
itself); everything else waits for room. Whether a call idles is its
connection's to judge (:mod:`gateway.core.idle`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any

from redis.exceptions import RedisError
from websockets.frames import CloseCode

from common.aio import wait_event
from common.errors import BacklogFull, ConfigError, ErrorCode, ModelError, ProtocolError
from common.languages import ModelLanguages, names_refusal
from common.logs import Untrusted
from common.records import End, Flush, Record, SpeechEnd, SpeechStart, Transcript
from common.records import Error as ErrorRecord
from common.records import SAMPLE_RATE

from ..analytics.sentiment import sentiment
from ..analytics.tracker import CallTracker
from ..core import events, phrase_lists
from ..core.audio import BATCH_MAX_CHUNK, MAX_CHUNK, CallAudio
from ..core.config import SessionConfig
from ..core.hub import SessionHub
from ..core.session import PipelineSession
from ..core.tenant import Tenant
from ..diarization.pool import Diarizer
from ..outputs.transcript_log import CallLog, TranscriptLog
from ..policy.analytics import NO_TENANT_SETTINGS, CallAnalytics
from ..policy.keyfile import ANONYMOUS
from .analyzer import CallAnalyzer
from .speakers import LiveSpeakers

log = logging.getLogger(__name__)


class CallRefused(Exception):
    """The call cannot start now; ``code`` and ``close_code`` say why to the client."""

    def __init__(self, code: ErrorCode, message: str, close_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.close_code = close_code


def config_redaction(config: SessionConfig) -> str:
    """The redaction a call runs with, as its log records it: ``tenant:pci,ssn``; "" for none."""
    return f"{config.redact_policy}:{','.join(config.redact)}" if config.redact else ""


def samples_to_ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


class Call:
    def __init__(self, hub: SessionHub, config: SessionConfig, *, protocol: str,
                 events_out: asyncio.Queue, call_id: str | None = None, parties: tuple[str, ...] = (),
                 transcripts: TranscriptLog | None = None, tenant: Tenant | None = None,
                 session_ids: Sequence[str] = (), diarizer: Diarizer | None = None) -> None:
        """``tenant``: who owns the call (its log is the tenant's, and it counts among the tenant's
        sessions); None: the anonymous tenant, uncounted (raw TCP calls, which have no keys).
        ``session_ids``: those of a parked call's pipeline sessions (:meth:`restore`); none: new ones.
        ``diarizer``: the gateway's, which labels a diarized live call's finals (None: they go unlabelled)."""
        self.hub = hub
        self.tenant = tenant
        if tenant is not None:
            config = config.with_tenant_policy(tenant.redact)  # what the tenant forces, whatever the door
        self.config = config
        self.protocol = protocol
        self.events = events_out
        pipeline = config.pipeline(denoise_default=hub.options.enable_noise_suppression)
        self.stages = list(pipeline.stages)
        self.batch = pipeline.batch  # a recording: unpaced, served with what live calls leave
        self.audio_in = CallAudio(sample_rate=config.sample_rate, encoding=config.encoding,
                                  channels=config.channels, mix_down=not config.multichannel,
                                  max_chunk=BATCH_MAX_CHUNK if self.batch else MAX_CHUNK)
        self.sessions = [
            PipelineSession(hub, session_id=session_id, pipeline=pipeline, on_record=self._on_record,
                            on_lost=self.lose)
            for session_id in (session_ids or [uuid.uuid4().hex for _ in range(config.pipelines)])
        ]
        self.call_id = call_id or (self.sessions[0].session_id if len(self.sessions) == 1 else uuid.uuid4().hex)
        self.parties = parties  # each channel's name on the door's platform, if it has them
        self._transcripts = transcripts
        self.transcript_log: CallLog | None = None  # for followers; None: this call cannot be followed
        self._on_release: list[Callable[[], Awaitable[None]]] = []
        self.last_result = time.monotonic()  # the last record from the pipeline (a batch session's close waits on it)
        self._channel = {session.session_id: index for index, session in enumerate(self.sessions)}
        self._flushes = 0
        self._flush_pending: dict[int, int] = {}  # flush id -> channels yet to confirm it
        self._partial_seen: set[str] = set()
        self._last_word_end: dict[int, int] = {}  # channel -> end (ms) of its latest final with words
        self._all_ended = asyncio.Event()
        self._ended = False  # Ended was emitted
        self._finishing = False  # no more input: End was published
        self._opened = False
        self.models = ModelLanguages()  # what the ASR decodes, as the hub knew it at open
        # Analytics that run without what was asked (sentiment without the analytics extra): said to
        # the client once the call opens (an error event, not fatal), or in a recording's warnings.
        self.analytics_warning = ""
        self.analyzer = self._analyzer()
        # A recording is diarized whole at its end (gateway/http/prerecorded.py); a live call final by final.
        self.speakers = LiveSpeakers(diarizer, metrics=hub.metrics, wait=hub.options.diarize_wait,
                                     load_wait=hub.options.diarize_load_wait) \
            if diarizer is not None and config.diarize and not self.batch and len(self.sessions) == 1 else None

    def _analyzer(self, phrases: tuple[str, ...] | None = None) -> CallAnalyzer | None:
        """The call's analytics, if it or its tenant asks for them (gateway/analytics). ``phrases``: the
        tenant's list set over the admin API, in place of its keys file's (None: the keys file's)."""
        tenant = self.tenant.name if self.tenant is not None else ANONYMOUS
        tenant_settings = self._transcripts.tenant_analytics(tenant) if self._transcripts is not None \
            else NO_TENANT_SETTINGS
        if phrases is not None:
            tenant_settings = dataclasses.replace(tenant_settings, phrases=phrases)
        asked = self.config.call_analytics
        if asked is None and not tenant_settings.enabled:
            return None
        settings = (asked or CallAnalytics()).settings(tenant_settings)
        scorer = None
        if settings.sentiment:
            try:
                scorer = sentiment()
            except ModelError as exc:
                log.warning("call analytics without sentiment: %s", exc)
                self.analytics_warning = f"analytics run without sentiment: {exc}"
        tracker = CallTracker(channels=len(self.sessions), settings=settings, scorer=scorer, parties=self.parties)
        return CallAnalyzer(tracker, channels=len(self.sessions), tenant=tenant, metrics=self.hub.metrics,
                            emit=self._emit if asked is not None else None,
                            call_log=lambda: self.transcript_log, clock=not self.batch)

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        """Admit and create the call's pipeline sessions; raise :class:`CallRefused` if it cannot start."""
        metrics = self.hub.metrics
        try:
            self.models = await self.hub.models()
        except (RedisError, OSError):
            pass  # creating the sessions reports the Redis failure
        # Refused before any slot is taken: an English-only model never hears Spanish as English.
        refusal = self.models.refusal(self.config.language, detect=self.config.detect_language,
                                      languages=self.config.languages)
        if refusal:
            metrics.sessions_refused.labels(reason="language").inc()
            raise CallRefused(ErrorCode.BAD_CONFIG, refusal, CloseCode.POLICY_VIOLATION)
        # ... and redact=pii is never served without names (the workers' name model: the names extra).
        refusal = names_refusal(self.models, self.config.redact)
        if refusal:
            metrics.sessions_refused.labels(reason="redaction").inc()
            raise CallRefused(ErrorCode.BAD_CONFIG, refusal, CloseCode.POLICY_VIOLATION)
        try:
            refusal = await self.hub.admission(self.stages, [s.session_id for s in self.sessions], batch=self.batch)
        except (RedisError, OSError):
            refusal = ""  # creating the sessions reports the Redis failure
        if refusal:
            metrics.sessions_refused.labels(reason="overloaded").inc()
            raise CallRefused(ErrorCode.OVERLOADED, refusal + "; try again later", CloseCode.TRY_AGAIN_LATER)
        try:
            for session in self.sessions:
                await session.create()
        except (RedisError, OSError) as exc:
            log.warning("cannot create a session: %s", exc)
            metrics.sessions_refused.labels(reason="redis_unavailable").inc()
            await self.release()
            raise CallRefused(ErrorCode.UNAVAILABLE, "the service cannot reach its queue; try again later",
                              CloseCode.TRY_AGAIN_LATER) from None
        # Counted together with _opened, which release() reads to count them out: no await between.
        metrics.sessions.labels(protocol=self.protocol).inc(len(self.sessions))
        self._count(+1)
        if self._transcripts is not None:
            self.transcript_log = await self._transcripts.open_call(
                tenant=self.tenant.name if self.tenant is not None else ANONYMOUS, call_id=self.call_id,
                protocol=self.protocol, parties=self.parties, session_ids=tuple(s.session_id for s in self.sessions),
                redaction=config_redaction(self.config))
        await self._emit(events.Opened(self.call_id, tuple(s.session_id for s in self.sessions),
                                       model=self.models.name, languages=self.models.languages))
        await self._start_analytics()

    async def _start_analytics(self) -> None:
        if self.analyzer is not None:
            # The tenant's list set over the admin API, read as the call starts: a change applies to the
            # calls that start after it, on every gateway (gateway/core/phrase_lists.py).
            tenant = self.tenant.name if self.tenant is not None else ANONYMOUS
            try:
                phrases = await phrase_lists.get(self.hub.redis, tenant)
            except (RedisError, OSError, ConfigError) as exc:
                log.warning("call %s: the tenant's phrase list was not read (its keys file's applies): %s",
                            self.call_id, exc)
                phrases = None
            if phrases is not None:
                self.analyzer = self._analyzer(phrases)
        if self.analyzer is not None:
            self.analyzer.start()
            if self.analytics_warning and self.analyzer.to_client:
                await self._emit(events.Error(ErrorCode.BAD_CONFIG, self.analytics_warning))

    def on_release(self, release: Callable[[], Awaitable[None]]) -> None:
        """Run ``release`` when the call is released: something held for the call's whole life
        (its API key's session slot), so it stays held while the call is parked, goes with the
        call to a connection that resumes it, and is given back by whoever ends the call."""
        self._on_release.append(release)

    async def release(self) -> None:
        """Forget the call's sessions in Redis, and run its :meth:`on_release` callbacks; idempotent."""
        if self._opened:
            self._count(-1)
        if self.analyzer is not None:  # never finished: the call never got to its end
            analyzer, self.analyzer = self.analyzer, None
            await analyzer.stop()
        try:
            for session in self.sessions:
                await session.close()
            if self.transcript_log is not None:
                await self.transcript_log.close()
        finally:
            callbacks, self._on_release = self._on_release, []
            for release in callbacks:
                await release()

    # -- parking: a resumable call between two connections ---------------------------------

    async def park(self) -> dict:
        """Stop relaying and hand the call's state on (JSON), its Redis keys left for a resume.

        The audio buffered here is published first (a resampler's tail with it: a
        resampled call resumes with a fresh resampler, a seam of a few samples), so
        the state is offsets and counters only. The call is over on this gateway
        afterwards: nothing it holds is released (:meth:`restore` takes it all over).
        """
        for session, chunks in zip(self.sessions, self.audio_in.flush()):
            await session.publish_audio(chunks)
        if self.analyzer is not None:  # its state stays here (the module's docstring of analyzer.py)
            analyzer, self.analyzer = self.analyzer, None
            await analyzer.stop()
        sessions = [await session.park() for session in self.sessions]
        log_seq = await self.transcript_log.park() if self.transcript_log is not None else None
        self._count(-1)
        self._ended = True  # nothing more is emitted here
        return {"call_id": self.call_id, "protocol": self.protocol, "config": asdict(self.config),
                "parties": list(self.parties), "sessions": sessions, "flushes": self._flushes,
                "flush_pending": {str(k): v for k, v in self._flush_pending.items()},
                "last_word_end": {str(k): v for k, v in self._last_word_end.items()},
                "offsets": [converter.offset for converter in self.audio_in.converters], "log_seq": log_seq}

    @classmethod
    def restore(cls, hub: SessionHub, state: dict, *, events_out: asyncio.Queue,
                transcripts: TranscriptLog | None = None, tenant: Tenant | None = None,
                diarizer: Diarizer | None = None) -> Call:
        """The call :meth:`park` handed on, not relaying yet (:meth:`attach` starts that)."""
        call = cls(hub, SessionConfig(**state["config"]), protocol=state["protocol"], events_out=events_out,
                   call_id=state["call_id"], parties=tuple(state["parties"]), transcripts=transcripts,
                   tenant=tenant, session_ids=[s["session_id"] for s in state["sessions"]], diarizer=diarizer)
        call._flushes = state["flushes"]
        call._flush_pending = {int(k): v for k, v in state["flush_pending"].items()}
        call._last_word_end = {int(k): v for k, v in state["last_word_end"].items()}
        for converter, offset in zip(call.audio_in.converters, state["offsets"]):
            converter.offset = offset
        for session in call.sessions:
            session.mark_created()  # its keys exist: releasing the call deletes them
        call._count(+1)
        return call

    async def attach(self, state: dict) -> None:
        """Relay the restored call's results (to :attr:`events`) and log its transcripts from this gateway."""
        if self._transcripts is not None and state["log_seq"] is not None:
            self.transcript_log = await self._transcripts.adopt_call(
                tenant=self.tenant.name if self.tenant is not None else ANONYMOUS, call_id=self.call_id,
                protocol=self.protocol, parties=self.parties, seq=state["log_seq"])
        await self._start_analytics()
        for session, session_state in zip(self.sessions, state["sessions"]):
            await session.attach(session_state)

    def _count(self, sign: int) -> None:
        """Count the call's sessions in (1) or out (-1) of this gateway's gauges and its tenant's."""
        self._opened = sign > 0
        self.hub.metrics.sessions_active.labels(protocol=self.protocol).inc(sign * len(self.sessions))
        if self.tenant is not None:
            self.tenant.sessions[self.protocol] += sign * len(self.sessions)
            if self.config.redact:
                self.tenant.redacted[self.config.redact_policy] += sign * len(self.sessions)

    # -- operations --------------------------------------------------------------------------

    async def audio(self, data: bytes, *, channel: int | None = None) -> float:
        """Publish one client frame (all channels interleaved, or one ``channel``'s own).

        Return its duration in seconds (for pacing); raise :class:`ProtocolError` if it is malformed.
        """
        if self._finishing:
            raise ProtocolError(ErrorCode.PROTOCOL, "audio after close")
        if channel is None:
            outputs = self.audio_in.push(data)
            seconds = len(data) / self.audio_in.bytes_per_second
            for index, (session, chunks) in enumerate(zip(self.sessions, outputs)):
                await session.publish_audio(chunks)
                if self.analyzer is not None:
                    self.analyzer.audio(index, chunks)
                if self.speakers is not None:
                    self.speakers.audio(chunks)
        else:
            chunks = self.audio_in.push_channel(data, channel)
            seconds = len(data) * self.config.channels / self.audio_in.bytes_per_second
            await self.sessions[channel].publish_audio(chunks)
            if self.analyzer is not None:
                self.analyzer.audio(channel, chunks)
        self.hub.metrics.audio_seconds.inc(seconds)
        return seconds

    async def finalize(self) -> int:
        """Close the current utterance of every channel; :class:`events.Flushed` follows its finals."""
        self._flushes += 1
        self._flush_pending[self._flushes] = len(self.sessions)
        for session, chunks in zip(self.sessions, self.audio_in.flush()):
            await session.publish_audio(chunks, Flush(seq=0, flush_id=self._flushes))
            if self.speakers is not None:
                self.speakers.audio(chunks)
        return self._flushes

    @property
    def taking_input(self) -> bool:
        """True until the input ended (a close, a disconnect) or the call did."""
        return not (self._finishing or self._ended)

    async def close(self, *, timeout: float, close_code: int = CloseCode.NORMAL_CLOSURE,
                    reason: str = "session complete") -> None:
        """Finish: flush, wait up to ``timeout`` s for every result, then end the call.

        A batch session waits as long as results keep coming, ``timeout`` s apart at
        most, and at least the hub's ``batch_backlog_timeout``: its pipeline may have much
        of the recording still to work through, and its decodes yield to every live one
        (on a busy box a 7 s clip's one final came 27 s after its audio).
        Ends with ``close_code`` (1000; a gateway shutting down says 1001) only when every
        result arrived; otherwise with an error.
        """
        await self._finish_input("client_closed" if close_code == CloseCode.NORMAL_CLOSURE else "gateway_restart")
        if self.batch:
            timeout = max(timeout, self.hub.options.batch_backlog_timeout)
        deadline = time.monotonic() + timeout
        while not await wait_event(self._all_ended, deadline - time.monotonic()):
            if self.batch:
                deadline = max(deadline, self.last_result + timeout)
            if time.monotonic() >= deadline:
                await self.fail(ErrorCode.TIMEOUT, f"results did not complete within {timeout:.0f} s",
                                CloseCode.INTERNAL_ERROR)
                return
        await self._end(close_code, reason, complete=True)

    async def disconnect(self) -> None:
        """The client went away: tell the pipeline there is no more audio, and end the call."""
        try:
            await self._finish_input("client_disconnected")
        finally:
            await self._end(CloseCode.GOING_AWAY, "client disconnected", complete=False)

    async def fail(self, code: ErrorCode, message: str, close_code: int) -> None:
        """End the call with a fatal error."""
        await self.error(code, message, fatal=True)
        await self._end(close_code, message, complete=False)

    async def fail_publishing(self, exc: BacklogFull | RedisError | OSError, *, ending: str = "session") -> None:
        """End the call for audio that could not be published: a full backlog is overload (the
        client may try again later), a Redis or socket error is ours. ``ending``: what the client
        is told ends (the session, a request)."""
        if isinstance(exc, BacklogFull):
            log.warning("session %s: %s", Untrusted(self.call_id), exc)
            await self.fail(ErrorCode.OVERLOADED, f"{exc}; the {ending} ends", CloseCode.TRY_AGAIN_LATER)
        else:
            log.warning("session %s: publishing failed: %s", Untrusted(self.call_id), exc)
            await self.fail(ErrorCode.UNAVAILABLE, f"audio could not be queued; the {ending} ends",
                            CloseCode.INTERNAL_ERROR)

    async def error(self, code: ErrorCode, message: str, *, fatal: bool = False) -> None:
        self.hub.metrics.errors_sent.labels(code=str(code)).inc()
        await self._emit(events.Error(code, message, fatal))

    async def lose(self, session: PipelineSession, reason: str) -> None:
        """A session's data vanished from Redis: nothing more will come."""
        session.log.warning("session lost: %s", reason)
        await self.fail(ErrorCode.SESSION_LOST, reason, CloseCode.INTERNAL_ERROR)

    async def _finish_input(self, reason: str) -> None:
        if self._finishing:
            return
        self._finishing = True
        for session, chunks in zip(self.sessions, self.audio_in.flush()):
            await session.publish_audio(chunks, End(seq=0, reason=reason))
            if self.speakers is not None:
                self.speakers.audio(chunks)

    async def _end(self, close_code: int, reason: str, *, complete: bool) -> None:
        if self._ended:
            return
        if self.analyzer is not None:  # the summary goes out before the end
            analyzer, self.analyzer = self.analyzer, None
            await analyzer.finish(self.audio_in.offset_ms)
            if self._ended:
                return
        self._ended = True
        ended = events.Ended(close_code, reason, complete, self.audio_in.offset_ms)
        if self.transcript_log is not None:
            self.transcript_log.end(ended)
        await self._emit(ended, force=True)

    # -- results ---------------------------------------------------------------------------

    async def _on_record(self, session: PipelineSession, record: Record) -> None:
        self.last_result = time.monotonic()
        channel = self._channel[session.session_id]
        metrics = self.hub.metrics
        if isinstance(record, Transcript):
            await self._transcript(session, channel, record)
        elif isinstance(record, SpeechStart):
            await self._emit(events.SpeechStarted(channel, samples_to_ms(record.start)))
            if self.analyzer is not None:
                self.analyzer.speech_started(channel, samples_to_ms(record.start))
        elif isinstance(record, SpeechEnd):  # for the analytics only: clients hear of turns from finals
            if self.analyzer is not None:
                self.analyzer.speech_ended(channel, samples_to_ms(record.start), samples_to_ms(record.end))
        elif isinstance(record, Flush):
            left = self._flush_pending.get(record.flush_id, 1) - 1
            if left > 0:
                self._flush_pending[record.flush_id] = left
            else:
                self._flush_pending.pop(record.flush_id, None)
                await self._emit(events.Flushed(record.flush_id))
        elif isinstance(record, ErrorRecord):
            metrics.errors_sent.labels(code=record.code).inc()
            code = ErrorCode(record.code) if record.code in ErrorCode._value2member_map_ else ErrorCode.INTERNAL
            await self._emit(events.Error(code, record.message, record.fatal))
            if record.fatal:
                self._session_ended(session)
                await self._end(CloseCode.INTERNAL_ERROR, record.message, complete=False)
        elif isinstance(record, End):
            self._session_ended(session)

    def _session_ended(self, session: PipelineSession) -> None:
        session.ended.set()
        if all(s.ended.is_set() for s in self.sessions):
            self._all_ended.set()

    async def _transcript(self, session: PipelineSession, channel: int, record: Transcript) -> None:
        metrics = self.hub.metrics
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
            from_finalize = bool(self._flush_pending) and record.speech_final
            final = events.Final(**fields, speech_final=record.speech_final, from_finalize=from_finalize,
                                 truncated=record.truncated, no_words=record.no_words)
            if self.speakers is not None:  # a bounded wait (hub option diarize_wait), then it goes without
                final = await self.speakers.label(final)
            self._observe(metrics.final_latency, session, record.end)  # the speakers' wait included
            await self._emit(final)
            if self.analyzer is not None:  # after the final went to the client, without waiting
                self.analyzer.final(final)
            if record.text:
                self._last_word_end[channel] = fields["end_ms"]
                if self.transcript_log is not None:
                    await self.transcript_log.add(final)
            # After an eager final, the turn's end comes as an empty final.
            if record.speech_final and channel in self._last_word_end:
                await self._emit(events.UtteranceEnd(channel, self._last_word_end.pop(channel)))
            return
        if record.utterance_id not in self._partial_seen:
            self._partial_seen.add(record.utterance_id)
            self._observe(metrics.first_partial_latency, session, record.start)
        metrics.partials.inc()
        partial = events.Partial(**fields)
        if self.transcript_log is not None:
            await self.transcript_log.add(partial)
        if self.events.full():
            metrics.partials_dropped.inc()
            return
        await self._emit(partial)

    def _observe(self, histogram, session: PipelineSession, sample: int) -> None:
        """Latency from the arrival of audio up to ``sample`` until now (of live calls: a recording
        arrives long before the pipeline gets to it)."""
        if self.batch:
            return
        arrived = session.arrival_of(sample)
        if arrived is not None:
            histogram.observe(max(0.0, time.time() - arrived))

    async def _emit(self, event: events.Event, *, force: bool = False) -> None:
        if self._ended and not force:
            return
        await self.events.put(event)
