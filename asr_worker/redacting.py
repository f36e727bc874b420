"""Redaction of what the ASR stage writes: a filter after the decodes, before the runner's write.

The :class:`RedactionFilter` is the stage's commit path (``asr_worker.core.Core.commit``): every record
the stage commits passes through the session's
:class:`~common.redaction.redactor.Redactor` (when the session asked for
redaction) before the fenced write, so the clear text of a redacted entity
never leaves the worker's memory: not to the result stream, not to the
checkpoint (:meth:`AsrStage.snapshot` writes none while finals are held),
hence not to the gateway's outputs either.

Finals that end in a number are held for the next final; what ends a hold
here: the next final, a SpeechStart more than ``hold_sec`` of audio after the
held final (released before it), a Flush or the End (released before the
marker), or a timeout (a task of the session): ``hold_sec`` of wall-clock time
after the held final with no speech, :data:`CONTINUED_SEC` after speech that
started in time (its final is what the hold waits for). A release by the timer carries no checkpoint (the session's task may
be mid-utterance); the next boundary's does.

A final whose second decode with the digits prompt wrote digits that were not kept (the stage
notes it in the session's ``unread_numbers``) is given to the redactor with that decode's text as
``unread_number``, which decides what that means; the note never leaves the worker's memory.

Names (``pii``): before a commit's transcripts are redacted, the worker's
:class:`~common.redaction.names.NameModel` reads them on its own thread (the
first time, it loads); the redaction itself then runs synchronously as before.
A commit of the same session from another task (the hold's timer) may run
meanwhile: it only releases finals held before these, so the order holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from common.errors import ErrorCode, LeaseLost, SessionGone
from common.metrics import AsrMetrics
from common.records import End, Flush, Record, SpeechStart, Transcript
from common.redaction.names import NameModel
from common.redaction.redactor import Redactor, words_of
from common.stage import Runner, Session


class RedactedState(Protocol):
    """What redaction keeps in a session's state (the stage's ``AsrSessionState`` has it), so that
    this module needs nothing of the stage."""

    redactor: Redactor | None
    redact_timer: asyncio.Task | None
    held_since: dict[str, float]
    unread_numbers: dict[str, str]


StateT = TypeVar("StateT", bound=RedactedState)

# A held final waits this long for the final of speech that started within --redact-hold-sec of
# it (the utterance that may go on with the number): long enough for a group of digits read
# slowly and its decode on a loaded worker, short enough that a stuck decode cannot hold it for long.
CONTINUED_SEC = 15.0


class RedactionFilter:
    """The ASR stage's commits, each session's redacted by its redactor (none: as they are)."""

    def __init__(self, runner: Runner, *, metrics: AsrMetrics, hold_sec: float, names: NameModel | None = None) -> None:
        self.runner = runner
        self.metrics = metrics
        self.hold_sec = hold_sec
        self.names = names  # None: this worker has no name model (sessions with pii are refused)

    async def commit(self, session: Session[StateT], outputs: Iterable[Record] = (), *, consumed: str | None = None,
                     boundary: bool = False, to_client: Iterable[Record] = ()) -> None:
        redactor = session.state.redactor
        if redactor is None:
            await self.runner.commit(session, outputs, consumed=consumed, boundary=boundary, to_client=to_client)
            return
        outputs = list(outputs)
        names = await self.find_names(session, outputs)
        await self.runner.commit(session, self.redact(session, outputs, names), consumed=consumed, boundary=boundary,
                                 to_client=to_client)

    async def find_names(self, session: Session[StateT], outputs: list[Record]) -> dict[int, frozenset[int]]:
        """Per transcript of ``outputs`` (by ``id``) the indices of its words that are a person's name,
        when the session redacts ``pii`` (none otherwise)."""
        redactor = session.state.redactor
        assert redactor is not None  # commit() calls it for sessions with redaction only
        transcripts = [r for r in outputs if isinstance(r, Transcript) and r.text.strip()]
        if self.names is None or "pii" not in redactor.kinds or not transcripts:
            return {}
        started = time.perf_counter()
        try:
            found = await self.names.persons([words_of(t) for t in transcripts])
        except Exception as exc:  # the model would not load or run: the session cannot be redacted
            session.log.exception("name model failed")
            await self.runner.report(session, ErrorCode.INTERNAL, f"redact=pii: the name model failed ({exc}); "
                                     "the session ends (nothing unredacted was sent)", fatal=True)
            raise SessionGone("name model failed") from exc
        self.metrics.redaction_names_seconds.observe(time.perf_counter() - started)
        return {id(t): f for t, f in zip(transcripts, found)}

    def redact(self, session: Session[StateT], outputs: Iterable[Record],
               names: dict[int, frozenset[int]] | None = None) -> list[Record]:
        """``outputs`` as they may leave the worker (synchronous: no other commit interleaves);
        ``names``: :meth:`find_names`'."""
        asr = session.state
        redactor = asr.redactor
        assert redactor is not None  # a session with redaction
        names = names or {}
        now = time.monotonic()
        out: list[Record] = []
        wait = None  # a new timeout for what is held after these records (None: as it was)
        for record in outputs:
            if isinstance(record, Transcript) and not record.final:
                out.append(redactor.partial(record, names=names.get(id(record), frozenset())))
            elif isinstance(record, Transcript):
                asr.held_since.setdefault(record.utterance_id, now)
                unread = asr.unread_numbers.pop(record.utterance_id, "")
                out.extend(redactor.final(record, names=names.get(id(record), frozenset()), unread_number=unread))
                wait = self.hold_sec
            elif isinstance(record, SpeechStart):
                out.extend(redactor.speech_start(record.start))
                out.append(record)
                # Speech resumed soon enough to go on with the number: wait for its final.
                wait = CONTINUED_SEC
            elif isinstance(record, (Flush, End)):
                out.extend(redactor.release())
                out.append(record)
            else:
                out.append(record)
        self._count(session, out, now)
        self._arm(session, wait)
        return out

    def _count(self, session: Session[StateT], records: Sequence[Record], now: float) -> None:
        """Metrics of the finals going out: how long each was held, what was redacted."""
        held_since = session.state.held_since
        for record in records:
            if isinstance(record, Transcript) and record.final:
                self.metrics.redaction_hold_seconds.observe(now - held_since.pop(record.utterance_id, now))
                for span in record.redactions:
                    self.metrics.redactions.labels(entity=span.entity).inc()

    def _arm(self, session: Session[StateT], wait: float | None) -> None:
        """While finals are held, (re)start their timeout of ``wait`` seconds (None: keep the one
        running); stop it when none is held."""
        asr = session.state
        timer = asr.redact_timer
        assert asr.redactor is not None  # redact() arms it
        if asr.redactor.holding and (wait is not None or timer is None or timer.done()):
            if timer is not None and timer is not asyncio.current_task():
                timer.cancel()
            asr.redact_timer = asyncio.create_task(self._timeout(session, wait or self.hold_sec),
                                                   name=f"asr-redact-{session.session_id}")
        elif not asr.redactor.holding and timer is not None and timer is not asyncio.current_task():
            timer.cancel()
            asr.redact_timer = None

    async def _timeout(self, session: Session[StateT], wait: float) -> None:
        await asyncio.sleep(wait)  # the hold's timeout, not a synchronisation
        asr = session.state
        if asr.redact_timer is asyncio.current_task():
            asr.redact_timer = None
        assert asr.redactor is not None  # armed by redact()
        released = asr.redactor.release()
        if not released:
            return
        self._count(session, released, time.monotonic())
        try:
            await self.runner.commit(session, released)
        except (LeaseLost, SessionGone):
            return
