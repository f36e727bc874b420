"""How far a batch session may run ahead of the stage after this one.

A live session's input arrives at real time, so no stage gets far ahead of the
next. A batch session (a recording) arrives as fast as the gateway may send it,
and the first stages are much faster than the ASR: unchecked, the VAD would
move a whole recording's speech into the ASR's input stream within a minute
(an hour of speech is about 100 MB of Redis). So a stage reads a batch session
only while the next stage's input holds fewer than ``max_records`` of its
records; the gateway's backlog bound then holds the recording back at the
socket, and the pipeline pulls it at the pace of its slowest stage.

The next stage's input is trimmed as that stage checkpoints, so its length is
what waits there. It is read (``XLEN``) only when the estimate, the length
last read plus what this stage wrote since, reaches the bound: the estimate
only overstates, so the bound is never passed unnoticed, and a recording
flowing freely costs one read per ``max_records`` records written. A session
held back is read again when the runner's sweep marks it (about once a second).
"""

from __future__ import annotations

import weakref

from . import bus
from .stage import Session


class BatchLead:
    """The bound on batch sessions' records waiting in the next stage's input."""

    def __init__(self, redis: bus.Redis, *, max_records: int) -> None:
        self.redis = redis
        self.max_records = max_records
        # session -> (the next stage's input length as last read, output_seq then)
        self._known: weakref.WeakKeyDictionary[Session, tuple[int, int]] = weakref.WeakKeyDictionary()

    async def ready(self, sessions: list[Session]) -> list[Session]:
        """The batch ``sessions`` whose next stage has room for more of their records; raises on Redis errors."""
        due = [s for s in sessions if s.next_stage is not None and self._estimate(s) >= self.max_records]
        if due:
            async with self.redis.pipeline(transaction=False) as pipe:
                for session in due:
                    pipe.xlen(session.output_key)
                lengths = await pipe.execute()
            for session, length in zip(due, lengths):
                self._known[session] = (int(length), session.output_seq)
        return [s for s in sessions if s.next_stage is None or self._estimate(s) < self.max_records]

    def _estimate(self, session: Session) -> int:
        length, seq = self._known.get(session, (0, 0))
        return length + session.output_seq - seq
