"""Decode threads for CPU engines: finals before partials, live before batch, stale partials dropped, batches.

With a plain FIFO executor a final that arrives while partials of other sessions
are queued waits for all of them (seen: at 8 sessions the final of an utterance
queued behind up to 7 partials). Here a final goes ahead of every queued
partial, and a partial that waited longer than ``partial_max_wait`` seconds is
not decoded at all: by then newer audio has arrived and the next partial (or the
final) will cover it. Among partials, those that would give an utterance its
first words go first (at 12-16 sessions on two cores the first partial had
waited behind other sessions' running partials: p50 1.2-2.5 s). FIFO within
each class keeps sessions fair.

Batch sessions (recordings, ``batch=True``) come after every live request: a
thread takes a batch request only when no live one waits, and at most
``batch_workers`` batch decodes run at once (default: all threads but one), so
a live final that arrives finds a thread that is not decoding a recording.
Batch requests never go stale (they are finals, and nobody waits on them at
real time). Against starvation, aging: a batch request that has waited
``batch_max_wait`` seconds goes ahead of every live request (still within
``batch_workers``). Aging rather than a fixed share, because a share takes
decodes from live calls at a steady rate even when they are busy, where aging
takes nothing from them while they leave spare time (the usual case), and under
sustained live load still gives every recording a decode per ``batch_max_wait``
at least, so it always finishes.

A thread that becomes free takes what waits of one class, up to ``max_batch``
requests (finals first; a final never waits for partials decoded with it), and
decodes them in one call of ``run``; when nothing else waits a request goes
alone, without waiting for company. Whether batches pay depends on the
hardware: on the 2-core dev box two threads decoding one request each already
use both cores, and batches only made requests wait (BENCHMARKS.md), so the
whisper engine's default is 1; a GPU decodes a batch in about the time of one
request.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, NamedTuple, TypeVar

FINAL, FIRST_WORDS, PARTIAL, BATCH = range(4)  # classes, in the order they are served

Request = TypeVar("Request")


class _Queued(NamedTuple):
    queued_at: float
    future: Future
    request: Any


class DecodeScheduler(Generic[Request]):
    """``workers`` threads calling ``run(requests)`` on batches of submitted requests by priority.

    ``run`` returns one result per request, in order; if it raises, every request
    of the batch gets the exception. :meth:`close` is idempotent.
    """

    def __init__(self, run: Callable[[list[Request]], list[Any]], *, workers: int, max_batch: int = 1,
                 partial_max_wait: float = 2.0, batch_max_wait: float = 10.0, batch_workers: int | None = None,
                 name: str = "decode", clock: Callable[[], float] = time.monotonic,
                 on_stale: Callable[[], None] | None = None) -> None:
        workers = max(1, workers)
        self.max_batch = max(1, max_batch)
        self.partial_max_wait = partial_max_wait
        self.batch_max_wait = batch_max_wait
        self.batch_workers = max(1, workers - 1 if batch_workers is None else batch_workers)
        self._run = run
        self._clock = clock
        self._on_stale = on_stale
        self._queues: list[deque[_Queued]] = [deque() for _ in range(BATCH + 1)]
        self._batch_running = 0
        self._changed = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, request: Request, *, final: bool, first_words: bool = False, batch: bool = False) -> Future:
        """Decode ``request`` on a decode thread; the future is cancelled if it is dropped as stale.

        ``first_words``: a partial of an utterance without words yet, served before other partials.
        ``batch``: a decode of a batch session, served after every live one (but aging).
        """
        future: Future = Future()
        kind = BATCH if batch else FINAL if final else FIRST_WORDS if first_words else PARTIAL
        with self._changed:
            if self._closed:
                raise RuntimeError("the decode scheduler is closed")
            self._queues[kind].append(_Queued(self._clock(), future, request))
            self._changed.notify()
        return future

    def close(self) -> None:
        """Stop the threads once they finish their current batch; cancel what is still queued."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            queued = [entry for queue in self._queues for entry in queue]
            for queue in self._queues:
                queue.clear()
            self._changed.notify_all()
        for entry in queued:
            entry.future.cancel()

    def join(self, timeout: float) -> bool:
        """Wait (blocking, up to ``timeout`` s in all) for the threads to stop after :meth:`close`;
        False if one is still decoding."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _work(self) -> None:
        while True:
            with self._changed:
                taken = self._take()
                while taken is None:
                    if self._closed:
                        return
                    self._changed.wait()
                    taken = self._take()
                kind, batch = taken
                if kind == BATCH:
                    self._batch_running += 1
            try:
                self._decode(batch)
            finally:
                if kind == BATCH:
                    with self._changed:
                        self._batch_running -= 1
                        self._changed.notify()  # a batch request may wait for this slot

    def _take(self) -> tuple[int, list[tuple[Future, Request]]] | None:
        """(class, requests) to decode next, under the lock; None when nothing may go now."""
        while not self._closed:
            kind = self._next_class()
            if kind is None:
                return None
            batch: list[tuple[Future, Request]] = []
            queue = self._queues[kind]
            while queue and len(batch) < self.max_batch:
                self._admit(kind, queue.popleft(), batch)
            if batch:
                return kind, batch
            # Every request taken was aborted or stale: look again.
        return None

    def _next_class(self) -> int | None:
        batch_free = self._batch_running < self.batch_workers
        waiting = self._queues[BATCH]
        if batch_free and waiting and self._clock() - waiting[0].queued_at >= self.batch_max_wait:
            return BATCH  # aged: ahead of live requests
        for kind in (FINAL, FIRST_WORDS, PARTIAL):
            if self._queues[kind]:
                return kind
        return BATCH if batch_free and waiting else None

    def _admit(self, kind: int, entry: _Queued, batch: list) -> None:
        """Add a queued request to ``batch`` unless it was aborted or went stale."""
        if kind in (FIRST_WORDS, PARTIAL) and self._clock() - entry.queued_at > self.partial_max_wait:
            if entry.future.cancel() and self._on_stale is not None:
                self._on_stale()
        elif entry.future.set_running_or_notify_cancel():  # False: aborted while it waited
            batch.append((entry.future, entry.request))

    def _decode(self, batch: list[tuple[Future, Request]]) -> None:
        try:
            results = self._run([request for _, request in batch])
        except BaseException as exc:  # handed to the awaiting coroutines
            for future, _ in batch:
                future.set_exception(exc)
            return
        for (future, _), result in zip(batch, results, strict=True):
            future.set_result(result)
