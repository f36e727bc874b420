"""A final of a number passage whose second decode with the digits prompt wrote digits that were not
kept (its step ``asr_worker.digits.STEP`` "refused"; the redactor is told ``unread_number``, that decode's
text): redacted whole when short and in a card or SSN keyword's context; otherwise its words where that
decode wrote a number the rules mask are masked (common.redaction.reread), the rest read as any other
final; its partials masked. On the transcripts recorded by bench.redaction --digits (2026-11-24 and
2026-11-26, tests/kit/redaction.py's calls): the base SSN miss, the misses the second decode heard, and
the finals that must not be masked."""

from __future__ import annotations

import pytest

from asr_worker.digits import outcome
from common.records import TimedWord, Transcript
from common.redaction.redactor import Redactor

SECOND = 16_000


@pytest.mark.parametrize("first, second, came", [
    ("For I'm...", "4-I", "refused"),  # base, en-gb mu-law, "four five." of an SSN: the miss
    ("Hey, hey", "8888.", "kept"),
    ("A new car derived in Penn Bay.", "The new card arrived in 10 days.", "refused"),  # tiny.en: a sentence
    ("The new car that I've been pen made.", "The new Carder I've been 10 made.", "refused"),  # tiny.en
    ("Not a pureity cold in heaven free one.", "Not a security code, it's M and 3-1.", "refused"),  # base CVV
    ("My email is John. Smith at edlemple.com", "My email is John. Smith at edlemple.com", "dropped"),  # base
    ("The new card arrived in Penn Bay.", "The new card arrived in Penn Bay.", "dropped"),  # base
    ("My email is john.missatemple.com", "My email is dot miss at blampl.com.", "dropped"),  # tiny.en
    ("My email is John.", "My email is john.miff at blampl.com", "dropped"),  # tiny.en
    # base's CVV "seven three one": "free one." is its 3 and 1 ("free" a homophone of three before a digit)
    ("I think you already call this m and free one.", "I think you already call this m and free one.", "refused"),
    ("Let me begin after free third in the afternoon.", "Let me begin after free third in the afternoon.",
     "dropped"),
])
def test_what_a_second_decode_came_to(first, second, came):
    assert outcome(first, second) == came


def final(text: str, start: int, end: int, words: list[tuple[str, int, int]] = ()) -> Transcript:
    return Transcript(utterance_id=f"s-{start}", start=start, end=end, text=text, final=True,
                      words=tuple(TimedWord(w, s, e, 0.9) for w, s, e in words))


def redactor(kinds=("pci", "ssn", "pii"), state=None) -> Redactor:
    return Redactor(kinds, hold_gap=3 * SECOND, state=state)


# base, en-gb 8 kHz mu-law, the ssn-groups call as recorded (words in session samples).
SSN_GROUPS = [
    final("my social security number.", 0, 38336, [("my", 0, 2560), ("social", 2560, 8960),
                                                   ("security", 8960, 14720), ("number.", 14720, 27200)]),
    final("one two three", 57536, 77910, [("one", 57536, 61056), ("two", 61056, 64896), ("three", 64896, 69696)]),
    final("For I'm...", 93910, 112704, [("For", 93910, 97430), ("I'm...", 97430, 112150)]),
]


def run(r: Redactor, finals: list[Transcript], unread: dict[int, str]) -> list[Transcript]:
    """``unread``: by the final's index, its refused second decode's text."""
    out = []
    for n, f in enumerate(finals):
        out += r.speech_start(f.start) + r.final(f, unread_number=unread.get(n, ""))
    return out + r.release()


def test_the_base_ssn_miss_is_redacted_whole_with_its_words_times():
    out = run(redactor(), SSN_GROUPS, {2: "4-I"})
    assert [t.text for t in out] == ["my social security number.", "[SSN_1]", "[SSN_2]..."]
    miss = out[2]
    assert [(w.text, w.start, w.end) for w in miss.words] == [("[SSN_2]...", 93910, 112150)]
    assert [(r.entity, r.start, r.end) for r in miss.redactions] == [("SSN", 93910, 112150)]


def test_untold_it_goes_out_as_the_rules_read_it():
    # "For", a digit's homophone, starts it: the rest of the number before it.
    out = run(redactor(), SSN_GROUPS, {})
    assert [t.text for t in out[1:]] == ["[SSN_1]", "[SSN_1] I'm..."]


def test_a_card_passage_gives_a_card_placeholder():
    out = run(redactor(), [final("My card number is", 0, SECOND), final("Hey, hey", 2 * SECOND, 3 * SECOND)],
              {1: "8888 X."})
    assert [t.text for t in out] == ["My card number is", "[CREDIT_CARD_1]"]


@pytest.mark.parametrize("before, text, second", [
    # A sentence is longer than a number's words, and the number its second decode heard is one the
    # rules leave readable ("10 days"), or none where both wrote the same words.
    ("My card was declined at 3.30 yesterday.", "A new car derived in Penn Bay.",
     "The new card arrived in 10 days."),  # tiny.en mu-law
    ("My credit card at five zero five slash twenty seven.", "I think you already call this m and free one.",
     "I think you already call this m and free one."),  # base
    # Both wrote the same number (base, a CVV "seven three one" after the card's expiry: its "free one",
    # `3-1`): the rules' reading of the first stands (they mask it).
    ("My credit card has higher 0.5 last 20 am.", "Not a pureity cold in heaven free one.",
     "Not a security code, it's M and 3-1."),
    # (tiny.en, held-out-5 in packs, "I get home at quarter past six." in a passage: `six` is `6`.)
    ("A real hundred and twenty.", "I get home at quarter past six.", "I get home at quarter past 6."),
])
def test_what_must_not_be_masked_is_not(before, text, second):
    finals = [final(before, 0, SECOND), final(text, 2 * SECOND, 3 * SECOND)]
    assert [t.text for t in run(redactor(), finals, {1: second})] == [t.text for t in run(redactor(), finals, {})]


@pytest.mark.parametrize("before, text, second, redacted", [
    # Recorded by bench.redaction --digits: asked for digits, the recogniser heard a number where the
    # first decode wrote words; those words go, the words both wrote stay. 2026-11-26, held-out-3, base
    # en-us+m3 mu-law, an expiry "eleven twenty nine" after a CVV (in clear before):
    ("but one on the market, I'm free one.", "and be from Multilemmon twenty-ine.", "BEPROM-2129.",
     "[NUMBER_3]."),
    # held-out-5, tiny.en en-gb-scotland mu-law, a card's group "eighty four, double two" after its first:
    ("Okay here goes. 54, 19.", "It's not not good.", "854-1922", "[NUMBER_2]."),
    # tiny.en, held-out-5 in packs: what it wrote otherwise is masked, its `six` (`6`) read as the rules read it.
    ("A real hundred and twenty.", "I get home at quarter past six.", "I get 4 more of your past 6.",
     "I get [NUMBER_2] past six."),
    # A number passage by the number before it, no keyword (base, en-gb mu-law: "four five." of an SSN):
    ("My order number is 12345", "For I'm...", "4-I", "[NUMBER_1]..."),
    # tiny.en: "The new card arrived in ten days." after a card was declined, its "ten" heard "pen": masked,
    # and the negative with it (what failing closed costs: "10 made" is no quantity the rules can read).
    ("My card was declined at 3.30 yesterday.", "The new car that I've been pen made.",
     "The new Carder I've been 10 made.", "The new car that I've been [CREDIT_CARD_1] made."),
])
def test_the_words_where_a_refused_second_decode_wrote_a_number_are_masked(before, text, second, redacted):
    finals = [final(before, 0, SECOND), final(text, 2 * SECOND, 3 * SECOND)]
    assert run(redactor(), finals, {1: second})[1].text == redacted
    assert run(redactor(), finals, {})[1].text != redacted


def test_not_for_kinds_the_session_does_not_redact():
    # Not whole (an SSN's context, which a pci session does not redact), but its words where the second
    # decode wrote a number the rules mask.
    assert run(redactor(("pci",)), SSN_GROUPS, {2: "4-I"})[2].text == "[NUMBER_1]..."
    assert run(redactor(("pci",)), SSN_GROUPS, {})[2].text == "[NUMBER_1] I'm..."


def test_a_takeover_redacts_the_same_from_the_checkpoint():
    r = redactor()
    run(r, SSN_GROUPS[:2], {})
    resumed = redactor(state=r.state())
    assert resumed.state() == r.state()  # nothing new to keep
    assert [t.text for t in run(resumed, SSN_GROUPS[2:], {0: "4-I"})] \
        == [t.text for t in run(r, SSN_GROUPS[2:], {0: "4-I"})]


def test_partials_in_the_passage_that_short_with_no_number_are_masked_whole():
    r = redactor()
    run(r, SSN_GROUPS[:2], {})
    partial = lambda text: Transcript(utterance_id="p", start=93910, end=112704, text=text, final=False)  # noqa: E731
    assert r.partial(partial("For I'm")).text == "[REDACTED]"
    assert r.partial(partial("Thank you, that is all.")).text == "Thank you, that is all."
    assert redactor().partial(partial("For I'm")).text == "For I'm"  # no keyword's context


def test_a_number_only_a_refused_decode_heard_gives_no_card_context_to_the_words_after_it():
    # tiny.en, held-out-5, en-us+f4 mu-law, the negatives: "The meeting is at half seven." in the passage
    # that "a hundred and twenty." opened, whose digits prompt looped. Masked, but the negatives after it
    # are read as they would be without it (they had gone out masked as a card's context).
    texts = ["It was $45 last month.", "A real hundred and twenty.", "I get home at quarter past six.",
             "Let me dig in half and run.", "My turn is for a theme.", "It's a free man room house.",
             "We focus on the 23rd of March."]
    finals = [final(text, 3 * n * SECOND, (3 * n + 2) * SECOND) for n, text in enumerate(texts)]
    looped = "1, 2, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1"
    told, untold = run(redactor(), finals, {3: looped}), run(redactor(), finals, {})
    assert told[3].text == "[CREDIT_CARD_1]."
    assert [t.text for t in told[4:]] == [t.text for t in untold[4:]] == texts[4:]
