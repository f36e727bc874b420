"""A call's analytics as a feature: beside the call, off the path of its results.

Made where the call asks for analytics (its config's ``analytics``) or its tenant's policy turns
them on (the keys file's ``analytics=on``), with the tenant's phrases and thresholds under the
call's own; the tenant's phrase list set over the admin API (gateway/core/phrase_lists.py) is
read as the call starts and replaces its keys file's.

The call hands its records over without waiting (:meth:`CallAnalyzer.final`
after the final is already queued for the client; a full queue drops the
record from the figures and counts it, it never holds the relay) and one task
per call works them through the pure :class:`~gateway.analytics.tracker.CallTracker`,
then sends what comes out: to the call's client (when the call asked for
analytics itself), to its transcript log (followers read it there), to the
tenant's metrics. At the end (:meth:`CallAnalyzer.finish`, before the call's
``Ended``) the summary goes the same ways and to the finals webhook
(through the log).

Loudness is measured here, from the call's converted audio (:meth:`audio`: one
sum of squares per chunk), because the gateway holds each channel's canonical
PCM anyway; the workers would have to carry the figure through two stages.

A parked call (a resumable native call whose client dropped) loses its
analytics state: the gateway that resumes it starts afresh, so its summary
covers the audio after the resume only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
from redis.exceptions import RedisError

from common.aio import within
from common.errors import ConfigError, ErrorCode, ModelError
from common.metrics import GatewayMetrics
from common.records import Record, SpeechEnd, SpeechStart

from ..analytics.loudness import LevelMeter
from ..analytics.sentiment import sentiment
from ..analytics.tracker import CallTracker
from ..calls.call import Call, Plug
from ..calls.results import samples_to_ms
from ..calls.feature import Chunks, Feature
from ..core import events, phrase_lists
from ..outputs.transcript_log import CallLog
from ..policy.analytics import CallAnalytics
from .shared import Shared
from .transcripts import Transcripts

log = logging.getLogger(__name__)

QUEUE = 1_000  # records waiting for a call's analytics
TICK_MS = 500  # audio between two looks at the clock (dead air, overtalk)
FINISH_TIMEOUT = 5.0  # seconds the end of a call waits for its analytics to catch up


@dataclass(frozen=True, slots=True)
class _Started:
    channel: int
    start_ms: int


@dataclass(frozen=True, slots=True)
class _Ended:
    channel: int
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class _Clock:
    now_ms: int


_DONE = object()


class CallAnalyzer:
    """One call's analytics task, its level meters and where its events go."""

    def __init__(self, tracker: CallTracker, *, channels: int, tenant: str, metrics: GatewayMetrics,
                 emit: Callable[[events.Analytics], Awaitable[None]] | None,
                 call_log: Callable[[], CallLog | None], clock: bool = True) -> None:
        """``emit``: sends an event to the call's client (None: the call did not ask for them);
        ``call_log``: the call's transcript log, if it has one now; ``clock``: judge the audio clock
        (live calls; a recording's audio arrives long before its results)."""
        self.tracker = tracker
        self.tenant = tenant
        self.metrics = metrics
        self._emit = emit
        self.to_client = emit is not None
        self._call_log = call_log
        self._clock = clock
        self.meters = [LevelMeter() for _ in range(channels)]
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE)
        self._last_tick = 0
        self._counted: set[int] = set()  # alerts counted in the metrics (a later event of one ends or moves it)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._work(), name="analytics")

    # -- from the call (never waits) -------------------------------------------------------------

    def audio(self, channel: int, chunks: list[tuple[int, np.ndarray]]) -> None:
        """A channel's converted chunks (offset, int16 samples), in order: their level is kept."""
        meter = self.meters[channel]
        for _, pcm in chunks:
            meter.push(pcm)
        if self._clock:
            now = meter.samples // 16
            if now - self._last_tick >= TICK_MS:
                self._last_tick = now
                self._put(_Clock(now))

    def speech_started(self, channel: int, start_ms: int) -> None:
        self._put(_Started(channel, start_ms))

    def speech_ended(self, channel: int, start_ms: int, end_ms: int) -> None:
        self._put(_Ended(channel, start_ms, end_ms))

    def final(self, final: events.Final) -> None:
        self._put(final)

    def _put(self, item: object) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.metrics.analytics_dropped.inc()

    # -- the task ------------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            if item is _DONE:
                return
            began = time.thread_time()
            try:
                out = self._apply(item)
            except Exception:  # a bug in the figures must not end the call: its results go on
                log.exception("call analytics failed on %s", type(item).__name__)
                out = []
            self.metrics.analytics_seconds.inc(time.thread_time() - began)
            for event in out:
                await self._send(event)

    def _apply(self, item: object) -> list[dict]:
        tracker = self.tracker
        if isinstance(item, events.Final):
            meter = self.meters[item.channel]
            level = meter.level(item.start_ms, item.end_ms) if item.text.strip() else None
            meter.forget_before(item.start_ms)
            return tracker.final(channel=item.channel, utterance_id=item.utterance_id, text=item.text,
                                 start_ms=item.start_ms, end_ms=item.end_ms,
                                 words=[(w.text, w.start_ms, w.end_ms, w.confidence) for w in item.words],
                                 confidence=item.confidence, level_dbfs=level)
        if isinstance(item, _Started):
            return tracker.speech_started(item.channel, item.start_ms)
        if isinstance(item, _Ended):
            return tracker.speech_ended(item.channel, item.start_ms, item.end_ms)
        assert isinstance(item, _Clock)
        return tracker.tick(item.now_ms)

    async def _send(self, event: dict) -> None:
        kind = event["event"]
        if kind == "alert" and event["id"] not in self._counted:
            self._counted.add(event["id"])
            self.metrics.analytics_alerts.labels(tenant=self.tenant, alert=event["alert"]).inc()
        elif kind == "phrase":
            self.metrics.analytics_phrases.labels(tenant=self.tenant).inc()
        call_log = self._call_log()
        if call_log is not None:
            call_log.add_analytics(event)
        if self._emit is not None:
            await self._emit(events.Analytics(event))

    async def _send_all(self, out: list[dict]) -> None:
        for event in out:
            await self._send(event)

    async def finish(self, duration_ms: int) -> dict:
        """Work off what is queued (``FINISH_TIMEOUT`` s at most), then settle the alerts (:meth:`CallTracker.settle`),
        make, count and send the summary."""
        task = self._task
        if task is not None and not task.done():
            try:
                await within(self._queue.put(_DONE), FINISH_TIMEOUT)
            except TimeoutError:
                pass
            await asyncio.wait({task}, timeout=FINISH_TIMEOUT)
            if not task.done():
                log.warning("call analytics did not catch up within %.0f s; the summary misses the rest",
                            FINISH_TIMEOUT)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        began = time.thread_time()
        settled = self.tracker.settle(duration_ms)  # the alerts ended and in line with the summary
        summary = self.tracker.summary(duration_ms)
        self.metrics.analytics_seconds.inc(time.thread_time() - began)
        try:  # a client that stopped reading (or left) must not hold the call's end
            await within(self._send_all(settled), FINISH_TIMEOUT)
        except TimeoutError:
            log.warning("the call's client did not take its settled alerts within %.0f s", FINISH_TIMEOUT)
        tenant = self.tenant
        metrics = self.metrics
        metrics.analytics_call_seconds.labels(tenant=tenant).inc(summary["duration_ms"] / 1000)
        metrics.analytics_talk_seconds.labels(tenant=tenant).inc(sum(p["talk_ms"] for p in summary["parties"]) / 1000)
        metrics.analytics_non_talk_seconds.labels(tenant=tenant).inc(summary["non_talk_ms"] / 1000)
        metrics.analytics_overtalk_seconds.labels(tenant=tenant).inc(summary["overtalk_ms"] / 1000)
        metrics.analytics_interruptions.labels(tenant=tenant).inc(summary["interruptions"]["count"])
        call_log = self._call_log()
        if call_log is not None:
            call_log.add_analytics(summary, summary=True)
        if self._emit is not None:
            try:  # a client that stopped reading (or left) must not hold the call's end
                await within(self._emit(events.Analytics(summary, summary=True)), FINISH_TIMEOUT)
            except TimeoutError:
                log.warning("the call's client did not take its analytics summary within %.0f s", FINISH_TIMEOUT)
        return summary

    async def stop(self) -> None:
        """Drop the analytics without a summary (the call was parked, or released early)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class AnalyticsFeature(Feature):
    """The feature of an analysed call: its :class:`CallAnalyzer`, from the call's open to its end
    (what it sends the client is :class:`gateway.core.events.Analytics`)."""

    def __init__(self, call: Call, asked: CallAnalytics | None) -> None:
        self.call = call
        self.asked = asked  # the call's own settings (None: its tenant turned analytics on)
        self.analyzer: CallAnalyzer | None = None  # from the call's open to its end
        # Analytics that run without what was asked (sentiment without the analytics extra): said to
        # the client once the call opens (an error event, not fatal), or in a recording's warnings.
        self.warning = ""

    async def opened(self) -> None:
        call = self.call
        settings = call.policy.analytics
        # The tenant's list set over the admin API, read as the call starts: a change applies to the
        # calls that start after it, on every gateway (gateway/core/phrase_lists.py).
        try:
            phrases = await phrase_lists.get(call.hub.redis, call.policy.tenant)
        except (RedisError, OSError, ConfigError) as exc:
            log.warning("call %s: the tenant's phrase list was not read (its keys file's applies): %s",
                        call.call_id, exc)
            phrases = None
        if phrases is not None:
            settings = dataclasses.replace(settings, phrases=phrases)
        run = (self.asked or CallAnalytics()).settings(settings)
        scorer = None
        if run.sentiment:
            try:
                scorer = sentiment()
            except ModelError as exc:
                log.warning("call analytics without sentiment: %s", exc)
                self.warning = f"analytics run without sentiment: {exc}"
        channels = len(call.sessions)
        transcripts = call.features.find(Transcripts)
        self.analyzer = CallAnalyzer(
            CallTracker(channels=channels, settings=run, scorer=scorer, parties=call.parties), channels=channels,
            tenant=call.policy.tenant, metrics=call.hub.metrics, emit=call.emit if self.asked is not None else None,
            call_log=lambda: transcripts.call_log if transcripts is not None else None, clock=not call.batch)
        self.analyzer.start()
        if self.warning:
            if transcripts is not None and transcripts.call_log is not None:  # followers and the contract see it too
                transcripts.call_log.add_warning("sentiment", self.warning)
            if self.analyzer.to_client:
                await call.emit(events.Error(ErrorCode.BAD_CONFIG, self.warning))

    def audio(self, channel: int, chunks: Chunks) -> None:
        if self.analyzer is not None:
            self.analyzer.audio(channel, chunks)

    def record(self, channel: int, record: Record) -> None:
        if self.analyzer is None:
            return
        if isinstance(record, SpeechStart):
            self.analyzer.speech_started(channel, samples_to_ms(record.start))
        elif isinstance(record, SpeechEnd):
            self.analyzer.speech_ended(channel, samples_to_ms(record.start), samples_to_ms(record.end))

    async def result(self, event: events.Partial | events.Final) -> None:
        if self.analyzer is not None and isinstance(event, events.Final):
            self.analyzer.final(event)  # queued: the analytics never hold the relay

    async def end(self, ended: events.Ended) -> None:
        analyzer, self.analyzer = self.analyzer, None
        if analyzer is not None:  # the summary goes out before the end
            await analyzer.finish(self.call.audio_in.offset_ms)

    async def close(self, *, parked: bool) -> dict:
        """Never finished (parked, or released early): dropped without a summary. A parked call's
        analytics stay here: the gateway that resumes it starts afresh."""
        analyzer, self.analyzer = self.analyzer, None
        if analyzer is not None:
            await analyzer.stop()
        return {}


def plug(shared: Shared) -> Plug:
    def analytics(call: Call) -> AnalyticsFeature | None:
        asked = call.config.call_analytics
        if asked is None and not call.policy.analytics.enabled:
            return None
        return AnalyticsFeature(call, asked)
    return analytics
