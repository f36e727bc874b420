"""The CPU engines' decode threads: finals first, fair first words, stale partials dropped, a thread kept from
next partials, aborts honoured, batches."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest

from asr_worker.engines.scheduler import DecodeScheduler

from tests.kit.support import ManualClock

TIMEOUT = 10


def calls(batch):
    """A ``run`` for requests that are callables: call each."""
    return [request() for request in batch]


def blocked(scheduler: DecodeScheduler):
    """Occupy the scheduler's only thread until the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def hold():
        started.set()
        assert release.wait(TIMEOUT)
        return "held"

    future = scheduler.submit(hold, final=True)
    assert started.wait(TIMEOUT)
    return release, future


def test_finals_go_before_queued_partials_fifo_within_each():
    scheduler = DecodeScheduler(calls, workers=1)
    try:
        release, first = blocked(scheduler)
        order = []
        futures = [scheduler.submit(lambda name=name: order.append(name) or name, final=name.startswith("final"))
                   for name in ("partial-a", "partial-b", "final-c", "final-d")]
        release.set()
        assert [f.result(TIMEOUT) for f in futures] == ["partial-a", "partial-b", "final-c", "final-d"]
        assert order == ["final-c", "final-d", "partial-a", "partial-b"]
        assert first.result(TIMEOUT) == "held"
    finally:
        scheduler.close()


def test_first_words_go_before_other_partials_after_finals():
    scheduler = DecodeScheduler(calls, workers=1)
    try:
        release, _ = blocked(scheduler)
        order = []
        kinds = {"partial-a": {}, "first-b": {"first_words": True}, "final-c": {"final": True},
                 "partial-d": {}, "first-e": {"first_words": True}}
        futures = [scheduler.submit(lambda name=name: order.append(name) or name,
                                    **{"final": False, **kind}) for name, kind in kinds.items()]
        release.set()
        assert [f.result(TIMEOUT) for f in futures] == list(kinds)
        assert order == ["final-c", "first-b", "first-e", "partial-a", "partial-d"]
    finally:
        scheduler.close()


class Utterance:
    """A request whose utterance has waited ``seconds`` when submitted; calling it logs its name."""

    def __init__(self, name: str, seconds: float, order: list) -> None:
        self.name, self.seconds, self.order = name, seconds, order

    def __call__(self) -> str:
        self.order.append(self.name)
        return self.name


def test_first_words_go_longest_waiting_first_and_never_go_stale():
    clock, order, stale = ManualClock(0.0), [], []
    scheduler = DecodeScheduler(calls, workers=1, partial_max_wait=2.0, clock=clock, on_stale=lambda: stale.append(1),
                                waited=lambda request: request.seconds)
    try:
        release, _ = blocked(scheduler)
        # a: 0.5 s into its utterance at t=0; b: asks again at t=1 after a first decode without words,
        # 2 s into an utterance that began before a's; c: a new utterance, 0.3 s in.
        a = scheduler.submit(Utterance("a", 0.5, order), final=False, first_words=True)
        next_partial = scheduler.submit(Utterance("next", 3.0, order), final=False)
        clock.now = 1.0
        b = scheduler.submit(Utterance("b", 2.0, order), final=False, first_words=True)
        c = scheduler.submit(Utterance("c", 0.3, order), final=False, first_words=True)
        clock.now = 10.0  # all waited past partial_max_wait: first words are decoded all the same
        release.set()
        assert [f.result(TIMEOUT) for f in (a, b, c)] == ["a", "b", "c"]
        assert order == ["b", "a", "c"]
        with pytest.raises(CancelledError):
            next_partial.result(TIMEOUT)  # a next partial that waited that long is dropped
        assert stale == [1]
    finally:
        scheduler.close()


def test_without_waited_first_words_go_in_submission_order():
    order = []
    scheduler = DecodeScheduler(calls, workers=1)
    try:
        release, _ = blocked(scheduler)
        futures = [scheduler.submit(Utterance(name, seconds, order), final=False, first_words=True)
                   for name, seconds in (("a", 0.5), ("b", 2.0))]
        release.set()
        assert [f.result(TIMEOUT) for f in futures] == ["a", "b"] and order == ["a", "b"]
    finally:
        scheduler.close()


def test_next_partials_leave_a_thread_to_finals_and_first_words():
    scheduler = DecodeScheduler(calls, workers=2)
    assert scheduler.partial_workers == 1
    events = {name: (threading.Event(), threading.Event()) for name in ("p1", "p2", "final", "first")}

    def held(name):
        started, release = events[name]

        def decode():
            started.set()
            assert release.wait(TIMEOUT)
            return name
        return decode

    try:
        p1 = scheduler.submit(held("p1"), final=False)
        assert events["p1"][0].wait(TIMEOUT)
        p2 = scheduler.submit(held("p2"), final=False)  # waits: p1 holds the one thread partials may use
        final = scheduler.submit(held("final"), final=True)
        assert events["final"][0].wait(TIMEOUT)  # the other thread was free for it
        events["final"][1].set()
        assert final.result(TIMEOUT) == "final"
        first = scheduler.submit(held("first"), final=False, first_words=True)
        assert events["first"][0].wait(TIMEOUT)  # and free again for a first partial
        events["first"][1].set()
        assert first.result(TIMEOUT) == "first"
        assert not events["p2"][0].is_set()
        events["p1"][1].set()  # p1 done: p2 may go
        assert p1.result(TIMEOUT) == "p1"
        assert events["p2"][0].wait(TIMEOUT)
        events["p2"][1].set()
        assert p2.result(TIMEOUT) == "p2"
    finally:
        for _, release in events.values():
            release.set()
        scheduler.close()


def test_partial_workers_is_at_least_one():
    for workers, asked, expected in ((1, None, 1), (3, None, 2), (3, 3, 3), (2, 0, 1)):
        scheduler = DecodeScheduler(calls, workers=workers, partial_workers=asked)
        try:
            assert scheduler.partial_workers == expected
        finally:
            scheduler.close()


def test_a_partial_that_waited_too_long_is_dropped():
    clock, stale = ManualClock(0.0), []
    scheduler = DecodeScheduler(calls, workers=1, partial_max_wait=2.0, clock=clock, on_stale=lambda: stale.append(1))
    try:
        release, _ = blocked(scheduler)
        old = scheduler.submit(lambda: "old", final=False)
        clock.now = 1.5
        fresh = scheduler.submit(lambda: "fresh", final=False)
        final = scheduler.submit(lambda: "final", final=True)
        clock.now = 2.5  # the old partial waited 2.5 s, the fresh one 1 s; finals never go stale
        release.set()
        assert final.result(TIMEOUT) == "final" and fresh.result(TIMEOUT) == "fresh"
        with pytest.raises(CancelledError):
            old.result(TIMEOUT)
        assert stale == [1]
    finally:
        scheduler.close()


def test_an_aborted_call_is_skipped_and_errors_reach_the_caller():
    scheduler = DecodeScheduler(calls, workers=1)
    try:
        release, _ = blocked(scheduler)
        ran = []
        aborted = scheduler.submit(lambda: ran.append("aborted"), final=False)
        failing = scheduler.submit(lambda: 1 / 0, final=True)
        assert aborted.cancel()
        release.set()
        with pytest.raises(ZeroDivisionError):
            failing.result(TIMEOUT)
        assert ran == []
    finally:
        scheduler.close()


def test_close_cancels_what_is_queued_and_is_idempotent():
    scheduler = DecodeScheduler(calls, workers=1)
    release, running = blocked(scheduler)
    queued = scheduler.submit(lambda: "never", final=True)
    scheduler.close()
    scheduler.close()
    release.set()
    assert running.result(TIMEOUT) == "held"
    assert queued.cancelled()
    with pytest.raises(RuntimeError, match="closed"):
        scheduler.submit(lambda: None, final=True)


def test_a_free_thread_takes_what_waits_as_one_batch_of_finals_or_of_partials():
    batches = []

    def run(batch):
        batches.append([request() for request in batch])
        return batches[-1]

    scheduler = DecodeScheduler(run, workers=1, max_batch=3)
    try:
        release, _ = blocked(scheduler)
        futures = [scheduler.submit(lambda name=name: name, final=name.startswith("final"))
                   for name in ("partial-a", "final-b", "partial-c", "final-d", "partial-e")]
        release.set()
        assert [f.result(TIMEOUT) for f in futures] == ["partial-a", "final-b", "partial-c", "final-d", "partial-e"]
        # Finals first, and never in a batch with partials (a final would wait for their decode).
        assert batches[1:] == [["final-b", "final-d"], ["partial-a", "partial-c", "partial-e"]]
        alone = scheduler.submit(lambda: "alone", final=False)  # nothing else waits: it goes by itself
        assert alone.result(TIMEOUT) == "alone" and batches[-1] == ["alone"]
    finally:
        scheduler.close()


def test_a_failing_batch_fails_each_of_its_requests():
    scheduler = DecodeScheduler(lambda batch: 1 / 0, workers=1, max_batch=4)
    try:
        futures = [scheduler.submit(i, final=True) for i in range(3)]
        for future in futures:
            with pytest.raises(ZeroDivisionError):
                future.result(TIMEOUT)
    finally:
        scheduler.close()


def test_recordings_have_a_thread_of_their_own_and_never_go_stale():
    clock = ManualClock(0.0)
    ran = []
    scheduler = DecodeScheduler(calls, workers=1, partial_max_wait=2.0, clock=clock,
                                run_batch=lambda batch: [ran.append("run_batch") or request() for request in batch])
    try:
        # The live thread is busy: a recording's decode goes on its own thread meanwhile.
        release, held = blocked(scheduler)
        recording = scheduler.submit(lambda: "recording", final=True, batch=True)
        assert recording.result(TIMEOUT) == "recording" and ran == ["run_batch"]
        # And the other way round: a live decode never waits for a recording's.
        started, finish = threading.Event(), threading.Event()

        def long_recording():
            started.set()
            assert finish.wait(TIMEOUT)
            return "long"

        busy = scheduler.submit(long_recording, final=True, batch=True)
        assert started.wait(TIMEOUT)
        queued = scheduler.submit(lambda: "queued", final=True, batch=True)
        clock.now = 30.0  # far past a partial's wait: a recording's decode is not dropped
        release.set()
        assert held.result(TIMEOUT) == "held"
        assert scheduler.submit(lambda: "live", final=False).result(TIMEOUT) == "live"
        assert not queued.done()  # the recording's thread is still busy: the next one waits for it
        finish.set()
        assert (busy.result(TIMEOUT), queued.result(TIMEOUT)) == ("long", "queued")
    finally:
        scheduler.close()


def test_the_batch_thread_takes_up_to_its_own_batch_while_live_threads_keep_theirs():
    sizes = {"live": [], "batch": []}
    release = threading.Event()

    def run(kind):
        def decode(batch):
            sizes[kind].append(len(batch))
            assert release.wait(TIMEOUT)
            return batch
        return decode

    scheduler = DecodeScheduler(run("live"), workers=1, max_batch=1, run_batch=run("batch"), batch_max_batch=3)
    try:
        batch = [scheduler.submit(n, final=True, batch=True) for n in range(5)]
        live = [scheduler.submit(n, final=True) for n in range(3)]
        release.set()
        assert [f.result(TIMEOUT) for f in batch + live] == [0, 1, 2, 3, 4, 0, 1, 2]
    finally:
        scheduler.close()
    assert sizes["live"] == [1, 1, 1]
    # [1, 3, 1] when the thread took the first before the others came, else [3, 2].
    assert sum(sizes["batch"]) == 5 and max(sizes["batch"]) == 3


@pytest.mark.parametrize("waited, expected", [(0.2, ["first", "final"]), (0.6, ["final", "first"])])
def test_first_words_go_before_finals_younger_than_the_grace(waited, expected):
    clock, order = ManualClock(0.0), []
    scheduler = DecodeScheduler(calls, workers=1, clock=clock, final_grace=0.5)
    try:
        release, _ = blocked(scheduler)
        futures = [scheduler.submit(lambda: order.append("final"), final=True),
                   scheduler.submit(lambda: order.append("first"), final=False, first_words=True)]
        clock.now = waited  # the final has waited this long when the thread is free
        release.set()
        for future in futures:
            future.result(TIMEOUT)
        assert order == expected
    finally:
        scheduler.close()


def test_without_a_grace_finals_go_first_however_young():
    order = []
    scheduler = DecodeScheduler(calls, workers=1, clock=ManualClock(0.0))
    try:
        release, _ = blocked(scheduler)
        futures = [scheduler.submit(lambda: order.append("final"), final=True),
                   scheduler.submit(lambda: order.append("first"), final=False, first_words=True)]
        release.set()
        for future in futures:
            future.result(TIMEOUT)
        assert order == ["final", "first"]
    finally:
        scheduler.close()


def test_stale_partials_are_counted_in_a_metric_without_session_labels():
    from prometheus_client import CollectorRegistry

    from asr_worker.engines.scheduler import StaleCollector

    clock, order = ManualClock(0.0), []
    scheduler = DecodeScheduler(calls, workers=1, partial_max_wait=2.0, clock=clock)
    registry = CollectorRegistry()
    registry.register(StaleCollector(scheduler))
    try:
        assert registry.get_sample_value("streamscribe_asr_stale_partials_total") == 0
        release, _ = blocked(scheduler)
        old = scheduler.submit(Utterance("old", 1.0, order), final=False)
        clock.now = 2.5  # old waited past partial_max_wait; fresh did not
        fresh = scheduler.submit(Utterance("fresh", 1.0, order), final=False)
        release.set()
        assert fresh.result(TIMEOUT) == "fresh"
        with pytest.raises(CancelledError):
            old.result(TIMEOUT)
        assert order == ["fresh"]
        assert registry.get_sample_value("streamscribe_asr_stale_partials_total") == 1
        metric, = (m for m in registry.collect() if m.name == "streamscribe_asr_stale_partials")
        assert all(sample.labels == {} for sample in metric.samples)
    finally:
        scheduler.close()
