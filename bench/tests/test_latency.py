"""bench/latency.py's pure parts: the kinds of session, the finals that break the transcript contract."""

from __future__ import annotations

import argparse

import pytest

from bench import latency
from bench.latency import Figures, Heard


def final(start: float, end: float, text: str, at: float = 0.0) -> Heard:
    return Heard(at, True, start, end, text)


def test_speech_kinds_take_all_or_a_list_and_refuse_others() -> None:
    assert latency.speech_kinds("all") == list(latency.SPEECH)
    assert latency.speech_kinds("calls, clips") == ["calls", "clips"]
    with pytest.raises(argparse.ArgumentTypeError, match="clips, continuous, calls"):
        latency.speech_kinds("speech")


@pytest.mark.parametrize(("previous", "text"), [
    ("It was the season of light.", "It was the season of light, it was the season of darkness."),
    ("Ask what you can do for your country.", "What you can do for your country."),
])
def test_contract_counts_catch_the_repeats_of_issue_42(previous: str, text: str) -> None:
    # the second final's span (0.16 s) could not hold its words: the text was carried over
    assert latency.contract_counts([final(7.87, 10.82, previous), final(10.82, 10.98, text)]) == (0, 1)


def test_contract_counts_leave_new_words_alone() -> None:
    finals = [final(0.5, 2.0, "He was not an ill disposed young man."), final(2.4, 4.0, "Unless to be rather cold hearted."),
              final(4.5, 5.0, "Yes."), final(5.5, 6.5, "Yes, I can.")]
    assert latency.contract_counts(finals) == (0, 0)


def test_contract_counts_count_overlapping_spans() -> None:
    finals = [final(0.5, 2.0, "I would like to check my account."),
              final(2.0, 3.0, "Thank you."),  # touches the one before: in order, no overlap
              final(2.9, 4.0, "Thank you very much.")]  # starts before the previous end
    assert latency.contract_counts(finals) == (1, 0)
    # an overlap with any earlier final, not only the previous one
    assert latency.contract_counts([final(0, 5, "one"), final(5, 6, "two"), final(4, 4.5, "three")]) == (1, 0)


def test_figures_count_faults_among_finals_with_words_only() -> None:
    run = latency.SessionRun(heard=[final(0, 2, "hello there you", at=1), Heard(1.5, False, 1.5, 3, "partial"),
                                    final(1.9, 2.0, " ", at=2), final(2.0, 3.0, "hello there you", at=3)])
    figures = Figures()
    figures.add(run, [latency.Utterance(0.1, 2.9, "hello there you")])
    assert (figures.overlapping, figures.repeated) == (0, 1)


def test_row_with_speech_has_the_header_cells() -> None:
    cells = latency.row("streamscribe", "endpoint", 8, Figures(), "n/a", "16.0", "1.0", speech="calls").count("|")
    assert cells == latency.SPEECH_HEADER.split("\n")[0].count("|")
    assert "| 2.0 |" in latency.row("streamscribe", "endpoint", 8, Figures(), "n/a", "16.0", "1.0", speech="calls")
    assert latency.row("s", "m", 1, Figures(), "n/a", "1.0", "0").count("|") == latency.HEADER.split("\n")[0].count("|")
