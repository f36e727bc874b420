"""``POST /v1/listen``: Deepgram's pre-recorded API, on the live port, through the batch lane.

A request passes the live doors' checks, takes a session slot of its key for as long as it is
transcribed, and only then has its body read (size and idle bounds) and decoded off the event
loop within the gateway's memory for recordings (``--prerecorded-memory-bytes``: 503 when it
does not fit now, 413 when it never would); the audio then runs through the pipeline as one call
of priority ``batch`` (unpaced, served with what live calls leave: docs/batch.md), and its finals make Deepgram's response
(:mod:`gateway.doors.deepgram_prerecorded`). A ``callback`` answers at once and delivers later
with the finals webhook's retries, handed to the fleet through Redis when the first attempt fails
(:mod:`gateway.outputs.courier`), so a transcript survives its gateway. The server fetches or
calls URLs a client names only on hosts the operator lists (``--prerecorded-url-hosts``,
``--prerecorded-callback-hosts``): anything else is a server-side request forgery.
``redact_audio`` keeps a redacted copy for the tenant; the clear recording never leaves memory.
At SIGTERM, requests in flight get ``--drain-timeout`` to finish (:mod:`gateway.http.inflight`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import http
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import httpx
import numpy as np
from prometheus_client import Counter
from redis.exceptions import RedisError
from websockets.http11 import Request, Response

from common.config import non_negative, option, positive
from common.errors import BacklogFull, ConfigError, ErrorCode
from common.redaction import audio as mute

from ..core import events
from ..analytics.loudness import LevelMeter
from ..analytics.tracker import CallTracker
from ..analytics import sentiment
from ..diarization import parties, pool as diarization, words as speakers
from ..diarization.cluster import Labels
from ..calls.call import Call, CallRefused, Plug
from ..core.config import MAX_CHANNELS
from ..core.hub import SessionHub
from ..doors import deepgram, deepgram_common, deepgram_prerecorded, kit
from ..doors.base import Handshake
from ..features.analytics import AnalyticsFeature
from ..outputs.courier import Courier
from ..outputs.delivery import Delivery, url_host
from ..outputs.redacted_audio import RedactedAudio
from ..policy.tenant import TenantPolicy
from . import media, remote, routes
from .inflight import InFlight
from .memory import MemoryBudget, OverBudget, Reservation
from .wire import BodyError, GatewayConnection, has_body

log = logging.getLogger(__name__)

ROUTE = "/v1/listen"
AUDIO_SUFFIX = "/audio"  # GET ROUTE/{request_id}/audio: a redacted recording
REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # str(uuid.uuid4())
FRAME_SECONDS = 1.0  # audio per Call.audio: the call cuts it into records of 500 ms (a recording's)
RETRY_AFTER = 1  # seconds, in a 503 of a gateway that shuts down
T = TypeVar("T")


def hosts(text: str) -> frozenset[str]:
    """Comma-separated host names (lower case)."""
    return frozenset(host.strip().lower() for host in text.split(",") if host.strip())


@dataclass(frozen=True, slots=True, kw_only=True)
class PrerecordedOptions:
    max_bytes: int = field(default=256 << 20, metadata=option(
        "largest body of a pre-recorded POST /v1/listen, in bytes (413 beyond)", flag="--prerecorded-max-bytes",
        parse=positive(int)))
    body_timeout: float = field(default=30.0, metadata=option(
        "seconds a pre-recorded upload may send no byte (408 then)", flag="--prerecorded-body-timeout",
        parse=positive(float)))
    callback_hosts: frozenset[str] = field(default=frozenset(), metadata=option(
        "comma-separated hosts a pre-recorded request's callback URL may name (none: callbacks refused)",
        flag="--prerecorded-callback-hosts", parse=hosts))
    url_hosts: frozenset[str] = field(default=frozenset(), metadata=option(
        "comma-separated hosts a pre-recorded request's {\"url\": ...} body may name, fetched by the gateway "
        "(none: url bodies refused)", flag="--prerecorded-url-hosts", parse=hosts))
    callback_attempts: int = field(default=6, metadata=option(
        "attempts of a pre-recorded callback, the first included, before it counts as undelivered (waits "
        "double from 0.5 s, 30 s at most, or the receiver's Retry-After)", flag="--prerecorded-callback-attempts",
        parse=positive(int)))
    callback_backlog: int = field(default=1000, metadata=option(
        "pre-recorded callbacks Redis keeps for the fleet to retry (over every gateway); beyond it a failed "
        "callback is retried by its own gateway alone", flag="--prerecorded-callback-backlog",
        parse=positive(int)))
    callback_backlog_bytes: int = field(default=256 * 2**20, metadata=option(
        "bytes those callbacks may take in Redis in all (a 10-minute recording's is ~150 KB, ~330 KB with "
        "utterances); beyond it likewise", flag="--prerecorded-callback-backlog-bytes", parse=positive(int)))
    callback_retention: float = field(default=86400.0, metadata=option(
        "seconds a pre-recorded callback may wait in Redis for its delivery (while no gateway runs, say) "
        "before it is dropped as undelivered", flag="--prerecorded-callback-retention", parse=positive(float)))
    callback_senders: int = field(default=4, metadata=option(
        "attempts of stored pre-recorded callbacks (any gateway's) this gateway sends at once (0: it sends "
        "none of them, only its own first attempts; at least one gateway of the fleet must send them)",
        flag="--prerecorded-callback-senders", parse=non_negative(int)))
    redacted_audio_max_bytes: int = field(default=64 << 20, metadata=option(
        "largest recording, in bytes of its decoded PCM16 samples, of which a request with redact_audio keeps "
        "a redacted copy (413 beyond; 64 MiB: 35 min of 16 kHz mono)", flag="--redacted-audio-max-bytes",
        parse=positive(int)))
    memory_bytes: int = field(default=2 << 30, metadata=option(
        "bytes the pre-recorded requests of this gateway may hold at once: each its body and what decoding takes "
        "at its peak (about 6 bytes a sample of a container), then its PCM16 samples while it is transcribed (3 "
        "times that with redact_audio); a request that does not fit now is refused with 503 and Retry-After, one "
        "larger than all of it with 413", flag="--prerecorded-memory-bytes", parse=positive(int)))
    redacted_audio_retention: float = field(default=3600.0, metadata=option(
        "seconds a redacted copy of a recording (redact_audio) stays in Redis for its tenant to fetch",
        flag="--redacted-audio-retention", parse=positive(float)))
    queue: int = 256  # the call's events waiting for the collector


def check_extras(settings: deepgram_prerecorded.PrerecordedSettings) -> None:
    """Raise :class:`ConfigError` naming the extra a request's analysis needs and this server lacks
    (``diarize``, ``sentiment``): refused with 400 as it comes, never answered without it (every
    segment "neutral")."""
    if settings.diarize:
        diarization.available()
    if settings.sentiment:
        sentiment.available()


class Prerecorded:
    """Serve ``POST /v1/listen`` requests whose key the server has checked."""

    def __init__(self, hub: SessionHub, *, options: PrerecordedOptions, undelivered: Counter,
                 courier: Courier | None = None, redacted: RedactedAudio | None = None,
                 diarizer: diarization.Diarizer | None = None, plugs: Sequence[Plug] = ()) -> None:
        """``undelivered``: the counter of results lost, labelled by ``kind``; ``courier``: what delivers
        callbacks (none: a request with a callback is refused with 400); ``redacted``: where redacted
        recordings are kept (none: a request with ``redact_audio`` is refused with 400); ``diarizer``: the
        gateway's, shared with live calls (none: one of its own); ``plugs``: make a recording's call's
        features (:mod:`gateway.calls.feature`), as a live call's."""
        self.hub = hub
        self.plugs = plugs
        self.options = options
        self.redacted = redacted
        self.inflight = InFlight(undelivered=undelivered)
        self.memory = MemoryBudget(options.memory_bytes)
        self.courier = courier
        self._fetcher: httpx.AsyncClient | None = None  # {"url": ...} bodies
        self.diarizer = diarizer if diarizer is not None else diarization.Diarizer()

    @property
    def closing(self) -> bool:
        return self.inflight.closing

    async def drain(self, *, timeout: float) -> list[str]:
        """At shutdown: take no new request (503), let those in flight finish (transcription and
        callback's first attempt) for up to ``timeout`` s, cancel the rest; their request ids. Callbacks
        not yet delivered go to Redis for the fleet (:mod:`gateway.outputs.courier`)."""
        try:
            jobs = asyncio.ensure_future(self.inflight.drain(timeout=timeout))
            if self.courier is not None:
                await self.courier.drain(timeout=timeout)
            return await jobs
        finally:
            if self.courier is not None:
                await self.courier.close()
            if self._fetcher is not None:
                await self._fetcher.aclose()
            self._fetcher = None

    async def serve(self, connection: GatewayConnection, request: Request, handshake: Handshake, *,
                    policy: TenantPolicy, give_back: Callable[[], Awaitable[None]]) -> Response:
        """Answer one request of a key of ``policy``'s tenant that holds its key's session slot;
        ``give_back()`` releases the slot (awaitable).

        The request's work is a job of :attr:`inflight` from here (its body's upload included): a
        shutdown waits for it, and one that cuts it answers 503.
        """
        request_id = str(uuid.uuid4())
        if self.closing:
            await give_back()
            return restarting(request_id)
        work = asyncio.ensure_future(self._serve(connection, request, handshake, request_id=request_id,
                                                 policy=policy, give_back=give_back))
        self.inflight.add(work, request_id=request_id, kind="response")
        try:
            await asyncio.wait({work})
        finally:
            if not work.done():  # this handler was cancelled
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        if work.cancelled():  # the shutdown's drain ran out
            return _error(503, request_id, str(ErrorCode.UNAVAILABLE).upper(),
                          "the server restarted before the recording was transcribed; send it again",
                          retry_after=True)
        return work.result()

    async def _serve(self, connection: GatewayConnection, request: Request, handshake: Handshake, *,
                     request_id: str, policy: TenantPolicy, give_back: Callable[[], Awaitable[None]]) -> Response:
        handed_over = False
        held: Reservation | None = None  # of the gateway's memory for recordings
        try:
            try:
                settings = deepgram_prerecorded.PrerecordedSettings.from_query(list(handshake.query))
                self._check_callback(settings)
                check_extras(settings)
                self._check_redact_audio(settings, policy)
            except ConfigError as exc:
                return _error(400, request_id, "INVALID_QUERY_PARAMETER", str(exc))
            if not has_body(request.headers):
                return _error(400, request_id, "Bad Request", "the request has no body: send the audio as the body")
            by_url = request.headers.get("Content-Type", "").lower().startswith("application/json")
            if by_url and not self.options.url_hosts:
                return _error(400, request_id, "Bad Request", "a {\"url\": ...} body is off on this server (it "
                              "fetches from the hosts its --prerecorded-url-hosts lists, and lists none); send the "
                              "audio itself as the body")
            connection.lift_open_timeout()
            limit = min(self.options.max_bytes, remote.MAX_JSON_BYTES) if by_url else self.options.max_bytes
            body = connection.read_body(limit=limit)
            try:
                data = await body.complete(idle_timeout=self.options.body_timeout)
            except BodyError as exc:
                if exc.too_large:
                    return _error(413, request_id, "PAYLOAD_TOO_LARGE", str(exc))
                return _error(400, request_id, "Bad Request", str(exc))
            except TimeoutError as exc:
                return _error(408, request_id, "REQUEST_TIMEOUT", str(exc))
            if by_url:
                try:
                    data = await _unless_gone(connection, self._fetch(data))
                except remote.UrlRefused as exc:
                    return _error(400, request_id, "Bad Request", str(exc))
                except remote.RemoteError as exc:
                    log.info("pre-recorded %s: the url was not fetched: %s", request_id, exc)
                    if exc.too_large:
                        return _error(413, request_id, "PAYLOAD_TOO_LARGE", str(exc))
                    return _error(400, request_id, "REMOTE_CONTENT_ERROR", str(exc))
            stream = settings.stream
            try:
                probed = await asyncio.to_thread(media.probe, data, encoding=stream.encoding,
                                                 sample_rate=stream.sample_rate, channels=stream.channels)
            except media.BadMedia as exc:
                return _error(400, request_id, "Bad Request", str(exc))
            most = self.options.redacted_audio_max_bytes
            if settings.redact_audio is not None and probed.pcm_bytes > most:
                return _error(413, request_id, "PAYLOAD_TOO_LARGE", (
                    f"the recording is {probed.pcm_bytes} bytes of PCM16 samples ({probed.frames / probed.rate:.0f} "
                    f"s, {probed.channels} channel(s) at {probed.rate} Hz); this server keeps redacted audio of "
                    f"recordings up to {most} bytes (--redacted-audio-max-bytes): send it without redact_audio, "
                    "or in parts"))
            try:
                held = self.memory.reserve(len(data) + probed.peak_bytes)
            except OverBudget as exc:
                return _over_budget(request_id, exc)
            try:
                audio = await asyncio.to_thread(media.decode, data, encoding=stream.encoding,
                                                sample_rate=stream.sample_rate, channels=stream.channels,
                                                max_channels=MAX_CHANNELS, probed=probed)
            except media.BadMedia as exc:
                return _error(400, request_id, "Bad Request", str(exc))
            # What the request holds from now until its response or callback is done.
            held.resize(audio.pcm.nbytes * (1 if settings.redact_audio is None else 3))
            job = _Job(request_id=request_id, settings=settings, audio=audio, policy=policy,
                       sha256=hashlib.sha256(data).hexdigest(), memory=held)
            del data
            if settings.callback is not None:
                task = asyncio.create_task(self._call_back(job, give_back), name=f"callback-{request_id}")
                self.inflight.add(task, request_id=request_id, kind="callback")
                handed_over = True
                return _json(200, request_id, {"request_id": request_id})
            status, result = await _unless_gone(connection, self._transcribe(job))
            return _json(status, request_id, result)
        finally:
            if not handed_over:
                if held is not None:
                    held.release()
                await give_back()

    async def _fetch(self, body: bytes | bytearray) -> bytearray:
        """The audio a ``{"url": ...}`` body names, fetched if its host is allowed (:mod:`gateway.http.remote`)."""
        url = remote.check(remote.url_of(body), self.options.url_hosts)
        if self._fetcher is None:
            self._fetcher = httpx.AsyncClient(follow_redirects=False)
        return await remote.fetch(self._fetcher, url, hosts=self.options.url_hosts, limit=self.options.max_bytes,
                                  idle_timeout=self.options.body_timeout)

    def _check_callback(self, settings: deepgram_prerecorded.PrerecordedSettings) -> None:
        if settings.callback is None:
            return
        if self.courier is None:
            raise ConfigError("callbacks are off on this server")
        host = url_host(settings.callback)
        if host not in self.options.callback_hosts:
            raise ConfigError(f"callbacks to {kit.header_text(host)!r} are not allowed here (the gateway's "
                              "--prerecorded-callback-hosts lists the hosts it calls back)")

    def _check_redact_audio(self, settings: deepgram_prerecorded.PrerecordedSettings, policy: TenantPolicy) -> None:
        if settings.redact_audio is None:
            return
        if self.redacted is None:
            raise ConfigError("redact_audio is off on this server")
        if not (settings.stream.redact or policy.redact):
            raise ConfigError("redact_audio needs redaction: add redact=pci (or ssn, numbers, pii), or use a key "
                              "whose tenant's policy forces it")

    async def _call_back(self, job: _Job, give_back: Callable[[], Awaitable[None]]) -> None:
        try:
            status, result = await self._transcribe(job)
        finally:
            job.memory.release()
            await give_back()
        if status != 200:
            result = {**result, "request_id": job.request_id}
        settings = job.settings
        assert settings.callback is not None and self.courier is not None  # checked when the job came
        delivery = Delivery(request_id=job.request_id, url=settings.callback, method=settings.callback_method.upper(),
                            headers={"Idempotency-Key": job.request_id, "dg-request-id": job.request_id},
                            body=json.dumps(result, ensure_ascii=False).encode(), tenant=job.policy.tenant,
                            created=time.time())
        await self.courier.first(delivery, handed=lambda: self.inflight.handed_over(job.request_id))

    async def _transcribe(self, job: _Job) -> tuple[int, dict]:
        """Run the recording through the pipeline as a batch call: (HTTP status, response body)."""
        stream, audio = job.settings.stream, job.audio
        try:
            config = dataclasses.replace(
                stream.session_config(encoding="pcm16", sample_rate=audio.sample_rate, channels=audio.channels),
                priority="batch", analytics=job.settings.call_analytics)
        except ConfigError as exc:
            return 400, deepgram_prerecorded.refusal_body(job.request_id, "Bad Request", str(exc))
        if job.settings.diarize and config.pipelines > 1:
            return 400, deepgram_prerecorded.refusal_body(
                job.request_id, "INVALID_QUERY_PARAMETER", f"diarize=true needs one channel, and multichannel=true "
                f"makes this recording's {config.pipelines} channels {config.pipelines} (each one party already): "
                "send multichannel=false to diarize their mix, or leave diarize out")
        queue: asyncio.Queue[events.Event] = asyncio.Queue(maxsize=self.options.queue)
        call = Call(self.hub, config, protocol=deepgram.DeepgramDoor.name, events_out=queue, call_id=job.request_id,
                    policy=job.policy, plugs=self.plugs)
        try:
            await call.open()
        except CallRefused as exc:  # a language the model lacks is the request's fault; the rest the service's
            status = 400 if exc.code is ErrorCode.BAD_CONFIG else 503
            return status, deepgram_prerecorded.refusal_body(job.request_id, str(exc.code).upper(), str(exc))
        collector = asyncio.create_task(_collect(queue))
        analytics = call.features.find(AnalyticsFeature)
        analyzer = analytics.analyzer if analytics is not None else None
        tracker = analyzer.tracker if analyzer is not None else None  # a diarized summary's settings
        try:
            try:
                await _feed(call, audio)
                await call.close(timeout=self.hub.options.batch_backlog_timeout)  # between two results
            except (BacklogFull, RedisError, OSError) as exc:
                await call.fail_publishing(exc, ending="request")
            except asyncio.CancelledError:
                await call.disconnect()
                raise
            finals, analysed, ended, error = await collector
        finally:
            collector.cancel()
            await call.release()
        if not ended.complete:
            code = error.code if error is not None else ErrorCode.INTERNAL
            status = 503 if code in (ErrorCode.OVERLOADED, ErrorCode.UNAVAILABLE) else 500
            message = error.message if error is not None else ended.reason
            return status, deepgram_prerecorded.refusal_body(job.request_id, str(code).upper(), message)
        redacted = None
        if job.settings.redact_audio is not None:
            try:
                redacted = await self._keep_redacted(job, finals, per_channel=config.pipelines == audio.channels)
            except RedisError as exc:
                log.warning("pre-recorded %s: its redacted audio was not stored: %s", job.request_id, exc)
                return 503, deepgram_prerecorded.refusal_body(
                    job.request_id, str(ErrorCode.UNAVAILABLE).upper(),
                    "the redacted audio could not be stored (the service cannot reach its queue); send it again")
        body = deepgram_prerecorded.response(
            job.settings, finals, request_id=job.request_id, created=deepgram.created_now(), sha256=job.sha256,
            duration=audio.duration, channels=config.pipelines, model=call.models.name,
            analysed=analysed if config.analytics is not None else None, redacted_audio=redacted)
        if analytics is not None and analytics.warning:  # analytics=true without the analytics extra: no sentiment
            body["metadata"].setdefault("warnings", []).append(
                {"parameter": "analytics", "type": "partial_support", "message": analytics.warning})
        if job.settings.diarize:
            labels = await self._diarize(body, audio, finals, request_id=job.request_id)
            results = body["results"]
            if labels is not None and tracker is not None and "analytics" in results:
                agent = results.get("agent", {}).get("speaker")
                results["analytics"] = await asyncio.to_thread(
                    _by_speaker, finals, labels, audio, tracker, agent, results["analytics"]["duration_ms"])
        return 200, body

    async def _diarize(self, body: dict, audio: media.Media, finals: list[events.Final], *,
                       request_id: str) -> Labels | None:
        """``body`` gains its speakers, and their labels come back; if the diarizer fails, a warning
        says so (the transcript stays) and None comes back."""
        regions = [speakers.spoken(f.start_ms, f.end_ms, [(w.start_ms, w.end_ms) for w in f.words])
                   for f in finals if f.text.strip()]
        try:
            labels = await self.diarizer.labels(audio.pcm, audio.sample_rate, regions)
        except diarization.DiarizationFailed as exc:
            log.warning("pre-recorded %s: diarization failed: %s", request_id, exc)
            speakers.warn(body, f"diarization failed, the words have no speaker: {exc}")
            return None
        speakers.apply(body, labels)
        return labels

    async def _keep_redacted(self, job: _Job, finals: list[events.Final], *, per_channel: bool) -> dict:
        """Store the recording with the finals' redacted spans muted, for the job's tenant; the response's
        ``metadata.redacted_audio``. Muting and encoding run off the event loop."""
        mode = job.settings.redact_audio
        assert mode is not None and self.redacted is not None  # asked for, and checked when the job came
        redactions = [(final.channel, r) for final in finals for r in final.redactions]
        spans = [mute.Span(channel, r.start_ms, r.end_ms) for channel, r in redactions]
        audio = job.audio

        def redact() -> bytes:
            muted = mute.mute(audio.pcm, spans, sample_rate=audio.sample_rate, mode=mode, per_channel=per_channel)
            return mute.wav(muted, sample_rate=audio.sample_rate)

        wav = await asyncio.to_thread(redact)
        await self.redacted.put(job.policy.tenant, job.request_id, wav)
        return {"path": audio_path(job.request_id), "mode": mode, "content_type": "audio/wav", "bytes": len(wav),
                "expires": round(time.time() + self.redacted.retention), "padding": mute.PADDING_MS / 1000,
                "spans": [{"channel": channel, "type": r.entity, "placeholder": r.label, "start": r.start_ms / 1000,
                           "end": r.end_ms / 1000} for channel, r in sorted(redactions, key=lambda c: c[1].start_ms)]}

    async def redacted_audio(self, request_id: str, *, tenant: str) -> Response:
        """``GET /v1/listen/{request_id}/audio`` of a key of ``tenant``: the redacted recording, or 404."""
        try:
            wav = await self.redacted.get(tenant, request_id) if self.redacted is not None else None
        except RedisError as exc:
            log.warning("redacted audio of %s not read: %s", request_id, exc)
            return _error(503, request_id, str(ErrorCode.UNAVAILABLE).upper(),
                          "the service cannot reach its queue; try again", retry_after=True)
        if wav is None:
            return _error(404, request_id, "NOT_FOUND", "no redacted audio of this request id for this API key's "
                          "tenant (never asked for with redact_audio, another tenant's, or past its retention)")
        return routes.response(http.HTTPStatus.OK, wav, "audio/wav", deepgram_common.response_headers(request_id))


@dataclass(frozen=True, slots=True, kw_only=True)
class _Job:
    request_id: str
    settings: deepgram_prerecorded.PrerecordedSettings
    audio: media.Media
    policy: TenantPolicy  # its tenant's, as the request was admitted
    sha256: str
    memory: Reservation  # of the gateway's memory for recordings, released when its result is out


def _by_speaker(finals: list[events.Final], labels: Labels, audio: media.Media,
                tracker: CallTracker, agent: int | None, duration_ms: int) -> dict:
    """The recording's analytics summary with its diarized speakers as the parties (in a thread: the
    level of every run is measured on the recording's mono mix, and each run scored for sentiment)."""
    meter = LevelMeter(sample_rate=audio.sample_rate)
    step = audio.sample_rate * 10  # ten seconds at a time: no float copy of the whole recording
    for start in range(0, len(audio.pcm), step):
        meter.push(audio.pcm[start:start + step].mean(axis=1))
    said = [parties.Said(utterance_id=f.utterance_id, text=f.text, start_ms=f.start_ms, end_ms=f.end_ms,
                         words=tuple((w.text, w.start_ms, w.end_ms, w.confidence) for w in f.words),
                         confidence=f.confidence) for f in finals]
    return parties.summary(said, labels, settings=tracker.settings, scorer=tracker.scorer, duration_ms=duration_ms,
                           agent=agent, level=meter.level)


async def _unless_gone(connection: GatewayConnection, work: Awaitable[T]) -> T:
    """``work``'s result; when the client goes away first, ``work`` is cancelled and so is the caller
    (a call being transcribed ends as a disconnect, a fetch stops)."""
    outcome = asyncio.ensure_future(work)
    lost = asyncio.ensure_future(connection.wait_closed())
    try:
        await asyncio.wait({outcome, lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        lost.cancel()
        if not outcome.done():  # the client went away
            outcome.cancel()
            await asyncio.gather(outcome, return_exceptions=True)
    return outcome.result()


async def _feed(call: Call, audio: media.Media) -> None:
    """The recording into the call, a second at a time, as fast as the pipeline takes it."""
    step = max(1, int(audio.sample_rate * FRAME_SECONDS))
    pcm: np.ndarray = audio.pcm
    for start in range(0, len(pcm), step):
        await call.audio(pcm[start:start + step].tobytes())


async def _collect(queue: asyncio.Queue) -> tuple[list[events.Final], deepgram_prerecorded.Analysed, events.Ended,
                                                 events.Error | None]:
    """The call's finals until it ends, what its analytics said, its end, and its last fatal error."""
    finals: list[events.Final] = []
    utterances: dict[str, dict] = {}
    phrases: list[dict] = []
    summary = None
    error = None
    while True:
        event = await queue.get()
        if isinstance(event, events.Final):
            finals.append(event)
        elif isinstance(event, events.Analytics):
            if event.summary:
                summary = event.data
            elif event.data["event"] == "utterance":
                utterances[event.data["utterance_id"]] = event.data
            elif event.data["event"] == "phrase":
                phrases.append(event.data)
        elif isinstance(event, events.Error) and event.fatal:
            error = event
        elif isinstance(event, events.Ended):
            return finals, deepgram_prerecorded.Analysed(utterances=utterances, phrases=phrases, summary=summary), \
                event, error


def audio_path(request_id: str) -> str:
    """Where a request's redacted recording is fetched."""
    return f"{ROUTE}/{request_id}{AUDIO_SUFFIX}"


def audio_request_id(path: str) -> str | None:
    """The request id of a redacted recording's path (:func:`audio_path`), or None if ``path`` is not one."""
    prefix = ROUTE + "/"
    if not (path.startswith(prefix) and path.endswith(AUDIO_SUFFIX)):
        return None
    request_id = path[len(prefix):-len(AUDIO_SUFFIX)]
    return request_id if REQUEST_ID.fullmatch(request_id) else None


def _over_budget(request_id: str, refused: OverBudget) -> Response:
    """The answer to a request whose recording does not fit the gateway's memory for recordings."""
    log.info("pre-recorded %s refused: its recording would take %d bytes, %d of %d are free "
             "(--prerecorded-memory-bytes)", request_id, refused.wanted, refused.free, refused.limit)
    if refused.alone:
        return _error(413, request_id, "PAYLOAD_TOO_LARGE", (
            f"the recording takes {refused.wanted} bytes to decode and hold; this server holds at most "
            f"{refused.limit} bytes of recordings at once (--prerecorded-memory-bytes): send it in parts, or "
            "as raw audio (encoding=linear16: decoded with the least memory)"))
    return _error(503, request_id, str(ErrorCode.OVERLOADED).upper(), (
        f"this server is transcribing other recordings: yours takes {refused.wanted} bytes to decode and hold, "
        f"{refused.free} of its {refused.limit} are free now (--prerecorded-memory-bytes); send it again in a "
        "moment"), retry_after=True)


def restarting(request_id: str) -> Response:
    """The answer to a request that comes while the gateway shuts down."""
    return _error(503, request_id, str(ErrorCode.UNAVAILABLE).upper(),
                  "the server is restarting and takes no new request; send it again", retry_after=True)


def _json(status: int, request_id: str, body: dict, *, retry_after: bool = False) -> Response:
    headers = [*deepgram_common.response_headers(request_id), ("Connection", "close")]
    if retry_after:  # the client's next connection goes, through the balancer, to another gateway
        headers.append(("Retry-After", str(RETRY_AFTER)))
    return routes.response(http.HTTPStatus(status), json.dumps(body, ensure_ascii=False).encode(),
                           "application/json", headers)


def _error(status: int, request_id: str, code: str, message: str, *, retry_after: bool = False) -> Response:
    return _json(status, request_id, deepgram_prerecorded.refusal_body(request_id, code, message),
                 retry_after=retry_after)
