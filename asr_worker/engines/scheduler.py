"""Decode threads for CPU engines: finals before partials, stale partials dropped, batches.

With a plain FIFO executor a final that arrives while partials of other sessions
are queued waits for all of them (seen: at 8 sessions the final of an utterance
queued behind up to 7 partials). Here a final goes ahead of every queued
partial, and a partial that waited longer than ``partial_max_wait`` seconds is
not decoded at all: by then newer audio has arrived and the next partial (or the
final) will cover it. Among partials, those that would give an utterance its
first words go first (at 12-16 sessions on two cores the first partial had
waited behind other sessions' running partials: p50 1.2-2.5 s). FIFO within
each class keeps sessions fair.

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

import itertools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

FINAL, FIRST_WORDS, PARTIAL, STOP = 0, 1, 2, 3  # priorities: lower first

Request = TypeVar("Request")


class DecodeScheduler(Generic[Request]):
    """``workers`` threads calling ``run(requests)`` on batches of submitted requests by priority.

    ``run`` returns one result per request, in order; if it raises, every request
    of the batch gets the exception. :meth:`close` is idempotent.
    """

    def __init__(self, run: Callable[[list[Request]], list[Any]], *, workers: int, max_batch: int = 1,
                 partial_max_wait: float = 2.0, name: str = "decode",
                 clock: Callable[[], float] = time.monotonic,
                 on_stale: Callable[[], None] | None = None) -> None:
        self.max_batch = max(1, max_batch)
        self.partial_max_wait = partial_max_wait
        self._run = run
        self._clock = clock
        self._on_stale = on_stale
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    def submit(self, request: Request, *, final: bool, first_words: bool = False) -> Future:
        """Decode ``request`` on a decode thread; the future is cancelled if it is dropped as stale.

        ``first_words``: a partial of an utterance without words yet, served before other partials.
        """
        if self._closed:
            raise RuntimeError("the decode scheduler is closed")
        future: Future = Future()
        priority = FINAL if final else FIRST_WORDS if first_words else PARTIAL
        self._queue.put((priority, next(self._order), self._clock(), future, request))
        return future

    def close(self) -> None:
        """Stop the threads once they finish their current batch; cancel what is still queued."""
        if self._closed:
            return
        self._closed = True
        while True:
            try:
                _, _, _, future, _ = self._queue.get_nowait()
            except queue.Empty:
                break
            if future is not None:
                future.cancel()
        for _ in self._threads:
            self._queue.put((STOP, next(self._order), 0.0, None, None))

    def join(self, timeout: float) -> bool:
        """Wait (blocking, up to ``timeout`` s in all) for the threads to stop after :meth:`close`;
        False if one is still decoding."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _work(self) -> None:
        stop = False
        while not stop:
            batch: list[tuple[Future, Request]] = []
            first = self._queue.get()
            stop = self._take(first, batch)
            while not stop and len(batch) < self.max_batch:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry[0] != first[0]:  # a final never waits for partials decoded with it
                    self._queue.put(entry)
                    break
                stop = self._take(entry, batch)
            if batch:
                self._decode(batch)

    def _take(self, entry: tuple, batch: list) -> bool:
        """Add a queued request to ``batch`` unless it was aborted or went stale; True for a stop."""
        priority, _, queued_at, future, request = entry
        if priority == STOP:
            return True
        if priority != FINAL and self._clock() - queued_at > self.partial_max_wait:
            if future.cancel() and self._on_stale is not None:
                self._on_stale()
        elif future.set_running_or_notify_cancel():  # False: aborted while it waited
            batch.append((future, request))
        return False

    def _decode(self, batch: list[tuple[Future, Request]]) -> None:
        try:
            results = self._run([request for _, request in batch])
        except BaseException as exc:  # handed to the awaiting coroutines
            for future, _ in batch:
                future.set_exception(exc)
            return
        for (future, _), result in zip(batch, results, strict=True):
            future.set_result(result)
