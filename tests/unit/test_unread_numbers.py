"""A final of a number passage whose second decode with the digits prompt wrote digits that were not
kept (its step ``asr_worker.digits.STEP`` "refused"; the redactor is told ``unread_number``): redacted whole
when short and in a card or SSN keyword's context, read as any other final otherwise; its partials
masked. On the transcripts recorded by bench.redaction --digits (2026-11-24, tests/kit/redaction.py's
calls): the base SSN miss, and the finals that must not be masked."""

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


def run(r: Redactor, finals: list[Transcript], unread: set[int]) -> list[Transcript]:
    out = []
    for n, f in enumerate(finals):
        out += r.speech_start(f.start) + r.final(f, unread_number=n in unread)
    return out + r.release()


def test_the_base_ssn_miss_is_redacted_whole_with_its_words_times():
    out = run(redactor(), SSN_GROUPS, {2})
    assert [t.text for t in out] == ["my social security number.", "[SSN_1]", "[SSN_2]..."]
    miss = out[2]
    assert [(w.text, w.start, w.end) for w in miss.words] == [("[SSN_2]...", 93910, 112150)]
    assert [(r.entity, r.start, r.end) for r in miss.redactions] == [("SSN", 93910, 112150)]


def test_untold_it_goes_out_as_the_rules_read_it():
    # "For", a digit's homophone, starts it: the rest of the number before it.
    out = run(redactor(), SSN_GROUPS, set())
    assert [t.text for t in out[1:]] == ["[SSN_1]", "[SSN_1] I'm..."]


def test_a_card_passage_gives_a_card_placeholder():
    out = run(redactor(), [final("My card number is", 0, SECOND), final("Hey, hey", 2 * SECOND, 3 * SECOND)], {1})
    assert [t.text for t in out] == ["My card number is", "[CREDIT_CARD_1]"]


@pytest.mark.parametrize("before, text", [
    # Told, whatever their second decodes wrote: a sentence is longer than a number's words.
    ("My card was declined at 3.30 yesterday.", "A new car derived in Penn Bay."),  # tiny.en mu-law
    ("My card was declined at 3.30 yesterday.", "The new car that I've been pen made."),  # tiny.en
    ("My card was declined at 3.30 yesterday.", "The new card arrived in Penn Bay."),  # base
    ("My credit card has higher 0.5 last 20 am.", "Not a pureity cold in heaven free one."),  # base CVV
    ("My credit card at five zero five slash twenty seven.", "I think you already call this m and free one."),
    ("You can call me on 555-867-5300-I", "My email is John. Smith at edlemple.com"),  # base
    ("You can call me on 555 867 5300", "My email is John."),  # tiny.en: 4 words, but no card or SSN context
    ("That will be $149.", "Let me begin after free third in the afternoon."),  # tiny.en
    ("My order number is 12345", "For I'm..."),  # a number passage by the number before it, no keyword
])
def test_what_must_not_be_masked_is_not(before, text):
    finals = [final(before, 0, SECOND), final(text, 2 * SECOND, 3 * SECOND)]
    assert [t.text for t in run(redactor(), finals, {1})] == [t.text for t in run(redactor(), finals, set())]


def test_not_for_kinds_the_session_does_not_redact():
    assert run(redactor(("pci",)), SSN_GROUPS, {2})[2].text == "[NUMBER_1] I'm..."  # (not whole: the rules')


def test_a_takeover_redacts_the_same_from_the_checkpoint():
    r = redactor()
    run(r, SSN_GROUPS[:2], set())
    resumed = redactor(state=r.state())
    assert resumed.state() == r.state()  # nothing new to keep
    assert [t.text for t in run(resumed, SSN_GROUPS[2:], {0})] == [t.text for t in run(r, SSN_GROUPS[2:], {0})]


def test_partials_in_the_passage_that_short_with_no_number_are_masked_whole():
    r = redactor()
    run(r, SSN_GROUPS[:2], set())
    partial = lambda text: Transcript(utterance_id="p", start=93910, end=112704, text=text, final=False)  # noqa: E731
    assert r.partial(partial("For I'm")).text == "[REDACTED]"
    assert r.partial(partial("Thank you, that is all.")).text == "Thank you, that is all."
    assert redactor().partial(partial("For I'm")).text == "For I'm"  # no keyword's context
