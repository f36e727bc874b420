"""Strict CPU priority for live decodes: the batch child is stopped while a live decode waits or runs.

Nice 19 ranks the recordings' decoder last, but it still takes what a live decode could use (an
SMT sibling's core, caches, memory bandwidth). So the parent stops the child (``SIGSTOP``) while a
live decode is queued or running and continues it only after ``resume_after`` seconds without one:
live decodes come in bursts, and a run inside a burst leaves the next decode cold caches.
Starvation is bounded: a child stopped for ``period - min_run`` seconds runs ``min_run`` seconds
even beside live partials (never beside a live final, which a caller's end of speech waits on), so
a recording always progresses. :class:`PausePolicy` is the decision alone, tested without
processes; :class:`ChildPauser` applies it with signals through a pidfd (a reused pid is never
signalled). :meth:`ChildPauser.close` continues the child for good: call it before asking the
child to exit, or a stopped child would never read the request.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

log = logging.getLogger(__name__)


class Decision(NamedTuple):
    run: bool  # whether the child may run now
    wake_at: float | None  # when to ask again (tick) whatever happens meanwhile; None: at the next event


class PausePolicy:
    """Whether the batch child may run, from live decodes starting and ending, and a clock.

    The child runs once no live decode has been queued or running for ``resume_after``
    seconds; otherwise it is stopped, except for a run of ``min_run`` seconds after
    ``period - min_run`` seconds stopped.
    Every method takes ``now`` (seconds, monotonic) and returns the :class:`Decision`.
    """

    def __init__(self, *, min_run: float, period: float, now: float, live: int = 0, finals: int = 0,
                 resume_after: float = 0.0) -> None:
        if not 0.0 <= min_run < period:
            raise ValueError(f"the batch child's run ({min_run} s) must be 0 or more and under its period ({period} s)")
        if not 0.0 <= resume_after:
            raise ValueError(f"the batch child's resume delay ({resume_after} s) must be 0 or more")
        self.min_run = min_run
        self.max_pause = period - min_run if min_run > 0 else None  # None: no floor
        self.resume_after = resume_after
        self._live = live
        self._finals = finals  # of the live decodes, finals
        self._idle_since = now  # when the last live decode ended
        self._closed = False
        self._running = True
        self._since = now  # when the child last started or stopped
        self._share_until: float | None = None  # end of a run granted under live load
        self._paused_before = 0.0  # seconds stopped, pauses before the current one
        self.pauses = 0  # times the child was stopped
        self.shares = 0  # runs granted under live load

    @property
    def live(self) -> int:
        return self._live

    def started(self, now: float, *, final: bool = False) -> Decision:
        """A live decode (``final``: a final's) was queued (or started)."""
        self._live += 1
        self._finals += final
        return self.tick(now)

    def ended(self, now: float, *, final: bool = False) -> Decision:
        """A live decode (``final``: a final's) ended (or was dropped)."""
        if self._live == 1:
            self._idle_since = now
        self._live = max(0, self._live - 1)
        self._finals = max(0, self._finals - final)
        return self.tick(now)

    def close(self, now: float) -> Decision:
        """Run for good, whatever comes: the child is about to be asked to exit."""
        self._closed = True
        return self.tick(now)

    def tick(self, now: float) -> Decision:
        idle_at = None  # when the child is continued for want of live decodes
        if not self._closed and self._live == 0 and not self._running:
            idle_at = self._idle_since + self.resume_after
        if self._closed or (self._live == 0 and (self._running or idle_at is not None and now >= idle_at)):
            self._share_until = None
            self._set(True, now)
            return Decision(True, None)
        if self._running:
            if self._share_until is not None and now < self._share_until and not self._finals:
                return Decision(True, self._share_until)
            self._share_until = None
            self._set(False, now)
        if self.max_pause is None:
            return Decision(False, idle_at)
        resume_at = self._since + self.max_pause
        if now < resume_at:
            return Decision(False, resume_at if idle_at is None else min(resume_at, idle_at))
        if self._finals:  # the floor's run waits for them (asked again when one ends)
            return Decision(False, idle_at)
        self._set(True, now)
        self._share_until = now + self.min_run
        self.shares += 1
        return Decision(True, self._share_until)

    def paused_seconds(self, now: float) -> float:
        """Seconds the child has been stopped in all, the current pause included."""
        return self._paused_before + (0.0 if self._running else max(0.0, now - self._since))

    def _set(self, running: bool, now: float) -> None:
        if running == self._running:
            return
        if running:
            self._paused_before += max(0.0, now - self._since)
        else:
            self.pauses += 1
        self._running = running
        self._since = now


class ChildPauser:
    """Stops and continues one child process as :class:`PausePolicy` says, from any thread.

    :meth:`live` (True: a live decode queued; False: it ended; ``final``: a final's) may
    come before the child exists; :meth:`attach` names it. A timer thread wakes the policy for the share.
    Signals go through a pidfd where the system has them (Linux 5.3+), else ``os.kill``.
    """

    def __init__(self, *, min_run: float, period: float, resume_after: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # Refuse bad values now, not at the first recording.
        PausePolicy(min_run=min_run, period=period, now=0.0, resume_after=resume_after)
        self._min_run, self._period, self._resume_after, self._clock = min_run, period, resume_after, clock
        self._cond = threading.Condition()
        self._live = 0
        self._finals = 0
        self._policy: PausePolicy | None = None
        self._pid: int | None = None
        self._pidfd: int | None = None
        self._running = True  # what the child was last told
        self._wake_at: float | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def live(self, started: bool, final: bool = False) -> None:
        with self._cond:
            self._live = self._live + 1 if started else max(0, self._live - 1)
            self._finals = self._finals + final if started else max(0, self._finals - final)
            if self._policy is not None:
                now = self._clock()
                self._apply(self._policy.started(now, final=final) if started else self._policy.ended(now, final=final))

    def attach(self, pid: int) -> None:
        """Manage process ``pid`` from now on (once); nothing if already closed."""
        with self._cond:
            if self._closed or self._policy is not None:
                return
            self._pid = pid
            try:
                self._pidfd = os.pidfd_open(pid)
            except (AttributeError, OSError):  # no pidfds here: plain kill
                self._pidfd = None
            self._policy = PausePolicy(min_run=self._min_run, period=self._period, now=self._clock(), live=self._live,
                                       finals=self._finals, resume_after=self._resume_after)
            self._thread = threading.Thread(target=self._time, name="batch-pause", daemon=True)
            self._thread.start()
            self._apply(self._policy.tick(self._clock()))

    def close(self) -> None:
        """Continue the child and never stop it again; idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            if self._policy is not None:
                self._apply(self._policy.close(self._clock()))
            self._signal(signal.SIGCONT)  # whatever the policy thought it had sent
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
            self._pid = None
            self._cond.notify_all()  # the timer thread ends (not joined: close may run on the event loop)

    def stats(self) -> tuple[float, int, int]:
        """(seconds the child was stopped, pauses, shares granted under live load), since attached."""
        with self._cond:
            if self._policy is None:
                return 0.0, 0, 0
            return self._policy.paused_seconds(self._clock()), self._policy.pauses, self._policy.shares

    @property
    def running(self) -> bool:
        """Whether the child was last told to run."""
        with self._cond:
            return self._running

    def _time(self) -> None:
        with self._cond:
            policy = self._policy
            assert policy is not None  # attach sets it before it starts this thread
            while not self._closed:
                timeout = None if self._wake_at is None else max(0.0, self._wake_at - self._clock())
                if timeout is None or timeout > 0:
                    self._cond.wait(timeout)
                    continue
                self._apply(policy.tick(self._clock()))

    def _apply(self, decision: Decision) -> None:
        """Under the lock: signal the child if the decision changed what it should do."""
        if decision.wake_at != self._wake_at:
            self._wake_at = decision.wake_at
            self._cond.notify_all()
        if decision.run != self._running:
            self._running = decision.run
            self._signal(signal.SIGCONT if decision.run else signal.SIGSTOP)

    def _signal(self, signum: int) -> None:
        if self._pid is None:
            return
        try:
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signum)
            else:
                os.kill(self._pid, signum)
        except ProcessLookupError:  # the child is gone (the pool notices and fails its decodes)
            log.info("the batch child %s is gone; no more pauses", self._pid)
            self._pid = None
