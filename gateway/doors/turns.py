"""Flux's turns as a state machine: which turn event each transcript of the core makes.

Deepgram Flux reports a conversation as turns (``turn_index`` from 0), each
``StartOfTurn``, ``Update``\\ s, and ``EndOfTurn``; with eager finals, an
``EagerEndOfTurn`` at a pause, then ``TurnResumed`` if words come after it.
:class:`TurnTracker` derives these from the core's partials, finals and
``Flushed``, and keeps what a turn said so far. It knows nothing of JSON or
sockets: the Flux door (:mod:`.flux`) renders what it returns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..core import events


class TurnEvent(enum.StrEnum):
    """The ``event`` of a ``TurnInfo`` message."""

    START = "StartOfTurn"
    UPDATE = "Update"
    EAGER_END = "EagerEndOfTurn"
    RESUMED = "TurnResumed"
    END = "EndOfTurn"


class Phase(enum.Enum):
    """Where the current turn stands."""

    IDLE = "idle"  # no turn: the next words start one
    ONGOING = "ongoing"  # words are coming
    AWAITING = "awaiting"  # after an EagerEndOfTurn: new words resume the turn, the endpoint ends it


@dataclass(frozen=True, slots=True)
class TurnWord:
    """A word of the turn: a final's, timed, or the latest partial's, untimed (None)."""

    text: str
    confidence: float
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True, slots=True)
class TurnInfo:
    """One turn event and the turn as it stands then."""

    event: TurnEvent
    turn_index: int
    start_ms: int  # audio window of the turn so far
    end_ms: int
    transcript: str  # the turn's finals, then the latest partial after them
    words: tuple[TurnWord, ...]
    confidence: float  # end_of_turn_confidence
    trigger: str | None = None  # EndOfTurn: "manual" (ForceEndTurn) or "model"


class TurnTracker:
    """Turn events of one stream (one channel: Flux streams are mono).

    ``eager_confidence`` is given with eager finals (a final with ``speech_final``
    false is then an ``EagerEndOfTurn`` with that confidence); None without them.
    """

    def __init__(self, *, eager_confidence: float | None = None) -> None:
        self.eager_confidence = eager_confidence
        self.turn_index = 0
        self.phase = Phase.IDLE
        self._texts: list[str] = []  # the turn's finals
        self._words: list[TurnWord] = []  # their words
        self._pending: events.Partial | None = None  # the latest partial after them
        self._window = (0, 0)  # audio of the turn, ms
        # Where the turn's finals end: its end's window. A partial's may reach into the next turn's
        # speech (a short reply the ASR parted from the sentence it was decoded with).
        self._finals_end: int | None = None

    def partial(self, event: events.Partial) -> list[TurnInfo]:
        """A partial with words updates the turn (or starts, or resumes it)."""
        if not event.text.strip():
            return []
        self._pending = event
        self._extend(event)
        return [self._info(self._advance() or TurnEvent.UPDATE)]

    def final(self, event: events.Final) -> list[TurnInfo]:
        """A final adds its words to the turn; with ``speech_final`` it ends the turn, else at a pause
        it is an eager end (with eager finals) or an update (a long utterance split)."""
        self._pending = None
        infos = []
        text = event.text.strip()
        if text:
            self._extend(event)
            self._texts.append(text)
            self._finals_end = max(self._finals_end or event.end_ms, event.end_ms)
            self._words += [TurnWord(w.text.strip(), w.confidence, w.start_ms, w.end_ms) for w in event.words]
            if kind := self._advance():
                infos.append(self._info(kind))
        if event.speech_final:
            if self.phase is Phase.ONGOING and self.eager_confidence is not None and not event.from_finalize:
                # Flux's state machine ends a turn only from AwaitingEnd, and EndOfTurn repeats
                # the EagerEndOfTurn's transcript: an endpoint that came without a pause first
                # (the sentence endpoint, new words after TurnResumed) passes through it.
                infos.append(self._info(TurnEvent.EAGER_END, confidence=self.eager_confidence))
            if self.phase is not Phase.IDLE:
                infos.append(self._end("manual" if event.from_finalize else "model"))
        elif text and self.eager_confidence is not None:
            infos.append(self._info(TurnEvent.EAGER_END, confidence=self.eager_confidence))
            self.phase = Phase.AWAITING
        elif text and not infos:
            infos.append(self._info(TurnEvent.UPDATE))
        return infos

    def flushed(self) -> list[TurnInfo]:
        """A finalize (ForceEndTurn) that found no final pending ends a turn that had begun."""
        return [self._end("manual")] if self.phase is not Phase.IDLE else []

    def _advance(self) -> TurnEvent | None:
        """New words came: the state change they make (StartOfTurn, TurnResumed), or None."""
        kind = {Phase.IDLE: TurnEvent.START, Phase.AWAITING: TurnEvent.RESUMED}.get(self.phase)
        self.phase = Phase.ONGOING
        return kind

    def _extend(self, event: events.Transcript) -> None:
        start, end = self._window
        self._window = (event.start_ms, event.end_ms) if self.phase is Phase.IDLE else (start, max(end, event.end_ms))

    def _end(self, trigger: str) -> TurnInfo:
        """The turn's finals as its end (a partial not followed by a final had no words in the end)."""
        self._pending = None
        if self._finals_end is not None:
            self._window = (self._window[0], self._finals_end)
        info = self._info(TurnEvent.END, confidence=1.0, trigger=trigger)
        self.turn_index += 1
        self.phase, self._texts, self._words, self._finals_end = Phase.IDLE, [], [], None
        return info

    def _info(self, kind: TurnEvent, *, confidence: float = 0.0, trigger: str | None = None) -> TurnInfo:
        texts, words = list(self._texts), list(self._words)
        if self._pending is not None:
            pending = self._pending.text.strip()
            texts.append(pending)
            words += [TurnWord(word, self._pending.confidence or 1.0) for word in pending.split()]
        start, end = self._window
        return TurnInfo(kind, self.turn_index, start, end, " ".join(texts), tuple(words), confidence, trigger)
