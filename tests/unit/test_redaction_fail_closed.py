"""Redaction fails closed (issue 43): the adversarial set on the detector and the redactor.

Every case a leak was found with is here as the recogniser wrote it, and generated variants of
the ways callers say numbers: grouped in 2-4, as digits or words, "oh" for zero, "double" and
"triple", over one to three finals, the keyword right, misheard or absent, a correction, Spanish
digits. The assertion is the same for each: no digit of the secret in clear in any output text.
"""

from __future__ import annotations

import itertools
import re

import pytest

from common.records import Transcript
from common.redaction.itn import SPANISH_DIGITS, core
from common.redaction.redactor import Redactor

SECOND = 16_000
WORDS = "zero one two three four five six seven eight nine".split()
# Words that say a digit: what must not survive outside a placeholder.
DIGIT_WORDS = frozenset(WORDS) | {"oh", "double", "triple"} | frozenset(SPANISH_DIGITS)
KINDS = (("pci", "ssn"), ("pci",), ("ssn",), ("pii",), ("pci", "ssn", "pii"))


def final(text: str, n: int) -> Transcript:
    """The ``n``-th final of a call: a second of speech each, half a second apart."""
    start = n * 3 * SECOND // 2
    return Transcript(utterance_id=f"u-{n}", start=start, end=start + SECOND, text=text, final=True)


def redacted(texts: list[str], kinds: tuple[str, ...], *, timer_between: bool = False) -> list[str]:
    """What a session redacting ``kinds`` sends for finals ``texts`` (in order); ``timer_between``:
    the hold's timer lets each final go before the next comes."""
    redactor = Redactor(kinds, hold_gap=3 * SECOND)
    out: list[Transcript] = []
    for n, text in enumerate(texts):
        out += redactor.final(final(text, n))
        if timer_between:
            out += redactor.release()
    out += redactor.release()
    assert [t.utterance_id for t in out] == [f"u-{n}" for n in range(len(texts))]  # each once, in order
    return [t.text for t in out]


def in_clear(texts: list[str]) -> list[str]:
    """The digits and digit words of ``texts`` outside placeholders (but "the last four": no digit
    of the number)."""
    found = []
    for text in texts:
        bare = re.sub(r"\[[A-Z_]+_\d+\]|last four", " ", text)
        found += re.findall(r"\d", bare)
        found += [w for w in map(core, bare.split()) if w in DIGIT_WORDS]
    return found


# The issue's cases, as the recogniser wrote them (one list: one call's finals).
ISSUE_CASES = [
    ["My social is oh four two, seven seven, three oh nine five"],
    ["the last four of my social are 6789"],
    ["My social info for 2, 7, 7, 3, 0, 9, 5."],
    ["my social is 042 7 7 3 095 that is correct"],
    ["My phone number is 2-1-2.", "5-5-0-1-8."],
    ["My god, I'm very time time time", "4, 4, 4, 4.", "1, 1, 1, 1."],
    ["my count number in time time time time four four four three three three one one one one"],
    ["... one two five four four seven two"],
    ["My count number is 7731942"],
]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", ISSUE_CASES)
def test_the_issues_cases_leak_no_digit(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == []


@pytest.mark.parametrize("texts, kinds, expected", [
    # A keyword names what fails closed; without one it is a number.
    (["My social is oh four two, seven seven, three oh nine five"], ("ssn",), ["My social is [SSN_1]"]),
    (["the last four of my social are 6789"], ("pci", "ssn"), ["the last four of my social are [SSN_1]"]),
    (["My phone number is 2-1-2.", "5-5-0-1-8."], ("pii",), ["My phone number is [PHONE_NUMBER_1].",
                                                             "[PHONE_NUMBER_1]."]),
    (["My count number is 7731942"], ("pii",), ["My count number is [ACCOUNT_NUMBER_1]"]),
    (["My god, I'm very time time time", "4, 4, 4, 4.", "1, 1, 1, 1."], ("pci",),
     ["My god, I'm very time time time", "[NUMBER_1].", "[NUMBER_1]."]),
    # "social" that is no SSN's keyword.
    (["my social worker has 2 kids"], ("ssn",), ["my social worker has 2 kids"]),
])
def test_labels(texts, kinds, expected):
    assert redacted(texts, kinds) == expected


def _said(digits: str, size: int, *, as_words: bool, oh: bool, repeats: bool) -> list[str]:
    """``digits`` in groups of ``size`` as a caller says them: each group a piece ending in a
    comma, as digits ("4111,") or words ("four one one one,", "oh" for 0, "double four")."""
    groups = [digits[i:i + size] for i in range(0, len(digits), size)]
    if not as_words:
        return [g + "," for g in groups]
    pieces = []
    for group in groups:
        said = []
        for digit, same in itertools.groupby(group):
            count = len(list(same))
            word = "oh" if oh and digit == "0" else WORDS[int(digit)]
            if repeats and count in (2, 3):
                said.append(("double " if count == 2 else "triple ") + word)
            else:
                said += [word] * count
        pieces.append(" ".join(said) + ",")
    return pieces


SECRETS = {"card": "4012888888881881", "ssn": "042773095", "cvv": "731", "expiry": "0527",
           "account": "7731942", "phone": "2125550118"}
LEADS = {
    "keyword": "my number is",
    "misheard": "My god, I'm very time time time",
    "absent": "okay so",
    "correction": "it's 1 2 3, no wait, it's",
}


def _variants():
    for (name, digits), size, as_words, oh, repeats, lead, finals in itertools.product(
            SECRETS.items(), (2, 3, 4), (False, True), (False, True), (False, True), LEADS, (1, 2, 3)):
        if not as_words and (oh or repeats):
            continue
        pieces = _said(digits, size, as_words=as_words, oh=oh, repeats=repeats)
        if finals > len(pieces):
            continue
        # The pieces over ``finals`` finals, the lead in the first.
        cut = [len(pieces) * k // finals for k in range(finals + 1)]
        texts = [" ".join(pieces[a:b]) for a, b in zip(cut, cut[1:])]
        texts[0] = f"{LEADS[lead]} {texts[0]}"
        yield pytest.param(texts, id=f"{name}-{size}-{'words' if as_words else 'digits'}{'-oh' if oh else ''}"
                                     f"{'-rep' if repeats else ''}-{lead}-{finals}")


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pii",)])
@pytest.mark.parametrize("texts", list(_variants()))
def test_generated_variants_leak_no_digit(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == []


@pytest.mark.parametrize("pieces", [
    ["forty one.", "eleven.", "eleven.", "eleven.", "eleven.", "eleven.", "eleven.", "eleven."],
    ["41.", "11.", "11.", "11.", "11.", "11.", "11.", "11."],
    ["4.", "1.", "1.", "1.", "1.", "1.", "1.", "1."],
])
@pytest.mark.parametrize("timer_between", [False, True])
def test_a_number_read_over_more_finals_than_are_held_leaks_nothing(pieces, timer_between):
    # A card read in pairs is 8 finals, more than the redactor holds at once, and the hold's timer
    # may let each go before the next: what goes on with a redacted number is redacted with it.
    texts = ["My card number is", *pieces]
    assert in_clear(redacted(texts, ("pci",), timer_between=timer_between)) == []


def test_spanish_digits_are_numbers():
    assert in_clear(redacted(["mi tarjeta es cuatro cuatro cuatro cuatro", "uno uno uno uno."], ("pci",))) == []
    # A Spanish word alone is no number.
    assert redacted(["uno de ellos"], ("pci",)) == ["uno de ellos"]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", [
    # Amounts with a currency, times, a call's dates and short quantities stay readable.
    "The total is 25 dollars and 50 cents.", "That will be 149 dollars.", "That will be $149.",
    "The meeting is at 3:30 in the afternoon.", "I will call back at 10 o'clock.", "see you at 3 pm",
    "It was delivered on March 3, 2024.", "I ordered two items.", "The new card arrives in 10 days.",
    "Please charge 149 dollars to my Visa card.", "My card was declined at 3:30 yesterday.",
])
def test_amounts_times_dates_and_quantities_stay_readable(text, kinds):
    assert redacted([text], kinds) == [text]
