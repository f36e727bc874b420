"""Redaction fails closed with no keyword at all (issue 43, item 1): in a session that redacts
``pci`` or ``ssn`` (or ``pii``), digits said digit by digit, and numbers of 3 digits or more, are
masked whatever the words around them; a keyword only names them (``[NUMBER_n]`` without one).
Amounts with a currency or a unit, times, a call's dates and short quantities stay readable."""

from __future__ import annotations

import pytest

from common.records import Transcript
from common.redaction.redactor import Redactor

from .test_redaction_fail_closed import in_clear

SECOND = 16_000
FAIL_CLOSED_KINDS = (("pci",), ("ssn",), ("pci", "ssn"), ("pii",), ("pci", "ssn", "pii"))


def redacted(texts: list[str], kinds: tuple[str, ...]) -> list[str]:
    redactor = Redactor(kinds, hold_gap=3 * SECOND)
    out: list[Transcript] = []
    for n, text in enumerate(texts):
        start = n * 3 * SECOND // 2
        out += redactor.final(Transcript(utterance_id=f"u-{n}", start=start, end=start + SECOND, text=text,
                                         final=True))
    out += redactor.release()
    return [t.text for t in out]


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
@pytest.mark.parametrize("texts", [
    # Digit by digit: as digits, as words, with "oh", "double", dashes, commas, dots.
    ["It's 4 4 1 2."], ["nine oh three seven."], ["It's oh seven seven two."], ["double six one."],
    ["5-3-1 is it."], ["So 5, 3, 1 then."], ["Right, 5.3.1."], ["Sure, it's four four one two.", "nine oh three seven."],
    # Pairs read as numbers, and 3 digits or more written together.
    ["It's sixty two, eighteen."], ["Write this down, 7731942, that is it."], ["It's 531."],
    ["The number on the back is 5 3 1"],
    # An expiry the recogniser wrote as a price with no currency ("good through eleven twenty nine").
    ["And it's good through", "and it stopped from 11.29."], ["It runs out 11.29."],
    # Digits read one by one are no amount or time, whatever word follows.
    ["It's 4 4 1 2 in the evening."], ["It's 4 4 1 2 dollars."], ["It's 4-4-1 tomorrow."], ["It's double six one today."],
    # Homophones and "oh" read as digits with no keyword; "oh" ending a sentence is a zero.
    ["Okay.", "for for to to."], ["Won to free."], ["So that's oh."], ["It's 5 3 oh."],
    ["I'm free one."], ["It's oh seven, for one."], ["My card code is for one."],
    # tiny.en in packs, en-gb mu-law, for "Sure, it's" / "five three one." / "double seven." / "one two oh eight.".
    ["Sure, it's", "time free one,", "double heaven,", "1208."],
    # Groups the recogniser wrote as prices (tiny.en in packs, for "It's five hundred twelve, sixty,
    # seventy one eighty three." / "That's the social on file.").
    ["It's £100, well £60, £7183,", "and a social on-file."], ["It's $512, $60, $7183."],
])
def test_digits_with_no_keyword_are_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out
    assert all("[" in t or not any(c.isdigit() for c in s) for t, s in zip(out, texts)), out


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
@pytest.mark.parametrize("text", [
    # Short quantities: a number said as one, with a noun after it.
    "I would like two tickets for Friday.", "There are 3 items in the box.", "Can you hold on for one moment?",
    "I have 2 kids.",
    # Amounts, times and a call's dates.
    "I waited for twenty minutes.", "It was around 300 dollars.", "Call me after 5 pm.", "See you at 3pm.",
    "See you at 10am tomorrow.", "We moved here on the fourth of July, 2019.", "The meeting is at 3.30 in the afternoon.",
    "It was $12.99 in the sale.", "It came to about 3.50 in the end.", "It costs 12.99 now.", "Can you call me back at 4.30 this afternoon?",
    "The meeting is at 3 30 in the afternoon.", "It will arrive in 3 to 5 business days.",
    "The engineer comes at seven fifteen tomorrow morning.",
    # "Oh" that begins a sentence is an interjection; homophones inside a sentence are words.
    "Oh, I see.", "Oh okay, thanks.", "I went to the store for two hours.", "I paid for two tickets.",
    # "a free one": a pronoun. ("A table for two.", "It came down to one.", "I, for one, agree." are masked
    # since the night of 2026-11-25: no noun frames the digit's word, test_a_digits_word_alone_that_no_noun_frames_is_masked.)
    "I got a free one, thanks.",
    "It costs $10, $20, $30.", "Prices were $100, $250, $1,000.", "Prices were $100, $250, $4.50.",
])
def test_quantities_amounts_times_and_dates_stay_readable(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("texts, kinds, label", [
    (["It's 4 4 1 2."], ("pci", "ssn"), "NUMBER"),
    (["My card number is 4 4 1 2."], ("pci", "ssn"), "CVV"),
    (["My social is 5 3 1."], ("pci", "ssn"), "SSN"),
    (["My social is 5 3 1."], ("pci",), "NUMBER"),
    (["and it stopped from 11.29."], ("pci", "ssn"), "NUMBER"),
])
def test_a_keyword_only_names_what_is_masked(texts, kinds, label):
    out = redacted(texts, kinds)
    assert f"[{label}_1]" in " ".join(out), out


def test_sessions_without_a_fail_closed_kind_are_unchanged():
    assert redacted(["It's 4 4 1 2."], ("numbers",)) == ["It's [NUMBER_1]."]
    assert redacted(["and it stopped from 11.29."], ("numbers",)) == ["and it stopped from [NUMBER_1]."]


# The leaks of the third held-out part (bench.redaction --set held-out-3, scored once at its end,
# tiny.en over espeak-ng en-us+m3, en-gb-x-rp, en-us+f2, 16 kHz and mu-law, live and in packs), and
# the second's last one, as the recogniser wrote them: no keyword and no masked number near. A digit's
# word alone that no noun frames as a quantity is masked, and a date needs a day or a year that reads as one.
HELD_OUT_3_LEAKS = [
    # "My reference is oh seven seven two." / "double six one.": digits' words said as a quantity would be.
    ["My reference in both M&M and two.", "Not will fix one."],
    ["My reference in both M &M and two,", "normal 661."],
    # "The one on the back is five three one.": "free one" with no punctuation, a final held with the next.
    ["but well on the back is time free one", "And it runs out 11.29."],
    # "oh seven seven two" heard as a date with a two-digit year.
    ["My reference in November 7th 72", "Number 661"],
    # held-out-2, en-us+m3 mu-law: "You'll want my social as well, yeah?" / "Yep, two one nine." ...
    ["One might go she'll have well, yeah.", "219.", "Okay."],
]


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
@pytest.mark.parametrize("texts", HELD_OUT_3_LEAKS)
def test_the_third_held_out_parts_leaks(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == []


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
@pytest.mark.parametrize("text", [
    # A digit's word alone with no noun after it in its phrase: masked, whatever the words before.
    "Not will fix one.", "It came down to one.", "A table for two.", "So that's three, right?",
    "Four is what it says.", "One might go.", "A table for one.", "I, for one, agree.",
])
def test_a_digits_word_alone_that_no_noun_frames_is_masked(text, kinds):
    # (What failing closed costs: "A table for two." is masked too; bench.redaction counts such. "I'll take
    # two.", a count after a verb of taking, stays since 2026-11-27: test_redaction_fail_closed.py.)
    out = redacted([text], kinds)
    assert in_clear(out) == [] and "[" in out[0], out


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
@pytest.mark.parametrize("text", [
    # ... but one that a noun after it, or a determiner before it, frames stays.
    "I would like two tickets.", "Can you hold on for one moment?", "The one on the back.", "I'll take that one.",
    "I got a free one, thanks.", "The last four are on the card.", "The first three are fine.", "No one called.",
    "One of them is mine.", "Those two are fine.", "Two big boxes, please.", "I need two more.",
    # Dates with a day or a year that reads as one.
    "My flight is on December 14th.", "It was on November 7th, 2021.",
])
def test_a_digits_word_that_a_noun_or_a_determiner_frames_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# A month and a year alone is how a card's expiry is read (its keyword often misheard): masked where
# cards are redacted, a date elsewhere; but a year before 2020 after "in", as a year alone there, is no
# valid card's ("I moved here in May 2019.", held-out-7).
@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
def test_a_month_and_a_year_alone_is_masked_only_where_cards_are(kinds):
    out = redacted(["We met in May 2029."], kinds)
    assert out == (["We met in May [NUMBER_1]."] if "pci" in kinds else ["We met in May 2029."]), out
    assert redacted(["We met in May 2019."], kinds) == ["We met in May 2019."]
    # ... with two words of its sentence before "in": "Empire in June 2013." (base for "Expiry is June two
    # thousand thirty.", held-out-7) is an expiry where cards are.
    out = redacted(["Empire in June 2013."], kinds)
    assert out == (["Empire in June [NUMBER_1]."] if "pci" in kinds else ["Empire in June 2013."]), out


# The leaks of the recordings in packs (tiny.en, mu-law) that text rules can read, as the recogniser wrote them.
PACKS_LEAKS = [
    # held-out, en-gb: "Right, so it's" / "three seven eight two." / "eight two two four." / ...: a short
    # final before the masked number it goes on with.
    ["right so it's", "free lemon", "828224631", "631, number 05."],
    # held-out-2, en-us+m3: "The digits on the back are nine oh two.": "for" in the masked number's sentence.
    ["The biggest sun for my car I know too.", "And it's gone from 11 to empty I'm..."],
    # held-out-3, en-gb-x-rp: "My reference is oh seven seven two." / "double six one.": a day glued to the
    # masked homophone after it.
    ["My reference in November 7th to", "Number 6 1"],
]


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
@pytest.mark.parametrize("texts", PACKS_LEAKS)
def test_the_packs_leaks(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not [w for t in out for w in t.lower().split() if w in ("free", "for", "to")], out


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
@pytest.mark.parametrize("texts", [
    # A short final with a digit's word stays when no number follows it, and a date far from a masked number.
    ["Thanks for that.", "It was delivered on March 3, 2024."], ["One moment.", "I'll check."],
    ["It was delivered on November 7th.", "Okay."],
])
def test_short_finals_and_dates_without_a_number_after_stay(texts, kinds):
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
def test_words_before_a_number_written_in_digits_stay(kinds):
    # The whole sentence before a masked number is its passage only when the recogniser wrote it in words.
    out = redacted(["I want to pay with my card, 4111 1111 1111 1111."], kinds)
    assert out[0].startswith("I want to pay with my card, ["), out


# The leaks of whisper base on English (bench.redaction, its first run on English audio: espeak-ng voices,
# 16 kHz and mu-law, live), as the recogniser wrote them.
BASE_LEAKS = [
    # "thirty two, ninety nine." / "fifty five, oh four." ...: pairs written as prices with no currency.
    ["and then we have a new 41 11.", "11 11, so 55 04.", "32.99"],
    ["you can reach beyond", "2.02", "Time, time, time.", "019 9"],
    ["and it scored 311.29."],
    ["sure it's 4412", "and I know 9037 payment.", "62.18"],
    ["my total emo 042, Amran, Amran, 3.09 time."],
    # "It expires oh nine, twenty eight." / "My credit card expires 05/27.": an expiry written as a price.
    ["My credit card expired near of $5.20."],
    # "oh six twenty seven, sorry, oh seven twenty seven": a filler after a pair is no noun it counts.
    ["Next, fiery emotic, 20 mm, fiery emotic, 20 mm."],
    # "Four nine one six, no sorry, four nine one seven.": "I'm" between digits' words is a nine.
    ["Let me read it. For I'm one big, no hurry. For I'm one pamper.", "33.02"],
    # "five three one." / "double seven." in packs (base, en-gb mu-law): "double" counts no noun.
    ["Sure, it's", "I'm free one Double", "Heaven 1208", "1208"],
    # "forty one, eleven.": homophones two in a row are digits.
    ["My car, um, very...", "already won to Lambon.", "and", "11 11 times, so 55 04."],
]


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
@pytest.mark.parametrize("texts", BASE_LEAKS)
def test_the_base_models_leaks(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not [w for t in out for w in t.lower().split() if w in ("won", "to")], out


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
@pytest.mark.parametrize("text", [
    # A decimal is an amount or a time by its currency, a unit, or a word before it; and homophones apart stay.
    "It came to about 3.50 in the end.", "It costs 12.99 now.", "See you at 3.30.", "It was 12.99 dollars.",
    "I went to the shop for milk.", "Nice to meet you too, thanks.", "Thanks for, I'm one of them.",
    "That one, I'm two minutes away.",
])
def test_decimals_said_as_amounts_and_homophones_apart_stay(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
def test_a_unit_after_an_expiry_keyword_still_makes_an_amount(kinds):
    assert redacted(["My subscription expired 3 days ago."], kinds) == ["My subscription expired 3 days ago."]


# Found by held-out-4's one scoring (tiny.en and base, 2026-11-25 night), fixed after it: a percent sign is
# a unit; "each" after a price; a digit's word with a number between it and a determiner is no pronoun; a
# single letter after a digit is no noun it counts.
@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
@pytest.mark.parametrize("text", ["It went up by 5%.", "It went up 5.5%.", "The tickets were 12.50 each."])
def test_percentages_and_prices_each_stay(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
@pytest.mark.parametrize("texts", [
    ["Okay, so the first three aren't one to die.", "then for seven."],
    ["The front number is 4 m and 1 tics."],
])
def test_held_out_4s_leaks_that_text_rules_read(texts, kinds):
    out = redacted(texts, kinds)
    # ("the first three": the caller's word, no digit of the number)
    assert in_clear(out) == (["three"] if "first three" in texts[0] else []), out


@pytest.mark.parametrize("kinds", FAIL_CLOSED_KINDS)
def test_a_number_partly_masked_is_masked_whole(kinds):
    # held-out-4, tiny.en in packs, for "Six six three, sorry, six six four." / "double one." / "nine nine
    # oh two.": the SSN's rules took the 6 and 3 beside it, and the first 6 of the same number stayed.
    out = redacted(["6, 6, 3, sorry 6, 6, 4,", "double 1.", "9, 9, 0, 2."], kinds)
    assert in_clear(out) == [], out
