"""Decode threads for CPU engines: finals before partials, stale partials dropped.

With a plain FIFO executor a final that arrives while partials of other sessions
are queued waits for all of them (seen: at 8 sessions the final of an utterance
queued behind up to 7 partials). Here a final goes ahead of every queued
partial, and a partial that waited longer than ``partial_max_wait`` seconds is
not decoded at all: by then newer audio has arrived and the next partial (or the
final) will cover it. FIFO within each class keeps sessions fair.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

FINAL, PARTIAL = 0, 1  # priorities: lower first


class DecodeScheduler:
    """``workers`` threads running submitted calls by priority; :meth:`close` is idempotent."""

    def __init__(self, *, workers: int, partial_max_wait: float = 2.0, name: str = "decode",
                 clock: Callable[[], float] = time.monotonic,
                 on_stale: Callable[[], None] | None = None) -> None:
        self.partial_max_wait = partial_max_wait
        self._clock = clock
        self._on_stale = on_stale
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[], Any], *, final: bool) -> Future:
        """Run ``fn`` on a decode thread; the future is cancelled if the call is dropped as stale."""
        if self._closed:
            raise RuntimeError("the decode scheduler is closed")
        future: Future = Future()
        self._queue.put((FINAL if final else PARTIAL, next(self._order), self._clock(), future, fn))
        return future

    def close(self) -> None:
        """Stop the threads once they finish their current call; cancel what is still queued."""
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
            self._queue.put((2, next(self._order), 0.0, None, None))  # a stop for each thread

    def _work(self) -> None:
        while True:
            priority, _, queued_at, future, fn = self._queue.get()
            if future is None:
                return
            if priority == PARTIAL and self._clock() - queued_at > self.partial_max_wait:
                if future.cancel() and self._on_stale is not None:
                    self._on_stale()
                continue
            if not future.set_running_or_notify_cancel():
                continue  # aborted while it waited
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the awaiting coroutine
                future.set_exception(exc)
