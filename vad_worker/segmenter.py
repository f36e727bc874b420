"""Endpointing as a pure state machine over (frame, speech probability) pairs.

No I/O and no model here: the stage feeds frames of 512 samples with their
Silero probability and gets back events. States (:class:`SegmenterState`):

* ``SILENCE`` -- frames go to a pre-roll ring so the first syllable is not clipped;
* ``PENDING`` -- speech seen, but less than ``min_speech_duration`` of it yet; as in
  Silero's ``get_speech_timestamps``, a silence of up to :data:`~common.endpointing.WORD_GAP`
  (a stop consonant's closure) does not end it, and the speech is counted from its first frame
  to its last, gaps included; a longer silence before it counts makes it a click or noise;
* ``SPEECH`` -- audio is emitted; a silence run is held back (never sent) until it
  either ends with speech resuming (then sent) or reaches ``silence_threshold``
  (then only ``trailing_padding`` of it is sent and the utterance ends).

A silence run that reaches ``pause_threshold`` is a pause: its first
``trailing_padding`` goes out at once (it is sent either way: as padding at the
endpoint, or as speech if speech resumes) with one :class:`SpeechPaused`, whose
``end`` is the end the utterance will have if the silence goes on to the
endpoint. The ASR starts the final decode there, so the final is ready when the
endpoint is confirmed; speech that resumes simply continues the utterance.

Very long speech is split at ``max_utterance_sec``, at the best pause of the last
``split_search`` seconds (at most half the utterance): the longest run of frames
below the speech threshold's lower edge (``low``), the quieter of runs as long,
cut in its middle so that both parts keep half of it as padding; with no such
run, at the quietest frame. The audio after the cut is re-sent as the start of
the next utterance, which starts at the cut: its words' times, counted from its
start, follow on from the first part's.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import numpy as np

from common.endpointing import FRAME, WORD_GAP, EndpointOptions


class SegmenterState(str, enum.Enum):
    """Where the segmenter stands (like pipecat's ``VADState``)."""

    SILENCE = "silence"
    PENDING = "pending"  # speech seen, not yet long enough to count
    SPEECH = "speech"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    start: int


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    offset: int
    pcm: np.ndarray  # int16


@dataclass(frozen=True, slots=True)
class SpeechPaused:
    """A pause began: if the silence lasts, the utterance from ``start`` ends at ``end``."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    start: int
    end: int
    reason: str


Event = SpeechStarted | SpeechAudio | SpeechPaused | SpeechEnded


def coalesced(events: list[Event]) -> list[Event]:
    """``events`` with :class:`SpeechAudio` that follows on directly from the one
    before it (starts where that one's audio ends) merged into it."""
    if len(events) < 2:
        return events
    out: list[Event] = []
    for event in events:
        last = out[-1] if out else None
        if (isinstance(event, SpeechAudio) and isinstance(last, SpeechAudio)
                and event.offset == last.offset + len(last.pcm)):
            out[-1] = SpeechAudio(last.offset, np.concatenate([last.pcm, event.pcm]))
        else:
            out.append(event)
    return out


def best_pause(probs: list[float], *, low: float) -> int:
    """Where to split speech whose frames have speech probabilities ``probs``: the middle of the
    longest run of frames under ``low`` (of runs as long, the one with the lowest mean), else
    the quietest frame (the first of equals)."""
    best: tuple[int, float, int] | None = None  # (-length, mean, start): the least is the best
    i = 0
    while i < len(probs):
        if probs[i] >= low:
            i += 1
            continue
        start = i
        while i < len(probs) and probs[i] < low:
            i += 1
        run = (start - i, sum(probs[start:i]) / (i - start), start)
        if best is None or run < best:
            best = run
    if best is None:
        return min(range(len(probs)), key=probs.__getitem__)
    return best[2] + -best[0] // 2


class Segmenter:
    """Turns scored frames into speech events. ``push`` is the whole API."""

    def __init__(self, options: EndpointOptions) -> None:
        self.options = options
        self.state: SegmenterState = SegmenterState.SILENCE
        self.start = 0  # start sample of the current utterance
        self.preroll: deque[tuple[int, np.ndarray]] = deque(maxlen=max(1, options.frames(options.pre_roll)))
        self.pending: list[tuple[int, np.ndarray, float]] = []
        # Index in ``pending`` of the first frame under ``low`` since the last one over the
        # threshold (Silero's ``temp_end``): where the speech would end if the silence lasts.
        self.quiet_from: int | None = None
        self.held: list[tuple[int, np.ndarray, float]] = []
        self.released = 0  # held frames already emitted (the padding sent at a pause)
        self.paused_at: int | None = None  # where the utterance's last pause ended (said again at a split)
        search = min(options.split_search, options.max_utterance_sec / 2)
        self.recent: deque[tuple[int, np.ndarray, float]] = deque(maxlen=max(1, options.frames(search)))
        self._min_speech = max(1, options.frames(options.min_speech_duration))
        # Frames past a silence's first that end pending speech: Silero's "more than WORD_GAP".
        self._gap = int(WORD_GAP * options.sample_rate) // FRAME + 1
        self._silence = max(1, options.frames(options.silence_threshold))
        self._padding = options.frames(options.trailing_padding)
        pause = max(1, self._padding, options.frames(options.pause_threshold))
        self._pause = pause if pause < self._silence else None  # None: no pause before the endpoint
        self._max = options.frames(options.max_utterance_sec) * FRAME

    @property
    def at_boundary(self) -> bool:
        """True between utterances: the state is small and safe to checkpoint."""
        return self.state == SegmenterState.SILENCE

    def push(self, offset: int, frame: np.ndarray, prob: float) -> list[Event]:
        if self.state == SegmenterState.SILENCE:
            return self._silence_frame(offset, frame, prob)
        if self.state == SegmenterState.PENDING:
            return self._pending_frame(offset, frame, prob)
        return self._speech_frame(offset, frame, prob)

    def push_frames(self, offset: int, frames: np.ndarray, probs: list[float]) -> list[Event]:
        """:meth:`push` of consecutive frames (``frames[k]`` at ``offset + k * FRAME``).

        The events of one :meth:`push` per frame, :func:`coalesced`: audio that
        follows on directly is one :class:`SpeechAudio`, not one per frame (the
        stage makes one record of each, and the call's frames are one input
        record's, so the records still do not depend on how input is batched).
        The two runs that make up most audio take no per-frame state logic:
        quiet frames in silence only refill the pre-roll ring, and loud frames in
        speech with no silence held only go out. Every other frame goes through
        :meth:`push`.
        """
        events: list[Event] = []
        threshold, low = self.options.threshold, self.options.low
        count = len(probs)
        i = 0
        while i < count:
            state = self.state
            j = i
            if state == SegmenterState.SILENCE:
                while j < count and probs[j] < threshold:
                    j += 1
                keep = self.preroll.maxlen or 0
                for k in range(max(i, j - keep), j):
                    self.preroll.append((offset + k * FRAME, frames[k]))
            elif state == SegmenterState.SPEECH and not self.held:
                # Stop before a frame that reaches max_utterance_sec: push() splits there.
                last = (self.start + self._max - offset) // FRAME - 1  # last frame index ending before the limit
                stop = min(count, max(i, last))
                while j < stop and probs[j] >= low:
                    j += 1
                if j > i:
                    self.recent.extend(zip(range(offset + i * FRAME, offset + j * FRAME, FRAME), frames[i:j],
                                           probs[i:j]))
                    events.append(SpeechAudio(offset + i * FRAME, frames[i:j].reshape(-1)))
            if j == i:
                events += self.push(offset + i * FRAME, frames[i], probs[i])
                j = i + 1
            i = j
        return coalesced(events)

    def flush(self, reason: str) -> list[Event]:
        """Close the utterance in progress now (finalize, end of session)."""
        if self.state == SegmenterState.PENDING:
            speech = len(self.pending) if self.quiet_from is None else self.quiet_from  # frames, to its last
            if speech * FRAME >= self.options.sample_rate // 10:
                events = self._begin_speech()
                return events + self._end(reason, keep_padding=False)
            self._abort_pending()
            return []
        if self.state == SegmenterState.SPEECH:
            return self._end(reason, keep_padding=True)
        return []

    # -- states -------------------------------------------------------------

    def _silence_frame(self, offset: int, frame: np.ndarray, prob: float) -> list[Event]:
        if prob >= self.options.threshold:
            self.state = SegmenterState.PENDING
            self.pending = [(offset, frame, prob)]
            self.quiet_from = None
            if self._min_speech <= 1:
                return self._begin_speech()
            return []
        self.preroll.append((offset, frame))
        return []

    def _pending_frame(self, offset: int, frame: np.ndarray, prob: float) -> list[Event]:
        index = len(self.pending)
        self.pending.append((offset, frame, prob))
        # As Silero's get_speech_timestamps: only a frame over the threshold ends a silence run;
        # one between the thresholds counts as speech right after speech, not after a quiet frame.
        if prob >= self.options.threshold:
            self.quiet_from = None
        elif prob < self.options.low and self.quiet_from is None:
            self.quiet_from = index
        # Too short, then silence: a click, not speech. (Silero would wait through frames between
        # the thresholds for one over it; here they end it too, so ``pending`` stays short, and
        # speech that comes back starts anew, its start in the pre-roll.)
        if self.quiet_from is not None and index - self.quiet_from >= self._gap:
            self._abort_pending()
            return []
        if self.quiet_from is None and len(self.pending) >= self._min_speech:
            return self._begin_speech()
        return []

    def _speech_frame(self, offset: int, frame: np.ndarray, prob: float) -> list[Event]:
        events: list[Event] = []
        if self.held and prob >= self.options.threshold or not self.held and prob >= self.options.low:
            events += self._emit(self.held[self.released:] + [(offset, frame, prob)])  # speech (resumed)
            self.held, self.released = [], 0
        else:
            self.held.append((offset, frame, prob))
            if len(self.held) >= self._silence:
                return self._end("silence", keep_padding=True)
            if len(self.held) == self._pause:
                events += self._pause_events()
        events += self._maybe_split()
        return events

    # -- transitions ----------------------------------------------------------

    def _abort_pending(self) -> None:
        for offset, frame, _ in self.pending:
            self.preroll.append((offset, frame))
        self.pending = []
        self.quiet_from = None
        self.state = SegmenterState.SILENCE

    def _begin_speech(self) -> list[Event]:
        head = [(offset, frame, 0.0) for offset, frame in self.preroll]
        # Pre-roll frames are contiguous with the pending ones only if no gap.
        first = self.pending[0][0]
        head = [item for item in head if item[0] < first]
        self.start = head[0][0] if head else first
        self.preroll.clear()
        self.recent.clear()
        self.state = SegmenterState.SPEECH
        frames = head + self.pending
        self.pending = []
        self.quiet_from = None
        return [SpeechStarted(self.start), *self._emit(frames)]

    def _emit(self, frames: list[tuple[int, np.ndarray, float]]) -> list[Event]:
        if not frames:
            return []
        self.recent.extend(frames)
        return [SpeechAudio(frames[0][0], np.concatenate([f for _, f, _ in frames]))]

    def _pause_events(self) -> list[Event]:
        """Send the padding of the held silence now, and say where the utterance would end."""
        events = self._emit(self.held[self.released:self._padding])
        self.released = max(self.released, self._padding)
        return [*events, self._paused()]

    def _paused(self) -> SpeechPaused:
        """The utterance pauses where its emitted audio ends (remembered: a split may say it again)."""
        self.paused_at = self._emitted_end()
        return SpeechPaused(self.start, self.paused_at)

    def _emitted_end(self) -> int:
        if self.recent:
            last_offset, last_frame, _ = self.recent[-1]
            return last_offset + len(last_frame)
        return self.start

    def _end(self, reason: str, *, keep_padding: bool) -> list[Event]:
        # Frames released at a pause were sent already: they stay in the utterance.
        padding = max(self._padding if keep_padding else 0, self.released)
        rest = self.held[padding:]
        events = self._emit(self.held[self.released:padding])
        events.append(SpeechEnded(self.start, self._emitted_end(), reason))
        self.state = SegmenterState.SILENCE
        self.held, self.released = [], 0
        self.paused_at = None
        self.recent.clear()
        self.preroll.clear()
        for offset, frame, _ in rest:
            self.preroll.append((offset, frame))
        return events

    def _maybe_split(self) -> list[Event]:
        last_offset, last_frame, _ = self.recent[-1]
        if last_offset + len(last_frame) - self.start < self._max:
            return []
        # Split at the best pause of the search window (never at its first frame,
        # so that both parts keep some audio).
        candidates = list(self.recent)[1:]
        if not candidates:
            end = last_offset + len(last_frame)
            self.recent.clear()
            events: list[Event] = [SpeechEnded(self.start, end, "max_length"), SpeechStarted(end)]
            self.start, self.paused_at = end, None
            return events
        split_at = best_pause([p for _, _, p in candidates], low=self.options.low)
        cut_offset = candidates[split_at][0]
        tail = candidates[split_at:]
        events = [SpeechEnded(self.start, cut_offset, "max_length"), SpeechStarted(cut_offset)]
        self.start = cut_offset
        self.recent.clear()
        paused_at, self.paused_at = self.paused_at, None
        if paused_at is not None and paused_at > cut_offset:
            # A pause after the cut was said for the utterance that ended there, whose decode of it the
            # ASR drops: say it again for this one, where it was ("How can I help you today?" then,
            # 0.42 s later, the other party's "Robert Brown.": one final of both without it).
            said = [item for item in tail if item[0] + len(item[1]) <= paused_at]
            events += [*self._emit(said), self._paused()]
            tail = tail[len(said):]
        events += self._emit(tail)
        return events

    # -- checkpoints ------------------------------------------------------------

    def snapshot(self) -> dict:
        """State at a boundary (``at_boundary``): the pre-roll ring and nothing else."""
        assert self.at_boundary
        return {"preroll": [(offset, frame.tobytes()) for offset, frame in self.preroll]}

    def restore(self, snapshot: dict) -> None:
        self.state = SegmenterState.SILENCE
        self.preroll.clear()
        for offset, data in snapshot.get("preroll", []):
            self.preroll.append((int(offset), np.frombuffer(data, dtype=np.int16).copy()))
