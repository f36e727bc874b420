"""The denoise stage: DeepFilterNet3 per session on the stage runner, offsets exact.

Each session's stream lives in a :class:`~denoise_worker.pool.DenoisePool` child process, so all
cores work and the event loop never blocks on the model. The denoiser's output lags its input;
the stage aligns output sample ``i`` with input sample ``i`` and cuts records on a fixed grid
and at markers, never where the lag falls, so a replay emits the same records with the same seqs
and the next stage drops what it has. The model's state cannot be saved: the checkpoint keeps the
position and the last ~0.5 s of raw input, from which a new owner (or a restarted denoiser
process) re-warms a fresh stream. A denoiser that keeps failing passes audio through undenoised
rather than stall the session. With ``asr_audio: "raw"`` each record also carries the raw samples
for the ASR.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import msgpack
import numpy as np

from common import bus
from common.errors import LeaseLost, RecordError, SessionGone, StreamscribeError
from common.metrics import DenoiseMetrics
from common.records import SAMPLE_RATE, Audio, End, Flush, Record
from common.stage import Input, Runner, Session, Stage

from .pool import DenoisePool

__all__ = ["BATCH_GRID", "DenoiseStage", "DenoiseSessionState", "GRID", "PREROLL"]

#: Output audio records end on multiples of this many samples (or at a marker).
GRID = 512
#: A recording's (a batch session's): 16 VAD frames, 512 ms, like its input records
#: (the gateway's 500 ms): every record costs each stage the same whatever its size.
BATCH_GRID = 16 * GRID
#: Input kept before the resume point to re-warm a fresh denoiser (0.5 s).
PREROLL = SAMPLE_RATE // 2
#: Attempts to (re)start a session's denoiser before passing its audio through.
ATTEMPTS = 3
_EMPTY = np.zeros(0, np.int16)


@dataclass(eq=False)
class DenoiseSessionState:
    """Per-session positions and buffers; the model itself lives in the pool."""

    raw_audio: bool  # attach the undenoised input as Audio.raw
    emitted: int = 0  # output sent up to this sample (exclusive)
    position: int = 0  # input received up to this sample (exclusive)
    fed: int = 0  # input given to the pool's stream up to this sample
    tail: np.ndarray = field(default_factory=lambda: _EMPTY)  # raw input [tail_start, position)
    tail_start: int = 0
    ready: np.ndarray = field(default_factory=lambda: _EMPTY)  # denoised [emitted, emitted + len)
    warm: bool = False  # the pool holds a stream aligned with ``fed`` and ``ready``
    bypassed: bool = False  # the denoiser failed and audio was passed through

    def raw(self, start: int, end: int) -> np.ndarray:
        """Raw input samples [start, end), clipped to what is kept."""
        lo = max(start, self.tail_start) - self.tail_start
        return self.tail[lo:max(lo, end - self.tail_start)]

    def receive(self, pcm: bytes) -> None:
        self.tail = np.concatenate([self.tail, np.frombuffer(pcm, np.int16)])
        self.position += len(pcm) // 2

    def trim(self) -> None:
        """Drop raw input no longer needed: emitted, and older than the pre-roll."""
        cut = self.emitted - PREROLL - self.tail_start
        if cut > 0:
            self.tail = self.tail[cut:].copy()
            self.tail_start += cut

    def restart_at(self, offset: int) -> None:
        """Forget everything (the input jumped); the next audio starts a fresh stream."""
        self.emitted = self.position = self.fed = self.tail_start = offset
        self.tail, self.ready, self.warm = _EMPTY, _EMPTY, False

    def snapshot(self) -> bytes:
        self.trim()
        return msgpack.packb({
            "v": 1, "emitted": self.emitted, "position": self.position,
            "tail_start": self.tail_start, "tail": self.tail.tobytes(),
        }, use_bin_type=True)

    @classmethod
    def restore(cls, blob: bytes, *, raw_audio: bool) -> "DenoiseSessionState":
        try:
            data = msgpack.unpackb(blob, raw=False)
            state = cls(raw_audio=raw_audio, emitted=int(data["emitted"]), position=int(data["position"]),
                        tail_start=int(data["tail_start"]),
                        tail=np.frombuffer(data["tail"], np.int16).copy())
        except Exception as exc:
            raise RecordError(f"bad denoise checkpoint: {exc}") from None
        if not (state.tail_start <= state.emitted <= state.position == state.tail_start + len(state.tail)):
            raise RecordError("bad denoise checkpoint: positions do not line up")
        state.fed = state.emitted
        return state


DenoiseSession = Session[DenoiseSessionState]


class DenoiseStage(Stage[DenoiseSessionState]):
    """Denoise each session's audio in order; see the module docstring for the design.

    The stage starts ``pool`` in :meth:`start` (a bad model fails there) and
    closes it in :meth:`shutdown`. Markers always checkpoint; in between, the
    runner's checkpoint interval applies.
    """

    name = "denoise"

    def __init__(self, runner: Runner, pool: DenoisePool, *, metrics: DenoiseMetrics) -> None:
        self.runner = runner
        self.pool = pool
        self.metrics = metrics

    # -- Stage interface -------------------------------------------------------

    async def start(self) -> None:
        await self.pool.start()

    async def shutdown(self) -> None:
        await self.pool.close()

    def open(self, session: DenoiseSession, state: bytes | None) -> DenoiseSessionState:
        raw_audio = session.config.denoise.asr_audio == "raw"
        if state:
            restored = DenoiseSessionState.restore(state, raw_audio=raw_audio)
            self.metrics.resumes.labels(reason="takeover").inc()
            return restored
        return DenoiseSessionState(raw_audio=raw_audio)

    def snapshot(self, session: DenoiseSession) -> bytes:
        return session.state.snapshot()

    async def process(self, batch: list[tuple[DenoiseSession, Input]]) -> None:
        # Live sessions first: a recording's audio (batch priority) goes to the denoisers, which it
        # shares with live calls, only once every live session's audio of the round is out.
        live = [item for item in batch if not item[0].config.batch]
        recordings = [item for item in batch if item[0].config.batch]
        for part in (live, recordings):
            await bus.gather_bounded(self._session(session, records) for session, records in part)

    async def close(self, session: DenoiseSession, reason: str) -> None:
        if not session.state.warm:
            return
        try:
            await self.pool.close_session(session.session_id)
        except asyncio.CancelledError:
            raise
        except StreamscribeError as exc:
            session.log.debug("closing the denoiser stream: %s", exc)

    async def readiness(self) -> tuple[bool, dict]:
        pids = self.pool.pids
        return all(pid is not None for pid in pids), {"denoise_processes": len(pids),
                                                       "denoise_sessions": self.pool.session_count}

    # -- per session -------------------------------------------------------------

    async def close_pending(self, session: DenoiseSession, marker: Flush | End) -> list[Record]:
        """Every sample received, denoised: the stream is flushed and starts afresh after the marker."""
        outputs: list[Record] = []
        await self._drain(session, session.state, outputs)
        return outputs

    async def _session(self, session: DenoiseSession, records: Input) -> None:
        state = session.state
        outputs: list[Record] = []
        for _, record in records:
            if isinstance(record, Audio):
                if record.offset != state.position:
                    session.log.warning("audio offset %d, expected %d; restarting the denoiser there",
                                        record.offset, state.position)
                    await self._drain(session, state, outputs)
                    state.restart_at(record.offset)
                state.receive(record.pcm)
                self.metrics.audio_seconds.inc(record.samples / SAMPLE_RATE)
            elif isinstance(record, (Flush, End)):
                outputs += await self.pass_marker(session, record)
                if isinstance(record, End):
                    break
            else:
                session.log.warning("ignoring unexpected %s record", record.TYPE)
        else:  # no End: on with the audio received
            await self._catch_up(session, state)
            self._cut(session, outputs, final=False)
        try:
            await self.runner.commit(session, outputs, consumed=records[-1][0])
        except (LeaseLost, SessionGone) as exc:
            session.log.info("stopped writing: %s", exc)

    async def _catch_up(self, session: DenoiseSession, state: DenoiseSessionState) -> None:
        """Feed the pool's stream all input received; (re)start it from a pre-roll if needed."""
        if state.fed >= state.position and state.warm:
            return
        for attempt in range(1, ATTEMPTS + 1):
            try:
                if not state.warm:
                    preroll = state.raw(state.emitted - PREROLL, state.emitted)
                    await self.pool.resume_session(session.session_id, preroll.tobytes())
                    state.warm, state.fed, state.ready = True, state.emitted, _EMPTY
                if state.fed < state.position:
                    chunk = state.raw(state.fed, state.position)
                    started = time.perf_counter()
                    out = await self.pool.process(session.session_id, chunk.tobytes())
                    self.metrics.chunk_seconds.observe(time.perf_counter() - started)
                    state.fed = state.position
                    state.ready = np.concatenate([state.ready, np.frombuffer(out, np.int16)])
                return
            except asyncio.CancelledError:
                state.warm = False  # the stream may have eaten the chunk: resume next time
                raise
            except StreamscribeError as exc:
                # DenoiseProcessDied, SessionStateLost, a child that failed to restart...
                state.warm = False
                self.metrics.resumes.labels(reason="denoiser_failed").inc()
                session.log.warning("denoiser failed (attempt %d/%d): %s; resuming from a pre-roll",
                                    attempt, ATTEMPTS, exc)
        # Keep the session flowing: pass the pending input through undenoised. The
        # next call tries a fresh stream again from a pre-roll at ``emitted``.
        session.log.error("denoiser unavailable; passing %.2f s through undenoised",
                          (state.position - state.emitted) / SAMPLE_RATE)
        self._bypass(state)

    def _bypass(self, state: DenoiseSessionState) -> None:
        missing = state.position - state.emitted - len(state.ready)
        if missing > 0:
            self.metrics.bypassed_seconds.inc(missing / SAMPLE_RATE)
            state.ready = np.concatenate([state.ready, state.raw(state.position - missing, state.position)])
        state.fed = state.position
        state.bypassed = True

    async def _drain(self, session: DenoiseSession, state: DenoiseSessionState, outputs: list[Record]) -> None:
        """Flush the stream at a marker: send every sample received, then start afresh."""
        if state.position == state.emitted:
            return
        await self._catch_up(session, state)
        if state.warm:
            try:
                rest = await self.pool.close_session(session.session_id)
                state.ready = np.concatenate([state.ready, np.frombuffer(rest, np.int16)])
            except asyncio.CancelledError:
                state.warm = False
                raise
            except StreamscribeError as exc:
                session.log.warning("flushing the denoiser failed: %s; passing the rest through", exc)
            state.warm = False
        expected = state.position - state.emitted
        if len(state.ready) > expected:
            session.log.warning("denoiser returned %d samples too many; cut", len(state.ready) - expected)
            state.ready = state.ready[:expected]
        elif len(state.ready) < expected:
            self._bypass(state)  # a lost stream returns nothing: never lose audio
        self._cut(session, outputs, final=True)

    def _cut(self, session: DenoiseSession, outputs: list[Record], *, final: bool) -> None:
        """Emit the ready audio as records on the grid (and up to the end if ``final``)."""
        state = session.state
        grid = BATCH_GRID if session.config.batch else GRID
        while len(state.ready):
            end = (state.emitted // grid + 1) * grid
            if final:
                end = min(end, state.emitted + len(state.ready))
            count = end - state.emitted
            if count > len(state.ready):
                break
            pcm = state.ready[:count]
            raw = state.raw(state.emitted, end).tobytes() if state.raw_audio else b""
            outputs.append(Audio(offset=state.emitted, pcm=pcm.tobytes(), raw=raw))
            state.ready = state.ready[count:]
            state.emitted = end
        state.trim()
