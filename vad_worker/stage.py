"""The VAD stage: per-session Silero state and segmenter, one model call per round.

Each tick the runner hands over every session with new audio. Frames are scored
in rounds: round *k* scores the *k*-th pending frame of every session in one
batched call, so a worker with 300 live calls makes one Silero call per 32 ms of
audio, not 300. Markers (flush, end) are applied in order between frames.
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
from common.records import SAMPLE_RATE, Audio, End, Flush, Record, SpeechEnd, SpeechStart
from common.stage import Input, Runner, Session, Stage

from .model import CONTEXT, STATE_SHAPE, SileroVad
from .segmenter import Segmenter, SpeechAudio, SpeechEnded, SpeechStarted


@dataclass(eq=False)
class VadSessionState:
    """Per-session VAD state; small and separate from the shared model."""

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

    def add_raw(self, offset: int, raw: bytes, pcm: bytes) -> None:
        """Append one record's raw audio (or its scored audio if it has none)."""
        if not raw and not len(self.raw):
            return
        if self.raw_start + len(self.raw) != offset:
            self.raw, self.raw_start = np.zeros(0, np.int16), offset
        self.raw = np.concatenate([self.raw, np.frombuffer(raw or pcm, np.int16)])

    def trim_raw(self) -> None:
        """Keep only what the segmenter may still emit (pre-roll, held silence, split tail)."""
        options = self.segmenter.options
        horizon = options.frames(options.pre_roll + options.min_speech_duration + options.silence_threshold
                                 + options.split_search) * FRAME + 2 * FRAME
        cut = len(self.raw) - horizon
        if cut > 0:
            self.raw, self.raw_start = self.raw[cut:].copy(), self.raw_start + cut

    def speech(self, offset: int, pcm: np.ndarray) -> np.ndarray:
        """The audio to send for speech at ``offset``: raw where known, else the scored one."""
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

    def __init__(self, runner: Runner, model: SileroVad, *, defaults: EndpointOptions, metrics: VadMetrics) -> None:
        self.runner = runner
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
        work: list[tuple[VadSession, list]] = []
        for session, records in batch:
            work.append((session, self._work_items(session, records)))
        outputs: dict[VadSession, list[Record]] = {session: [] for session, _ in work}
        finished: set[VadSession] = set()
        cursors = [0] * len(work)
        while True:
            frames, owners = [], []
            for i, (session, items) in enumerate(work):
                # Apply markers at the head, then take one frame.
                while cursors[i] < len(items) and items[cursors[i]][0] == "marker":
                    self._marker(session, items[cursors[i]][1], outputs[session], finished)
                    cursors[i] += 1
                if cursors[i] < len(items):
                    frames.append(items[cursors[i]])
                    owners.append(i)
                    cursors[i] += 1
            if not frames:
                break
            await self._score(work, frames, owners, outputs)
        await bus.gather_bounded((
            self._commit(session, records[-1][0], outputs[session], session in finished)
            for session, records in batch
        ))

    def _work_items(self, session: VadSession, records: Input) -> list:
        stream = session.state
        stream.trim_raw()  # everything received before this batch has been scored
        items = []
        for _, record in records:
            if isinstance(record, Audio):
                if record.offset != stream.position:
                    session.log.warning("audio offset %d, expected %d; realigning", record.offset,
                                        stream.position)
                    stream.leftover = np.zeros(0, np.int16)
                    stream.position = record.offset
                stream.add_raw(record.offset, record.raw, record.pcm)
                samples = np.concatenate([stream.leftover, np.frombuffer(record.pcm, np.int16)])
                start = stream.position - len(stream.leftover)
                whole = len(samples) // FRAME * FRAME
                for k in range(0, whole, FRAME):
                    items.append(("frame", start + k, samples[k:k + FRAME]))
                stream.leftover = samples[whole:].copy()
                stream.position += record.samples
            else:
                items.append(("marker", record))
        return items

    async def _score(self, work, frames, owners, outputs) -> None:
        streams = [work[i][0].state for i in owners]
        pcm = np.stack([f[2] for f in frames]).astype(np.float32) / 32768.0
        batch = np.concatenate([np.stack([s.context for s in streams]), pcm], axis=1)
        state = np.ascontiguousarray(np.stack([s.rnn for s in streams], axis=1))
        started = time.perf_counter()
        probs, new_state = await asyncio.get_running_loop().run_in_executor(
            self._executor, self.model, batch, state)
        self.metrics.model_seconds.observe(time.perf_counter() - started)
        self.metrics.model_batch.observe(len(frames))
        for j, i in enumerate(owners):
            session, stream = work[i][0], streams[j]
            stream.rnn = new_state[:, j, :].copy()
            stream.context = pcm[j, -CONTEXT:].copy()
            _, offset, frame = frames[j]
            self._events(session, stream.segmenter.push(offset, frame, float(probs[j])), outputs[session])

    def _marker(self, session: VadSession, record: Record, out: list[Record], finished: set) -> None:
        stream = session.state
        if isinstance(record, Flush):
            self._events(session, stream.segmenter.flush("flush"), out)
            out.append(Flush(seq=session.next_output_seq(), flush_id=record.flush_id))
        elif isinstance(record, End):
            self._events(session, stream.segmenter.flush("end"), out)
            out.append(End(seq=session.next_output_seq(), reason=record.reason))
            finished.add(session)
        else:
            session.log.warning("ignoring unexpected %s record", record.TYPE)

    def _events(self, session: VadSession, events, out: list[Record]) -> None:
        stream = session.state
        for event in events:
            if isinstance(event, SpeechAudio):
                # One record per event, never merged across ticks: a replay after a
                # takeover must cut the same records with the same seqs, whatever
                # the batching, or the next stage would skip new audio as replayed.
                self.metrics.speech_seconds.inc(len(event.pcm) / SAMPLE_RATE)
                pcm = stream.speech(event.offset, event.pcm)  # raw audio for the ASR when given
                out.append(Audio(seq=session.next_output_seq(), offset=event.offset, pcm=pcm.tobytes()))
            elif isinstance(event, SpeechStarted):
                out.append(SpeechStart(seq=session.next_output_seq(), start=event.start))
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
