"""A call: one client's call through the pipeline, whatever door it came in by.

A call has one pipeline session per channel (or one for the mixed-down audio).
Doors drive it with :meth:`Call.open`, :meth:`audio`, :meth:`finalize` and
:meth:`close`, and read typed events from the bounded queue they hand in.
Partials are dropped when that queue is full (a slow client only delays
itself); everything else waits for room. Whether a call idles is its
connection's to judge (:mod:`gateway.core.idle`).

This is the core of a call, its life cycle; its parts do the rest: :mod:`.audio_in`
converts and publishes the client's audio, :mod:`.results` relays what the pipeline
sends, and what else a call does (checks, counts, speakers, analytics, its transcript
log) are its features (:mod:`.feature`), each made by a plug the gateway registers
(``gateway/features``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict

from redis.exceptions import RedisError
from websockets.frames import CloseCode

from common.aio import wait_event
from common.errors import BacklogFull, ErrorCode
from common.languages import ModelLanguages
from common.logs import Untrusted
from common.records import Flush

from ..core import events
from ..core.config import SessionConfig
from ..core.hub import SessionHub
from ..core.session import PipelineSession
from ..policy.tenant import TenantPolicy
from .audio_in import AudioIn
from .feature import Feature, Features
from .results import Results

log = logging.getLogger(__name__)


class CallRefused(Exception):
    """The call cannot start now; ``code`` and ``close_code`` say why to the client."""

    def __init__(self, code: ErrorCode, message: str, close_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.close_code = close_code


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
        # Each session's records go to the call's results, made below once the features are (they read the sessions).
        self.sessions = [
            PipelineSession(hub, session_id=session_id, pipeline=pipeline, on_lost=self.lose,
                            on_record=lambda session, record: self.results.relay(session, record))
            for session_id in (session_ids or [uuid.uuid4().hex for _ in range(config.pipelines)])
        ]
        self.call_id = call_id or (self.sessions[0].session_id if len(self.sessions) == 1 else uuid.uuid4().hex)
        self.parties = parties  # each channel's name on the door's platform, if it has them
        self.models = ModelLanguages()  # what the ASR decodes, as the hub knew it at open
        self._on_release: list[Callable[[], Awaitable[None]]] = []
        self._ended = False  # Ended was emitted
        self.features = Features(feature for plug in plugs if (feature := plug(self)) is not None)
        self.audio_in = AudioIn(config, self.sessions, self.features, batch=self.batch,
                                echo_margin_db=hub.options.echo_gate_db)
        self.results = Results(self.sessions, self.features, hub.metrics, batch=self.batch, emit=self.emit,
                               full=events_out.full,
                               fatal=functools.partial(self._end, CloseCode.INTERNAL_ERROR, complete=False))

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        """Admit and create the call's pipeline sessions; raise :class:`CallRefused` if it cannot start."""
        metrics = self.hub.metrics
        try:
            self.models = await self.hub.stages.models()
        except (RedisError, OSError):
            pass  # creating the sessions reports the Redis failure
        # Refused before any slot is taken (an English-only model never hears Spanish as English).
        refused = self.features.refusal()
        if refused is not None:
            metrics.sessions_refused.labels(reason=refused.reason).inc()
            raise CallRefused(ErrorCode.BAD_CONFIG, refused.message, CloseCode.POLICY_VIOLATION)
        try:
            refusal = await self.hub.stages.admission(self.stages, [s.session_id for s in self.sessions], batch=self.batch)
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
        await self.features.open(None)
        await self.emit(events.Opened(self.call_id, tuple(s.session_id for s in self.sessions),
                                       model=self.models.name, languages=self.models.languages))
        await self.features.opened()

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
                await self.features.leave(parked=False)
            finally:
                callbacks, self._on_release = self._on_release, []
                for release in callbacks:
                    await release()

    # -- parking: a resumable call between two connections ---------------------------------

    async def park(self) -> dict:
        """Stop relaying and hand the call's state on (JSON), its Redis keys left for a resume.

        The audio buffered here is published first (a resampler's tail with it: a
        resampled call resumes with a fresh resampler, a seam of a few samples), so
        the state is offsets and counters only, and what the features hand on. The call
        is over on this gateway afterwards: nothing it holds is released (:meth:`restore`
        takes it all over).
        """
        await self.audio_in.flush()
        sessions = [await session.park() for session in self.sessions]
        features = await self.features.leave(parked=True)
        self._ended = True  # nothing more is emitted here
        return {"call_id": self.call_id, "protocol": self.protocol, "config": asdict(self.config),
                "parties": list(self.parties), "sessions": sessions, **self.results.state(),
                "offsets": self.audio_in.offsets, **features}

    @classmethod
    def restore(cls, hub: SessionHub, state: dict, *, events_out: asyncio.Queue,
                policy: TenantPolicy = TenantPolicy(), plugs: Sequence[Plug] = ()) -> Call:
        """The call :meth:`park` handed on, not relaying yet (:meth:`attach` starts that)."""
        call = cls(hub, SessionConfig(**state["config"]), protocol=state["protocol"], events_out=events_out,
                   call_id=state["call_id"], parties=tuple(state["parties"]), policy=policy, plugs=plugs,
                   session_ids=[s["session_id"] for s in state["sessions"]])
        call.results.restore(state)
        call.audio_in.offsets = state["offsets"]
        for session in call.sessions:
            session.mark_created()  # its keys exist: releasing the call deletes them
        return call

    async def attach(self, state: dict) -> None:
        """Open the restored call's features here (its client has heard it resumed), then relay its
        results (to :attr:`events`)."""
        await self.features.open(state)
        await self.features.opened()
        for session, session_state in zip(self.sessions, state["sessions"]):
            await session.attach(session_state)

    # -- operations --------------------------------------------------------------------------

    async def audio(self, data: bytes, *, channel: int | None = None) -> float:
        """Publish one client frame (all channels interleaved, or one ``channel``'s own).

        Return its duration in seconds (for pacing); raise :class:`ProtocolError` if it is malformed.
        """
        seconds = await self.audio_in.push(data, channel=channel)
        self.hub.metrics.audio_seconds.inc(seconds)
        if gated := self.audio_in.take_gated_seconds():
            self.hub.metrics.echo_gated_seconds.inc(gated)
        return seconds

    async def finalize(self) -> int:
        """Close the current utterance of every channel; :class:`events.Flushed` follows its finals."""
        flush_id = self.results.flush()
        await self.audio_in.flush(Flush(seq=0, flush_id=flush_id))
        return flush_id

    @property
    def taking_input(self) -> bool:
        """True until the input ended (a close, a disconnect) or the call did."""
        return not (self.audio_in.finished or self._ended)

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
        await self.audio_in.finish("client_closed" if close_code == CloseCode.NORMAL_CLOSURE else "gateway_restart")
        if self.batch:
            timeout = max(timeout, self.hub.options.batch_backlog_timeout)
        deadline = time.monotonic() + timeout
        while not await wait_event(self.results.all_ended, deadline - time.monotonic()):
            if self.batch:
                deadline = max(deadline, self.results.last_result + timeout)
            if time.monotonic() >= deadline:
                await self.fail(ErrorCode.TIMEOUT, f"results did not complete within {timeout:.0f} s",
                                CloseCode.INTERNAL_ERROR)
                return
        await self._end(close_code, reason, complete=True)

    async def disconnect(self) -> None:
        """The client went away: tell the pipeline there is no more audio, and end the call."""
        try:
            await self.audio_in.finish("client_disconnected")
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

    async def _end(self, close_code: int, reason: str, *, complete: bool) -> None:
        if self._ended:
            return
        ended = events.Ended(close_code, reason, complete, self.audio_in.offset_ms)
        if not await self.features.end(ended, ended_meanwhile=lambda: self._ended):
            return
        self._ended = True
        await self.emit(ended, force=True)

    async def emit(self, event: events.Event, *, force: bool = False) -> None:
        """Send the call's client ``event`` (``force``: even once the call ended: its end)."""
        if self._ended and not force:
            return
        await self.events.put(event)


# A feature's plug: the call's feature (made as the call is, from the call and its policy), or None
# where it does not apply to the call.
Plug = Callable[[Call], Feature | None]
