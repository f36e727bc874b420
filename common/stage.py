"""The contract between the stage runner and a stage (denoise, VAD, ASR).

A stage is handed its runner at construction and sees only :class:`Runner`: it
commits outputs and checkpoints, reports errors to the client and asks for
more input. The runner owns everything about Redis (leases, fencing, delivery)
and, per session, the sequence numbers of the outputs and the checkpoint
timing; the stage owns its per-session state (``StateT``) and its process-wide
resources, which it sets up in :meth:`Stage.start` and releases in
:meth:`Stage.shutdown`.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from . import keys
from .logs import SessionLogger
from .records import Record

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
    config: dict
    next_stage: str | None  # None: outputs go to the gateway's result stream
    read_id: str = "0-0"  # last input id delivered to the stage
    input_seq: int = 0  # expected seq of the next input record
    output_seq: int = 0  # seq of the next output record; checkpointed with the state
    replay_until: str = "0-0"  # input up to this id is a replay after a takeover
    checkpointed_at: float = 0.0  # time.monotonic() of the last checkpoint written
    announced: bool = False  # to the next stage's control stream, by this owner
    ids_to_seq: dict[str, int] = field(default_factory=dict)
    closed: bool = False
    state: StateT = field(init=False, repr=False)
    log: logging.LoggerAdapter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.keys = keys.SessionKeys(self.session_id)
        self.log = SessionLogger(log, {"session_id": self.session_id, "stage": self.stage})

    def next_output_seq(self) -> int:
        """The seq of the next output record, counted as taken.

        Outputs to the next stage (or the client) are numbered 0, 1, 2 ... across
        the session's whole life; the counter is saved with every checkpoint, so a
        replay after a takeover numbers the same records the same way.
        """
        seq = self.output_seq
        self.output_seq += 1
        return seq

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
    state: bytes = b""
    to_client: list[Record] = field(default_factory=list)
    finish: bool = False


class Runner(Protocol):
    """What a stage may ask of the runner that hosts it."""

    async def commit(self, session: Session, outputs: Iterable[Record] = (), *, consumed: str | None = None,
                     state: bytes = b"", to_client: Iterable[Record] = (), finish: bool = False) -> None:
        """Write ``outputs`` (to the next stage, or the client after the last stage) and
        ``to_client`` records (to the client, whatever the stage), plus a checkpoint
        of ``state`` up to input ``consumed`` if given, in one fenced write.
        ``finish`` ends the session here. Raises ``LeaseLost`` or ``SessionGone``."""

    async def commit_all(self, writes: Sequence[Write]) -> list[Exception | None]:
        """``commit`` of several sessions at once (one round trip); per write None or the
        ``LeaseLost`` / ``SessionGone`` that ``commit`` would have raised."""

    async def report(self, session: Session, code: str, message: str, *, fatal: bool = False) -> None:
        """Send an error to the client; never raises."""

    def checkpoint_due(self, session: Session, *, force: bool = False) -> bool:
        """True when the session's next commit should carry a checkpoint (``force``: now)."""

    def wake(self, session: Session) -> None:
        """Ask for another read of ``session`` (the stage is ready for more input)."""


class Stage(abc.ABC, Generic[StateT]):
    """What a stage implements; the runner owns everything about Redis."""

    name: str

    async def start(self) -> None:
        """Set up process-wide resources (load a model, start child processes) before sessions arrive."""

    async def shutdown(self) -> None:
        """Release what :meth:`start` set up; called once when the worker stops, even if start failed."""

    @abc.abstractmethod
    def open(self, session: Session[StateT], state: bytes | None) -> StateT:
        """Return the per-session state, restored from a checkpoint blob if given."""

    @abc.abstractmethod
    async def process(self, batch: list[tuple[Session[StateT], Input]]) -> None:
        """Handle new input of several sessions; write through the runner's ``commit``."""

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
