"""Decode threads for CPU engines: finals, then first words, then partials; recordings apart; batches.

With a plain FIFO a final waits behind every queued partial of other sessions. Here finals go
first (FIFO among them); then partials that give an utterance its first words, oldest utterance
first and never dropped as stale (a dropped first partial sent its session to the back of the
queue); then next partials, on at most ``partial_workers`` threads so that a final or a first
partial never waits for more than the decodes already running, and dropped once they waited past
``partial_max_wait`` (newer audio covers them). Under overload partial cadence is shed before
finals. Recordings have ``batch_workers`` threads of their own that take nothing else: a bounded
share, so what a recording can cost live calls is known in advance. A free thread takes up to
``max_batch`` waiting requests of one class in one call (worth it on a GPU, not on 2 CPU cores).
``on_live`` reports live decodes queued and done, for the engine's batch pause (:mod:`.batch_pause`).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, NamedTuple, TypeVar

FINAL, FIRST_WORDS, PARTIAL, BATCH = range(4)  # classes, in the order they are served

Request = TypeVar("Request")


class _Queued(NamedTuple):
    since: float  # the order within a class: oldest first
    queued_at: float
    future: Future
    request: Any


class DecodeScheduler(Generic[Request]):
    """``workers`` threads calling ``run(requests)`` on batches of submitted live requests by
    priority, and ``batch_workers`` threads calling ``run_batch`` (default ``run``) on batch ones.

    ``run`` returns one result per request, in order; if it raises, every request
    of the batch gets the exception. :meth:`close` is idempotent.
    """

    def __init__(self, run: Callable[[list[Request]], list[Any]], *, workers: int, max_batch: int = 1,
                 partial_max_wait: float = 2.0, batch_workers: int = 1,
                 run_batch: Callable[[list[Request]], list[Any]] | None = None, name: str = "decode",
                 clock: Callable[[], float] = time.monotonic,
                 on_stale: Callable[[], None] | None = None, batch_max_batch: int | None = None,
                 on_live: Callable[[bool, bool], None] | None = None,
                 on_live_kinds: frozenset[int] = frozenset({FINAL, FIRST_WORDS, PARTIAL}),
                 partial_workers: int | None = None,
                 waited: Callable[[Request], float] | None = None, final_grace: float = 0.0) -> None:
        self.max_batch = max(1, max_batch)
        # Threads that may decode next partials at once; the others wait for finals and first words.
        self.partial_workers = max(1, max(1, workers) - 1 if partial_workers is None else partial_workers)
        self._waited = waited
        self.final_grace = final_grace
        self.batch_max_batch = max(1, batch_max_batch or max_batch)
        self.partial_max_wait = partial_max_wait
        self._run = run
        self._run_batch = run_batch or run
        self._clock = clock
        self._on_stale = on_stale
        self.stale = 0  # next partials dropped unrun, having waited past partial_max_wait (under the lock)
        self._on_live = on_live
        self._on_live_kinds = on_live_kinds
        self._queues: list[list[_Queued]] = [[] for _ in range(BATCH + 1)]
        self._partials_running = 0  # live threads decoding next partials
        lock = threading.Lock()
        self._live_waiting = threading.Condition(lock)  # wakes a live thread
        self._batch_waiting = threading.Condition(lock)  # wakes a batch thread
        self._closed = False
        self._threads = [threading.Thread(target=self._work, args=(False,), name=f"{name}-{i}", daemon=True)
                         for i in range(max(1, workers))]
        self._threads += [threading.Thread(target=self._work, args=(True,), name=f"{name}-batch-{i}", daemon=True)
                          for i in range(max(1, batch_workers))]
        for thread in self._threads:
            thread.start()

    def submit(self, request: Request, *, final: bool, first_words: bool = False, batch: bool = False) -> Future:
        """Decode ``request`` on a decode thread; the future is cancelled if it is dropped as stale.

        ``first_words``: a partial of an utterance without words yet, served before other partials,
        longest ``waited`` first, never dropped as stale.
        ``batch``: a decode of a batch session, on the batch threads.
        """
        future: Future = Future()
        kind = BATCH if batch else FINAL if final else FIRST_WORDS if first_words else PARTIAL
        if kind in self._on_live_kinds and self._on_live is not None:
            # Before a thread can take it; the callback runs once the future is done, however.
            self._on_live(True, kind == FINAL)
            future.add_done_callback(functools.partial(self._live_done, kind == FINAL))
        with self._live_waiting:
            if self._closed:
                future.cancel()
                raise RuntimeError("the decode scheduler is closed")
            now = self._clock()
            since = now - self._waited(request) if kind == FIRST_WORDS and self._waited is not None else now
            self._queues[kind].append(_Queued(since, now, future, request))
            (self._batch_waiting if batch else self._live_waiting).notify()
        return future

    def _live_done(self, final: bool, _future: Future) -> None:
        assert self._on_live is not None  # added as a callback only with one
        self._on_live(False, final)

    def close(self) -> None:
        """Stop the threads once they finish their current batch; cancel what is still queued."""
        with self._live_waiting:
            if self._closed:
                return
            self._closed = True
            queued = [entry for queue in self._queues for entry in queue]
            for queue in self._queues:
                queue.clear()
            self._live_waiting.notify_all()
            self._batch_waiting.notify_all()
        for entry in queued:
            entry.future.cancel()

    def join(self, timeout: float) -> bool:
        """Wait (blocking, up to ``timeout`` s in all) for the threads to stop after :meth:`close`;
        False if one is still decoding."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _work(self, batch: bool) -> None:
        waiting = self._batch_waiting if batch else self._live_waiting
        run = self._run_batch if batch else self._run
        kinds = (BATCH,) if batch else (FINAL, FIRST_WORDS, PARTIAL)
        limit = self.batch_max_batch if batch else self.max_batch
        while True:
            with waiting:
                kind, taken = self._take(kinds, limit)
                while not taken:
                    if self._closed:
                        return
                    waiting.wait()
                    kind, taken = self._take(kinds, limit)
                self._partials_running += kind == PARTIAL
            self._decode(run, taken)
            if kind == PARTIAL:
                with waiting:
                    self._partials_running -= 1
                    if self._queues[PARTIAL]:  # a thread may have left them for this one
                        waiting.notify()

    def _take(self, kinds: tuple[int, ...], limit: int) -> tuple[int, list[tuple[Future, Request]]]:
        """The first of ``kinds`` with requests waiting that may go now, and up to ``limit`` of
        them, oldest first, under the lock (a final never waits for partials decoded with it);
        (-1, []) when none may go."""
        while not self._closed:
            kind = next((kind for kind in self._order(kinds) if self._queues[kind] and self._may_take(kind)), None)
            if kind is None:
                return -1, []
            queue = self._queues[kind]
            batch: list[tuple[Future, Request]] = []
            while queue and len(batch) < limit:
                oldest = min(range(len(queue)), key=lambda i: queue[i].since)  # queues hold one per session
                self._admit(kind, queue.pop(oldest), batch)
            if batch:
                return kind, batch
            # Every request taken was aborted or stale: look again.
        return -1, []

    def _order(self, kinds: tuple[int, ...]) -> tuple[int, ...]:
        """``kinds`` in the order a thread looks at them now: first words before finals while
        every queued final is younger than ``final_grace``."""
        finals = self._queues[FINAL]
        if (self.final_grace > 0 and kinds[:2] == (FINAL, FIRST_WORDS) and finals and self._queues[FIRST_WORDS]
                and self._clock() - min(entry.queued_at for entry in finals) < self.final_grace):
            return (FIRST_WORDS, FINAL, *kinds[2:])
        return kinds

    def _may_take(self, kind: int) -> bool:
        """Whether a thread may take requests of ``kind`` now: next partials only on the threads
        left to them."""
        return kind != PARTIAL or self._partials_running < self.partial_workers

    def _admit(self, kind: int, entry: _Queued, batch: list) -> None:
        """Add a queued request to ``batch`` unless it was aborted or went stale."""
        if kind == PARTIAL and self._clock() - entry.queued_at > self.partial_max_wait:
            if entry.future.cancel():
                self.stale += 1
                if self._on_stale is not None:
                    self._on_stale()
        elif entry.future.set_running_or_notify_cancel():  # False: aborted while it waited
            batch.append((entry.future, entry.request))

    @staticmethod
    def _decode(run: Callable[[list[Request]], list[Any]], batch: list[tuple[Future, Request]]) -> None:
        try:
            results = run([request for _, request in batch])
        except BaseException as exc:  # handed to the awaiting coroutines
            for future, _ in batch:
                future.set_exception(exc)
            return
        for (future, _), result in zip(batch, results, strict=True):
            future.set_result(result)


class StaleCollector:
    """``streamscribe_asr_stale_partials_total``: the partials a scheduler dropped as stale (a
    counter; no session in its labels). A partial dropped so is never decoded, and its session sees
    no partial for that audio: the next partial or the final covers it. Where this grows, the
    engine is short of threads for the partial cadence its calls ask for (``--chunk-size-sec``)."""

    def __init__(self, scheduler: DecodeScheduler) -> None:
        self._scheduler = scheduler

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        yield CounterMetricFamily(
            "streamscribe_asr_stale_partials",
            "Partial decodes dropped unrun because they waited for a decode thread longer than the "
            "scheduler's partial_max_wait (newer audio had come; the next partial or the final covers it).",
            value=self._scheduler.stale)

    def describe(self):
        return list(self.collect())
