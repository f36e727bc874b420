"""The pre-recorded requests a gateway is working on, so that its shutdown finishes them.

A pre-recorded request is work the gateway promised: a client waits for its
JSON, or was answered ``{"request_id"}`` and waits for the callback. At
shutdown (SIGTERM: a rolling upgrade) :meth:`InFlight.drain` stops taking new
ones (:attr:`InFlight.closing`: new requests get 503) and waits for every job
to finish, its transcription and its callback with its retries, up to the
gateway's ``--drain-timeout``, the one bound the orchestrator's grace period
is set against. A job still running then is cancelled, logged at WARNING with
its request id, and counted (``prerecorded_undelivered_total``, by kind): its
result is lost, and saying so is all that is left to do. Unless the job, as it
ends, says it handed its result over (:meth:`InFlight.handed_over`: a callback
whose delivery went to Redis for another gateway, :mod:`gateway.outputs.courier`):
that one is logged at INFO and not counted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from prometheus_client import Counter

log = logging.getLogger(__name__)

Kind = Literal["response", "callback"]
KINDS: tuple[Kind, ...] = ("response", "callback")
_WHAT = {"response": "answered 503 without its transcript",
         "callback": "its callback was not delivered"}


class InFlight:
    """Jobs (asyncio tasks) by request id; ``undelivered``: a counter labelled by ``kind``."""

    def __init__(self, *, undelivered: Counter) -> None:
        self.undelivered = undelivered
        for kind in KINDS:  # exported from the start, at 0
            undelivered.labels(kind=kind)
        self.closing = False
        self._jobs: dict[asyncio.Task, tuple[str, Kind]] = {}
        self._handed: set[str] = set()  # request ids whose cut job handed its result over

    def __len__(self) -> int:
        return sum(1 for task in self._jobs if not task.done())

    def add(self, task: asyncio.Task, *, request_id: str, kind: Kind) -> None:
        """Track ``task`` until it ends. A job added while :meth:`drain` runs (a request's callback) is
        waited for too; a new request must check :attr:`closing` first (after the drain, none is)."""
        self._jobs[task] = (request_id, kind)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        request_id, kind = self._jobs.pop(task)
        # A callback's job is awaited by nobody: a bug that raises in it would otherwise end as asyncio's
        # "Task exception was never retrieved", with the callback lost and not counted.
        if kind == "callback" and not task.cancelled() and (error := task.exception()) is not None:
            log.error("pre-recorded %s: the callback was not delivered: its job failed", request_id, exc_info=error)
            self.undelivered.labels(kind=kind).inc()

    def handed_over(self, request_id: str) -> None:
        """Called by a job the drain cuts, as it ends: its result went on elsewhere, not lost."""
        self._handed.add(request_id)

    async def drain(self, *, timeout: float) -> list[str]:
        """Take no new job; wait up to ``timeout`` s for every job, jobs started meanwhile included
        (a request's job hands over to its callback's); cancel those left. The request ids of those
        whose result is lost (not handed over)."""
        self.closing = True
        if len(self):
            log.info("shutdown: waiting for %d pre-recorded request(s) to finish (--drain-timeout %.0f s)",
                     len(self), timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while running := [task for task in self._jobs if not task.done()]:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.wait(running, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        left = {task: self._jobs[task] for task in self._jobs if not task.done()}
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        lost = []
        for request_id, kind in left.values():
            if request_id in self._handed:
                log.info("pre-recorded %s: handed over: the gateway stopped after --drain-timeout (%.0f s); its "
                         "%s goes on from Redis", request_id, timeout, kind)
                continue
            lost.append(request_id)
            log.warning("pre-recorded %s: not delivered: the gateway stopped after --drain-timeout (%.0f s) "
                        "before it was done; %s", request_id, timeout, _WHAT[kind])
            self.undelivered.labels(kind=kind).inc()
        return lost
