"""The VAD stage: per-session Silero state and segmenter, one model call per round.

Each tick the runner hands over every session with new audio. Frames are scored
in rounds: round *k* scores the *k*-th pending frame of every session in one
batched call, so a worker with 300 live calls makes one Silero call per 32 ms of
audio, not 300. Markers (flush, end) are applied in order between frames.
Each session's :class:`VadSessionState` turns its audio into :class:`VadFrame`
work items and the scores back into speech events.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import msgpack
import numpy as np

from common import bus
from common.endpointing import FRAME, EndpointOptions, with_overrides
from common.errors import ConfigError, LeaseLost, SessionGone
from common.metrics import VadMetrics
from common.records import SAMPLE_RATE, Audio, End, Flush, Record, SpeechEnd, SpeechPause, SpeechStart
from common.stage import Input, Runner, Session, Stage

from .model import CONTEXT, STATE_SHAPE, SileroVad
from .segmenter import Event, Segmenter, SpeechAudio, SpeechEnded, SpeechPaused, SpeechStarted


@dataclass(frozen=True, slots=True)
class VadFrame:
    """One frame of :data:`FRAME` samples to score, at its absolute sample offset."""

    offset: int
    pcm: np.ndarray  # int16


@dataclass(eq=False)
class VadSessionState:
    """Per-session VAD state (Silero's recurrent state, the segmenter); small and
    separate from the shared model, which scores frames of many sessions at once.

    Shaped like LiveKit's ``VADStream``: :meth:`push` audio in and get frames to
    score, hand each score back to :meth:`scored`, :meth:`flush` at a marker;
    both of the latter return speech events.
    """

    segmenter: Segmenter
    position: int = 0  # next sample offset expected from the input
    leftover: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    context: np.ndarray = field(default_factory=lambda: np.zeros(CONTEXT, np.float32))
    rnn: np.ndarray = field(default_factory=lambda: np.zeros(STATE_SHAPE, np.float32))
    # Undenoised audio (Audio.raw) aligned with what is scored, for the speech the
    # segmenter emits: ``raw`` holds samples [raw_start, position). Empty when the
    # input carries no raw audio.
    raw: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    raw_start: int = 0

    def push(self, audio: Audio) -> list[VadFrame]:
        """Take one audio record; return the whole frames it completes, in order.

        Audio that does not start at :attr:`position` restarts the framing there
        (the caller may log it); a partial frame waits for the next record.
        """
        if audio.offset != self.position:
            self.leftover = np.zeros(0, np.int16)
            self.position = audio.offset
        self._add_raw(audio.offset, audio.raw, audio.pcm)
        samples = np.concatenate([self.leftover, np.frombuffer(audio.pcm, np.int16)])
        start = self.position - len(self.leftover)
        whole = len(samples) // FRAME * FRAME
        frames = [VadFrame(start + k, samples[k:k + FRAME]) for k in range(0, whole, FRAME)]
        self.leftover = samples[whole:].copy()
        self.position += audio.samples
        return frames

    def scored(self, frame: VadFrame, prob: float, *, rnn: np.ndarray, context: np.ndarray) -> list[Event]:
        """Apply the model's answer for ``frame`` (its next recurrent state and context)."""
        self.rnn, self.context = rnn, context
        return self._with_raw(self.segmenter.push(frame.offset, frame.pcm, prob))

    def flush(self, reason: str) -> list[Event]:
        """Close the utterance in progress (a flush or the end of the session)."""
        return self._with_raw(self.segmenter.flush(reason))

    def trim(self) -> None:
        """Keep only the raw audio the segmenter may still emit (pre-roll, held silence,
        split tail); call between batches, when everything received has been scored."""
        options = self.segmenter.options
        horizon = options.frames(options.pre_roll + options.min_speech_duration + options.silence_threshold
                                 + options.split_search) * FRAME + 2 * FRAME
        cut = len(self.raw) - horizon
        if cut > 0:
            self.raw, self.raw_start = self.raw[cut:].copy(), self.raw_start + cut

    def _add_raw(self, offset: int, raw: bytes, pcm: bytes) -> None:
        """Append one record's raw audio (or its scored audio if it has none)."""
        if not raw and not len(self.raw):
            return
        if self.raw_start + len(self.raw) != offset:
            self.raw, self.raw_start = np.zeros(0, np.int16), offset
        self.raw = np.concatenate([self.raw, np.frombuffer(raw or pcm, np.int16)])

    def _with_raw(self, events: list[Event]) -> list[Event]:
        """The events with raw audio in place of the scored audio where it is known."""
        return [SpeechAudio(event.offset, self._speech(event.offset, event.pcm))
                if isinstance(event, SpeechAudio) else event for event in events]

    def _speech(self, offset: int, pcm: np.ndarray) -> np.ndarray:
        lo, hi = max(offset, self.raw_start), min(offset + len(pcm), self.raw_start + len(self.raw))
        if hi <= lo:
            return pcm
        out = pcm.copy()
        out[lo - offset:hi - offset] = self.raw[lo - self.raw_start:hi - self.raw_start]
        return out

    def snapshot(self) -> bytes:
        return msgpack.packb({
            "position": self.position, "leftover": self.leftover.tobytes(),
            "context": self.context.tobytes(), "rnn": self.rnn.tobytes(),
            "segmenter": self.segmenter.snapshot(),
            # At a boundary only the pre-roll (and the leftover) can still be emitted.
            "raw": self.raw[-(self.segmenter.options.frames(self.segmenter.options.pre_roll) + 1) * FRAME:].tobytes(),
            "raw_end": self.raw_start + len(self.raw),
        })

    def restore(self, blob: bytes) -> None:
        data = msgpack.unpackb(blob)
        self.position = data["position"]
        self.leftover = np.frombuffer(data["leftover"], np.int16).copy()
        self.context = np.frombuffer(data["context"], np.float32).copy()
        self.rnn = np.frombuffer(data["rnn"], np.float32).reshape(STATE_SHAPE).copy()
        self.segmenter.restore(data["segmenter"])
        self.raw = np.frombuffer(data.get("raw", b""), np.int16).copy()
        self.raw_start = data.get("raw_end", 0) - len(self.raw)


VadSession = Session[VadSessionState]


class VadStage(Stage[VadSessionState]):
    name = "vad"

    def __init__(self, runner: Runner, model: SileroVad, *, defaults: EndpointOptions, metrics: VadMetrics,
                 min_round_interval: float = 0.03) -> None:
        self.runner = runner
        # A call of process() takes at least this long (it waits out the rest after its
        # commits): sessions whose audio arrives meanwhile wait for the next call, so
        # each model call scores a bigger batch (seen: a mean of 22 frames at 200
        # sessions without it). Adds up to this much latency to the VAD.
        self.min_round_interval = min_round_interval
        self.model = model
        self.defaults = defaults
        self.metrics = metrics
        # One thread: calls are batched, and ONNX Runtime releases the GIL meanwhile.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="silero")

    def open(self, session: VadSession, state: bytes | None) -> VadSessionState:
        try:
            options = with_overrides(self.defaults, session.config.get("vad"))
        except ConfigError as exc:
            session.log.warning("bad vad options (%s); using defaults", exc)
            options = self.defaults
        stream = VadSessionState(segmenter=Segmenter(options))
        if state:
            stream.restore(state)
        return stream

    async def process(self, batch: list[tuple[VadSession, Input]]) -> None:
        started = time.monotonic()
        await self._process(batch)
        rest = started + self.min_round_interval - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)  # pacing: lets the next batch build up

    async def _process(self, batch: list[tuple[VadSession, Input]]) -> None:
        work = [(session, self._work_items(session, records)) for session, records in batch]
        outputs: dict[VadSession, list[Record]] = {session: [] for session, _ in work}
        finished: set[VadSession] = set()
        cursors = [0] * len(work)
        while True:
            frames: list[tuple[VadSession, VadFrame]] = []
            for i, (session, items) in enumerate(work):
                # Apply markers at the head, then take one frame.
                while cursors[i] < len(items) and not isinstance(items[cursors[i]], VadFrame):
                    self._marker(session, items[cursors[i]], outputs[session], finished)
                    cursors[i] += 1
                if cursors[i] < len(items):
                    frames.append((session, items[cursors[i]]))
                    cursors[i] += 1
            if not frames:
                break
            await self._score(frames, outputs)
        await bus.gather_bounded((
            self._commit(session, records[-1][0], outputs[session], session in finished)
            for session, records in batch
        ))

    def _work_items(self, session: VadSession, records: Input) -> list[VadFrame | Record]:
        """The session's frames to score and its markers, in input order."""
        stream = session.state
        stream.trim()  # everything received before this batch has been scored
        items: list[VadFrame | Record] = []
        for _, record in records:
            if isinstance(record, Audio):
                if record.offset != stream.position:
                    session.log.warning("audio offset %d, expected %d; realigning", record.offset,
                                        stream.position)
                items += stream.push(record)
            else:
                items.append(record)
        return items

    async def _score(self, frames: list[tuple[VadSession, VadFrame]],
                     outputs: dict[VadSession, list[Record]]) -> None:
        """Score one frame of each of several sessions in one model call."""
        streams = [session.state for session, _ in frames]
        pcm = np.stack([frame.pcm for _, frame in frames]).astype(np.float32) / 32768.0
        batch = np.concatenate([np.stack([s.context for s in streams]), pcm], axis=1)
        state = np.ascontiguousarray(np.stack([s.rnn for s in streams], axis=1))
        started = time.perf_counter()
        probs, new_state = await asyncio.get_running_loop().run_in_executor(
            self._executor, self.model, batch, state)
        self.metrics.model_seconds.observe(time.perf_counter() - started)
        self.metrics.model_batch.observe(len(frames))
        contexts = pcm[:, -CONTEXT:]
        scores = probs.tolist()
        for j, (session, frame) in enumerate(frames):
            # Views, not copies: the arrays are never written again; the next round stacks them.
            events = streams[j].scored(frame, scores[j], rnn=new_state[:, j, :], context=contexts[j])
            if events:
                self._events(session, events, outputs[session])

    def _marker(self, session: VadSession, record: Record, out: list[Record], finished: set) -> None:
        stream = session.state
        if isinstance(record, Flush):
            self._events(session, stream.flush("flush"), out)
            out.append(Flush(seq=session.next_output_seq(), flush_id=record.flush_id))
        elif isinstance(record, End):
            self._events(session, stream.flush("end"), out)
            out.append(End(seq=session.next_output_seq(), reason=record.reason))
            finished.add(session)
        else:
            session.log.warning("ignoring unexpected %s record", record.TYPE)

    def _events(self, session: VadSession, events: list[Event], out: list[Record]) -> None:
        for event in events:
            if isinstance(event, SpeechAudio):
                # One record per event, never merged across ticks: a replay after a
                # takeover must cut the same records with the same seqs, whatever
                # the batching, or the next stage would skip new audio as replayed.
                self.metrics.speech_seconds.inc(len(event.pcm) / SAMPLE_RATE)
                out.append(Audio(seq=session.next_output_seq(), offset=event.offset, pcm=event.pcm.tobytes()))
            elif isinstance(event, SpeechStarted):
                out.append(SpeechStart(seq=session.next_output_seq(), start=event.start))
            elif isinstance(event, SpeechPaused):
                out.append(SpeechPause(seq=session.next_output_seq(), start=event.start, end=event.end))
            elif isinstance(event, SpeechEnded):
                self.metrics.utterances.labels(reason=event.reason).inc()
                out.append(SpeechEnd(seq=session.next_output_seq(), start=event.start, end=event.end,
                                     reason=event.reason))

    async def _commit(self, session: VadSession, last_id: str, outputs: list[Record], finish: bool) -> None:
        stream = session.state
        consumed, state = None, b""
        ended = any(isinstance(r, (SpeechEnd, Flush)) for r in outputs)
        # Only between utterances: the state is small there and a replay starts cleanly.
        if not finish and stream.segmenter.at_boundary and self.runner.checkpoint_due(session, force=ended):
            consumed, state = last_id, stream.snapshot()
        try:
            await self.runner.commit(session, outputs, consumed=consumed, state=state, finish=finish)
        except (LeaseLost, SessionGone) as exc:
            session.log.info("stopped writing: %s", exc)

    async def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
