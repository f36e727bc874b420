"""A call: one client's call through the pipeline, whatever door it came in by.

A call has one pipeline session per channel (or one for the mixed-down audio).
Doors drive it with :meth:`Call.open`, :meth:`audio`, :meth:`finalize` and
:meth:`close`, and read typed events from the bounded queue they hand in.
Partials are dropped when that queue is full (a slow client only delays
itself); everything else waits for room. Whether a call idles is its
connection's to judge (:mod:`gateway.core.idle`).

This is the core of a call; what else it does (checks, counts, speakers, analytics,
its transcript log) are its features (:mod:`.feature`), each made by a plug the
gateway registers (``gateway/features``) and handed the call's audio, results and
life cycle here.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

from redis.exceptions import RedisError
from websockets.frames import CloseCode

from common.aio import wait_event
from common.errors import BacklogFull, ErrorCode, ProtocolError
from common.languages import ModelLanguages
from common.logs import Untrusted
from common.records import End, Flush, Record, SpeechStart, Transcript
from common.records import Error as ErrorRecord
from common.records import SAMPLE_RATE

from ..core import events
from ..core.audio import BATCH_MAX_CHUNK, MAX_CHUNK, CallAudio
from ..core.config import SessionConfig
from ..core.hub import SessionHub
from ..core.session import PipelineSession
from ..policy.tenant import TenantPolicy
from .feature import Chunks, Feature

log = logging.getLogger(__name__)


class CallRefused(Exception):
    """The call cannot start now; ``code`` and ``close_code`` say why to the client."""

    def __init__(self, code: ErrorCode, message: str, close_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.close_code = close_code


def samples_to_ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


class Call:
    def __init__(self, hub: SessionHub, config: SessionConfig, *, protocol: str,
                 events_out: asyncio.Queue, call_id: str | None = None, parties: tuple[str, ...] = (),
                 policy: TenantPolicy = TenantPolicy(), plugs: Sequence[Plug] = (),
                 session_ids: Sequence[str] = ()) -> None:
        """``policy``: what the call's tenant says of its calls, resolved as its key was admitted
        (the default: a gateway without keys); the config gets what it forces. ``plugs``: make the
        call's features (:mod:`.feature`), in the order they hear it. ``session_ids``: those of a
        parked call's pipeline sessions (:meth:`restore`); none: new ones."""
        self.hub = hub
        self.policy = policy
        self.config = config = config.with_policy(policy)
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
        self._left = False  # the features were told the call left (released or parked)
        self.models = ModelLanguages()  # what the ASR decodes, as the hub knew it at open
        self.features: list[Feature] = [feature for plug in plugs if (feature := plug(self)) is not None]

    def feature(self, kind: type[F]) -> F | None:
        """The call's feature of ``kind``, if it has one (a feature that reads another's work)."""
        return next((feature for feature in self.features if isinstance(feature, kind)), None)

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        """Admit and create the call's pipeline sessions; raise :class:`CallRefused` if it cannot start."""
        metrics = self.hub.metrics
        try:
            self.models = await self.hub.models()
        except (RedisError, OSError):
            pass  # creating the sessions reports the Redis failure
        # Refused before any slot is taken (an English-only model never hears Spanish as English).
        for feature in self.features:
            refused = feature.refusal()
            if refused is not None:
                metrics.sessions_refused.labels(reason=refused.reason).inc()
                raise CallRefused(ErrorCode.BAD_CONFIG, refused.message, CloseCode.POLICY_VIOLATION)
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
        metrics.sessions.labels(protocol=self.protocol).inc(len(self.sessions))
        for feature in self.features:
            await feature.open(None)
        await self.emit(events.Opened(self.call_id, tuple(s.session_id for s in self.sessions),
                                       model=self.models.name, languages=self.models.languages))
        for feature in self.features:
            await feature.opened()

    def on_release(self, release: Callable[[], Awaitable[None]]) -> None:
        """Run ``release`` when the call is released: something held for the call's whole life
        (its API key's session slot), so it stays held while the call is parked, goes with the
        call to a connection that resumes it, and is given back by whoever ends the call."""
        self._on_release.append(release)

    async def release(self) -> None:
        """Forget the call's sessions in Redis, let its features go, and run its :meth:`on_release`
        callbacks; idempotent."""
        try:
            for session in self.sessions:
                await session.close()
        finally:
            try:
                await self._leave(parked=False)
            finally:
                callbacks, self._on_release = self._on_release, []
                for release in callbacks:
                    await release()

    async def _leave(self, *, parked: bool) -> dict:
        """Tell the features the call leaves this gateway (once); what of their state goes with a parked call."""
        if self._left:
            return {}
        self._left = True
        state: dict = {}
        for feature in self.features:
            state.update(await feature.close(parked=parked))
        return state

    # -- parking: a resumable call between two connections ---------------------------------

    async def park(self) -> dict:
        """Stop relaying and hand the call's state on (JSON), its Redis keys left for a resume.

        The audio buffered here is published first (a resampler's tail with it: a
        resampled call resumes with a fresh resampler, a seam of a few samples), so
        the state is offsets and counters only, and what the features hand on. The call
        is over on this gateway afterwards: nothing it holds is released (:meth:`restore`
        takes it all over).
        """
        for channel, chunks in enumerate(self.audio_in.flush()):
            await self._publish(channel, chunks)
        sessions = [await session.park() for session in self.sessions]
        features = await self._leave(parked=True)
        self._ended = True  # nothing more is emitted here
        return {"call_id": self.call_id, "protocol": self.protocol, "config": asdict(self.config),
                "parties": list(self.parties), "sessions": sessions, "flushes": self._flushes,
                "flush_pending": {str(k): v for k, v in self._flush_pending.items()},
                "last_word_end": {str(k): v for k, v in self._last_word_end.items()},
                "offsets": [converter.offset for converter in self.audio_in.converters], **features}

    @classmethod
    def restore(cls, hub: SessionHub, state: dict, *, events_out: asyncio.Queue,
                policy: TenantPolicy = TenantPolicy(), plugs: Sequence[Plug] = ()) -> Call:
        """The call :meth:`park` handed on, not relaying yet (:meth:`attach` starts that)."""
        call = cls(hub, SessionConfig(**state["config"]), protocol=state["protocol"], events_out=events_out,
                   call_id=state["call_id"], parties=tuple(state["parties"]), policy=policy, plugs=plugs,
                   session_ids=[s["session_id"] for s in state["sessions"]])
        call._flushes = state["flushes"]
        call._flush_pending = {int(k): v for k, v in state["flush_pending"].items()}
        call._last_word_end = {int(k): v for k, v in state["last_word_end"].items()}
        for converter, offset in zip(call.audio_in.converters, state["offsets"]):
            converter.offset = offset
        for session in call.sessions:
            session.mark_created()  # its keys exist: releasing the call deletes them
        return call

    async def attach(self, state: dict) -> None:
        """Open the restored call's features here (its client has heard it resumed), then relay its
        results (to :attr:`events`)."""
        for feature in self.features:
            await feature.open(state)
        for feature in self.features:
            await feature.opened()
        for session, session_state in zip(self.sessions, state["sessions"]):
            await session.attach(session_state)

    # -- operations --------------------------------------------------------------------------

    async def audio(self, data: bytes, *, channel: int | None = None) -> float:
        """Publish one client frame (all channels interleaved, or one ``channel``'s own).

        Return its duration in seconds (for pacing); raise :class:`ProtocolError` if it is malformed.
        """
        if self._finishing:
            raise ProtocolError(ErrorCode.PROTOCOL, "audio after close")
        if channel is None:
            seconds = len(data) / self.audio_in.bytes_per_second
            for index, chunks in enumerate(self.audio_in.push(data)):
                await self._publish(index, chunks)
        else:
            seconds = len(data) * self.config.channels / self.audio_in.bytes_per_second
            await self._publish(channel, self.audio_in.push_channel(data, channel))
        self.hub.metrics.audio_seconds.inc(seconds)
        return seconds

    async def _publish(self, channel: int, chunks: Chunks, *then: Flush | End) -> None:
        """Publish a channel's converted ``chunks`` (then any markers), and hand them to the features."""
        await self.sessions[channel].publish_audio(chunks, *then)
        for feature in self.features:
            feature.audio(channel, chunks)

    async def finalize(self) -> int:
        """Close the current utterance of every channel; :class:`events.Flushed` follows its finals."""
        self._flushes += 1
        self._flush_pending[self._flushes] = len(self.sessions)
        for channel, chunks in enumerate(self.audio_in.flush()):
            await self._publish(channel, chunks, Flush(seq=0, flush_id=self._flushes))
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
        await self.emit(events.Error(code, message, fatal))

    async def lose(self, session: PipelineSession, reason: str) -> None:
        """A session's data vanished from Redis: nothing more will come."""
        session.log.warning("session lost: %s", reason)
        await self.fail(ErrorCode.SESSION_LOST, reason, CloseCode.INTERNAL_ERROR)

    async def _finish_input(self, reason: str) -> None:
        if self._finishing:
            return
        self._finishing = True
        for channel, chunks in enumerate(self.audio_in.flush()):
            await self._publish(channel, chunks, End(seq=0, reason=reason))

    async def _end(self, close_code: int, reason: str, *, complete: bool) -> None:
        if self._ended:
            return
        ended = events.Ended(close_code, reason, complete, self.audio_in.offset_ms)
        for feature in self.features:  # in order: the analytics' summary goes out before the log's end
            await feature.end(ended)
            if self._ended:  # another end came meanwhile (a fatal error during the summary), and went out
                return
        self._ended = True
        await self.emit(ended, force=True)

    # -- results ---------------------------------------------------------------------------

    async def _on_record(self, session: PipelineSession, record: Record) -> None:
        self.last_result = time.monotonic()
        channel = self._channel[session.session_id]
        metrics = self.hub.metrics
        if isinstance(record, Transcript):
            await self._transcript(session, channel, record)
        elif isinstance(record, SpeechStart):
            await self.emit(events.SpeechStarted(channel, samples_to_ms(record.start)))
        elif isinstance(record, Flush):
            left = self._flush_pending.get(record.flush_id, 1) - 1
            if left > 0:
                self._flush_pending[record.flush_id] = left
            else:
                self._flush_pending.pop(record.flush_id, None)
                await self.emit(events.Flushed(record.flush_id))
        elif isinstance(record, ErrorRecord):
            metrics.errors_sent.labels(code=record.code).inc()
            code = ErrorCode(record.code) if record.code in ErrorCode._value2member_map_ else ErrorCode.INTERNAL
            await self.emit(events.Error(code, record.message, record.fatal))
            if record.fatal:
                self._session_ended(session)
                await self._end(CloseCode.INTERNAL_ERROR, record.message, complete=False)
        elif isinstance(record, End):
            self._session_ended(session)
        # (a SpeechEnd goes to the features only: clients hear of turns from finals)
        for feature in self.features:
            feature.record(channel, record)

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
            for feature in self.features:  # each a bounded wait (speakers: the hub option diarize_wait)
                final = await feature.final(final)
            self._observe(metrics.final_latency, session, record.end)  # the features' waits included
            await self.emit(final)
            for feature in self.features:  # after the final went to the client
                await feature.result(final)
            if record.text:
                self._last_word_end[channel] = fields["end_ms"]
            # After an eager final, the turn's end comes as an empty final.
            if record.speech_final and channel in self._last_word_end:
                await self.emit(events.UtteranceEnd(channel, self._last_word_end.pop(channel)))
            return
        if record.utterance_id not in self._partial_seen:
            self._partial_seen.add(record.utterance_id)
            self._observe(metrics.first_partial_latency, session, record.start)
        metrics.partials.inc()
        partial = events.Partial(**fields)
        if self.events.full():
            metrics.partials_dropped.inc()
        else:
            await self.emit(partial)
        for feature in self.features:
            await feature.result(partial)

    def _observe(self, histogram, session: PipelineSession, sample: int) -> None:
        """Latency from the arrival of audio up to ``sample`` until now (of live calls: a recording
        arrives long before the pipeline gets to it)."""
        if self.batch:
            return
        arrived = session.arrival_of(sample)
        if arrived is not None:
            histogram.observe(max(0.0, time.time() - arrived))

    async def emit(self, event: events.Event, *, force: bool = False) -> None:
        """Send the call's client ``event`` (``force``: even once the call ended: its end)."""
        if self._ended and not force:
            return
        await self.events.put(event)


F = TypeVar("F", bound=Feature)
# A feature's plug: the call's feature (made as the call is, from the call and its policy), or None
# where it does not apply to the call.
Plug = Callable[[Call], Feature | None]
