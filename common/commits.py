"""A stage's writes: numbered, checkpointed when due, announced downstream, fenced.

Every write of a stage (:class:`~.stage.Write`) goes through :class:`Commits`,
which does for every stage what each would otherwise have to remember:

* it numbers the outputs of each session 0, 1, 2 ... across the session's
  whole life; the counter is saved with every checkpoint, so a replay after a
  takeover numbers the same records the same way;
* it adds a checkpoint where the write says how far the stage's state has
  taken its input in (``consumed``) and one is due (:mod:`.checkpoint`): at
  once for a write that passes a Flush on or ends an utterance (``boundary``),
  else at most every interval. The state is the stage's
  :meth:`~.stage.Stage.snapshot`, which may decline mid-utterance; the write
  that ends the session carries none (its keys go);
* it ends the session where its End is passed on;
* it announces the session to the next stage before the first write there;

and writes it all in one fenced script call (:mod:`.fence`): outputs and
checkpoint together or not at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from . import bus, keys
from .checkpoint import CheckpointPolicy
from .errors import LeaseLost, SessionGone
from .fence import Checkpoint, Commit, CommitRequest, Fence
from .metrics import StageMetrics
from .reader import InputReader
from .records import End, Error, Flush, Record
from .stage import Session, Stage, Write


@dataclass(frozen=True, slots=True)
class Plan:
    """What one write carries besides its records."""

    first_seq: int  # of its first output
    checkpoint: Checkpoint | None
    finish: bool  # it passes the End on: the session ends here


def plan(write: Write, *, policy: CheckpointPolicy, snapshot: Callable[[Session], bytes | None]) -> Plan | None:
    """Number ``write``'s outputs (the session's counter moves past them) and decide its checkpoint.

    None when it has nothing to write: no records and no checkpoint due (it would
    only check the lease, as the heartbeat does).
    """
    session = write.session
    first_seq = session.output_seq
    session.output_seq += len(write.outputs)
    finish = marker = False
    for record in write.outputs:
        if isinstance(record, End):
            finish = True
        elif isinstance(record, Flush):
            marker = True
    checkpoint = None
    if (write.consumed is not None and not finish
            and policy.due(session.checkpointed_at, force=marker or write.boundary)):
        state = snapshot(session)
        if state is not None:
            checkpoint = Checkpoint(consumed=write.consumed,
                                    input_seq=InputReader.input_seq_after(session, write.consumed),
                                    output_seq=session.output_seq, state=state)
    if not (write.outputs or write.to_client or checkpoint):
        return None
    return Plan(first_seq, checkpoint, finish)


class Exits(Protocol):
    """How a session leaves its runner after a write (:class:`~.runner.StageRunner` does it)."""

    async def drop(self, session: Session, reason: str) -> None:
        """The session leaves this worker (it ended, or its write failed and its lease is to lapse)."""
        ...

    async def forget_gone(self, session: Session) -> None:
        """The session's meta vanished: delete this stage's keys of it, then drop it."""
        ...


class Commits:
    """The writes of the sessions of one runner.

    ``fence`` writes them; ``stage`` snapshots a session's state for its checkpoint;
    ``reader`` forgets the input a checkpoint covers; ``exits`` lets a session go.
    """

    def __init__(self, *, redis: bus.Redis, fence: Fence, stage: Stage, reader: InputReader, exits: Exits,
                 metrics: StageMetrics, stage_name: str, policy: CheckpointPolicy) -> None:
        self.redis = redis
        self.fence = fence
        self.stage = stage
        self.reader = reader
        self.exits = exits
        self.metrics = metrics
        self.stage_name = stage_name
        self.policy = policy

    async def commit(self, session: Session, outputs: Iterable[Record] = (), *, consumed: str | None = None,
                     boundary: bool = False, to_client: Iterable[Record] = ()) -> None:
        """See :meth:`.stage.Runner.commit`. Drops the session if the write fails."""
        write = Write(session, list(outputs), consumed=consumed, boundary=boundary, to_client=list(to_client))
        request = await self._request(write)
        if request is None:
            return
        try:
            result: Commit | BaseException = await self.fence.commit(session.keys, request)
        except bus.CONNECTION_ERRORS as exc:  # (redis-py's disconnect race too: see bus)
            result = exc
        await self._settle(session, request, result)

    async def commit_all(self, writes: Sequence[Write]) -> list[Exception | None]:
        """See :meth:`.stage.Runner.commit_all` (one batch for the fence, no task each)."""
        errors: list[Exception | None] = [None] * len(writes)
        pending = []
        for i, write in enumerate(writes):
            try:
                request = await self._request(write)
            except (LeaseLost, SessionGone) as exc:
                errors[i] = exc
                continue
            if request is None:
                continue
            pending.append((i, write.session, request, self.fence.submit(write.session.keys, request)))
        results = await asyncio.gather(*(future for *_, future in pending), return_exceptions=True)
        for (i, session, request, _), result in zip(pending, results):
            if isinstance(result, BaseException) and not isinstance(result, bus.CONNECTION_ERRORS):
                raise result
            try:
                await self._settle(session, request,
                                   result if isinstance(result, BaseException) else Commit(int(result)))
            except (LeaseLost, SessionGone) as exc:
                errors[i] = exc
        return errors

    async def report(self, session: Session, code: str, message: str, *, fatal: bool = False) -> None:
        """Send an error to the client through the result stream (fenced); never raises."""
        try:
            await self.commit(session, to_client=[Error(code=str(code), message=message, fatal=fatal)])
        except (LeaseLost, SessionGone, *bus.CONNECTION_ERRORS) as exc:
            session.log.warning("could not report %s: %s", code, exc)

    async def _request(self, write: Write) -> CommitRequest | None:
        """The fenced write of ``write`` (None: nothing to write, see :func:`plan`), after
        announcing the session to the next stage if due."""
        session = write.session
        if session.closed:
            raise LeaseLost(f"session {session.session_id} is no longer owned here")
        if write.outputs and session.next_stage and not session.announced:
            await self._announce(session)
        planned = plan(write, policy=self.policy, snapshot=self.stage.snapshot)
        if planned is None:
            return None
        return CommitRequest(token=session.token, output_key=session.output_key, output_bell=session.output_bell,
                             outputs=write.outputs, first_seq=planned.first_seq, to_client=write.to_client,
                             checkpoint=planned.checkpoint, finish=planned.finish)

    async def _settle(self, session: Session, request: CommitRequest, result: Commit | BaseException) -> None:
        """Act on the outcome of a commit: drop the session (and raise) if it failed."""
        stage = self.stage_name
        if isinstance(result, BaseException):
            # Our in-memory state ran ahead of what Redis holds. Let the lease lapse:
            # the next owner (perhaps us) restores the checkpoint and replays.
            self.metrics.redis_errors.inc()
            await self.exits.drop(session, f"commit failed: {result}")
            raise LeaseLost(f"commit of {session.session_id}/{stage} failed: {result}") from result
        if result is Commit.FENCED:
            if session.handed_over:
                # Our drain released the lease while this write was on its way (seen under load:
                # the hand-over logged as a lost lease). Nothing was written; the next owner
                # replays from the checkpoint, as after any drain.
                await self.exits.drop(session, "drained")
                raise LeaseLost(f"{session.session_id}/{stage} handed over")
            self.metrics.fenced_rejects.inc()
            await self.exits.drop(session, "lease lost (write fenced)")
            raise LeaseLost(f"lease of {session.session_id}/{stage} lost")
        if result is Commit.GONE:
            await self.exits.forget_gone(session)
            raise SessionGone(session.session_id)
        if request.checkpoint is not None:
            session.checkpointed_at = time.monotonic()
            self.reader.forget_through(session, request.checkpoint.consumed)
        if request.finish:
            try:  # the End is written: a stale entry here only costs the sweep a look
                await self.redis.zrem(keys.owners(stage), session.session_id)
            except bus.CONNECTION_ERRORS as exc:
                session.log.warning("leaving the owners set failed: %s", exc)
            await self.exits.drop(session, "session ended")

    async def _announce(self, session: Session) -> None:
        """Tell the next stage of the session before the first write to its input.

        Before, not after: a session announced whose input is still empty is
        claimed and waits for it; one written but never announced would never be
        claimed. A duplicate (after a takeover here) is harmless: the claim finds
        the lease held. Raises :class:`LeaseLost` after dropping the session if
        Redis fails, as a failed commit does.
        """
        assert session.next_stage is not None  # announced only to a next stage
        try:
            await self.redis.xadd(keys.control_stream(session.next_stage), {"sid": session.session_id},
                                    maxlen=100_000, approximate=True)
        except bus.CONNECTION_ERRORS as exc:
            self.metrics.redis_errors.inc()
            await self.exits.drop(session, f"announcing to {session.next_stage} failed: {exc}")
            raise LeaseLost(f"announcing {session.session_id} to {session.next_stage} failed: {exc}") from exc
        session.announced = True
