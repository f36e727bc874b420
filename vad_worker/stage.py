"""The VAD stage: per-session Silero state and segmenter, one model call per round.

Each tick the runner hands over every session with new audio. A batch is
handled in three steps, so that the per-frame work is numpy over the batch, not
Python per frame:

1. framing: each session's audio records become blocks of whole frames
   (``[n, 512]`` views), with the markers (flush, end) between them;
2. scoring: round *k* scores the *k*-th new frame of every live session in one
   batched Silero call, so a worker with 300 live calls makes one call per
   32 ms of audio, not 300. A recording brings many frames of one session per
   round (~50): its frames go to Silero's sequence model in one call
   (:meth:`~.model.SileroVad.score_sequence`, same probabilities, a third of the
   CPU of ~50 calls of batch 1). The scoring of a batch runs as one job on the
   model thread; the model's recurrent state does not depend on the segmenter,
   so all of a session's frames are scored before any is segmented;
3. segmenting: each session's :class:`~.segmenter.Segmenter` takes its frames
   with their scores in order (markers applied between them) and its speech
   events become records.

Live sessions go first: the runner hands batch sessions (recordings) over in
calls of their own, from a loop of its own (:attr:`batch_apart`), and their
frames are scored on a model thread of their own, so a recording's frames, many
more per round than a live call's, never hold a live round back; the runner
bounds what a round brings of a recording. A call given both kinds (a runner
that keeps them together) commits the live sessions' records before it scores
a recording.
"""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import msgpack
import numpy as np

from common.endpointing import FRAME, WORD_GAP, EndpointOptions
from common.errors import ConfigError
from common.metrics import VadMetrics
from common.records import SAMPLE_RATE, Audio, End, Flush, Record, SpeechEnd, SpeechPause, SpeechStart
from common.stage import Input, Runner, Session, Stage, Write

from .model import CONTEXT, STATE_SHAPE, SileroVad
from .segmenter import Event, Segmenter, SpeechAudio, SpeechEnded, SpeechPaused, SpeechStarted


@dataclass(slots=True)
class FrameBlock:
    """Consecutive frames of one session: ``frames[k]`` (int16) starts at sample ``offset + k * FRAME``."""

    offset: int
    frames: np.ndarray  # [n, FRAME] int16


@dataclass(eq=False)
class VadSessionState:
    """Per-session VAD state (Silero's recurrent state, the segmenter); small and
    separate from the shared model, which scores frames of many sessions at once.

    Shaped like LiveKit's ``VADStream``: :meth:`push` audio in and get frames to
    score, hand the scores back to :meth:`scored`, :meth:`flush` at a marker;
    both of the latter return speech events.
    """

    segmenter: Segmenter
    position: int = 0  # next sample offset expected from the input
    leftover: bytes = b""  # PCM16 of the partial frame that waits for the next record
    context: np.ndarray = field(default_factory=lambda: np.zeros(CONTEXT, np.float32))
    rnn: np.ndarray = field(default_factory=lambda: np.zeros(STATE_SHAPE, np.float32))
    # Undenoised audio (Audio.raw) aligned with what is scored, for the speech the
    # segmenter emits: ``raw`` holds samples [raw_start, position). Empty when the
    # input carries no raw audio.
    raw: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    raw_start: int = 0

    def push(self, audio: Audio) -> FrameBlock | None:
        """Take one audio record; return the whole frames it completes (None: none yet).

        Audio that does not start at :attr:`position` restarts the framing there
        (the caller may log it); a partial frame waits for the next record.
        """
        if audio.offset != self.position:
            self.leftover = b""
            self.position = audio.offset
        self._add_raw(audio.offset, audio.raw, audio.pcm)
        # As bytes until the frames are cut: joining two small arrays costs ~3 us, bytes ~0.2.
        data = self.leftover + audio.pcm if self.leftover else audio.pcm
        start = self.position - len(self.leftover) // 2
        whole = len(data) // (2 * FRAME) * FRAME
        self.leftover = data[2 * whole:]
        self.position += audio.samples
        return FrameBlock(start, np.frombuffer(data, np.int16, count=whole).reshape(-1, FRAME)) if whole else None

    def scored(self, block: FrameBlock, probs: list[float]) -> list[Event]:
        """Segment ``block`` given its speech probabilities, in order."""
        return self._with_raw(self.segmenter.push_frames(block.offset, block.frames, probs))

    def flush(self, reason: str) -> list[Event]:
        """Close the utterance in progress (a flush or the end of the session)."""
        return self._with_raw(self.segmenter.flush(reason))

    def trim(self) -> None:
        """Keep only the raw audio the segmenter may still emit (pre-roll, held silence,
        split tail); call between batches, when everything received has been scored."""
        cut = len(self.raw) - self._raw_horizon
        if cut > 0:
            self.raw, self.raw_start = self.raw[cut:].copy(), self.raw_start + cut

    @functools.cached_property
    def _raw_horizon(self) -> int:
        """Samples of raw audio the segmenter may still emit."""
        options = self.segmenter.options
        return options.frames(options.pre_roll + options.min_speech_duration + WORD_GAP + options.silence_threshold
                              + options.split_search) * FRAME + 2 * FRAME

    def _add_raw(self, offset: int, raw: bytes, pcm: bytes) -> None:
        """Append one record's raw audio (or its scored audio if it has none)."""
        if not raw and not len(self.raw):
            return
        if self.raw_start + len(self.raw) != offset:
            self.raw, self.raw_start = np.zeros(0, np.int16), offset
        self.raw = np.concatenate([self.raw, np.frombuffer(raw or pcm, np.int16)])

    def _with_raw(self, events: list[Event]) -> list[Event]:
        """The events with raw audio in place of the scored audio where it is known."""
        if not len(self.raw):
            return events
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
            "position": self.position, "leftover": self.leftover,
            "context": self.context.tobytes(), "rnn": self.rnn.tobytes(),
            "segmenter": self.segmenter.snapshot(),
            # At a boundary only the pre-roll (and the leftover) can still be emitted.
            "raw": self.raw[-(self.segmenter.options.frames(self.segmenter.options.pre_roll) + 1) * FRAME:].tobytes(),
            "raw_end": self.raw_start + len(self.raw),
        })

    def restore(self, blob: bytes) -> None:
        data = msgpack.unpackb(blob)
        self.position = data["position"]
        self.leftover = bytes(data["leftover"])
        self.context = np.frombuffer(data["context"], np.float32).copy()
        self.rnn = np.frombuffer(data["rnn"], np.float32).reshape(STATE_SHAPE).copy()
        self.segmenter.restore(data["segmenter"])
        self.raw = np.frombuffer(data.get("raw", b""), np.int16).copy()
        self.raw_start = data.get("raw_end", 0) - len(self.raw)


VadSession = Session[VadSessionState]

# Rounds whose audio is converted to floats at once: bounds the float copy of a
# backlog (a session far behind brings up to read_count records) to this many frames.
_ROUNDS_PER_CHUNK = 8
# Frames of one session per sequence-model call: bounds its float copy (~0.6 MB);
# beyond ~8 frames a longer call costs no less per frame.
_SEQUENCE_FRAMES = 256


@dataclass(eq=False, slots=True)
class _Plan:
    """One session's share of a batch: its new frames and the steps to apply them."""

    session: VadSession
    steps: list[tuple[FrameBlock, int] | Record] = field(default_factory=list)  # (block, index of its first frame)
    count: int = 0  # frames to score
    frames: np.ndarray | None = None  # [count, FRAME] int16
    probs: list[float] = field(default_factory=list)


class VadStage(Stage[VadSessionState]):
    name = "vad"
    batch_apart = True

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
        # One thread for live sessions' calls (they are batched) and one for recordings', so
        # that a live call never queues behind a recording's; ONNX Runtime releases the GIL
        # while it runs, and one session may run on several threads at once.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="silero")
        self._batch_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="silero-batch")

    def open(self, session: VadSession, state: bytes | None) -> VadSessionState:
        try:
            options = session.config.vad.apply(self.defaults)
        except ConfigError as exc:  # valid with the stock defaults, not with this worker's
            session.log.warning("the session's vad options do not fit this worker's (%s); using its own", exc)
            options = self.defaults
        stream = VadSessionState(segmenter=Segmenter(options))
        if state:
            stream.restore(state)
        return stream

    def snapshot(self, session: VadSession) -> bytes | None:
        # Only between utterances: the state is small there and a replay starts cleanly.
        stream = session.state
        return stream.snapshot() if stream.segmenter.at_boundary else None

    async def close_pending(self, session: VadSession, marker: Flush | End) -> list[Record]:
        """The rest of the utterance in progress, ended by the marker."""
        return self._records(session.state.flush("flush" if isinstance(marker, Flush) else "end"))

    async def process(self, batch: list[tuple[VadSession, Input]]) -> None:
        started = time.monotonic()
        live = [item for item in batch if not item[0].config.batch]
        recordings = [item for item in batch if item[0].config.batch]
        # Live sessions' records are written before a recording is scored.
        if live:
            await self._process(live, self._score, self._executor)
        if recordings:
            await self._process(recordings, self._score_sequences if self.model.has_sequence else self._score,
                                self._batch_executor)
        rest = started + self.min_round_interval - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)  # pacing: lets the next batch build up

    async def _process(self, batch: list[tuple[VadSession, Input]], score, executor: ThreadPoolExecutor) -> None:
        """Score (``score``: :meth:`_score` or :meth:`_score_sequences`, on ``executor``'s thread),
        segment and commit ``batch``."""
        plans = [self._plan(session, records) for session, records in batch]
        scored = [plan for plan in plans if plan.count]
        if scored:
            streams = [plan.session.state for plan in scored]
            contexts = np.stack([stream.context for stream in streams])
            states = np.stack([stream.rnn for stream in streams], axis=1)
            probs, contexts, states = await asyncio.get_running_loop().run_in_executor(
                executor, score, [plan.frames for plan in scored], contexts, states)
            for i, (plan, stream) in enumerate(zip(scored, streams)):
                # Rows of the batch's arrays: never written again; the next batch stacks them.
                stream.context, stream.rnn = contexts[i], states[:, i]
                plan.probs = probs[i]
        writes = []
        speech = 0
        for plan, (session, records) in zip(plans, batch):
            stream = session.state
            out: list[Record] = []
            for step in plan.steps:
                if isinstance(step, tuple):
                    block, first = step
                    out += self._records(stream.scored(block, plan.probs[first:first + len(block.frames)]))
                elif isinstance(step, (Flush, End)):
                    out += await self.pass_marker(session, step)
                else:
                    session.log.warning("ignoring unexpected %s record", step.TYPE)
            speech += sum(record.samples for record in out if isinstance(record, Audio))
            writes.append(Write(session, out, consumed=records[-1][0],
                                boundary=any(isinstance(record, SpeechEnd) for record in out)))
        if speech:
            self.metrics.speech_seconds.inc(speech / SAMPLE_RATE)
        for write, error in zip(writes, await self.runner.commit_all(writes)):
            if error is not None:
                write.session.log.info("stopped writing: %s", error)

    def _plan(self, session: VadSession, records: Input) -> _Plan:
        """The session's frames to score and its steps (frame blocks and markers), in input order."""
        stream = session.state
        stream.trim()  # everything received before this batch has been scored
        plan = _Plan(session)
        blocks = []
        for _, record in records:
            if isinstance(record, Audio):
                if record.offset != stream.position:
                    session.log.warning("audio offset %d, expected %d; realigning", record.offset,
                                        stream.position)
                block = stream.push(record)
                if block is not None:
                    plan.steps.append((block, plan.count))
                    plan.count += len(block.frames)
                    blocks.append(block.frames)
            else:
                plan.steps.append(record)
        if blocks:
            plan.frames = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        return plan

    def _score(self, frames: list[np.ndarray], contexts: np.ndarray,
               states: np.ndarray) -> tuple[list[list[float]], np.ndarray, np.ndarray]:
        """Score every session's frames (on the model thread), round by round.

        ``frames[i]`` are session *i*'s new frames ``[n_i, FRAME]`` int16,
        ``contexts [B, CONTEXT]`` and ``states [2, B, 128]`` its model state
        before them. Round *k* scores frame *k* of every session that has one,
        in one call. Returns each session's probabilities and the model state
        after its last frame.
        """
        counts = np.array([len(f) for f in frames])
        order = np.argsort(-counts, kind="stable")  # the sessions scored in round k are a prefix
        counts = counts[order]
        context = contexts[order]
        state = states[:, order]
        probs = np.zeros((len(frames), counts[0]), np.float32)
        batch = np.empty((len(frames), CONTEXT + FRAME), np.float32)
        for first in range(0, counts[0], _ROUNDS_PER_CHUNK):
            # The audio of the next rounds, as floats, one row per session still scoring.
            rows = int(np.count_nonzero(counts > first))
            chunk = np.zeros((rows, _ROUNDS_PER_CHUNK, FRAME), np.int16)
            for row in range(rows):
                part = frames[order[row]][first:first + _ROUNDS_PER_CHUNK]
                chunk[row, :len(part)] = part
            audio = chunk.astype(np.float32)
            audio *= 1 / 32768  # a power of two: exact, the same as dividing by 32768
            for k in range(first, min(first + _ROUNDS_PER_CHUNK, counts[0])):
                live = int(np.count_nonzero(counts > k))
                batch[:live, :CONTEXT] = context[:live]
                batch[:live, CONTEXT:] = audio[:live, k - first]
                started = time.perf_counter()
                p, new_state = self.model(batch[:live], np.ascontiguousarray(state[:, :live]))
                self.metrics.model_seconds.observe(time.perf_counter() - started)
                self.metrics.model_batch.observe(live)
                probs[:live, k] = p
                state[:, :live] = new_state
                context[:live] = batch[:live, -CONTEXT:]
        back = np.empty_like(order)
        back[order] = np.arange(len(order))  # sorted position of each session
        rows = probs.tolist()
        return ([rows[back[i]][:len(frames[i])] for i in range(len(frames))],
                context[back], state[:, back])

    def _score_sequences(self, frames: list[np.ndarray], contexts: np.ndarray,
                         states: np.ndarray) -> tuple[list[list[float]], np.ndarray, np.ndarray]:
        """:meth:`_score` with each session's frames in one call of the sequence model (on the model thread).

        For recordings: a round brings many frames of each, and one call per
        session costs a third of one per frame. Same arguments and result as
        :meth:`_score`, and the same probabilities and state.
        """
        probs = []
        for i, session_frames in enumerate(frames):
            context, state = contexts[i], states[:, i]
            scored = []
            for first in range(0, len(session_frames), _SEQUENCE_FRAMES):
                part = session_frames[first:first + _SEQUENCE_FRAMES]
                rows = np.empty((len(part), CONTEXT + FRAME), np.float32)
                audio = rows[:, CONTEXT:]
                audio[:] = part
                audio *= 1 / 32768  # as in _score: exact
                rows[0, :CONTEXT] = context
                rows[1:, :CONTEXT] = audio[:-1, -CONTEXT:]
                started = time.perf_counter()
                p, state = self.model.score_sequence(rows, state)
                self.metrics.model_seconds.observe(time.perf_counter() - started)
                self.metrics.model_batch.observe(len(part))
                scored.append(p)
                context = audio[-1, -CONTEXT:]
            probs.append((scored[0] if len(scored) == 1 else np.concatenate(scored)).tolist())
            contexts[i], states[:, i] = context, state
        return probs, contexts, states

    def _records(self, events: list[Event]) -> list[Record]:
        """The records of speech ``events``."""
        records: list[Record] = []
        for event in events:
            if isinstance(event, SpeechAudio):
                # One record per event: per input record at most (push_frames
                # coalesces within one), never across records, so that a replay after
                # a takeover cuts the same records with the same seqs whatever the
                # batching, or the next stage would skip new audio as replayed.
                records.append(Audio(offset=event.offset, pcm=event.pcm.tobytes()))
            elif isinstance(event, SpeechStarted):
                records.append(SpeechStart(start=event.start))
            elif isinstance(event, SpeechPaused):
                records.append(SpeechPause(start=event.start, end=event.end))
            elif isinstance(event, SpeechEnded):
                self.metrics.utterances.labels(reason=event.reason).inc()
                records.append(SpeechEnd(start=event.start, end=event.end, reason=event.reason))
        return records

    async def shutdown(self) -> None:
        for executor in (self._executor, self._batch_executor):
            executor.shutdown(wait=False, cancel_futures=True)
