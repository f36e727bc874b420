"""Redaction of what the ASR stage writes, between the stage and its runner.

:class:`RedactingRunner` stands where the stage's runner stood: every record
the stage commits passes through the session's
:class:`~common.redaction.redactor.Redactor` (when the session asked for
redaction) before the fenced write, so the clear text of a redacted entity
never leaves the worker's memory: not to the result stream, not to the
checkpoint (:meth:`AsrStage.snapshot` writes none while finals are held),
hence not to the gateway's outputs either.

Finals that end in a number are held for the next final; what ends a hold
here: the next final, a SpeechStart more than ``hold_sec`` of audio after the
held final (released before it), a Flush or the End (released before the
marker), or ``hold_sec`` of wall-clock time with no new final (a task of the
session). A release by the timer carries no checkpoint (the session's task may
be mid-utterance); the next boundary's does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from common.errors import LeaseLost, SessionGone
from common.metrics import AsrMetrics
from common.records import End, Flush, Record, SpeechStart, Transcript
from common.stage import Runner

if TYPE_CHECKING:
    from .stage import AsrSession


class RedactingRunner:
    """The ASR stage's view of its runner: commits redacted per session; the rest delegated."""

    def __init__(self, runner: Runner, *, metrics: AsrMetrics, hold_sec: float) -> None:
        self.runner = runner
        self.metrics = metrics
        self.hold_sec = hold_sec

    def __getattr__(self, name: str) -> Any:  # report, wake, commit_all ...: the runner's own
        return getattr(self.runner, name)

    async def commit(self, session: AsrSession, outputs: Iterable[Record] = (), *, consumed: str | None = None,
                     boundary: bool = False, to_client: Iterable[Record] = ()) -> None:
        redactor = session.state.redactor
        if redactor is None:
            await self.runner.commit(session, outputs, consumed=consumed, boundary=boundary, to_client=to_client)
            return
        await self.runner.commit(session, self.redact(session, outputs), consumed=consumed, boundary=boundary,
                                 to_client=to_client)

    def redact(self, session: AsrSession, outputs: Iterable[Record]) -> list[Record]:
        """``outputs`` as they may leave the worker (synchronous: no other commit interleaves)."""
        asr = session.state
        redactor = asr.redactor
        now = time.monotonic()
        out: list[Record] = []
        for record in outputs:
            if isinstance(record, Transcript) and not record.final:
                out.append(redactor.partial(record))
            elif isinstance(record, Transcript):
                asr.held_since.setdefault(record.utterance_id, now)
                out.extend(redactor.final(record))
            elif isinstance(record, SpeechStart):
                out.extend(redactor.speech_start(record.start))
                out.append(record)
            elif isinstance(record, (Flush, End)):
                out.extend(redactor.release())
                out.append(record)
            else:
                out.append(record)
        self._count(session, out, now)
        self._arm(session)
        return out

    def _count(self, session: AsrSession, records: list[Record], now: float) -> None:
        """Metrics of the finals going out: how long each was held, what was redacted."""
        held_since = session.state.held_since
        for record in records:
            if isinstance(record, Transcript) and record.final:
                self.metrics.redaction_hold_seconds.observe(now - held_since.pop(record.utterance_id, now))
                for span in record.redactions:
                    self.metrics.redactions.labels(entity=span.entity).inc()

    def _arm(self, session: AsrSession) -> None:
        """Start the hold's timeout while finals are held; stop it when none is."""
        asr = session.state
        if asr.redactor.holding:
            if asr.redact_timer is None or asr.redact_timer.done():
                asr.redact_timer = asyncio.create_task(self._timeout(session),
                                                       name=f"asr-redact-{session.session_id}")
        elif asr.redact_timer is not None and asr.redact_timer is not asyncio.current_task():
            asr.redact_timer.cancel()
            asr.redact_timer = None

    async def _timeout(self, session: AsrSession) -> None:
        await asyncio.sleep(self.hold_sec)
        asr = session.state
        if asr.redact_timer is asyncio.current_task():
            asr.redact_timer = None
        released = asr.redactor.release()
        if not released:
            return
        self._count(session, released, time.monotonic())
        try:
            await self.runner.commit(session, released)
        except (LeaseLost, SessionGone):
            return
