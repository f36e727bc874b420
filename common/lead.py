"""How far a batch session may run ahead of the stage after this one.

A live session's input arrives at real time, so no stage gets far ahead of the
next. A batch session (a recording) arrives as fast as the gateway may send it,
and the first stages are much faster than the ASR: unchecked, the VAD would
move a whole recording's speech into the ASR's input stream within a minute
(an hour of speech is about 100 MB of Redis). So a stage reads a batch session
only while fewer than ``max_records`` of the records it wrote wait unread in
the next stage's input; the gateway's backlog bound then holds the recording
back at the socket, and the pipeline pulls it at the pace of its slowest stage.

Unread, not untrimmed: a stage trims its input only as it checkpoints, and the
ASR checkpoints only at the end of an utterance, so bounding the stream's
length would stop the VAD in the middle of an utterance longer than the bound
and the ASR would wait for its end forever. The next stage's owner notes how
far it has read (its input seq) with each lease renewal (common/fence.py
``RENEW``, a few times per lease TTL); unread = this stage's output seq minus
that. It is looked up only when the estimate (the unread count last looked up
plus what this stage wrote since, which only overstates) reaches the bound: a
recording flowing freely costs one lookup per ``max_records`` records written.
A session held back is read again when the runner's sweep marks it (about once
a second).
"""

from __future__ import annotations

import weakref

from . import bus
from .stage import Session


class BatchLead:
    """The bound on batch sessions' records waiting unread in the next stage's input."""

    def __init__(self, redis: bus.Redis, *, max_records: int) -> None:
        self.redis = redis
        self.max_records = max_records
        # session -> (its records unread by the next stage as last looked up, its output_seq then)
        self._known: weakref.WeakKeyDictionary[Session, tuple[int, int]] = weakref.WeakKeyDictionary()

    async def ready(self, sessions: list[Session]) -> list[Session]:
        """The batch ``sessions`` whose next stage has room for more of their records; raises on Redis errors."""
        due = [s for s in sessions if s.next_stage is not None and self._estimate(s) >= self.max_records]
        if due:
            async with self.redis.pipeline(transaction=False) as pipe:
                for session in due:
                    assert session.next_stage is not None  # due has a next stage
                    pipe.hget(session.keys.checkpoint(session.next_stage), "read")
                reads = await pipe.execute()
            for session, read in zip(due, reads):
                self._known[session] = (session.output_seq - int(read or 0), session.output_seq)
        return [s for s in sessions if s.next_stage is None or self._estimate(s) < self.max_records]

    def _estimate(self, session: Session) -> int:
        unread, seq = self._known.get(session, (0, 0))
        return unread + session.output_seq - seq
