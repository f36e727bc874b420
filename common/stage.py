"""The contract between the stage runner and a stage (denoise, VAD, ASR).

A stage is handed its runner at construction and sees only :class:`Runner`: it
writes records, reports errors to the client and asks for more input. The
runner owns everything about Redis (leases, fencing, delivery) and the duties
every stage shares: it numbers each session's outputs, decides when a write
carries a checkpoint and takes it (:meth:`Stage.snapshot`), and ends the
session where its End is passed on. The stage owns its per-session state
(``StateT``) and its process-wide resources, which it sets up in
:meth:`Stage.start` and releases in :meth:`Stage.shutdown`.

The in-band markers, Flush and End, go through every stage in order with the
audio: a stage closes what it holds at one (:meth:`Stage.close_pending`) and
passes it on (:meth:`Stage.pass_marker`).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from . import keys
from .logs import SessionLogger
from .pipeline_config import PipelineConfig
from .records import End, Flush, Record

log = logging.getLogger(__name__)

StateT = TypeVar("StateT")

#: Input of one session in one processing step: (stream entry id, record) in order.
Input = list[tuple[str, Record]]


@dataclass(eq=False)
class Session(Generic[StateT]):
    """One session owned by this worker: identity, lease token, positions and the stage's state.

    ``state`` is set by the runner to what :meth:`Stage.open` returned.
    """

    session_id: str
    stage: str
    epoch: int
    token: str  # ``worker:epoch``, checked by every fenced write
    config: PipelineConfig
    next_stage: str | None  # None: outputs go to the gateway's result stream
    read_id: str = "0-0"  # last input id delivered to the stage
    input_seq: int = 0  # expected seq of the next input record
    # Seq of the next output record: the runner numbers outputs 0, 1, 2 ... across the
    # session's whole life and saves the counter with every checkpoint, so a replay after
    # a takeover numbers the same records the same way.
    output_seq: int = 0
    replay_until: str = "0-0"  # input up to this id is a replay after a takeover
    checkpointed_at: float = 0.0  # time.monotonic() of the last checkpoint written
    announced: bool = False  # to the next stage's control stream, by this owner
    ids_to_seq: dict[str, int] = field(default_factory=dict)
    closed: bool = False
    # The drain released (or is releasing) the lease: a write of ours that the fence refuses
    # now is the hand-over, not a lost lease.
    handed_over: bool = False
    state: StateT = field(init=False, repr=False)
    log: logging.LoggerAdapter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.keys = keys.SessionKeys(self.session_id)
        self.log = SessionLogger(log, {"session_id": self.session_id, "stage": self.stage})

    @property
    def output_key(self) -> str:
        return self.keys.input(self.next_stage) if self.next_stage else self.keys.out

    @property
    def output_bell(self) -> str:
        return self.keys.bell(self.next_stage or "out")


@dataclass(eq=False, slots=True)
class Write:
    """One session's write, for :meth:`Runner.commit_all` (the arguments of :meth:`Runner.commit`)."""

    session: Session
    outputs: list[Record]
    consumed: str | None = None
    boundary: bool = False
    to_client: list[Record] = field(default_factory=list)


class Runner(Protocol):
    """What a stage may ask of the runner that hosts it."""

    async def commit(self, session: Session, outputs: Iterable[Record] = (), *, consumed: str | None = None,
                     boundary: bool = False, to_client: Iterable[Record] = ()) -> None:
        """Write ``outputs`` (to the next stage, or the client after the last stage; numbered
        by the runner) and ``to_client`` records (to the client, whatever the stage) in one
        fenced write, ending the session if ``outputs`` pass its End on.

        ``consumed``: the stage's state has taken in the input up to this entry id, so
        the write may carry a checkpoint of :meth:`Stage.snapshot`; the runner adds one
        when it is due: at once if the write passes a Flush on or ``boundary`` says that
        an utterance ended, else at most every checkpoint interval. Raises ``LeaseLost``
        or ``SessionGone``."""

    async def commit_all(self, writes: Sequence[Write]) -> list[Exception | None]:
        """``commit`` of several sessions at once (one round trip); per write None or the
        ``LeaseLost`` / ``SessionGone`` that ``commit`` would have raised."""

    async def report(self, session: Session, code: str, message: str, *, fatal: bool = False) -> None:
        """Send an error to the client; never raises."""

    def wake(self, session: Session) -> None:
        """Ask for another read of ``session`` (the stage is ready for more input)."""


class Stage(abc.ABC, Generic[StateT]):
    """What a stage implements; the runner owns everything about Redis."""

    name: str
    # True: the runner calls process() with live sessions and with batch sessions (recordings)
    # apart, from two loops that run at once, so that a live round never waits for a
    # recording's. Only for a stage whose calls for different sessions may overlap.
    batch_apart: bool = False

    async def start(self) -> None:
        """Set up process-wide resources (load a model, start child processes) before sessions arrive."""

    async def shutdown(self) -> None:
        """Release what :meth:`start` set up; called once when the worker stops, even if start failed."""

    @abc.abstractmethod
    def open(self, session: Session[StateT], state: bytes | None) -> StateT:
        """Return the per-session state, restored from a checkpoint blob if given."""

    @abc.abstractmethod
    def snapshot(self, session: Session[StateT]) -> bytes | None:
        """The session's state as :meth:`open` restores it, for a checkpoint; None when it
        cannot be saved now (mid-utterance). The runner asks while it writes a commit that
        gave ``consumed``: the state has then taken in the input up to there."""

    @abc.abstractmethod
    async def process(self, batch: list[tuple[Session[StateT], Input]]) -> None:
        """Handle new input of several sessions; write through the runner's ``commit``."""

    async def close_pending(self, session: Session[StateT], marker: Flush | End) -> list[Record]:
        """Close what is in progress at ``marker`` (an utterance, audio held back) and return
        the records that must go before it; the default holds nothing back."""
        return []

    async def pass_marker(self, session: Session[StateT], marker: Flush | End) -> list[Record]:
        """The records to write for an input ``marker``: those of :meth:`close_pending`, then the
        marker itself. The runner checkpoints with a Flush and ends the session with the End."""
        return [*await self.close_pending(session, marker), marker]

    async def close(self, session: Session[StateT], reason: str) -> None:
        """The session left this worker (ended, lease lost, drained); drop what it holds and
        cancel and await every task started for it (but the caller's own, when called from one)."""

    def active(self, session: Session[StateT]) -> bool:
        """True while the session counts against the worker's capacity (default: while owned).

        The worker claims new sessions only while fewer than its capacity are
        active. A stage whose sessions cost little while idle (the ASR between
        utterances) says False then, so that idle sessions do not lock out speakers.
        """
        return True

    def ready_for_input(self, session: Session[StateT]) -> bool:
        """False pauses reading a session's input (per-session backpressure)."""
        return True

    async def readiness(self) -> tuple[bool, dict]:
        return True, {}

    def describe(self) -> dict:
        """What the worker announces with its load beside its capacity (JSON values): the ASR
        its model's name and languages, which gateways check a session's language against."""
        return {}
