"""bench/accuracy.py's pure parts: the text comparison, the item filter and the report of the ways run."""

from __future__ import annotations

import numpy as np

from bench.accuracy import FAILED, RATE, Item, chosen_name, errors, report, with_shifts, words


def item(name: str, reference: str, results: dict[str, str | None], finals: dict[str, list[dict]] | None = None,
         *, set_name: str = "librivox") -> Item:
    return Item(name, set_name, "en", reference, np.zeros(1, np.float32), results={"base": results},
                finals={"base": finals} if finals is not None else {})


def test_words_one_digit_a_word_whichever_way_written() -> None:
    assert words("Four seven two, 9-1.") == ["4", "7", "2", "9", "1"]
    assert words("Mr. Dashwood's ill-disposed") == ["mister", "dashwood's", "ill", "disposed"]
    assert words("llegó la semana") == ["llego", "la", "semana"]
    assert words("Cuatro siete, dos nueve") == words("4729") == ["4", "7", "2", "9"]


def test_spoken_numbers_compare_as_digits_in_the_items_language() -> None:
    """Whisper writes an amount as words or as digits; either is the number said."""
    reference = "Me han cobrado 235 euros en lugar de 135."
    assert errors(reference, "Me han cobrado doscientos treinta y cinco euros en lugar de ciento treinta y cinco.",
                  language="es") == (0, 13, 0)
    assert errors(reference, "Me han cobrado 935 euros en lugar de 135.", language="es") == (1, 13, 0)
    assert words("two thousand and five") == words("2005") == ["2", "0", "0", "5"]


def test_errors_count_the_longest_deleted_run() -> None:
    assert errors("he was not an ill disposed young man", "He was not an ill-sposed young man.") == (1, 8, 0)
    assert errors("one two three four", "one four") == (2, 4, 2)


def test_items_chosen_by_shell_patterns() -> None:
    assert chosen_name("factura/es", None)
    assert chosen_name("factura/es", ["factura/*"])
    assert chosen_name("address/en-gb", ["librivox1", "*/en-gb"])
    assert not chosen_name("librivox10", ["librivox1"])  # whole names, not prefixes
    assert not chosen_name("factura/es", [])


def test_report_has_only_the_ways_run() -> None:
    """One door streamed (``--doors native``): its column and the offline ones, no other; an item
    that lost content through it is listed against the offline way it matches."""
    reference = "he was not an ill disposed young man"
    finals = [{"text": "He was not", "start_ms": 448, "end_ms": 1200, "language": "en"},
              {"text": "young man.", "start_ms": 2400, "end_ms": 3584, "language": "en"}]
    items = [item("librivox1", reference, {"offline 16k": "He was not an ill-disposed young man.",
                                           "offline 8k mu-law": "He was not an ill-disposed young man.",
                                           "native 16k": "He was not young man."}, {"native 16k": finals})]
    figures = report(items, ["base"], lost_words=3, show=True)
    assert figures["wer"] == {"base librivox": {"offline 16k": "0.0 %", "offline 8k mu-law": "0.0 %",
                                                "native 16k": "37.5 %"}}
    assert figures["against_offline"] == {"base librivox native 16k": (37.5, 37.5, 37.5)}
    [lost] = figures["lost"]
    assert (lost["way"], lost["wer"], lost["offline_wer"], lost["deleted_run"]) == ("native 16k", 37.5, 0.0, 3)


def test_report_says_refused_and_failed() -> None:
    items = [item("quijote/es", "en un lugar", {"offline 16k": None, "offline 8k mu-law": None, "native 16k": None,
                                                "twilio 8k mu-law": None}, set_name="spanish"),
             item("librivox0", "and mister john", {"offline 16k": "And Mr. John", "offline 8k mu-law": "And Mr. John",
                                                   "native 16k": FAILED, "twilio 8k mu-law": "And John"})]
    figures = report(items, ["base"], lost_words=3)
    assert figures["wer"]["base spanish"] == dict.fromkeys(
        ("offline 16k", "offline 8k mu-law", "native 16k", "twilio 8k mu-law"), "refused")
    assert figures["wer"]["base librivox"]["native 16k"] == "1 failed"
    assert figures["wer"]["base librivox"]["twilio 8k mu-law"] == "33.3 %"
    assert figures["against_offline"] == {"base librivox twilio 8k mu-law": (33.3, 33.3, 33.3)}  # none refused or failed
    assert [lost["way"] for lost in figures["lost"]] == ["twilio 8k mu-law"]


def test_offline_run_more_than_once_scores_the_runs_mean() -> None:
    """``--offline-runs``: offline's WER is its runs' mean, so one sampled draw does not set the
    target; the table, the interval and the lost content all read the mean."""
    reference = "one two three four"
    runs = {"offline 16k": ["one two three four", "one two", "one two three"]}  # 0, 2 and 1 errors: mean 1
    items = [Item("digits", "calls", "en", reference, np.zeros(1, np.float32),
                  results={"base": {"offline 16k": runs["offline 16k"][0], "native 16k": "one two three"}},
                  runs={"base": runs})]
    figures = report(items, ["base"], lost_words=3)
    assert figures["wer"]["base calls"] == {"offline 16k": "25.0 %", "native 16k": "25.0 %"}
    assert figures["against_offline"] == {"base calls native 16k": (0.0, 0.0, 0.0)}
    assert figures["lost"] == []


def test_shifts_copy_each_item_after_more_silence_and_draw_together() -> None:
    """``--shifts``: each item again, that much later, named for it; the copies' draws go together
    in the interval (one item's shifts are not independent items)."""
    samples = np.ones(RATE, np.float32)
    shifted = with_shifts([Item("cuenta/es", "spanish", "es", "hola", samples)], [0, 10, 30])
    assert [i.name for i in shifted] == ["cuenta/es", "cuenta/es@10ms", "cuenta/es@30ms"]
    assert {i.source for i in shifted} == {"cuenta/es"}
    assert [len(i.samples) - RATE for i in shifted] == [0, RATE // 100, 3 * RATE // 100]
    assert not shifted[2].samples[:3 * RATE // 100].any() and shifted[2].samples[3 * RATE // 100:].all()
    # Two shifts of one item, streamed 1 and 3 errors worse than offline: one item, so the
    # interval is the mean difference of its draws, not a spread over two items.
    for copy, streamed in zip(shifted, ["hola x", "hola x y z", "hola"]):
        copy.results = {"base": {"offline 16k": "hola", "native 16k": streamed}}
    figures = report(shifted, ["base"], lost_words=3)
    assert figures["against_offline"] == {"base spanish native 16k": (133.3, 133.3, 133.3)}
