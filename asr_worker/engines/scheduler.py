"""Decode threads for CPU engines: finals, then first words, then partials; recordings apart; batches.

With a plain FIFO executor a final that arrives while partials of other sessions
are queued waits for all of them (seen: at 8 sessions the final of an utterance
queued behind up to 7 partials). Here a final goes ahead of every queued
partial, and a partial that waited longer than ``partial_max_wait`` seconds is
not decoded at all: by then newer audio has arrived and the next partial (or the
final) will cover it. Finals are served FIFO.

First partials are fair (issue 33): a partial that would give an utterance its
first words (``first_words``) goes before every other partial, so every live
session's first partial comes before any session's next one, and among them the
session that has waited longest goes first: ``waited(request)`` says how long
its utterance had been waiting when the request was made (the whisper engine:
the utterance's audio so far, which arrives at real time), so a session whose
first decode found no words and asked again keeps its place ahead of utterances
that began later. They are never dropped as stale: dropping one sent its session
to the back of the queue behind later utterances, and a late first partial is
still the first. What this cannot fix: at 16 calls on 2 cores finals and first
decodes alone keep both threads ~90 % busy, so a first decode still waits behind
other calls' finals (first partial p95 ~2.7 s in the modelled queue,
BENCHMARKS.md "Live calls at 16"). ``final_grace`` (0: off) trades finals for
first partials: a first decode goes before finals younger than that.

Under overload partial cadence is shed before finals: at most
``partial_workers`` live threads (default: all but one) decode next partials at
once, so a final or a first partial never waits for more than the decodes
already running on the other threads (modelled at 16 calls: final p95 and p99
-9 %), and next partials that wait past ``partial_max_wait`` are dropped. With
one thread, it takes partials too.

Batch sessions (recordings, ``batch=True``) have ``batch_workers`` threads of
their own (default 1), which take nothing else, and the live threads never
take a batch request: a recording never holds a thread a live decode could
use, whatever it sends, and it cannot starve either (its threads wait for
nobody). That is a bounded share, not aging: the share of threads is fixed, so
what a recording can cost live calls is known in advance (one decode's worth
of compute at most, and less where ``run_batch`` runs it at a lower CPU
priority, as the whisper engine does on the CPU), whereas a batch decode aged
past live ones would delay a live decode by a whole decode at the moment live
load is highest. Batch requests never go stale (they are finals, and nobody
waits on them at real time).

A thread that becomes free takes what waits of one class, up to ``max_batch``
requests (finals first; a final never waits for partials decoded with it), and
decodes them in one call of ``run``; when nothing else waits a request goes
alone, without waiting for company. Whether batches pay depends on the
hardware: on the 2-core dev box two threads decoding one request each already
use both cores, and batches only made live requests wait (BENCHMARKS.md), so the
whisper engine's default is 1 for live threads; a GPU decodes a batch in about
the time of one request. A batch thread takes up to ``batch_max_batch`` (default
``max_batch``) at once: nobody waits on a recording's decode at real time, and a
recording's packs decoded together cost less CPU per pack (one decoder loop for
all, about half the decoder's cost at 8), so the whisper engine takes up to 8.

``on_live(True, final)`` is called when a live request of the classes in ``on_live_kinds``
(all by default; ``final``: a final) is submitted and ``on_live(False, final)`` when it is done (decoded,
failed, aborted, dropped as stale or cancelled at close), once each: the whisper
engine stops its batch child while such a live decode is queued or running
(:mod:`.batch_pause`; with ``--batch-pause-for finals`` only finals count).
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
