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
    ("Hi.", "Hi."),  # the same words, however short
    ("It was the season of light.", "It was the season of light, it was the season of darkness."),
    ("Ask what you can do for your country.", "What you can do for your country."),
])
def test_repeats_catch_the_shapes_of_issue_42(previous: str, text: str) -> None:
    assert latency.repeats(latency.normalise(previous), latency.normalise(text))


@pytest.mark.parametrize(("previous", "text"), [
    ("Yes.", "Yes, I can."),  # a short word again is speech, not a repeat
    ("He was not an ill disposed young man.", "Unless to be rather cold hearted."),
    ("", "Hello there you."),
])
def test_repeats_leave_new_words_alone(previous: str, text: str) -> None:
    assert not latency.repeats(latency.normalise(previous), latency.normalise(text))


def test_contract_faults_count_overlapping_spans_and_repeats() -> None:
    finals = [final(0.5, 2.0, "I would like to check my account."),
              final(2.0, 3.0, "Thank you."),  # touches the one before: in order, no overlap
              final(2.9, 4.0, "Thank you very much."),  # starts before the previous end
              final(4.2, 4.5, "very much.")]  # a suffix of two words: not counted
    assert latency.contract_faults(finals) == (1, 0)
    assert latency.contract_faults([final(0.5, 2.0, "a b c d"), final(2.0, 2.2, "b c d")]) == (0, 1)
    # an overlap with any earlier final, not only the previous one
    assert latency.contract_faults([final(0, 5, "one"), final(5, 6, "two"), final(4, 4.5, "three")]) == (1, 0)


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
