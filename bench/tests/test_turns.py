"""bench/turns.py's scoring (its reply part: tests/kit/turns.py): own finals, merged and lost replies,
on hand-made items and finals."""

from __future__ import annotations

import numpy as np
import pytest

from bench import turns as bench
from tests.kit.turn_doors import parse_duration
from tests.kit.turns import Final, Item, Turn

RATE = 1000  # samples are milliseconds here


def item(*spoken: tuple[int, str, float, float, bool]) -> Item:
    return Item("tune-0000", "tune", 0, ("a", "b"), "mono", RATE, np.zeros(10), tuple(
        Turn(party, text, int(start * RATE), int(end * RATE), short) for party, text, start, end, short in spoken))


CALL = item((0, "Hi.", 0.5, 0.8, True), (1, "Thanks for calling the store.", 1.3, 3.0, False),
            (0, "Yes.", 3.5, 3.9, True))


def test_replies_with_their_own_finals_within_the_slack() -> None:
    tally = bench.score(CALL, [Final(0, 0.3, 1.0, "Hi."), Final(0, 1.2, 3.1, "Thanks for calling the store."),
                               Final(0, 3.4, 4.1, "Yes.")], stereo=False)
    assert (tally.replies, tally.own_close, tally.own, tally.merged, tally.lost) == (2, 2, 2, 0, 0)
    assert (tally.overlapping, tally.repeated, tally.errors) == (0, 0, 0)


def test_a_reply_merged_into_the_next_sentence_and_one_lost() -> None:
    tally = bench.score(CALL, [Final(0, 0.3, 3.1, "Hi. Thanks for calling the store.")], stereo=False)
    assert (tally.own_close, tally.own, tally.merged, tally.lost) == (0, 0, 1, 1)
    assert tally.missed == ["tune-0000: 'Hi.' at 0.50-0.80 s merged", "tune-0000: 'Yes.' at 3.50-3.90 s lost"]


def test_an_own_final_too_wide_is_own_but_not_close() -> None:
    tally = bench.score(CALL, [Final(0, 0.5, 1.25, "Hi."), Final(0, 3.5, 3.9, "Yes.")], stereo=False)
    assert (tally.own_close, tally.own) == (1, 2)


def test_a_final_without_words_takes_in_nothing() -> None:
    tally = bench.score(CALL, [Final(0, 0.5, 0.8, " "), Final(0, 3.5, 3.9, "...")], stereo=False)
    assert (tally.finals, tally.lost) == (0, 2)


def test_stereo_matches_a_party_against_its_own_channel() -> None:
    finals = [Final(1, 0.5, 0.8, "Hi."), Final(0, 3.5, 3.9, "Yes.")]  # "Hi." heard on the wrong channel
    tally = bench.score(CALL, finals, stereo=True)
    assert (tally.own, tally.lost) == (1, 1)


def test_overlaps_and_repeats_are_counted_per_channel() -> None:
    finals = [Final(0, 1.2, 3.1, "Thanks for calling the store."), Final(0, 3.0, 3.2, "calling the store")]
    tally = bench.score(CALL, finals, stereo=False)
    assert (tally.overlapping, tally.repeated) == (1, 1)
    assert bench.score(CALL, [Final(0, 1.2, 3.1, "a"), Final(1, 1.2, 3.1, "b")], stereo=True).overlapping == 0


def test_durations_and_doors() -> None:
    assert parse_duration("PT1.25S") == 1.25
    with pytest.raises(ValueError):
        parse_duration("1.25")
    assert bench.door_list("all") == list(bench.DOORS)
    with pytest.raises(Exception, match="--doors takes"):
        bench.door_list("native,sip")
