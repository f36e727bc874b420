"""The batch child's pause policy (strict priority for live decodes, a floor for recordings),
and the decode scheduler's live start/end notices that drive it."""

from __future__ import annotations

import threading

import pytest

from asr_worker.engines.batch_pause import ChildPauser, Decision, PausePolicy
from asr_worker.engines.scheduler import DecodeScheduler
from asr_worker.engines.whisper import PAUSE_KINDS, pause_for


def policy(**kwargs) -> PausePolicy:
    return PausePolicy(**{"min_run": 0.1, "period": 2.0, "now": 0.0, **kwargs})


def test_the_child_runs_while_no_live_decode_is_queued_or_running():
    p = policy()
    assert p.tick(5.0) == Decision(True, None)
    assert p.started(10.0).run is False  # one live decode: stopped
    assert p.started(10.1).run is False  # two
    assert p.ended(10.5).run is False  # one left
    assert p.ended(10.7) == Decision(True, None)  # none: continued
    assert p.pauses == 1 and p.paused_seconds(11.0) == pytest.approx(0.7)


def test_a_child_stopped_for_the_period_less_its_run_gets_its_run_under_live_load():
    p = policy(min_run=0.1, period=2.0)
    assert p.started(0.0) == Decision(False, 1.9)  # look again when the stop has lasted 1.9 s
    assert p.tick(1.0) == Decision(False, 1.9)
    assert p.tick(1.9) == Decision(True, 2.0)  # its share: 0.1 s of every 2 s
    assert p.tick(1.95) == Decision(True, 2.0)
    assert p.started(1.96).run is True  # a live decode during the share does not cut it short
    assert p.tick(2.0) == Decision(False, 3.9)  # stopped again
    assert p.tick(3.9) == Decision(True, 4.0)
    assert p.shares == 2 and p.pauses == 2
    assert p.paused_seconds(4.0) == pytest.approx(3.8)


def test_the_share_ends_early_when_live_decodes_end_and_a_new_one_stops_the_child_at_once():
    p = policy(min_run=0.1, period=2.0)
    p.started(0.0)
    assert p.tick(1.9).run
    assert p.ended(1.92) == Decision(True, None)
    assert p.started(1.95) == Decision(False, pytest.approx(3.85))  # a fresh stop, its own bound


def test_with_a_resume_delay_the_child_waits_out_a_quiet_spell_before_it_runs():
    p = policy(resume_after=0.2)
    assert p.started(1.0).run is False
    assert p.ended(1.5) == Decision(False, pytest.approx(1.7))  # look again when the spell is long enough
    assert p.started(1.6).run is False  # a burst goes on: the spell starts over
    assert p.ended(1.65) == Decision(False, pytest.approx(1.85))
    assert p.tick(1.84).run is False
    assert p.tick(1.85) == Decision(True, None)
    assert p.pauses == 1 and p.paused_seconds(2.0) == pytest.approx(0.85)


def test_the_floor_still_runs_the_child_in_a_stop_that_the_resume_delay_prolongs():
    p = policy(min_run=0.1, period=2.0, resume_after=5.0)
    p.started(0.0)
    assert p.ended(1.0) == Decision(False, 1.9)  # the floor comes before the end of the quiet spell
    assert p.tick(1.9) == Decision(True, 2.0)
    assert p.tick(2.0) == Decision(True, None)  # no live decode: it runs on


def test_a_live_final_ends_the_floors_run_and_none_starts_until_the_finals_end():
    p = policy(min_run=0.1, period=2.0)
    p.started(0.0)  # a partial
    assert p.tick(1.9) == Decision(True, 2.0)  # the floor's run, beside partials
    assert p.started(1.95, final=True).run is False  # a final ends it at once
    assert p.tick(3.9) == Decision(False, None)  # stopped 1.95 s: due, but a final still runs
    assert p.ended(4.0, final=True) == Decision(True, pytest.approx(4.1))  # the final ended: its run now
    assert p.shares == 2


def test_a_floor_of_zero_is_strict_priority_without_a_timer():
    p = policy(min_run=0.0)
    assert p.started(0.0) == Decision(False, None)
    assert p.tick(1000.0) == Decision(False, None)
    assert p.ended(1000.0) == Decision(True, None)


def test_close_continues_the_child_for_good():
    p = policy()
    p.started(0.0)
    assert p.close(0.5) == Decision(True, None)
    assert p.started(0.6) == Decision(True, None)
    assert p.paused_seconds(1.0) == pytest.approx(0.5)


def test_more_ends_than_starts_never_count_below_zero():
    p = policy()
    p.ended(0.0)
    assert p.started(0.1).run is False and p.live == 1


@pytest.mark.parametrize("min_run,period", [(2.0, 2.0), (-0.1, 1.0), (3.0, 1.0)])
def test_a_run_not_under_its_period_is_refused(min_run, period):
    with pytest.raises(ValueError):
        PausePolicy(min_run=min_run, period=period, now=0.0)
    with pytest.raises(ValueError):
        ChildPauser(min_run=min_run, period=period)


def test_a_negative_resume_delay_is_refused():
    with pytest.raises(ValueError, match="resume delay"):
        ChildPauser(min_run=0.1, period=2.0, resume_after=-1.0)


def test_the_pauser_counts_live_decodes_before_it_has_a_child_and_close_is_idempotent():
    pauser = ChildPauser(min_run=0.1, period=2.0)
    pauser.live(True)
    assert pauser.stats() == (0.0, 0, 0)  # no child yet: nothing stopped
    pauser.close()
    pauser.close()
    pauser.attach(2 ** 22 + 12345)  # after close: ignored, nothing signalled
    assert pauser.running


class Events:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live = 0
        self.seen: list[bool] = []
        self.finals: list[tuple[bool, bool]] = []

    def __call__(self, started: bool, final: bool) -> None:
        with self.lock:
            self.live += 1 if started else -1
            self.seen.append(started)
            self.finals.append((started, final))


def test_the_scheduler_says_when_live_decodes_are_queued_and_done_and_never_for_batch_ones():
    events = Events()
    release = threading.Event()
    running = threading.Event()
    counts_while_running: list[int] = []

    def run(requests):
        running.set()
        assert release.wait(10)
        counts_while_running.append(events.live)
        return requests

    scheduler = DecodeScheduler(run, workers=1, on_live=events, run_batch=lambda requests: requests)
    try:
        first = scheduler.submit("a", final=True)
        assert running.wait(10)
        queued = scheduler.submit("b", final=False)
        dropped = scheduler.submit("c", final=False)
        assert events.live == 3
        dropped.cancel()  # an abort while it waits
        assert events.live == 2
        assert scheduler.submit("r", final=True, batch=True).result(10) == "r"  # no live notice
        assert events.live == 2
        release.set()
        assert first.result(10) == "a" and queued.result(10) == "b"
        assert events.live == 0 and events.seen.count(True) == events.seen.count(False) == 3
        assert counts_while_running[0] == 2  # the decode in progress and the partial behind it
    finally:
        release.set()
        scheduler.close()
        assert scheduler.join(10)


def test_the_scheduler_ends_the_live_notice_of_what_close_cancels_and_of_a_refused_submit():
    events = Events()
    release = threading.Event()
    running = threading.Event()

    def run(requests):
        running.set()
        assert release.wait(10)
        return requests

    scheduler = DecodeScheduler(run, workers=1, on_live=events)
    scheduler.submit("a", final=True)
    assert running.wait(10)
    scheduler.submit("b", final=True)
    scheduler.close()  # "b" is cancelled
    assert events.live == 1
    with pytest.raises(RuntimeError):
        scheduler.submit("c", final=True)
    assert events.live == 1
    release.set()
    assert scheduler.join(10)
    assert events.live == 0


def test_with_finals_only_a_partial_gives_no_live_notice():
    events = Events()
    scheduler = DecodeScheduler(lambda requests: requests, workers=1, on_live=events,
                                on_live_kinds=PAUSE_KINDS["finals"])
    try:
        assert scheduler.submit("p", final=False).result(10) == "p"
        assert scheduler.submit("w", final=False, first_words=True).result(10) == "w"
        assert events.seen == []
        assert scheduler.submit("f", final=True).result(10) == "f"
        assert events.seen == [True, False]
        assert events.finals == [(True, True), (False, True)]  # each notice says it is a final's
    finally:
        scheduler.close()
        assert scheduler.join(10)


def test_batch_pause_for_takes_finals_or_all():
    assert pause_for("finals") == "finals" and pause_for("all") == "all"
    with pytest.raises(ValueError, match="'partials' is not 'finals' or 'all'"):
        pause_for("partials")
