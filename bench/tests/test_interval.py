"""bench/accuracy.py's paired interval, as bench.early_final_replay and bench.accuracy report it."""

from __future__ import annotations

from bench.accuracy import interval, wer
from bench.early_final_replay import OFFLINE


def draw(item: str, offline: int, engine: int, words: int = 10) -> dict:
    return {"item": item, OFFLINE: {"errors": offline, "words": words}, "engine": {"errors": engine, "words": words}}


def test_a_variant_as_good_as_offline_has_a_zero_interval() -> None:
    rows = [draw(f"item{i}", i, i) for i in range(6)]
    assert wer(rows, "engine") == wer(rows, OFFLINE)
    assert interval(rows, "engine", OFFLINE) == (0.0, 0.0)


def test_the_interval_is_over_items_and_holds_the_difference() -> None:
    """One item worse by 3 errors, the rest equal: the point difference lies inside the interval,
    and a draw of items without that one gives the low end of 0."""
    rows = [draw(f"item{i}", 2, 2) for i in range(5)] + [draw("bad", 2, 5), draw("bad", 2, 5)]
    difference = wer(rows, "engine") - wer(rows, OFFLINE)
    low, high = interval(rows, "engine", OFFLINE)
    assert low == 0.0
    assert low <= difference <= high
    assert high > difference
