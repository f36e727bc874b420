"""Redaction fails closed (issue 43): the adversarial set on the detector and the redactor.

Every case a leak was found with is here as the recogniser wrote it, and generated variants of
the ways callers say numbers: grouped in 2-4, as digits or words, "oh" for zero, "double" and
"triple", over one to three finals, the keyword right, misheard or absent, a correction, Spanish
digits. The assertion is the same for each: no digit of the secret in clear in any output text.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest

from common.records import Transcript
from common.redaction.itn import SPANISH_DIGITS, SPANISH_NUMBERS, core, runs
from common.redaction.redactor import MAX_HELD, Redactor

SECOND = 16_000
WORDS = "zero one two three four five six seven eight nine".split()
# Words that say a digit: what must not survive outside a placeholder.
DIGIT_WORDS = frozenset(WORDS) | {"oh", "double", "triple"} | frozenset(SPANISH_DIGITS) | SPANISH_NUMBERS - {"once"}
# The recogniser's homophones of digits: in clear beside a number's placeholder, a digit of it leaked.
HOMOPHONES = frozenset({"to", "too", "for", "won", "ate"})
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
    """The digits and digit words of ``texts`` outside placeholders (but "the last four" and a count of digits,
    "the 16 digits": no digit of the number)."""
    found = []
    for text in texts:
        bare = re.sub(r"\[[A-Z_]+_\d+\]|last four|\S+(?= digits?\b)", " ", text)
        found += re.findall(r"\d", bare)
        found += [w for w in map(core, bare.split()) if w in DIGIT_WORDS]
    return found


def written_digits(texts: list[str]) -> list[str]:
    """The digits written as digits in ``texts`` outside placeholders (a number word, "two cards", is none)."""
    return re.findall(r"\d", re.sub(r"\[[A-Z_]+_\d+\]", "", " ".join(texts)))


def numbers_said(texts: list[str]) -> list[str]:
    """The numbers ``texts`` say outside placeholders, in digits or in words ("forty sixty": 4060)."""
    return [run.digits for text in texts for run in runs(re.sub(r"\[[A-Z_]+_\d+\]", " ", text).split())]


def homophones_beside(texts: list[str]) -> list[str]:
    """Homophones of digits right before or after a placeholder ("for [SSN_1]"): a digit read as one."""
    found = []
    for text in texts:
        tokens = text.split()
        for i, token in enumerate(tokens):
            near = tokens[max(0, i - 1):i] + tokens[i + 1:i + 2]
            if core(token) in HOMOPHONES and any(re.match(r"\[[A-Z_]+_\d+\]", t) for t in near):
                found.append(token)
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
     ["My god, I'm very [NUMBER_1]", "[NUMBER_2].", "[NUMBER_2]."]),  # ("time time time": a digit read again)
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


@pytest.mark.parametrize("texts", [
    ["My social info for 2, 7, 7, 3, 0, 9, 5."],  # the issue's: "oh four two, seven seven, ..."
    ["my card is 4 1 for for 1 1 1 1"],
    ["the code is to 4 2"],
    ["My card number is 4111 1111", "to to 1 1."],
    ["4 ate 8 8 won 1 1 1."],
    ["It is 1 1 1 too"],
])
@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pii",)])
def test_homophones_of_digits_go_with_their_number(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and [w for t in out for w in t.split() if core(w) in HOMOPHONES] == [], out


@pytest.mark.parametrize("text, digits", [
    ("I waited for 10 minutes", "10"),  # before a number said as one: a word
    ("send it to 2 people", "2"),
    ("it's for 4 of us", "4"),
    ("My social info for 2, 7, 7, 3", "42773"),
    ("ate ate 8 8", "8888"),
])
def test_where_a_homophone_is_a_digit(text, digits):
    assert "".join(r.digits for r in runs(text.split())) == digits


@pytest.mark.parametrize("text, digits", [
    ("cuarenta y uno", "41"),
    ("veintidós", "22"),
    ("veintidos, treinta y tres, cuarenta y cuatro.", "223344"),  # an accent dropped
    ("cuatro mil ciento once", "4111"),
    ("doscientos treinta y cuatro personas", "234"),
    ("cuatro uno uno uno, uno uno uno uno", "41111111"),
    # Not numbers: a Spanish digit or "once" alone, "y" without a number on each side.
    ("uno de ellos", ""), ("una casa", ""), ("I was there once", ""), ("y luego", ""),
])
def test_spanish_numbers_said_as_numbers(text, digits):
    assert "".join(r.digits for r in runs(text.split())) == digits


@pytest.mark.parametrize("texts", [
    ["mi tarjeta es cuarenta y uno once, once once, once once, once once"],
    ["mi tarjeta es", "cuarenta y uno once.", "veintidós treinta y tres."],
    ["mi seguro social es cero cuarenta y dos, setenta y siete, treinta noventa y cinco"],
])
@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pii",)])
def test_spanish_compound_numbers_leak_no_digit(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("texts, expected", [
    # An expiry whose keyword the recogniser misheard (issue 45: "1226" was labelled a CVV).
    (["My credit card number is 4111 1111 1111 1111 and the date is 1226."],
     ["My credit card number is [CREDIT_CARD_1] and the date is [CREDIT_CARD_EXPIRATION_1]."]),
    (["My credit card number is 4111 1111 1111 1111.", "Expert aid 1226.", "The code is 1234."],
     ["My credit card number is [CREDIT_CARD_1].", "Expert aid [CREDIT_CARD_EXPIRATION_1].",
      "The code is [CVV_1]."]),
    # After a security code's keyword, 4 digits are the code.
    (["My card number is 4111 1111 1111 1111, security code 1226."],
     ["My card number is [CREDIT_CARD_1], security code [CVV_1]."]),
    (["Card 4111 1111 1111 1111, exp 12/26, CVV 123."],
     ["Card [CREDIT_CARD_1], exp [CREDIT_CARD_EXPIRATION_1], CVV [CVV_1]."]),
])
def test_expiry_and_security_code_labels(texts, expected):
    assert redacted(texts, ("pci",)) == expected


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


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    # bench.redaction's groups-negatives (text pass): a range of days, a time said in words before
    # "this afternoon", a date after a phone keyword (its year was a phone number's 4-digit group).
    ["It will arrive in 3 to 5 business days."],
    ["Can you call me back at 4.30 this afternoon?"],
    ["Can you call me back at four thirty this afternoon?", "My appointment was on the fifth of June, 2023."],
])
def test_ranges_times_and_dates_after_a_phone_keyword_stay_readable(texts, kinds):
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", [
    "Llegó el cinco de marzo de 2024.", "Llegó el 5 de marzo de 2024.", "Son 149 dólares.",
    "La reunión dura 120 minutos.",
])
def test_spanish_dates_and_amounts_stay_readable(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", [
    # A clock's hour after "las" ("la" for one), as "opens at 10." stays: ending its sentence or with its
    # minutes, "en punto" or the part of the day after it. (Hours 10-12 were masked: two digits alone.)
    "Nos vemos a las diez.", "Abrimos a las doce.", "Son las once y media.", "Cierra a las diez de la noche.",
    "Es la una y cuarto.", "Llego a las diez en punto.", "Salimos a las doce menos cuarto.",
    # A day of the month after "el día", as "on the 14th." stays.
    "La cita es el día quince.", "Pagué el día treinta y uno.", "Vuelvo el día doce por la tarde.",
    # A year after "en" in a sentence, as after "in" ("I was born in 1980.").
    "Nací en 1980.", "Nací en mil novecientos ochenta.", "Nos mudamos aquí en dos mil quince.",
])
def test_spanish_hours_and_days_stay_readable(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_spanish_hours_and_days_stay_readable_in_a_passage_no_keyword_holds(kinds):
    # As "on the 1st of the month" and "opens at 4." do after a number masked with no keyword.
    out = redacted(["Es el cuatro cuatro uno uno, dos nueve.", "La cita es el día quince, nos vemos a las diez."],
                   kinds)
    assert out[1] == "La cita es el día quince, nos vemos a las diez." and "[" in out[0], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [
    # Digits read one by one after "las" or "el día" are no hour and no day; nor is a number in a card's context.
    ["Nos vemos a las uno dos tres cuatro."], ["Es el día cuatro uno uno uno."],
    ["Mi número de tarjeta es", "cuatro uno uno uno,", "a las diez."],
])
def test_spanish_hours_and_days_fail_closed_where_digits_are_read(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pci",), ("pii",)])
@pytest.mark.parametrize("texts", [
    # bench.redaction (tiny.en, en-us): "forty one, eleven." after "My card, where is it?" came out
    # "for the [CREDIT_CARD_1]." ("forty" heard "for the"): the 4 stayed beside the number.
    ["My card, where is it?", "for the 11.", "11, 11.", "55 04", "32, 99,"],
    # A digit's word alone right after a number's piece: "4111 1111 1111 111 one."
    ["My card number is 4111 1111 1111 111", "one."],
    ["My social is", "531", "oh", "7 7 1208"],
])
def test_a_digits_word_beside_a_numbers_placeholder_goes_with_it(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and [w for t in out for w in t.split() if core(w) in HOMOPHONES] == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I'd like to pay for it with my card.", "Send it to me, thanks for that."])
def test_a_homophone_far_from_a_number_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("ssn",), ("pii",)])
@pytest.mark.parametrize("texts", [
    ["Here it's", "5 free one.", "77", "1208"],  # tiny.en, en-gb-scotland: "five three one." (bench.redaction)
    ["Sure it's...", "I'm free one.", "Not will happen.", "1208"],  # tiny.en, en-us mu-law
])
def test_free_is_a_homophone_of_three(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not [t for t in out if "free" in t.lower()], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Feel free to call.", "It is toll free now.", "Three free items."])
def test_free_alone_is_a_word(text, kinds):
    assert redacted([text], kinds) == [text]
    # ... but not ending a final, where it may be a number's last digit: that costs the word.
    assert redacted(["It is toll free."], kinds) == ["It is toll [NUMBER_1]."]


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pci",)])
@pytest.mark.parametrize("texts", [
    # tiny.en, en-us mu-law and en-gb-scotland (bench.redaction): a digit's homophone that ends the
    # final, after a card number, far from its placeholder.
    ["The car down where in 4111 1111 1111 1111 near O'miral, near O'miral, for"],
    ["My card number is", "I will run too"],
])
def test_a_homophone_that_ends_a_sentence_in_a_cards_context_is_a_digit(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and [w for t in out for w in t.split() if core(w) in HOMOPHONES] == [], out


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pci",), ("pii",)])
def test_a_homophone_before_a_card_keyword_stays_and_after_it_is_masked(kinds):
    text = "I want to pay for it with my card today."
    assert redacted([text], kinds) == [text]
    # Fails closed: after a card keyword a homophone may be a digit the recogniser misheard ("The
    # code on the Mac is low for salmon." for "oh four seven"); that costs a word.
    out = redacted(["My card is the kind I use for groceries."], kinds)
    assert re.fullmatch(r"My card is the kind I use \[(CREDIT_CARD|NUMBER)_1\] groceries\.", out[0]), out


def test_a_number_word_alone_after_a_card_keyword_is_masked():
    # Fails closed: after a card keyword a digit's word is likelier a digit than a word.
    assert redacted(["My card is the one I use for groceries."], ("pci",)) == [
        "My card is the [CREDIT_CARD_1] I use [CREDIT_CARD_2] groceries."]


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pci",)])
def test_an_amount_right_after_a_card_number_is_its_rest(kinds):
    # tiny.en, en-029 (bench.redaction): "Visa 4012 8888 8888 1881." as "VMA 4012 8888 8888 $1,000 bit".
    out = redacted(["It is 3782 822463 10005.", "VMA 4012 8888 8888 $1,000 bit"], kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pci",)])
@pytest.mark.parametrize("texts", [
    # tiny.en over mu-law, a recording in packs (bench.redaction --packs): "five five oh oh." after
    # "My card is" as a price with no currency, and "triple two, nine." as "triple to the eye".
    ["My card is", "5.50.", "2222", "3333"],
    ["Okay, here it is.", "4444.", "1111", "double five double five", "triple to the eye"],
])
def test_a_bare_decimal_after_a_card_keyword_and_a_repeated_homophone_are_digits(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and [w for t in out for w in t.split() if core(w) in HOMOPHONES] == [], out


SSN_KINDS, CARD_KINDS = [("pci", "ssn"), ("ssn",), ("pii",)], [("pci", "ssn"), ("pci",)]


@pytest.mark.parametrize("texts, kinds", [
    # base over espeak-ng es / es-419 (bench.redaction --set spanish): Spanish keywords, lone
    # Spanish digits in their context, digits run into a word ("40mos" for "cuarenta y dos").
    *((["Mi número de seguro social es", "uno nostres, cuatro tinkos, 6789."], k) for k in SSN_KINDS),
    *((["minúmenos en uno sociales uno nostres, cuatro tinkos, 6789."], k) for k in SSN_KINDS),
    *((["Watt or Morst Watt or Morst", "40mos 40mos", "veintimos conse."], k) for k in SSN_KINDS + CARD_KINDS),
    *((["Mi número de tarjeta es", "cuatro, uno uno uno."], k) for k in CARD_KINDS),
])
def test_spanish_numbers_garbled_leak_no_digit(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and written_digits(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
def test_an_amounts_number_words_before_a_card_keyword_stay(kinds):
    # tiny.en over mu-law (bench.redaction): the amount's "nine" was masked as a lone digit's word.
    text = "Please charge one hundred forty nine dollars to might be the card."
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [("pii",), ("pci", "ssn", "pii")])
def test_homophones_that_start_and_end_a_final_in_a_phone_context_are_digits(kinds):
    # tiny.en, en-us (bench.redaction --set held-out): "two oh two." as "to load to".
    out = redacted(["You can reach me on.", "to load to", "555", "0199"], kinds)
    assert in_clear(out) == [] and [w for t in out for w in t.split() if core(w) in HOMOPHONES] == [], out


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pci",)])
def test_far_is_a_homophone_of_four_beside_digits(kinds):
    # tiny.en, en-gb-x-gbcwmd (bench.redaction): "four two four two." as "far too far too far 4242".
    out = redacted(["My card number is", "4111", "far too far too far 4242", "far too far too far 4242"], kinds)
    assert in_clear(out) == [] and not [t for t in out if re.search(r"\b(far|too)\b", t)], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["Please call me back at 4:15.", "I have two kids and one dog."],  # quantities after a phone keyword
    ["How far is it?", "It is far too far away."],
])
def test_quantities_after_a_phone_keyword_and_far_alone_stay(texts, kinds):
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pci",)])
def test_a_unit_after_a_sentences_end_makes_no_amount_of_what_came_before(kinds):
    # tiny.en over en-029 and mu-law (bench.redaction): "Visa 4012 8888 8888 1881." ended "... than the
    # eight. 1,000 days.": "eight. 1,000" is one number (punctuation does not end one), not a duration.
    out = redacted(["Mi Ma 4,000 and 12,000, 8,000, 888 The only one that's hungry than the eight. 1,000 days. 1."],
                   kinds)
    assert in_clear(out) == [], out
    assert redacted(["It will arrive in 10 days."], kinds) == ["It will arrive in 10 days."]


# Number passages (issue 43, the leaks of bench.redaction's tuning and held-out parts on 2026-11-25
# at 50964de, tiny.en over espeak-ng voices, 16 kHz and mu-law): what the recogniser made of the
# digits between and around the masked pieces of a number, as it wrote them.
PASSAGES = [
    # en-029 mu-law, card-no-keyword: "3" kept as a quantity ("3 fail"), "to" inside a sentence.
    ["Okay, here he seems.", "four", "one one one one", "No real time, no real time.", "3 fail to the iron."],
    # en-029 16 kHz, ssn-pause: "double seven" and "one two oh eight" as sentences.
    ["Sure is...", "5 3 1", "Don't be able to save him.", "One to it."],
    # en-gb-scotland mu-law, held-card-no-keyword: a digit before a word, homophones between groups.
    ["right thoughts.", "3 emanate 2.", "It's too too far.", "Next free one, not a long time."],
    # en-029 mu-law, held-card-pairs: an ordinal and a digit's word after the masked pairs.
    ["It's not my leader.", "45. 32.", "7nd D-teak, 9th year.", "Then, win the one."],
    # en-gb-x-gbcwmd mu-law, card-misheard: "3," alone, read with the next final's first words.
    ["My car doesn't all mean...", "fine, fine, mellow", "Toto,", "3,", "Oh, no, no, no, four."],
    # en-us mu-law, held-card-no-keyword: a homophone that starts the sentence the number ends.
    ["right so it's", "Free Pampinate 2", "2 2 4", "6, 3, 1, not below 5."],
    # en-gb-scotland 16 kHz, card-runs: a card number, then "to" in the words the recogniser made of its end.
    ["The car number is 5000. 500, I'm not going to be able"],
    # en-gb-x-gbcwmd 16 kHz, card-runs: a day word after a digit is no time beside a card number.
    ["The 4,000 and 12,000 800 and 88,000 2008 on Read the N88 2008 on 3 tonight"],
]


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pci",), ("ssn",), ("pii",)])
@pytest.mark.parametrize("timer_between", [False, True])
@pytest.mark.parametrize("texts", PASSAGES)
def test_a_masked_number_opens_a_passage_where_every_digit_is_masked(texts, kinds, timer_between):
    # Fails closed: after a masked number (and in the sentence it ends), a short number, a digit's
    # word and a homophone are masked unless an amount, a time or a date, whatever the keyword.
    out = redacted(texts, kinds, timer_between=timer_between)
    assert in_clear(out) == [] and [w for t in out for w in t.split() if core(w) in HOMOPHONES | {"far", "free"}] == [], out


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pci",), ("ssn",), ("pii",)])
def test_a_held_homophone_and_the_digit_before_it_in_its_sentence_go_with_the_number(kinds):
    # en-us mu-law, recordings in packs: "eight two two four." as "3 emanate to" / "822.4": the final
    # that ends in "to" is held, "to" goes with the number, and so does the digit before it in its
    # sentence. (A hold's timer that let "3 emanate to" go alone, 3 s without speech, would not know.)
    out = redacted(["right. So it's", "3 emanate to", "822.4", "631. No, no, no, no, I am."], kinds)
    assert in_clear(out) == [] and "to" not in out[1].split(), out


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pci",), ("ssn",), ("pii",)])
@pytest.mark.parametrize("texts", [
    ["The code on the Mac is low for salmon."],  # "oh four seven" (en-us): "code" alone is a card keyword
    ["The code on the Mac in vote for Hammond."],
    ["The code on the Mac is go far inland."],
    ["and the security code is too late."],  # "two eight one" (en-029, en-gb-x-gbcwmd)
    ["And the security code is to add one."],
    ["Social Security I'm not going to be in the comments. 0.5. 11. 20."],
    ["My social in more parker, Cameron, Cameron, free all time."],  # "oh four two ..." (en-gb-scotland mu-law)
    ["My card is on, man.", "for the one, the only event.", "I'm going to be leaving.", "55 or 4.",
     "I'm not going to be able to go to the end of the game."],
])
def test_a_homophone_in_a_card_or_ssn_keywords_context_is_a_digit(texts, kinds):
    # (Whatever the kinds: a keyword of any secret makes a passage of a session that fails closed.)
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and [w for t in out for w in t.split() if core(w) in HOMOPHONES | {"far", "free"}] == [], out


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pii",)])
def test_a_final_that_ends_in_a_homophone_is_read_with_the_number_after_it(kinds):
    # en-029 mu-law, held-card-no-keyword: "eight two two four." as "pre-payment it to" / "2, 2, 4".
    out = redacted(["Right, so...", "pre-payment it to", "2, 2, 4", "6, 3, 1, nom it l'o time!"], kinds)
    assert in_clear(out) == [] and "to" not in out[1].split(), out


@pytest.mark.parametrize("kinds", KINDS)
def test_a_number_that_ends_a_final_is_no_quantity_of_the_next_finals_words(kinds):
    assert in_clear(redacted(["Here.", "3,", "No, no"], kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Use the promo code to save 10 percent.", "What is the zip code for it?",
                                  "The area code is the one for Boston."])
def test_codes_that_are_no_cards_open_no_card_context(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    # Far from a masked number (more than a passage's words), a quantity is one again.
    ["Your order number is 58213.", "Thanks. It was delivered on March 3, 2024, and honestly the box was "
     "fine and everything inside looked all right to me.", "I ordered two items."],
    ["It was delivered on March 3, 2024.", "I ordered two items."],
])
def test_quantities_and_dates_far_from_a_masked_number_stay(texts, kinds):
    out = redacted(texts, kinds)
    assert out[1:] == texts[1:], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("timer_between", [False, True])
def test_a_passage_ends_at_an_amount_a_time_or_a_date(kinds, timer_between):
    # tiny.en (held-out part): "4:15" written "415" after "call me back" is masked (a phone number's
    # group); the date after it says the caller has moved on, so the quantities after that are readable.
    texts = ["Please call me back at 415.", "The appointment is on April 2nd.", "I have two kids and one dog."]
    assert redacted(texts, kinds, timer_between=timer_between)[1:] == texts[1:]
    # ... its day in words, or misheard ("April second" as "April weekend", tiny.en over mu-law)
    texts = ["Please call me back at 415.", "The appointment in my April weekend.", "I have two kids and one dog."]
    assert redacted(texts, kinds, timer_between=timer_between)[1:] == texts[1:]
    # ... and so does the sentence that says it ("won" is a word there; tiny.en over mu-law).
    texts = ["Your order number is 58213.", "The call won on March 3, 1024."]
    assert redacted(texts, kinds, timer_between=timer_between)[1:] == texts[1:]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_time_said_in_words_before_a_days_word_stays_in_a_passage(kinds):
    # The second held-out part's text pass: "seven fifteen" (715) has its minutes, "tomorrow" makes it a time.
    texts = ["It came to about three fifty in the end.", "The engineer comes at seven fifteen tomorrow morning."]
    assert redacted(texts, kinds)[1] == texts[1]
    # ... but a digit alone before one is not, near a masked number.
    assert re.fullmatch(r"Call me on \[[A-Z_]+_\d\] tonight\.", redacted(["My card is 4111.", "Call me on 3 tonight."],
                                                                     ("pci",))[1])


@pytest.mark.parametrize("kinds", KINDS)
def test_a_time_whose_pm_the_word_timings_cut_stays(kinds):
    # tiny.en's words for "See you at 3 pm.": "3", "p", ".m." (in a passage, or not).
    assert redacted(["See you at 3 p .m."], kinds) == ["See you at 3 p .m."]
    assert redacted(["My number is 4111.", "See you at 3 p .m."], kinds)[1] == "See you at 3 p .m."


@pytest.mark.parametrize("kinds", [("pii",), ("pci", "ssn", "pii")])
def test_a_house_number_heard_as_words_goes_with_its_street(kinds):
    # tiny.en, en-gb-scotland (bench.redaction): "I live at 42 Elm Street." as "I will not forget to Elm Street.".
    assert redacted(["I will not forget to Elm Street."], kinds) == ["I will not forget [LOCATION_ADDRESS_1]."]
    # Not a homophone before a word that is no street's name.
    assert redacted(["I want to place an order."], kinds) == ["I want to place an order."]
    # tiny.en, en-us+f3 (bench.redaction): "I live at 42 Elm Street." in lower case, its digits apart.
    assert redacted(["I limit for the two elm street"], kinds) == ["I limit [LOCATION_ADDRESS_1]"]
    for text in ("i walked to the main street", "we have one main street here", "I live on one way street."):
        assert redacted([text], kinds) == [text]


# The leaks of the second held-out part (bench.redaction --set held-out-2, scored once at 4acb25a:
# tiny.en over espeak-ng en-us+m3, en-gb-x-rp, en-us+f2, 16 kHz and mu-law, live and in packs), as
# the recogniser wrote them: cases added after seeing its scores.
HELD_OUT_2_LEAKS = [
    # "fifty four, twelve." / "seven five three four." ...: a short number before a comma.
    ["Okay, but long number on the front", "Fifty-four, well...", "7.5.3.4", "I'm C-A-W-M-V-1."],
    # "seven one eight." / "four nine six." / "two two oh three.": digits written one by one with dashes.
    ["The best number to get me all is...", "and well made.", "4-9 big.", "Too Too Low Free"],
    ["The mass number to get me on", "is...", "4-9 big", "2, 2, 3"],
    # "The digits on the back are nine oh two.": a homophone that ends a final.
    ["The vidgets on the back are I know too."],
    ["The digits on the back aren't I low too."],
    ["But it's on the Mac I know too."],
    ["Let me get some of my current high note too."],
    # ("for" in the masked number's sentence: the passage covers the sentence before it, since 2026-11-25 night)
    ["The biggest sun for my car I know too.", "And it's gone from 11 to empty I'm..."],
    # "good through eleven twenty nine": an expiry's shape written as a price with no currency.
    ["And it's good through", "and it stopped from 11.29."],
]


@pytest.mark.parametrize("kinds", [("pci", "ssn"), ("pii",)])
@pytest.mark.parametrize("texts", HELD_OUT_2_LEAKS)
def test_the_second_held_out_parts_leaks(texts, kinds):
    out = redacted(texts, kinds)
    # (The lead's own words aside: "The best number to get me")
    said = [w for t in out[1:] or out for w in t.split()]
    assert in_clear(out) == [] and [w for w in said if core(w) in HOMOPHONES | {"far", "free"}] == [], out


@pytest.mark.parametrize("kinds", KINDS)
def test_a_decimal_of_single_digits_is_no_number_read_digit_by_digit(kinds):
    # tiny.en over en-029 for "The meeting is at 3:30 in the afternoon." ("4-9" is read one by one).
    assert redacted(["The meeting is at 3.0 in the afternoon."], kinds) == ["The meeting is at 3.0 in the afternoon."]


def test_a_passage_survives_a_checkpoint_and_an_older_one_reads():
    first = Redactor(("pci", "ssn"), hold_gap=3 * SECOND)
    first.final(final("Okay, here it is. 5 3 1. Thanks.", 0))
    assert first.context.number > 0  # the passage goes on past the text
    again = Redactor(("pci", "ssn"), hold_gap=3 * SECOND, state=json.loads(json.dumps(first.state())))
    assert again.context.number == first.context.number
    assert in_clear([t.text for t in again.final(final("One to it.", 1))]) == []
    # A checkpoint written before passages existed (no "number") reads as no passage.
    state = first.state()
    del state["context"]["number"]
    assert Redactor(("pci", "ssn"), hold_gap=3 * SECOND, state=state).context.number == 0


# What base left in clear on held-out-3 and -4 (bench.redaction, live), as it wrote it: an expiry read
# after a security code, written as a time or a date after "until"/"till" ("And it's good until oh three
# thirty." / "And it runs out eleven twenty nine."). After a number read (in its passage) such a time
# or date is the card's expiry; a time with its unit ("until 5 pm") and one outside a passage stay.
EXPIRY_AS_TIME = [
    ["It says 814 on the back.", "and it's done until 3.30."],
    ["It says eight one four on the back.", "and it's gone until 3.30"],
    ["It reads 531 on the back.", "and it runs out till November 29."],
    ["It reads five three one on the back.", "And it's good through December 27."],
]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", EXPIRY_AS_TIME)
def test_an_expiry_written_as_a_time_or_a_date_after_until_in_a_passage_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not re.search(r"november|december", out[1], re.I), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["The shop is open until 5.30."],                       # no number read before: a time
    ["I am away till November 3."],                         # ... a date (not 20-39, a card's year:
                                                            # test_the_eighth_held_out_parts_leaks)
    ["It says 814 on the back.", "Call me until 5 pm."],    # a time with its unit
    ["It says 814 on the back.", "I waited until 10 o'clock."],
])
def test_a_time_or_a_date_after_until_stays_outside_a_passage_or_with_its_unit(texts, kinds):
    assert redacted(texts, kinds)[-1] == texts[-1]


# A number written as an amount or a time by a unit that is a digit misheard, in a number's passage
# (base, held-out-4: "then 4 cent room" for "Then four seven."; tiny.en in packs: "The crud number in
# 4am and 1th 6," for "... is four seven one six,"): "cent" after a number but one (an amount says
# "cents"), "am"/"pm" after an hour with no word such as "at" or "until" before it.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["Okay, so the first 3-1-2 time.", "then 4 cent room", "and N2282"],
    ["The crud number in 4am and 1th 6,", "29, 0th 3,", "triple 8, 4."],
    ["It says 814 on the back.", "then 4 am and 1."],
])
def test_a_unit_that_is_a_digit_misheard_in_a_passage_makes_no_amount_nor_time(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["It says 814 on the back.", "See you at 4 am."],
    ["It says 814 on the back.", "It was 50 cents."],
    ["It says 814 on the back.", "It was 1 cent."],
    ["It costs 4 cent."],                                   # outside a passage: as before
    ["See you 4 pm."],
])
def test_times_and_amounts_with_their_units_stay_in_a_passage(texts, kinds):
    assert redacted(texts, kinds)[-1] == texts[-1]


# Words that announce digits open a passage after them: "the first three are" (base, held-out-4:
# "Okay, so the first three are one good iron." for "... are one two nine."; "one two-in", "the third
# three are one two-eyed," in packs) and "number is" whatever the number's name was heard as ("Yeah, the
# crud number in 4 am and 1 big." for "Yeah, the crud number is four seven one six,"; tiny.en), or with
# its verb misheard too ("the truck number important one big.": base, held-out-4, the one digit left).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["Okay, so the first three are one good iron.", "M4A1", "and M228O"],
    ["Okay, so the first three are one good item.", "then 4 and 1.", "and N2280."],
    ["Okay, so the first three are one two-in.", "N4 7.", "And N2 2 A2."],
    ["Okay, so the third three are one two-eyed,", "NN4MN,", "NN228O."],
    ["Yeah, the crud number in 4 am and 1 big.", "When did I go free?", "Triple 8 4"],
    ["Yeah, the truck number important one big."],
])
def test_words_that_announce_digits_open_a_passage(texts, kinds):
    out = redacted(texts, kinds)
    # ("the first three": the caller's count, no digit of the number)
    assert [w for w in in_clear(out) if w != "three"] == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", [
    "The first two are 5 dollars each.",
    "The number is on the back of the letter.",
    "Call the number on the back of your card.",
    "Your reference number changed last week.",
    "The first three are on the house, the number of tickets is up to you.",
    "The last two were great.",
])
def test_what_announces_digits_leaves_words_amounts_and_times(text, kinds):
    assert redacted([text], kinds) == [text]


# "Ford" before "I'm" and a digit is "four nine" (base over mu-law, held-out-2: "Let me read it. Ford I'm
# one big. No sorry. Ford I'm one fair man." for "... four nine one six, no sorry, four nine one seven"),
# as "For I'm one big" is; "Ford" elsewhere is a word.
@pytest.mark.parametrize("kinds", KINDS)
def test_ford_before_im_and_a_digit_is_four_nine(kinds):
    out = redacted(["Let me read it. Ford I'm one big. No sorry. Ford I'm one fair man.", "33-02"], kinds)
    assert in_clear(out) == [], out
    for text in ("I drive a Ford. I'm one of the owners.", "My Ford is at the garage."):
        assert redacted([text], kinds) == [text]


# What base left in clear live on tuning and held-out at 6e19e98 (rules of c44e4d0), over mu-law: a Spanish
# digit four words before a masked number ("My DOS shall in no ..." for "My social is one two three, ...",
# en-gb), and an expiry read twice, each group heard as a word or two ("... 20 paren, ..." for "The expiry
# is oh six twenty seven, sorry, oh seven twenty seven.", en-us+m7: each "20 paren" read as a quantity).
@pytest.mark.parametrize("kinds", KINDS)
def test_a_spanish_digit_in_a_masked_numbers_sentence_is_masked(kinds):
    out = redacted(["My DOS shall in no 1, 2, 3.", "45.", "6789."], kinds)
    assert in_clear(out) == [] and "DOS" not in out[0], out
    text = "I would like to pay with my card, please."
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_final_read_in_short_groups_masks_its_quantities(kinds):
    out = redacted(["Nick, fiery emotic, 20 paren, fiery, both paren, 20 paren."], kinds)
    assert in_clear(out) == [], out
    for text in ("2 adults, 3 children, please.", "Yes, 2 tickets, for Friday, thanks.",
                 "Okay, well, right, 2 tickets, thanks."):
        assert redacted([text], kinds) == [text]


# Fresh decodes of seen parts on 2026-11-26 (base and tiny.en live, new rules of that day): "forty one,
# eleven." written "For the one to land." (base, en-us+m7) and "for the one element." (tiny.en, en-us+f3
# over mu-law): "for the" before a digit's word is "forty", a noun after it or not; "Four nine one six, no
# sorry, four nine one seven." written "Or I'm one big. No sorry. Or I'm one bad man." (base, en-gb-x-rp
# over mu-law): "or" before "I'm" and a digit is "four nine", as "Ford" is.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["my car at home very soon.", "For the one to land.", "and then we have the", "55 and 04.", "32 99"],
    ["My color time buried.", "for the one element.", "the landmen, the landmen."],
    ["Let me read it. Or I'm one big. No sorry. Or I'm one bad man.", "33 02"],
])
def test_for_the_and_or_im_before_a_digit_say_forty_and_four_nine(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out
    said = [w for t in out for w in t.split()]
    assert [w for w in said if core(w) in HOMOPHONES] == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I'll have one of the large ones.", "Was it for the kids?",
                                  "It's the one or the other.", "Or I'm going to call back later."])
def test_for_the_and_or_im_elsewhere_are_words(text, kinds):
    assert redacted([text], kinds) == [text]


# tiny.en over mu-law, fresh decodes of seen parts (2026-11-26): "Put down 6011 0009 9013 9424 please." as
# "6,000, 11, 0 2013, I'm £1424." ("I'm" after a number and its comma is a nine too); "The expiry is oh
# six twenty seven, sorry, oh seven twenty seven." as "The next pirate-y-mothic 20 pamom, sorry, both
# pamom 20 pamom." (a quantity said twice in one final is a group read again).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["6,000, 11, 0 2013, I'm £1424."],
                                   ["The next pirate-y-mothic 20 pamom, sorry, both pamom 20 pamom."]])
def test_im_after_a_number_and_a_quantity_said_twice_are_digits(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It cost 20, I'm sure of it.", "I want 2 tickets and 3 programmes."])
def test_im_after_an_amount_and_quantities_said_once_stay(text, kinds):
    assert redacted([text], kinds) == [text]


# tiny.en over mu-law (held-out, fresh decodes of 2026-11-26): "You can reach me on" / "two oh two." /
# "five five five." / "oh one nine nine." as "You can read me on." / "Hello, dude." / "time time time" /
# "Oh, well, I'm dying.": one word three times in a row is a digit read again and again, and opens a
# passage ("Oh" after it is the zero); as in issue 43's "My god, I'm very time time time".
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["You can read me on.", "Hello, dude.", "time time time", "Oh, well, I'm dying."],
                                   ["My god, I'm very time time time"]])
def test_a_word_three_times_in_a_row_is_a_digit_read_again(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not any("time" in t for t in out), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["No no no, that's not it.", "Hello, hello, hello?", "It was very very very good.",
                                  "Bye bye.", "Thank you, thank you."])
def test_words_people_say_again_stay(text, kinds):
    assert redacted([text], kinds) == [text]


# The fifth held-out part's one scoring (bench.redaction --set held-out-5, 2026-11-26, tiny.en and base over
# en-us+m1, en-gb-scotland, en-us+f4, 16 kHz and mu-law), as the recogniser wrote what leaked: a phone
# number after "area code" or "reach me" heard as "for one time" ("four one five"); "the last four of my
# social are" with words between the count and the verb; a word twice right after a digit's word ("one
# payment payment" for "one seven seven", "our two Nero Nero-Ein" for "two zero zero nine").
HELD_OUT_5_LEAKS = [
    ["you can reach me up area code for one time.", "I'm I'm I'm", "555."],
    ["You can reach the area code for one time.", "555", "2368."],
    ["You can reach me a miracle for one time.", "555", "2368."],
    ["You can reach me at the area called for one time.", "sign", "Good for each exit."],
    ["You can reach me at the area called Or one time.", "555.", "2368 freeback state."],  # (base in packs)
    ["You can read me a very cold for one time.", "555.", "2368."],
    ["The last four of my socials are to narrow near old ein."],
    ["But that's all that might also show our two Nero Nero-Ein."],
    ["My member ideas are in line to follow one payment payment."],
]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", HELD_OUT_5_LEAKS)
def test_the_fifth_held_out_parts_leaks(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out
    said = [w for t in out for w in t.split()]
    assert [w for w in said if core(w) in HOMOPHONES and core(w) != "to"] == [], out


# ... and what it masked that is no secret (its negatives, none with a keyword): a duration said with a
# digit's word after a masked number ("after three minutes"), an hour said "quarter past six" or "half
# seven", an amount said "a hundred and twenty", a year after "since".
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The call dropped after three minutes.", "I get home at quarter past six.",
                                  "I get home at quarter past 6.", "The meeting is at half seven.",
                                  "The bill says a hundred and twenty.", "I have been with you since 1998.",
                                  "I have been with you since nineteen ninety eight."])
def test_times_amounts_and_years_said_bare_stay_after_a_masked_number(text, kinds):
    out = redacted(["I'm staying in room 412.", text], kinds)
    assert out[1] == text, out
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_card_read_with_quarter_past_is_masked_and_since_with_a_card_group_too(kinds):
    assert in_clear(redacted(["My card is 4111 1111 quarter past 1111."], kinds)) == []
    assert in_clear(redacted(["since 4111"], kinds)) == []


# Prices that are a secret's digits (tiny.en in packs, tuning, 2026-11-26): "The card number is five five oh
# oh." as "The card number is $5500."; a phone number as a price of 9 digits ("You can call me on
# £155,867,500."); an amount no price is ("is [CVV_1] $4.65,000": decimals before a thousands group).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["The card number is $5500. I'm here, I'm here,"],
                                   ["You can call me on £155,867,500. My"],
                                   ["My code is 123", "is 456 $4.65,000"]])
def test_prices_that_are_a_secrets_digits_are_masked(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It is 1,250,000 dollars.", "That will be $149.", "It came to $4.65.",
                                  "The first two are 5 dollars each."])
def test_prices_stay(text, kinds):
    assert redacted([text], kinds) == [text]


# The sixth held-out part's one scoring (bench.redaction --set held-out-6, 2026-11-26, tiny.en and base over
# en-gb-x-gbcwmd, en-us+m5, en-us+f1, 16 kHz and mu-law), as the recogniser wrote what leaked most: an
# expiry said with a month's name, its keyword misheard or gone ("It expires in March twenty twenty nine."
# as "it fires in March 2029.", "It's probably March 2020, noin."). A month and a year with no day is how
# an expiry is read: it fails closed (a date of a call has its day, and stays).
HELD_OUT_6_LEAKS = [
    ["it fires in March 2029."],
    ["It's probably March 2020, noin."],
    ["in March 2029."],
    ["that's higher in March 2020 and"],
    ["Good until marzo de 2029."],
]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])  # (an expiry is the card's)
@pytest.mark.parametrize("texts", HELD_OUT_6_LEAKS)
def test_the_sixth_held_out_parts_leaks(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_a_month_and_a_year_alone_is_an_expiry_in_a_card_call(kinds):
    out = redacted(["My card is 4111 1111 1111 1111.", "It expires in March 2029."], kinds)
    assert "[CREDIT_CARD_EXPIRATION_1]" in out[1], out


# Held-out-53's expiry, scored once with the rules before it (2026-11-29): "December twenty seven." after "When does it
# expire?" heard as "when building a fire." (base over mu-law) or "when the next fire." (tiny.en), the card's groups
# garbled before it: a month and a number that may be a card's year, alone in their sentence, in a session redacting
# cards, is an expiry (a date of a call is said with "on", "the" or its year; and stays).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["when building a fire.", "December 27"], ["when the next fire.", "December 27th."],
                                   ["when building a fire.", "December 27", "and the clothes on the back."],
                                   ["Sure, it's 5 105.", "No, no", "And then I will know.", "when the next fire.",
                                    "December 27th."], ["Um, December 29."], ["It's, uh, March 31."]])
def test_a_month_and_a_cards_year_alone_in_their_sentence_are_an_expiry(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["My flight is on December 27th.", "It happened on December 27.",
                                  "December 27th was a Monday.", "We met December 27, 2019.", "December 3rd.",
                                  "The party is December 28th at noon."])
def test_a_date_said_with_more_than_its_month_and_day_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# ... and what it masked that is no secret: a number that the noun before it names (a page, a flight, an
# apartment), which opened a passage that masked every quantity of the call after it.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It's on page thirty two of the booklet.", "It's on page 32 of the booklet.",
                                  "I was on flight two twenty nine.", "I was on flight 229.",
                                  "I'm staying in room 412.",
                                  "We spoke on March 3, 2024.", "We spoke on the 3rd of March 2024.",
                                  "My appointment was on 5th June, 2023.",
                                  "My appointment was on the fifth June 2023.",
                                  "We moved here on the fourth on July 2019."])
def test_a_number_its_noun_names_and_a_date_with_its_day_stay(text, kinds):
    assert redacted([text], kinds) == [text]


# ... also read digit by digit, as a room's or a flight's number is said ("I'm in room two oh four.", held-out-54's own
# words and its decodes, scored once with the rules before), where no keyword holds.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I'm in room two oh four.", "I'm in room 2 0 4.", "I was on flight two oh nine.",
                                  "We're in suite one one two.", "It's on page one oh four."])
def test_a_number_its_noun_names_read_digit_by_digit_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["What's the code on the back?", "Room two oh four."],
                                   ["My card number is 4532 1887 2046 9913.", "And the security code, room two oh four."],
                                   ["I'm in room four one one one one one one one."]])
def test_a_code_after_a_noun_in_a_cards_context_is_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out[1:] if len(out) > 1 else out) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" not in kinds])
def test_an_apartment_stays_where_addresses_are_not_redacted(kinds):
    assert redacted(["We live in apartment 4 B."], kinds) == ["We live in apartment 4 B."]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_number_its_noun_names_opens_no_passage(kinds):
    out = redacted(["It's on page thirty two of the booklet.", "I have three kids."], kinds)
    assert out == ["It's on page thirty two of the booklet.", "I have three kids."]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_digits_word_heard_as_such_a_noun_names_nothing(kinds):
    # (base over mu-law, held-out-4: "level 1." for "double one.", the end of an SSN read in groups)
    out = redacted(["6, 6, 3, sorry, 6, 6, 4.", "level 1.", "and I don't do."], kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
def test_a_card_read_after_such_a_noun_is_still_masked(kinds):
    assert in_clear(redacted(["The card on page 4111 1111 1111 1111."], kinds)) == []
    assert in_clear(redacted(["Room four one one one, one one one one, one one one one, one one one one."],
                             kinds)) == []


# The seventh held-out part's leaks (tiny.en and base over mu-law, and base at 16 kHz), as the
# recogniser wrote them: the "two" that starts a phone number heard as "too" after the keyword's "is",
# the keyword misheard ("My cell is two oh six, ..."), and an expiry said as a month and a day after
# "good through" with "card" heard as "car".
HELD_OUT_7_LEAKS = [
    ["My plan is too perfect. I'm not all time. 0142."],
    ["My L is too perfect. Find normal time. 0142."],
    ["My balance is too big, I'm double-time, 0142."],
    ["The car is good through November 28."],
]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds or "pii" in kinds])
@pytest.mark.parametrize("texts", HELD_OUT_7_LEAKS)
def test_the_seventh_held_out_parts_leaks(texts, kinds):
    if "pci" not in kinds and "through" in texts[0]:
        pytest.skip("an expiry is the card's")
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out
    assert not HOMOPHONES & {core(word) for text in out for word in text.split()}, out  # ("too": the 2)


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    # "too" after "is" where no number follows in its final is a word.
    ["My plan is too expensive.", "I want to cancel it."],
    ["My bill is too high, I paid 25 dollars."],
    # A date with its day after "until" or "through" that no "good" or "valid" vouches for and that
    # cannot be a card's year (20-39: "until November 28" is masked where cards are).
    ["I'm away until November 3."], ["The offer runs through March 3."],
])
def test_a_homophone_after_is_and_a_date_until_stay_where_nothing_says_a_secret(texts, kinds):
    assert redacted(texts, kinds) == texts


# What held-out-7 masked that is no secret: a number its noun names, said in words, and a seat.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It's in chapter three of the guide.", "I was in seat fourteen.",
                                  "I was in seat 14.", "It's on page nine."])
def test_a_digits_word_its_noun_names_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [
    # tiny.en over mu-law, the tuning set, for "The code on the back is oh four seven.": the code read as
    # a duration after its keyword.
    ["The code on the Mac is all for 7 minutes."],
    ["The security code is 5 dollars."],
])
def test_a_number_right_after_a_codes_keyword_is_the_code_whatever_its_unit(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and homophones_beside(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["The code on the back is 3 digits.", "I waited for 7 minutes."],
    ["My code is ready. It took 7 minutes."],
])
def test_a_duration_after_the_codes_sentence_stays(texts, kinds):
    out = redacted(texts, kinds)
    assert out[-1] == texts[-1], out


# Leaks of the seen parts on this session's decodes (held-out-5 and -6, base and tiny.en), each in
# a way other calls say digits too: the reply to a request to say the number again, "social" heard
# as "social life", a lone digit after "area code", a card read after "here goes".
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["Sorry, can you say the last part again?", "Sure, it's too thick so..."],  # "Sure, eight two six oh."
    ["Can you pay my last part again?", "Sure, it's too big so..."],
    ["Could you repeat that?", "Sure, for nine, too."],
])
def test_the_reply_to_a_request_to_say_it_again_is_a_numbers_passage(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not HOMOPHONES & {core(w) for w in out[-1].split()}, out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"ssn", "pii"} & set(kinds)])
def test_social_life_is_an_ssns_keyword_misheard(kinds):
    # base, en-gb-scotland, for "The last four of my social are two zero zero nine."
    out = redacted(["The last fall of my social life to near Omeiro-Ain."], kinds)
    assert not HOMOPHONES & {core(w) for w in out[0].split()}, out


@pytest.mark.parametrize("kinds", KINDS)
def test_one_digits_word_after_area_code_is_the_numbers(kinds):
    # base in packs over mu-law, for "You can reach me at area code four one five."
    out = redacted(["You can reach me at the area called one time."], kinds)
    assert in_clear(out) == [], out
    assert redacted(["The area code is the one for Boston."], kinds) == ["The area code is the one for Boston."]


@pytest.mark.parametrize("kinds", KINDS)
def test_what_here_goes_announces_is_a_numbers_passage(kinds):
    # base in packs over mu-law, for "Okay here goes. Fifty four, nineteen." / "eighty four, double two."
    out = redacted(["Okay, there goes 64 Lightning.", "84, double 2."], kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["Can you say your name again?", "Sure, it's Maria."],
    ["There goes the bus."],
])
def test_requests_and_here_goes_alone_mask_nothing(texts, kinds):
    out = redacted(texts, kinds)
    assert "[" not in " ".join(out) or "pii" in kinds, out


# The eighth held-out part's leaks and costs (scored once, then seen): "valid" misheard before an expiry
# said as a month and its year, written as a day; and negatives masked with no secret near them.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [
    ["It's merely until August 20th, Alan."], ["It's mainly until August 20th."],
    ["It's not even till August 20th and..."], ["It's married until August 27."],
])
def test_the_eighth_held_out_parts_leaks(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out
    assert "[CREDIT_CARD_EXPIRATION_1]" in out[0], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_a_date_after_until_that_may_be_a_cards_expiry_is_masked(kinds):
    # (The cost, where cards are redacted: a date of the 20th to the 31st after "until" or "till".)
    assert redacted(["I am away till November 29."], kinds) == ["I am away till [CREDIT_CARD_EXPIRATION_1]."]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It was 98 degrees outside.", "That was back in 1999.", "That was back in 99.",
                                  "Call me after 215.", "Call me after two fifteen.", "It ends around 1030.",
                                  "I'm away until November 3."])
def test_degrees_a_year_back_in_and_an_hour_after_stay(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["You can reach me at 555, 867, 5309."], ["Call me after 5 5 5 1."],
                                   ["Call me after 4412 3."]])
def test_digits_after_at_or_read_one_by_one_after_after_are_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


# Costs of failing closed that the held-out parts' negatives showed, in the script's words and as the
# recogniser wrote them: a rate, an age, an hour after "at", a round hundred that counts a noun.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", [
    "The plan is nine ninety five a month.", "The plan is 995 a month.", "It's 12 per week.",
    "My son just turned sixteen.", "My son just turned 16.", "My son is fourteen.", "My son is 14.",
    "My daughter's 9.", "The store opens at ten.", "The store opens at 10.", "I'll be free at nine thirty.",
    "I finish work at eight thirty.", "I finish work at 830.", "We need four hundred forms.",
    "We need 400 forms.", "We have 200 employees."])
def test_a_rate_an_age_an_hour_after_at_and_a_round_hundred_counted_stay(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_calls_negatives_stay_in_a_row(kinds):
    # (One number masked opens a passage that masked every quantity after it: held-out-5's and -9's.)
    texts = ["It took about forty minutes.", "The total was two hundred and ten dollars.",
             "I'll be free at nine thirty.", "We have two hundred employees.", "The store opens at ten.",
             "My son is fourteen.", "It's a three bedroom house.", "It was seventy two degrees."]
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["You can reach me at 415.", "555 2368."], ["Call me at 830, 555 1234."], ["Call me at 830."],
    ["The security code is at ten."], ["The code on the back is 400 forms."],
    ["My social, let me think.", "Five two one.", "400 forms."], ["My son is four four one two."],
    ["It turned four oh one two, eight eight."], ["The store opens at one two."],
    ["We need four oh oh forms."], ["I finish work at 8 3 0."]])
def test_digits_read_where_a_rate_an_age_an_hour_or_a_count_may_be_said_are_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I opened it in 2005.", "I opened it in two thousand and five.",
                                  "We moved in 1987, I think."])
def test_a_year_before_2020_after_in_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["My PIN in 1984."], ["The code is in 2005."], ["Okay. Six two one.", "in 2005."],
                                   ["I opened it in two oh oh five."]])
def test_a_year_after_in_where_a_secret_is_read_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_a_year_after_in_that_may_be_a_cards_is_masked_where_cards_are(kinds):
    # ("It fires in 2029." for "It expires in 2029.": a card's year, its keyword misheard.)
    out = redacted(["It fires in 2029."], kinds)
    assert in_clear(out) == [], out


# Digits' words joined by hyphens, as whisper wrote them (tiny.en over mu-law: a CVV after its keyword,
# a PIN, the rest of a CVV after a masked piece): digits read one by one.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["And my security code is two-eight-one."], ["My DIA is one-nine-eight-four."],
                                   ["The next M6 one-nine..."], ["It's zero-four six."],
                                   ["My card number is", "double oh-five, four-four."]])
def test_digits_words_joined_by_hyphens_are_digits(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear([w for text in out for w in text.split("-")]) == [], out


def test_hyphens_join_digits_words_only():
    assert runs("It was one-of-a-kind.".split()) == []
    assert [run.digits for run in runs("It costs twenty-five dollars.".split())] == ["25"]
    assert [run.digits for run in runs("double oh-five".split())] == ["005"]
    # "double" hyphened to the digit it repeats (tiny.en in packs, tuning: "double-seven," for "double seven")
    assert [run.digits for run in runs("double-seven, triple-oh-five".split())] == ["770005"]
    assert runs("a double-decker bus".split()) == [] and runs("it's double-sided".split()) == []


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_a_digits_word_hyphened_to_a_misheard_one_in_a_passage_is_masked(kinds):
    # (base over mu-law, "Yeah, it runs until March thirty." / "The back says six one nine.")
    out = redacted(["Yeah, it runs until March 30.", "The Mac Epic One-Ein"], kinds)
    assert in_clear([w for text in out for w in text.split("-")]) == [], out
    assert redacted(["It was a one-of-a-kind day."], kinds) == ["It was a one-of-a-kind day."]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_year_after_in_that_begins_a_final_is_masked(kinds):
    # (tiny.en over mu-law: "in 2013." for "It expires in March twenty twenty nine.")
    out = redacted(["in 2013."], kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
def test_a_british_half_hour_hyphened_stays_in_a_passage(kinds):
    texts = ["Okay. Six two one.", "The meeting is half-seven."]
    assert redacted(texts, kinds)[1] == "The meeting is half-seven."


@pytest.mark.parametrize("kinds", KINDS)
def test_digits_words_hyphened_to_misheard_ones_beside_a_masked_number_are_masked(kinds):
    # (tiny.en over mu-law in packs, "My member ID is nine nine two, four oh, one seven seven.")
    out = redacted(["My member I need a nine-high two, four-row, one-am-and-am-and-am-and-am."], kinds)
    assert in_clear([w for text in out for w in text.split("-")]) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I went on flight to 29.", "I'm staying in room for 12."])
def test_a_number_its_noun_names_after_a_homophone_of_its_first_digit_stays(text, kinds):
    # (tiny.en and base for "flight two twenty nine", "room four twelve")
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["I'm staying in room for 4 4 1 2."], ["The room for 12345."]])
def test_digits_read_after_such_a_noun_and_a_homophone_are_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
def test_a_street_suffix_in_the_next_sentence_makes_no_address(kinds):
    # (base for "Five four three two, one, no wait, one nine.": the card's digits went out as an
    # address, which opens no passage, and the "one" after them stayed.)
    out = redacted(["Five, four, three, two, one. No way. One line."], kinds)
    assert in_clear(out) == [] and "LOCATION_ADDRESS" not in out[0], out
    assert redacted(["I live at 42 Elm Street."], kinds) == ["I live at [LOCATION_ADDRESS_1]."]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_digits_words_ending_their_phrase_after_through_are_an_expiry_where_cards_are_redacted(kinds):
    # (tiny.en over mu-law, live and in packs, for "It's good thru oh four thirty one.")
    out = redacted(["It's gone through all four, only one."], kinds)
    assert in_clear(out) == [] and "CREDIT_CARD_EXPIRATION" in out[0], out
    for text in ["We went through all four of them.", "We stayed until the one after."]:
        assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["Sure, it's", "time-free 1.", "Double M and", "1-2-0-8."],
                                   ["My social is 3 1 7, sorry 3 2 7.", "4 4.", "I-I-I-O 2."]])
def test_a_digits_word_hyphened_after_a_misheard_one_in_a_passage_is_masked(texts, kinds):
    # (base in packs for "Sure, it's" / "five three one." / "double seven." / "one two oh eight.": the
    # "free" is the three, the "O" the zero)
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not any("time-free" in text or "I-I-I-O" in text for text in out), out
    assert redacted(["Okay. Six two one.", "The meeting is half-seven."], kinds)[1] == "The meeting is half-seven."


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Nothing immediate free for heaven.", "The seamy meat is free for salmon."])
def test_free_for_is_three_four(text, kinds):
    # (base and tiny.en over mu-law, "The CVV is three four seven.": the keyword misheard too)
    out = redacted([text], kinds)
    assert "free for" not in out[0], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It was a free for all.", "It will arrive in three to five business days.",
                                  "Feel free to call."])
def test_free_to_and_free_for_all_stay(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"ssn", "pii"} & set(kinds)])
def test_a_digit_and_a_unit_right_before_a_masked_number_in_an_ssns_context_are_its_digits(kinds):
    # (tiny.en over mu-law: "Yeah, three eight two oh." after "Can you confirm the last four of your social?")
    out = redacted(["Can you confirm the last form of your social?", "3 days 20 long."], kinds)
    assert in_clear(out) == [], out
    assert redacted(["My social is 123-45-6789.", "It took 3 days 20 minutes."], kinds)[1] == "It took 3 days 20 minutes."


@pytest.mark.parametrize("kinds", KINDS)
def test_a_price_word_with_a_comma_before_the_number_prices_nothing(kinds):
    # (base in packs for "Social's two two seven, thirty one, eight oh four four.": "two two" as "total")
    out = redacted(["Socials, total, 3134,"], kinds)
    assert in_clear(out) == [], out
    assert redacted(["Please charge 149 to my card."], kinds) == ["Please charge 149 to my card."]


@pytest.mark.parametrize("kinds", KINDS)
def test_an_hours_word_after_at_ending_its_sentence_stays(kinds):
    # (held-out-12, every model and path: "The office opens at eight." masked as a digit's word alone)
    assert redacted(["The office opens at eight."], kinds) == ["The office opens at eight."]
    for texts in (["Call me at eight."], ["Okay. Six two one.", "at eight."], ["The office opens at eight four."]):
        assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_the_security_number_on_the_card_asks_for_its_code(kinds):
    # (held-out-13, base in packs over mu-law: "Uh, it's eight one three." after the agent's question,
    # read as a price after "paid": the card keyword at the question's end had made it the card's context)
    for answer in ("It paid 1,3 and", "It paid 813"):
        out = redacted(["For verification, what's the security number on the card?", answer], kinds)
        assert in_clear(out) == [], out
    # A card after a sentence about a code is the card's context still ("paid 45" there is a price).
    assert redacted(["I forgot the code. My card was charged.", "I paid 45 dollars."], kinds)[1] \
        == "I paid 45 dollars."


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_american_express_is_a_cards_keyword(kinds):
    # (held-out-13, base over en-029+m3 at 16 kHz: an Amex number read 4-6-5 after "It's an American
    # Express.", its first group lost: masked as a phone number's, no card's context having made it a card's)
    out = redacted(["American Express.", "6-1-9-4-5", "3, 1, 0, 8, 2"], kinds)
    assert in_clear(out) == [] and out[1:] == ["[CREDIT_CARD_1]", "[CREDIT_CARD_1]"], out
    assert redacted(["I like the American Express train."], kinds) == ["I like the American Express train."]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_day_written_as_an_ordinal_stays_where_nothing_says_a_secret(kinds):
    # (held-out-13, every model and path: "My appointment is on the fourteenth." went out masked, a number
    # ending its sentence, and the passage it opened masked "two cars and one truck" after it)
    texts = ["My appointment is on the 14th.", "We have two cars and one truck."]
    assert redacted(texts, kinds) == texts
    # ... but not after "of" (tiny.en's `most of the 27th` for an expiry's "March of twenty seven"), nor where
    # a keyword or a number read says a secret.
    for texts in (["The next pirate is most of the 27th, sorry, most of the 27th."], ["My card number is", "14th."],
                  ["My social is on the 14th."], ["Okay. 4111", "on the 21st."]):
        assert in_clear(redacted(texts, kinds)) == [], texts


# The fourteenth held-out part's leaks, as the recogniser wrote them: an expiry said "It runs out in
# April of twenty eight" long after the card's keyword (base at 16 kHz and over mu-law, tiny.en in
# packs), the same misheard whole after the card's code ("from how to April 28."; tiny.en), and a card's
# first group "five five" written as a word said twice ("fine fine", "time time"; tiny.en and base).
HELD_OUT_14_LEAKS = [
    ["It runs out in April 28th."],
    ["It runs out in April on 28th."],
    ["The three numbers on the back and I know one", "from how to April 28."],
    ["Can I take the card details now?", "Yep. Time time. 21.003.884.0."],
    ["Can I take the cat details now?", "Yup, fine fine, 2, 1, no may lose even 3,", "8, 4, 0,"],
]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", HELD_OUT_14_LEAKS)
def test_the_fourteenth_held_out_parts_leaks(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out
    assert not {"fine", "time", "28th", "28"} & {core(word) for text in out for word in text.split()}, out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    # Running out of something is no expiry; a word said twice where no number is read is words.
    ["We ran out of milk, so I bought 2 gallons."],
    ["Can I take the card details now?", "Okay, okay, let me get it."],
    ["That's a long long story."],
    # A date with its month where no number was read stays.
    ["My appointment is April 28th."],
])
def test_running_out_and_a_word_said_twice_stay_where_nothing_says_a_secret(texts, kinds):
    assert redacted(texts, kinds) == texts


# Held-out-48's "I've got two hundred and fifty points." as base and tiny.en wrote it, masked in 12 of its 24
# decodes: a count of points is a quantity with its unit, as miles are.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["I've got 250 points."], ["I've got two hundred and fifty points."],
                                   ["I've got 200 and 50 points."], ["We drove 200 and 50 miles."],
                                   ["We drove 200 miles.", "That's 1500 points this year."]])
def test_a_count_of_points_stays_where_nothing_says_a_secret(texts, kinds):
    assert redacted(texts, kinds) == texts


# Held-out-31's own words, masked in its text pass and its decodes: a height's inches after its feet.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["I'm five foot ten."], ["He's 6 feet 2."], ["She is five foot 4 and a half."]])
def test_a_height_stays_where_nothing_says_a_secret(texts, kinds):
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My social is 123 45.", "I'm five foot ten."], ["It's five foot 4 1 1 1."],
                                   ["My card is 4111 1111 1111 1111.", "Nine foot 12."]])
def test_a_height_where_a_secret_is_read_or_digits_run_on_is_masked(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], redacted(texts, kinds)


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My social security number is 123 45 6789 points."],
                                   ["My card number is 4111 1111 1111 1111.", "And 250 points."],
                                   ["I've got 200 and 5 1 1 1 points."], ["We drove 200 and, 50 40 miles."]])
def test_points_where_a_secret_is_read_are_still_masked(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], redacted(texts, kinds)


@pytest.mark.parametrize("kinds", KINDS)
def test_a_rooms_lettered_number_and_a_distance_stay(kinds):
    # (held-out-14: "Room B12, please." masked as digits run into a word, "We drove 200 miles." in the
    # passage a price without its currency opened)
    for texts in (["Room B12, please."], ["Seat 14C."], ["The train leaves at 615.", "We drove 200 miles."],
                  ["It weighs 40 kilos."]):
        assert redacted(texts, kinds) == texts
    assert redacted(["4 1 1 1", "It was a 5 mile run."], kinds)[1] == "It was a 5 mile run."
    # A unit in the singular after more than one, ending its sentence, is no measure: "The maximum 6.1 mile."
    # (base for "The CVV is six one nine.", held-out-9, in the passage the card's number opened).
    assert in_clear(redacted(["4 1 1 1", "The maximum 6.1 mile."], kinds)) == []
    # ... nor, where nothing says a secret, a count written with a decimal point (but a measure).
    assert in_clear(redacted(["and long gone till my story.", "The maximum 6.1 mile."], kinds)) == []
    assert redacted(["We drove 2.5 miles today."], kinds) == ["We drove 2.5 miles today."]
    # ... but not where a card's number is read (in a session that redacts cards).
    for texts in (["My card number is", "Room B12, please."], ["My card number is 4 miles."]):
        assert "pci" not in kinds or in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
def test_ohs_spelled_are_zeros_read(kinds):
    # (held-out-6 decoded again, tiny.en over mu-law: a policy number's zeros as the recogniser spelled them)
    out = redacted(["The polythene number is being done in drama. 6th O-T-O-T-O-T-O-T-O-T-O"], kinds)
    assert in_clear(out) == [] and "O-T" not in out[0], out
    # A name spelled has fewer.
    for texts in (["My name is B-O-O-T-H."], ["It's J-O-H-N."]):
        assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [
    # A card's digits the recogniser wrote as a count of a plural noun, in a number's passage (tiny.en and
    # base; tried and taken back: keeping such a count readable there let these out).
    ["Take down my mirror.", "40 times 4417", "and 2231."],
    ["Okay, the long number on the front.", "Four times 4417."],
    ["Sorry, can you pay my last part again?", "Sure, pay two tickets."],
    ["sure it's 4417", "And I know three penguins.", "2231."],
])
def test_a_count_of_a_plural_noun_in_a_passage_is_masked(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_an_hour_about_in_a_cards_passage_is_masked(kinds):
    # (held-out-15, base over mu-law: the expiry "good through oh three, twenty seven" after the card)
    out = redacted(["The long number is 4916 2203", "7751 8004.", "It's just about 3.20 am."], kinds)
    assert in_clear(out) == [] and "3.20" not in out[2], out
    # Outside a passage it is a time.
    for texts in (["It's just about 3.20 am."], ["I called around 3 pm."]):
        assert redacted(texts, kinds) == texts


# Held-out-16's leaks, scored once with the rules before them (2026-11-27): a Visa's first group "four four
# eight five" written as a count of times ("five" heard as "times", as "time time" for "five five"), its
# keyword misheard, before the card's next groups in the next final.
HELD_OUT_16_LEAKS = [
    ["It's a means for 48 times.", "0 9 12 3 3 7 6", "2, 4, 1."],
    ["It will be for all eight times.", "0 9 12 3 3 7 6", "2, 4, 1."],
]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", HELD_OUT_16_LEAKS)
def test_the_sixteenth_held_out_parts_leaks(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["I called three times.", "Nobody answered."],
    ["I called three times.", "2 days later they wrote back."],
    ["I called 3 times."],
    ["We've been waiting since nine fifteen."],
    ["We've been waiting since 915."],
    ["My son is in grade 11."],
    ["Take exit 22."],
    ["It came to about 350 in the end."],
    ["It came to 350."],
    ["It all adds up to 240."],
    ["It was on channel 7."],  # (held-out-24: masked in 5 of its 12 decodes that wrote it so)
])
def test_times_counted_a_wait_since_a_grade_and_a_total_stay(texts, kinds):
    # (held-out-16: each masked where nothing says a secret; "times" after a number ending a final is held,
    # a five the next final's digits may go on with, and stays when they do not. "We're at gate 22." stays
    # masked: "gate" is a digit's word heard, "to get 22" for "two eight two two". The totals: the seen
    # parts' "It came to about three fifty in the end.", masked in 6 of 8 decodes, its "to" a two)
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_a_named_number_and_a_wait_since_under_a_cards_keyword_are_masked(kinds):
    for texts in (["My card number is", "room 22."], ["My card number is", "grade 11."],
                  ["My card number is", "channel 7."], ["My card number is 4 1 1 1,", "since 915."]):
        assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
def test_an_age_stays_in_a_passage_no_keyword_opened(kinds):
    # (held-out-16: "My daughter turns 18 next month." masked in 8 of 12 decodes, in the passage a falsely
    # masked number before it opened; not under a card's keyword, nor read digit by digit)
    assert redacted(["It was 4 1 1 1.", "My daughter turns 18 next month."], kinds)[1] \
        == "My daughter turns 18 next month."
    for texts in (["My card number is", "My daughter turns 18 next month."], ["4 1 1 1", "My son is one four."]):
        assert "pci" not in kinds or in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_a_date_after_a_word_in_ation_is_an_expirys_keyword(kinds):
    # (held-out-10, base over mu-law: "What's the expiration date?" / "Oh eight, twenty nine." written
    # "was the exploration date of" / "the 20th line.")
    assert in_clear(redacted(["was the exploration date of", "the 20th line."], kinds)) == []
    assert in_clear(redacted(["What's the acceleration date?", "08 29"], kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
def test_a_number_whose_unit_a_masked_number_follows_is_masked(kinds):
    # (held-out-13, base over mu-law: an Amex's "three four, two six one nine four five, ..." written
    # "3 minutes 2," / "61945," / "31082"; "3-4 minutes to..." after "American Express.")
    for texts in (["3 minutes 2,", "61945,", "31082"],
                  ["The San American Express. 3-4 minutes to...", "One nine four five.", "3-1-0-2"]):
        assert in_clear(redacted(texts, kinds)) == [], texts
    assert redacted(["I'll be there in 10 minutes.", "4 1 1 1"], kinds)[0] == "I'll be there in 10 minutes."


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["The room was eighty euros a night.", "My flight lands at six forty five.", "We packed twelve boxes."],
    ["My flight lands at six forty-five."],
    ["The house is number forty two."],
    ["The house is number 42."],
    ["Our house number is 17."],
    ["The flat is number 9, on the left."],
    ["The house in number 42."],
    ["The housing number forty-two."],
    ["My flight landed 645."],
    ["The shop opens nine thirty tomorrow."],
])
def test_an_hour_and_its_minutes_as_words_and_a_house_number_stay(texts, kinds):
    # (held-out-18, scored once: "six forty five" after "at" read as digits said one by one, "six" and
    # "five" two digits' words, masked in every decode and opening a passage that masked the boxes after it;
    # "The house is number forty two." masked in all 24)
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["is number 42 okay", "in number 42.", "number 42."])
def test_number_near_a_finals_start_is_read_without_error(text, kinds):
    # (the house rule looked three words back where a final had two: an IndexError)
    assert in_clear(redacted([text], kinds)) == [], text


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [
    ["Call me at six forty five."],
    ["It's six four five."],
    ["The number is 42.", "1 7 7 3."],
    ["My card number is", "number forty two."],
    ["The house is number four one one one."],
    ["It starts 1111."],
    ["My flight landed 4 1 1."],
])
def test_digits_read_after_at_or_number_are_still_masked(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
def test_a_number_glued_to_a_price_after_a_phone_number_is_masked(kinds):
    # (tuning, tiny.en over mu-law, for "You can call me on 555 867 5309.": 7 digits in clear)
    assert in_clear(redacted(["You can call me on 555 867. $5,000 free hundred and nine."], kinds)) == []
    for text in ("About $5 fifty.", "Prices were $100, $250, $1,000.", "It was $5,000 and 20 cents."):
        assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
def test_double_hyphened_to_its_digit_after_a_masked_group_is_masked(kinds):
    # (tuning, tiny.en in packs, en-us+m7 over mu-law, for "Sure, it's" / "five three one." / "double seven." /
    # "one two oh eight.": 2 digits in clear)
    assert in_clear(redacted(["Sure, it's", "time for one,", "double-seven,", "one, two, eight."], kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The fee was 12.99.", "The price is 12.99.", "Your balance is 41.50 today.",
                                  "The total was 12.99.", "The total was 200 and $10.", "The bill is 120."])
def test_a_number_after_a_price_noun_and_its_verb_is_an_amount(text, kinds):
    # (held-out-11's "The fee was twelve ninety nine.", masked in 2 of its decodes and opening a passage;
    # held-out-9's "The total was two hundred and ten dollars." written "200 and $10.")
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["And it stopped from 11.29."], ["The code was 11.29."], ["My card is", "11.29."],
                                   ["The total was 4 4 1 2."], ["The total, is 4412."],
                                   ["My cost amount is C-449, 2-1-3."], ["The total was 449, 2-1-3."]])
def test_two_decimals_after_other_words_and_digits_read_after_a_price_are_still_masked(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
def test_the_call_as_a_noun_is_no_phone_keyword(kinds):
    # (held-out-5: "The call dropped after 3 minutes." made a phone number of "The bill says 100 and 20." after it)
    assert redacted(["The call dropped after 3 minutes.", "I live at 12 Elm Street."], kinds)[0] \
        == "The call dropped after 3 minutes."
    found = redacted(["The call dropped.", "The bill says 100 and 20."], kinds)
    assert "PHONE_NUMBER" not in found[1], found
    for texts in (["Call me back on 555 0198."], ["The call back number is 555 0198."], ["A call on 555 867 5309."]):
        assert in_clear(redacted(texts, kinds)) == [], texts
    assert "PHONE_NUMBER" in redacted(["The call back number is 555 0198."], kinds)[0]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
def test_a_digit_written_in_the_sentence_of_a_masked_number_is_masked(kinds):
    # (held-out-6, base over mu-law, for "Ready when you are." / "Six seven five, ...": "6th" in clear)
    assert in_clear(redacted(["and when you are.", "6th Heaven High in 4 1 1 1 0 9"], kinds)) == []
    assert redacted(["I paid $45 for it, and my number is 4 1 1 1 0 9."], kinds)[0].startswith("I paid $45 for it")


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["I'll take two."], ["I'll take two.", "Thanks."], ["We need four.", "Okay."],
    ["We ordered 650 units."], ["We drove 250 miles."], ["It weighs 120 kilos."],
    ["I'm on version 2.1 of the app."],
    ["We've been waiting since I'm 15."],
])
def test_a_count_taken_a_measure_outside_a_passage_a_version_and_a_wait_since_stay(texts, kinds):
    # (seen parts' costs: "I'll take two." masked in 18 of held-out-4's 24 decodes; "We ordered six hundred
    # and fifty units." (held-out-10), masked outside a passage where it stayed inside one; "version 2.1";
    # "since nine fifteen" written "since I'm 15" (held-out-16, 13 decodes), the nine heard as "I'm")
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [
    ["My card number is", "I'll take two."], ["I'll take two.", "4 1 1 1."], ["I'll take two", "four one one one"],
    ["My card number is", "650 units."], ["We drove 4 1 1 miles."], ["The CVV is", "version 211."],
    ["The maximum 6.1 mile."], ["I'm 15 4 1 1 1."],
])
def test_such_counts_under_a_keyword_or_read_on_are_masked(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_twenty_years_ending_a_sentence_uncounted_is_an_expirys_year_where_cards_are_redacted(kinds):
    # (held-out-12: "It's expiring oh six, twenty eight." as tiny.en and base heard it over mu-law; held-out-5:
    # "Expiration is oh nine slash twenty seven.")
    for texts in (["It's exciting or fix 20 years."], ["Exiring or thick, 20 years."], ["Next I am in O'Figs 20 years."],
                  ["Estimation of all kinds last 20 years."]):
        assert in_clear(redacted(texts, kinds)) == [], texts
    for text in ("I've been a customer for 20 years.", "We moved here 20 years ago.", "Over the last 20 years.",
                 "It was built in 30 years.", "That was 20 years.", "He's served 20 years."):
        assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_free_free_is_two_threes(kinds):
    # (held-out-16, base over mu-law, for "oh nine one two, three three seven six,")
    out = redacted(["All I want to free free payment fix."], kinds)[0]
    assert "free" not in out and "[" in out, out
    assert redacted(["Feel free, free to ask."], kinds) == ["Feel free, free to ask."]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
def test_a_digits_word_alone_masked_under_a_keyword_opens_a_passage(kinds):
    # (held-out-5, base in packs, for "My member ID is nine nine two, four oh, one seven seven.")
    out = redacted(["My member I need a time time to follow one and a half."], kinds)[0]
    assert " to " not in out, out
    out = redacted(["Sorry, inside to eat. For for one or six salmon."], kinds)[0]
    assert "six" not in out, out
    # (with no keyword it opens none: "It came down to one." is masked, the words before it are not)
    assert redacted(["It came down to one."], kinds)[0].startswith("It came down ")


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_runs_until_is_an_expirys_keyword(kinds):
    # (held-out-9, base over mu-law, for "Yeah, it runs until March thirty." / "The back says six one nine.")
    out = redacted(["Yeah, it run until match already.", "The Mac and Big One Iron"], kinds)
    assert in_clear(out) == [] and "One" not in out[1], out
    assert in_clear(redacted(["It runs until", "oh three thirty."], kinds)) == []
    for text in ("The shop is open until 9 pm.", "The sale runs until Friday, I paid 25 dollars.",
                 "It runs until the end of the month, about 12 days."):
        assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_homophone_just_before_a_digits_word_masked_alone_is_masked(kinds):
    # (held-out-10, base in packs, for "The code is three four seven." / "... four one" written
    # "The TVM free for them." / "The pen went for Goku one.")
    out = redacted(["The pen went for Goku one."], kinds)[0]
    assert " for " not in out and "[" in out, out
    assert redacted(["I went for a walk. It came down to one."], kinds)[0].startswith("I went for a walk.")


@pytest.mark.parametrize("kinds", KINDS)
def test_a_year_after_in_stays_in_a_passage_no_keyword_opened(kinds):
    # (held-out-15 and -6: "We moved here in 2019." / "I opened it in 2010." masked in the passage a false mask
    # before them opened)
    assert redacted(["It was 4 1 1 1.", "We moved here in 2019."], kinds)[1] == "We moved here in 2019."
    assert "pci" not in kinds or in_clear(redacted(["My card number is", "We moved here in 2019."], kinds)) == []
    assert in_clear(redacted(["It was 4 1 1 1.", "We moved here in 2 0 1 9."], kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["Turn it up to setting 2.", "I need 4 copies."], ["I'd give it a total of 10."]])
def test_a_setting_and_a_total_of_stay(texts, kinds):
    # (held-out-15: "Turn it up to setting two." masked, and "I need four copies." in the passage it opened)
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", KINDS)
def test_digits_read_one_by_one_before_a_unit_in_a_passage_are_masked(kinds):
    # (held-out-19, tiny.en over mu-law: "and maybe we can express 3, 7, 4, 2." / "and I will do three five weeks.")
    assert in_clear(redacted(["and maybe we can express 3, 7, 4, 2.", "and I will do three five weeks."], kinds)) == []
    # (outside a passage, "two three hours" is how people say two or three)
    assert redacted(["It takes two three hours."], kinds) == ["It takes two three hours."]
    assert redacted(["It was 4 1 1 1.", "It takes about four thirty minutes."], kinds)[1] == \
        "It takes about four thirty minutes."
    assert redacted(["It was 4 1 1 1.", "It takes 3 to 5 business days."], kinds)[1] == "It takes 3 to 5 business days."


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "ssn" in kinds])
def test_the_last_four_of_my_social_is_an_ssns_keyword_whatever_follows_social(kinds):
    # (tuning, base live over mu-law, for "The last four of my social are two zero zero nine.")
    out = redacted(["The last four on my social networks. 1000 km on the navy line"], kinds)
    assert in_clear(out) == [], out
    # (with no "last four" before it, "social networks" says no SSN)
    assert redacted(["My last social event had 200 people."], kinds) == ["My last social event had 200 people."]
    assert redacted(["I saw it on my social networks, 1000 km away."], kinds) == \
        ["I saw it on my social networks, 1000 km away."]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_number_corrected_by_the_next_is_read_like_it(kinds):
    # (held-out-17, base live over mu-law, for "My social is four one two, eight eight, no sorry, four one two,
    # eight nine, three three oh ...": "social" heard as "total", a price's noun, kept the first group)
    out = redacted(["My total is 412, no sorry, 412, I am 89 or 330."], kinds)
    assert in_clear(out) == [], out
    assert in_clear(redacted(["It's 77, sorry, 4477 1234."], kinds)) == []
    # (an amount corrected by an amount stays)
    for text in ("It was $200, no sorry, $250.", "The total is 30 dollars, sorry, 35 dollars."):
        assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_an_hour_and_oclock_with_no_time_word_in_a_passage_is_a_digit_misheard(kinds):
    # (held-out-15, tiny.en live over mu-law, for "My account's three one seven, two two nine, four oh five.":
    # "four oh" heard as "4 o'clock")
    out = redacted(["My count 229 high, 4 o'clock high."], kinds)
    assert in_clear(out) == [], out
    # (after "at", or outside a passage, an hour)
    assert redacted(["It was 4 1 1 1.", "Call me back at 4 o'clock."], kinds)[1] == "Call me back at 4 o'clock."
    assert redacted(["It was 4 o'clock already."], kinds) == ["It was 4 o'clock already."]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Call me after lunch, around two.", "Call me around 2.", "Call me after lunch. Round two.",
                                  "The store opens around 2.", "I've been waiting since 2."])
def test_an_hour_after_around_after_or_since_ending_its_sentence_stays(text, kinds):
    # (held-out-20: "Call me after lunch, around two." masked as a phone number in 14 of its 24 decodes)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_day_of_the_month_after_its_weekday_stays(kinds):
    # (held-out-20: "The sale ends on Friday the thirteenth." masked in 20 of its 24 decodes)
    for text in ("The sale ends on Friday the 13th.", "The sale ends on Friday 13th.", "The sail ends on Friday, the 30th."):
        assert redacted([text], kinds) == [text]
    # (not a day: "Friday 1311" and a card's group after a weekday)
    assert in_clear(redacted(["Friday 1311."], kinds)) == []


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_express_before_a_digit_is_the_cards_name_its_american_misheard(kinds):
    # (held-out-13 and -19, tiny.en live over mu-law, for "It's an American Express, three seven four two,":
    # "and I may recon express free payment at school.", "And I'm Jen on Express, free film and for good.")
    out = redacted(["and I may recon express free payment at school.", "4 1 1 2."], kinds)
    assert in_clear(out) == [] and "free" not in out[0], out
    out = redacted(["And I'm on Express, free film and for good."], kinds)
    assert in_clear(out) == [], out
    for text in ("I paid for express delivery.", "Use the express lane, it takes 2 minutes.",
                 "It was sent express to the office.", "We got express free shipping."):
        assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_price_after_its_verb_and_whom_it_cost_stays(kinds):
    # (held-out-21: "It cost me one fifty at the store." masked in 15 of its 24 decodes; tuning: "It costs another
    # 149." for "It costs one forty nine.", masked in 5 decodes)
    for text in ("It cost me 150 at the store.", "It cost me one fifty at the store.", "They charged us 40 for it.",
                 "It costs another 149.", "It cost another one hundred forty nine.", "I paid just 20."):
        assert redacted([text], kinds) == [text]
    # (not digits read one by one, nor a number heard after a keyword)
    assert in_clear(redacted(["It cost me 4 4 1 2."], kinds)) == []
    assert in_clear(redacted(["It costs another 4 4 1 2."], kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
def test_an_age_in_years_old_stays_in_a_passage_no_keyword_opened(kinds):
    # (held-out-21 after its scoring: "Our dog is eleven years old." masked in the passage a false mask before it
    # opened, "It's like 1221 grade again." for "Flight twelve twenty was delayed again.")
    for text in ("Our dog is 11 years old.", "Our log is 11 year old.", "She's a 9-year-old."):
        out = redacted(["It's like 1221 grade again.", text], kinds)
        assert out[1] == text, out
    # (not where a card's or an SSN's keyword holds, nor read one by one; nor a day after "on" in a passage:
    # "I'm on the 10th year [NUMBER_3]" for an expiry, held-out-10)
    assert in_clear(redacted(["My card number is", "4 4 years old."], kinds)) == []
    assert in_clear(redacted(["It's like 1221 grade again.", "I'm on the 10th year 2 9."], kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["We're open 9 to 5 on weekdays.", "We're open nine to five on weekdays.",
                                  "The shop opens from 8 to 6.", "The final score was 21 to 14.",
                                  "The final score was 21-14.", "The final score was 21.14."])
def test_hours_from_to_and_a_games_score_stay(text, kinds):
    # (held-out-21 after its scoring: "We're open nine to five on weekdays." masked in 17 of its 24 decodes;
    # held-out-19: "The final score was twenty one to fourteen." in 9)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_digits_read_with_to_between_them_stay_masked_elsewhere(kinds):
    # ("nine to five" is 9 2 5 read with the two heard as "to": only opening hours and a score say otherwise)
    for texts in (["The code is", "9 to 5."], ["It's 9 to 5."], ["My card number is", "We're open 9 to 5."]):
        assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["She called twice, at 2 and at 4.", "She called twice, at two and at four.",
                                  "Come by at two or three.", "She called around 2 and around 4."])
def test_two_hours_after_at_stay(text, kinds):
    # (held-out-22 after its scoring: "She called twice, at two and at four." masked in 21 of its 24 decodes)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_hours_after_at_stay_masked_after_a_keyword_or_read_as_digits(kinds):
    for texts in (["The code is at 2 and at 4."], ["Call me at 2 and 4 1 1."], ["It's at 2 and at 4 5 1."]):
        assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["My grandson is nine.", "My son is two.", "My daughter's nine."])
def test_an_age_said_as_a_digits_word_after_its_kin_stays(text, kinds):
    # (held-out-22 after its scoring: "My grandson is nine." masked as a digit's word alone; "My grandson is 9." stayed)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_a_kins_age_said_as_a_digits_word_stays_in_a_passage_no_keyword_holds(kinds):
    # (the passage a false mask opened: "The bill was sixty five forty." written "The meal was 6540.")
    assert redacted(["The meal was 6540.", "My grandson is nine."], kinds)[1] == "My grandson is nine."


@pytest.mark.parametrize("kinds", KINDS)
def test_a_kins_age_stays_masked_after_a_keyword_or_read_as_digits(kinds):
    for texts in (["My card number is", "My son is nine."], ["My social is", "my son is nine."],
                  ["My son is one four."]):
        assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
def test_nights_stayed_are_a_duration_in_a_passage_too(kinds):
    # (held-out-22 after its scoring: "We stayed for 11 nights." masked with its "for" in the passage a false mask
    # before it opened, "The meal was 6540." for "The bill was sixty five forty."; "for 11 hours" stayed)
    for text in ("We stayed for 11 nights.", "We stayed for eleven nights."):
        assert redacted([text], kinds) == [text]
        assert redacted(["The meal was 6540.", text], kinds)[1] == text
    # (not after a card's keyword, nor read one by one)
    assert in_clear(redacted(["My card number is", "4 1 1 nights."], kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
def test_a_digits_word_after_its_named_noun_stays_in_a_passage_no_keyword_holds(kinds):
    # (held-out-22 after its scoring: "The train goes from platform nine." masked in the passage that "The meal was
    # 6540." opened, a false mask of "The bill was sixty five forty."; "platform 9" stayed there)
    for text in ("The train goes from platform nine.", "It's in chapter three."):
        assert redacted(["The meal was 6540.", text], kinds)[1] == text
    # (not where a card's or an SSN's keyword holds)
    assert in_clear(redacted(["My card number is 4111", "room one one one."], kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
def test_saying_it_will_be_read_opens_a_passage(kinds):
    # (held-out-22, base live over mu-law, for "I'll read it slowly. Five four, two four," / "nine nine, oh one,"
    # / "three eight, ...": "I'll read the slow, then. I'm for you for you." / "and I'm I'm I'm all right." /
    # "Free, chairman chairman, good"; "I'll read it slowly. I'm all too poor.")
    out = redacted(["I'll read the slow, then. I'm for you for you.", "and I'm I'm I'm all right.",
                    "Free, chairman chairman, good"], kinds)
    assert in_clear(out) == [] and "for" not in out[0].split(". ")[1] and "Free" not in out[2], out
    out = redacted(["I'll read it slowly. I'm all too poor."], kinds)
    assert "too" not in out[0], out
    # (what is said after it that is no digit stays)
    for texts in (["Let me read it. Okay, got it."], ["I'll read it slowly. Are you ready?"],
                  ["I read it last week, it was good."]):
        assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", KINDS)
def test_an_amounts_word_right_after_a_group_and_its_comma_is_a_digit_misheard(kinds):
    # (held-out-11, tiny.en in packs, for "My number is four one four, two nine nine three": "My number 414, total
    # 993", the "two" heard as "total": 993 went out as a price)
    assert in_clear(redacted(["My number 414, total 993"], kinds)) == []
    # (a price after "total" stays: "The total is 993.", "That's a total of 40.", "total 40 dollars")
    for text in ("The total is 993.", "That's a total of 40.", "I paid 20, total 40 dollars."):
        assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["She called twice, at 2 and at 4.", "She called twice, at two and at four.",
                                  "The store opens at 10.", "Call me after lunch, around two."])
def test_an_hour_after_at_stays_in_a_passage_no_keyword_opened(text, kinds):
    # (held-out-22 after its scoring: "She called twice, at two and at four." masked in the passage that "The meal
    # was 6540." opened, a false mask of "The bill was sixty five forty.")
    assert redacted(["The meal was 6540.", text], kinds)[1] == text


@pytest.mark.parametrize("kinds", KINDS)
def test_an_hour_after_at_stays_masked_where_a_keyword_holds(kinds):
    for texts in (["My card number is 4111 1111", "at 4."], ["My social is 123 45", "at two."]):
        assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["My flight is at 1140.", "The bus comes at 620.", "We close at 950."])
def test_an_hour_and_its_minutes_on_ten_written_after_at_stay(text, kinds):
    # (held-out-15: "My flight is at eleven forty." written "My flight is at 1140." masked, and the passage it opened
    # masked "There were about 50 people in line." and "I need 4 copies." after it)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["It's at 555."], ["Call me at 1140."], ["It's at 1141."], ["It's at 1170."],
                                   ["My card number is 4111 1111", "at 1140."]])
def test_digits_after_at_that_no_clock_reads_stay_masked(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


# Held-out-23's leaks, scored once with this session's rules before them (2026-11-27).
@pytest.mark.parametrize("kinds", KINDS)
def test_a_digit_and_an_ordinal_after_its_comma_are_digits_read(kinds):
    # (base in packs over mu-law, for "My cell is five oh three, eight six seven, two two nine oh.": "My Bellentible
    # 3, 8th Anniversary, 2nd Anniversary.", "3, 8th" read as 38 anniversaries)
    out = redacted(["My Bellentible 3, 8th Anniversary, 2nd Anniversary."], kinds)
    assert "3, 8th" not in out[0], out
    # (an ordinal alone stays)
    for text in ("The sale ends on the 8th.", "Our 3rd anniversary is soon."):
        assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_an_amount_written_point_zero_after_total_prices_nothing(kinds):
    # (tiny.en, for "... eight six seven, two two nine oh.": "My channel is find my free 8G channel and total 9.0.",
    # the "two two" heard as "total"; 9.0 went out as a price)
    out = redacted(["My channel is find my free 8G channel and total 9.0."], kinds)
    assert in_clear(out) == [], out
    for text in ("The total is 9.50.", "The total was $9.", "Your total is 12 dollars.", "It cost 49.9."):
        assert redacted([text], kinds) == [text]


# Held-out-24's leaks and costs, scored once with the rules before them (2026-11-27).
@pytest.mark.parametrize("kinds", KINDS)
def test_a_date_with_its_year_in_a_passage_is_masked(kinds):
    # (tiny.en over mu-law, for "Social is two one four dash six six dash oh three nine eight." and "Date of birth oh
    # three, fifteen, seventy two.": "So shall we do one four dash six six dash or three nine eight?" then "November 3,
    # 1672.", the birth's keyword lost: a month's name ended the passage and the date went out)
    out = redacted(["So shall we do one four dash six six dash or three nine eight?", "November 3, 1672."], kinds)
    assert in_clear(out) == [], out
    # (a date with no year, the caller moving on, stays; so does a date with its year where no number was read)
    assert redacted(["So shall we do 214 66 0398?", "It came on March 3rd."], kinds)[1] == "It came on March 3rd."
    assert redacted(["We moved here on March 3, 2019."], kinds) == ["We moved here on March 3, 2019."]
    # (nor a date of the call's matters: a year since 2020, "delivered on March 3, 2024" after an order's number)
    assert redacted(["So shall we do 214 66 0398?", "It came on March 3, 2024."], kinds)[1] == "It came on March 3, 2024."


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["That was back in the 90s.", "It was big in the 1980s.", "Back in the '70s, yes.",
                                  "We can help you 24/7.", "You can reach us 24-7.", "You can reach just 24.7."])
def test_a_decade_and_round_the_clock_stay(text, kinds):
    # (held-out-24: "That was back in the nineties." written "90s" masked in 8 of its 12 decodes as a word a digit ran
    # into; "You can reach us twenty four seven." written "24/7" or "24-7" masked as a phone number after "reach")
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["My card number is 4111 1111", "24/7."], ["You can reach me at 24-7", "1 1 3 2."],
                                   ["My card is 4111 1111 1111 1111, it expires", "24/7."], ["The code is 90s."]])
def test_round_the_clock_and_decades_stay_masked_where_digits_are_read(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Rent is due on the 1st of the month.", "We pay on the fifteenth of every month."])
def test_a_day_of_the_month_stays_in_a_passage_no_keyword_holds(text, kinds):
    # (held-out-24: masked in the passage a false mask before it opened)
    assert redacted(["It was 4 1 1 1.", text], kinds)[1] == text
    assert in_clear(redacted(["My card number is 4111", text.replace("1st", "1 1")], kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
def test_a_tens_word_joined_to_a_word_in_a_passage_is_a_digit_misheard(kinds):
    # (tuning, tiny.en, for "My social security number is one two three, four five, six seven eight nine.": the
    # last two as "eighty-high")
    out = redacted(["My social security number is 123-45-67 eighty-high."], kinds)
    assert "eighty" not in out[0] and in_clear(out) == [], out
    # (where nothing was read, it stays: "She's twenty-something.")
    assert redacted(["She's twenty-something."], kinds) == ["She's twenty-something."]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_an_expirys_year_heard_as_seconds_is_masked_where_cards_are_redacted(kinds):
    # (held-out-24, tiny.en over mu-law, for "It's good till the end of oh nine, twenty seven.")
    out = redacted(["You'll feel the end on road high, 20 seconds."], kinds)
    assert in_clear(out) == [], out
    for text in ("Give me 30 seconds.", "It took about 20 seconds.", "Please hold for 30 seconds.", "Wait 20 seconds."):
        assert redacted([text], kinds) == [text]


# Held-out-25's costs, scored once with this session's rules (2026-11-27).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["We have 3 kids, ages 4, 7 and 9.", "We have three kids ages four, seven and nine.",
                                  "Two boys, aged 12 and 14."])
def test_a_list_of_ages_stays(text, kinds):
    # (held-out-25: masked in 10 of its 12 decodes, and the passage it opened masked "The score was 2 to 1" after it)
    assert redacted([text], kinds) == [text]
    # (in a passage no keyword holds too; the count before them is masked there, as the passage's counts are)
    ages = text[text.index("age"):]
    assert redacted(["It was 4 1 1 1.", text], kinds)[1].endswith(ages)


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["My card number is", "ages 4, 7 and 9."], ["My social is", "ages 4, 7 and 9."],
                                   ["We have kids, ages 4 1 1 1."], ["Ages. 4, 7 and 9."]])
def test_ages_stay_masked_under_a_keyword_or_read_as_a_number(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


# Held-out-26's costs, scored once with the start's rules of 2026-11-27's second session.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["My credit score is around 750.", "I usually take the number 9 bus."],
                                   ["My credit score is around seven fifty."],
                                   ["What's my credit limit?", "I usually take the number 9 bus."],
                                   ["It's on my credit report.", "Page 12."]])
def test_a_credit_score_limit_or_report_is_no_cards_keyword(texts, kinds):
    # (held-out-26: "credit" of "My credit score is around seven fifty." opened a card's context: the score masked
    # as a CVV in most of its 24 decodes, and "the number nine bus" after it as a card's piece)
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["My credit card number is 4111", "1111 1111 1111."], ["Credit, 4111 1111."],
                                   ["The credit is 750."], ["Put it on credit.", "It's 4 1 1 1."]])
def test_credit_alone_or_before_card_stays_a_cards_keyword(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The accident was near mile marker 60.", "The accident was near mile marker sixty.",
                                  "Take route 66.", "I was on highway 101.", "Get on interstate 95."])
def test_a_roads_named_number_stays(text, kinds):
    # (held-out-26: "The accident was near mile marker sixty." masked in most of its 24 decodes)
    assert redacted([text], kinds) == [text]
    assert in_clear(redacted(["My card number is", text.split()[-1]], kinds)) == []


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Send me two of each, please.", "There are three of us.", "I'll take 2 of them.",
                                  "Four of my friends came."])
def test_a_digits_word_counting_what_of_names_stays(text, kinds):
    # (held-out-26: "Send me two of each, please." masked in most of its 24 decodes)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My social is", "two of four."], ["My card number is 4111", "two of each."],
                                   ["It's four of 1 1 1 1."]])
def test_a_digits_word_before_of_stays_masked_where_digits_are_read(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


# The seen parts' costs on this session's decodes.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["2024 was a hard year.", "Twenty twenty four was a hard year.",
                                  "2023 was a good year for us.", "1999 was the year we moved."])
def test_a_year_its_sentence_calls_a_year_stays(text, kinds):
    # (held-out-10 and -23: "Twenty twenty three/four was a hard year." masked in most of their 48 decodes)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My card number is", "2024 was a hard year."], ["It expires", "2029, yes."],
                                   ["It's 4111 1111.", "2024 was a year."], ["4111 2024 was a year."],
                                   ["2024. I said it was a year."]])
def test_a_year_stays_masked_where_digits_are_read_or_no_year_is_named(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I'd give it 8 out of 10.", "I'd give it eight out of ten.",
                                  "Four out of five people agree.", "It scored 95 out of 100.",
                                  "I'd give it three out of five.", "I'd give it 3 out of five."])
def test_a_rating_out_of_five_ten_or_a_hundred_stays(text, kinds):
    # (held-out-15: "I'd give it eight out of ten." masked in several of its 24 decodes; held-out-41: "three out of
    # five" masked in its own words, "five" a digit's word alone)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My card number is", "8 out of 10."], ["It's 41 out of 11."],
                                   ["My social is 8 out of 10 4 5."], ["4 1 1 1 out of 10."],
                                   ["My social is four out of five."], ["My card number is 4111 1111", "1111 out of five."]])
def test_a_rating_stays_masked_where_digits_are_read(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["The digits on the back are", "the marker I02."],
                                   ["The digits on the marker I02."], ["The code is on the marker 102."]])
def test_a_marker_not_a_miles_names_no_number(texts, kinds):
    # (held-out-2, base over mu-law, for "The three digits on the back are one oh two.": in clear while "marker" named
    # the number after it)
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["You can reach us twenty four seven.", "You can reach us 24 7.",
                                  "We're open twenty-four seven."])
def test_round_the_clock_said_in_words_stays(text, kinds):
    # (held-out-24: "You can reach us twenty four seven." masked as a phone number in each of the 7 of its 24
    # decodes that wrote it in words or as "24 7")
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["You can reach me at twenty four seven, five five five."],
                                   ["Call me on 24 7", "555 0123."], ["My card number is", "24 7."],
                                   ["It's two four seven."]])
def test_round_the_clock_in_words_stays_masked_where_a_number_goes_on(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


# Held-out-27's costs, scored once with this session's rules.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It was a two for one deal.", "It was a 2 for 1 deal.",
                                  "They have a three for two offer on."])
def test_n_for_m_before_a_deal_stays(text, kinds):
    # (held-out-27: "It was a two for one deal." masked in its own words: the decodes wrote "2.41", "2-4-1")
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My card number is", "two for one deal."], ["It's 2 for 1 2 deal."],
                                   ["It was a two for one.", "Deal."], ["It's 4 1 1 1, two for one deal."]])
def test_n_for_m_stays_masked_where_digits_are_read_or_no_deal_follows(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The final score was twenty one to fourteen.", "They won the game three to one.",
                                  "They lost the match 2 to 1.", "The score was twenty to eleven."])
def test_a_games_score_said_in_words_or_after_the_game_won_stays(text, kinds):
    # (held-out-19 and -24: "The final score was twenty one to fourteen." and "They won the game three to one."
    # masked where their words were read right)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My card number is", "They won the game 4 to 4."], ["The game 4 to 1 1."],
                                   ["The score was twenty one to fourteen 1 1."], ["I played game 41 to 1."]])
def test_a_score_stays_masked_where_digits_are_read_or_no_game_was_won(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("text", ["The score was 4 1 to 1 1.", "The score was four one to one one.",
                                  "They won the game oh four to two two."])
def test_a_score_read_digit_by_digit_stays_masked(text, kinds):
    assert in_clear(redacted([text], kinds)) == [], text


# This session's costs from the seen parts.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["He was doing seventy on the highway.", "He was doing 70 on the highway.",
                                  "She was going about eighty down the motorway.", "I drove 65 on the interstate.",
                                  "He was doing 70 under highway."])
def test_a_speed_on_a_road_stays(text, kinds):
    # (held-out-17: "He was doing seventy on the highway." went out as an address, in 10 of its 28 runs)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My card number is", "He was doing seventy on the highway."],
                                   ["He was doing 4 1 on the highway."], ["He was doing seventy 11 on the highway."],
                                   ["He was doing seventy.", "On the highway."], ["Seventy on the highway."],
                                   ["He was doing seventy, on the highway."]])
def test_a_speed_stays_masked_where_digits_are_read_or_no_road_or_verb_says_so(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("text", ["He was doing seventy on the highway.", "It was 7 beyond the highway."])
def test_a_number_with_a_preposition_before_the_street_is_no_house_number(text):
    assert "LOCATION_ADDRESS" not in redacted([text], ("pii",))[0]


@pytest.mark.parametrize("text", ["I live at 42 Elm Street.", "It's 123 Main Street Dallas Texas 75201.",
                                  "I live at 42 on Elm Street."])
def test_house_numbers_stay_addresses(text):
    assert "LOCATION_ADDRESS" in redacted([text], ("pii",))[0] and in_clear(redacted([text], ("pii",))) == []


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["We have tickets for the nine fifteen show.", "I'm getting the nine fifteen train.",
                                  "We booked the seven thirty show.", "I'll take the six forty five bus.",
                                  "We have tickets for the 915 show.", "Tickets for the eight o'clock show.",
                                  "I'll be there for the seven o'clock start."])
def test_a_show_or_a_train_named_by_its_time_stays(text, kinds):
    # (held-out-30: "We have tickets for the nine fifteen show." masked in its own words and in 17 of its 24
    # decodes, and the counts after it with it)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["My card number is", "the nine fifteen train."], ["The nine one five train."],
                                   ["I'm getting the nine fifteen."], ["The nine fifteen 11 train."],
                                   ["I'm getting the nine seventy five train."],
                                   ["My card number is", "for the eight o'clock show."],
                                   ["For the eight, o'clock."], ["It's the nine fifteen.", "Train."]])
def test_a_time_before_a_timetables_noun_stays_masked_where_digits_are_read(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It got two and a half stars.", "It got 2.5 stars.",
                                  "I'd give it four and a half stars.", "It's buy one get one free.",
                                  "It's buy one get one half price."])
def test_a_rating_in_stars_and_buy_one_get_one_stay(text, kinds):
    # (held-out-30: "It got two and a half stars." and "It's buy one get one free." masked in their own words)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
def test_buy_one_get_one_free_ending_a_final_stays(kinds):
    texts = ["It's buy one get one free.", "I heard it on the news."]
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["It got two one and a half stars."], ["It got 2.5.", "Stars."],
                                   ["It got nine one and a half stars."], ["My card number is", "two and a half stars."],
                                   ["Buy one get one oh nine."], ["Buy one get one four one."],
                                   ["Buy four one get one."]])
def test_stars_and_buy_one_get_one_stay_masked_where_digits_are_read(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["Security page 885"], ["Xpiry reads 4 20 30", "Security page 885"],
                                   ["The security room 22."], ["Security page for 12."], ["The code page 412."]])
def test_a_named_number_right_after_a_codes_keyword_is_masked(texts, kinds):
    # (held-out-32, scored once: "Security page 885" for "Security digits eight eight five", base in packs,
    # kept as page 885)
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["Let me read that back for 9 1 6 8 8 1", "May 20th Emo 930", "in the market in one"],
                                   ["My card number is 4916 8821.", "May 28."]])
def test_may_and_a_cards_year_in_a_numbers_passage_is_an_expiry(texts, kinds):
    # (held-out-31, scored once: "May 20th Emo 930" for "The date on it is oh nine, thirty.", tiny.en in packs
    # over mu-law, after the card read back: "April 20th" there was masked, "May 20th" kept)
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["Okay, it's an AMX free payment photo.", "Oh, non-9876.4.", "Free to 105."],
                                   ["Okay, it's an A-MX free payment for good."]])
def test_whispers_spellings_of_amex_say_a_card(texts, kinds):
    # (held-out-26, base over mu-law: "Okay, it's an AMX free payment photo." for "Okay, it's an Amex, three seven
    # four two,", its "free" kept)
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not {"free", "for"} & {core(w) for w in out[0].split()}, out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["Routing 021, 000, 089.", "still counting three days. I want to fix"],
                                   ["and the account is in 3881 airbase, 5 time or two weeks."],
                                   ["My card number is 4556 1123,", "eight four, six two oh one days."],
                                   ["My social is 408 29,", "six six one three hours."]])
def test_a_digits_word_whose_unit_ends_its_sentence_in_a_passage_is_masked(texts, kinds):
    # (held-out-33, scored once: "still counting three days." and "... [NUMBER_5] time or two weeks." for "And the
    # account is three eight eight one, five oh two six.", after the routing number, tiny.en in packs and base live:
    # the number's last digit heard as a duration's unit)
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["It took three days."], ["I waited two weeks."], ["I waited two weeks for it."]])
def test_a_duration_outside_a_reading_stays(texts, kinds):
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["SSS is for all it. 2 9 6 6 1 3"], ["SSS is for all it.", "2 9 6 6 1 3"]])
def test_sss_says_an_ssn(texts, kinds):
    # (held-out-33: "SSS is for all it. [NUMBER_1]" for "S S N is four oh eight, two nine, six six one three.",
    # tiny.en live and in packs over mu-law, its "for" kept)
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and homophones_beside(out) == [] and "for" not in out[0].split(), out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["CBC on the back is I-N-E-T-O"], ["CBC on the back is 980."],
                                   ["The three digits on the back are 9 0 2."],
                                   ["The number on the back is four four one."]])
def test_what_is_on_the_back_is_the_code(texts, kinds):
    # (held-out-11: "CBC on the back is I-N-E-T-O" for "CVC on the back is nine eight oh.", base in packs: the code's
    # name misheard, its digits heard as letters, the "O" in clear)
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not re.search(r"\bO\b|I-N", out[0]), out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_a_car_number_is_a_card_number_misheard(kinds):
    # (held-out-10: "Go ahead with the car number when you're in bed." / "I'd one big big." / "and then [NUMBER_1]."
    # for "... the card number when you're ready." / "Five one six six." / "And then two two three one.", tiny.en
    # over mu-law: the "one" went out)
    out = redacted(["Go ahead with the car number when you're in bed.", "I'd one big big.", "and then 2231."], kinds)
    assert in_clear(out) == [] and "CREDIT_CARD" in out[1], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I put the sticker on the back.", "Is it on the back of the box?",
                                  "The charge on the back is $40."])
def test_on_the_back_without_a_number_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["The 16 digits on the front, $4.04 in, 3.21,", "hang on, 805-3, 66-Ine 4."],
                                   ["The digits on the front are 4556, $11.23, 8884."]])
def test_an_amount_by_its_sign_alone_before_a_masked_number_in_a_passage_is_masked(texts, kinds):
    # (held-out-23: "The 16 digits on the front, $4.04 in, 3.21," for "The sixteen digits on the front, four double
    # four seven, triple two one,", tiny.en in packs over mu-law: the amount kept between masked digits)
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It cost $40, 12 of them.", "It cost $40 for 12 of them."])
def test_an_amount_before_a_quantity_outside_a_passage_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
def test_a_day_right_after_a_digits_homophone_in_a_passage_is_masked(kinds):
    # (held-out-36, scored once: "Tonight, and then for 4th of January." for "two nine, and then four four seven oh.",
    # an SSN's rest after "Social is six one eight, and then", heard as "Usually keep one eight and then.", base live)
    out = redacted(["Usually keep one eight and then.", "Tonight, and then for 4th of January."], kinds)
    assert in_clear(out) == [] and homophones_beside(out) == [] and "for" not in out[1].split(), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["It's 4111 1111.", "It's due on the 4th of January."],
                                   ["It's due for 4th of January."]])
def test_a_day_after_its_article_or_outside_a_passage_stays(texts, kinds):
    out = redacted(texts, kinds)
    assert out[-1] == texts[-1], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
def test_a_quantity_joined_by_a_preposition_to_a_masked_number_is_masked(kinds):
    # (held-out-36, scored once: "It's a Pion for 4 months on 28." for "It expires the fourth month of twenty
    # eight.", after the card's read-back, base in packs over mu-law: the expiry's month heard as a duration)
    out = redacted(["Okay, it's 54, um, 21,", "33, 88, 65, and", "90, 12, 44.", "So, S5421338?", "Yes.",
                    "It's a Pion for 4 months on 28."], kinds)
    assert in_clear(out) == [] and "for" not in out[-1].split(), out


@pytest.mark.parametrize("kinds", KINDS)
def test_a_duration_with_no_masked_number_after_it_stays(kinds):
    out = redacted(["My card is 4111 1111.", "I have had it for 4 months on my account."], kinds)
    assert out[1] == "I have had it for 4 months on my account.", out


# Held-out-37's leaks, scored once with the rules before them (2026-11-28).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
def test_a_date_of_birth_whose_born_was_heard_as_on_is_masked(kinds):
    # (held-out-37, scored once: "was on March 3rd, 1988 at 1 The" for "I was born March third, nineteen eighty
    # one.", after the SSN "5 5 5 dash 4 dash 1 2 1 2 I", base in packs)
    out = redacted(["5 5 5 dash 4 dash 1 2 1 2 I", "was on March 3rd, 1988 at 1 The"], kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["It was on March 3rd, 2024."], ["So shall we do 214 66 0398?", "It was on March 3rd."],
                                   ["So shall we do 214 66 0398?", "It was on March 3rd, 2024."],
                                   ["We moved here on March 3, 1998."]])
def test_a_date_on_which_something_was_stays(texts, kinds):
    # (a date of the call's matters after "was on", or no year, or no passage: the caller moved on)
    assert redacted(texts, kinds)[-1] == texts[-1]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
def test_total_after_a_group_and_and_is_a_misheard_two_two(kinds):
    # (held-out-37, scored once: "4-7-1-7 and total 8 and" for "four seven one seven, and two two oh eight,", a
    # Visa read in groups with "and" between them after a correction, base in packs)
    out = redacted(["4-7-1-6 and sorry", "4-7-1-7 and total 8 and", "5-5-9 and 6-6-1 and"], kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The fee was 10 and total 60.", "I paid the bill and total 60 is fine."])
def test_a_total_after_no_group_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# Held-out-37's costs (its decodes, scored once, then read as any seen part's).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["I got two mods and three cards.", "the meeting at half past four."],
                                   ["My card is 4111 1111.", "I get home at quarter past six."],
                                   ["My card is 4111 1111.", "I get home at half past 6."]])
def test_an_hour_after_quarter_or_half_past_stays_in_a_cards_context(texts, kinds):
    # (held-out-37: "The meeting's at half past four." after "I've got two dogs and three cats." heard as "... three
    # cards.", base live: the hour masked as a card's stray digit)
    assert redacted(texts, kinds)[-1] == texts[-1]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["That's 100 and 20 dollars.", "That's 100 and $20.", "plus 100 and 20 dollars.",
                                  "It came to 300 and 50 pounds."])
def test_a_hundred_and_its_tens_before_a_unit_are_one_amount(text, kinds):
    # (held-out-37: "That's a hundred and twenty dollars." written "100 and 20 dollars": its 100 masked in 6 of 12
    # decodes, as a number of 3 digits with no unit)
    assert redacted([text], kinds) == [text]
    assert redacted(["My card is 4111 1111.", text], kinds)[1] == text


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["Security code is 900 and 2."], ["My card is 4111 1111.", "The code is 300 and 12."],
                                   ["My card is 4111 1111.", "and 6 past 4 2 2 1."],
                                   ["My card is 4111 1111.", "4, 100 and 20, 1 2 1 2 dollars."]])
def test_a_hundred_and_no_unit_or_an_hour_read_with_digits_stays_masked(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


# Held-out-38's costs (scored once at the end of the session that wrote it: 0 digits in clear).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Give me two minutes.", "Can you wait two minutes?", "Give us five minutes.",
                                  "I need another two weeks."])
def test_a_duration_asked_for_in_a_passage_stays(text, kinds):
    # (held-out-38: "Give me two minutes." masked in 12 of its 28 runs: a passage held from "We stayed in room
    # two oh four.", digits read one by one and masked, two sentences before; held-out-35's "Give me five minutes.")
    texts = ["We stayed in room two oh four.", "I'm on the fifth floor.", text]
    assert redacted(texts, kinds)[2] == text


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The party is on the 14th of May.", "The party is on the fourteenth of May.",
                                  "It's on the 3rd of May, I think."])
def test_a_day_of_may_in_a_passage_is_a_date(text, kinds):
    # (held-out-33: "The party is on the fourteenth of May." masked in every decode, in the passage a masked number
    # before it opened: "may" alone is no month's name, the verb, but after a day and "of" it is)
    assert redacted(["It was 2 0 1 9.", text], kinds)[1] == text


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It's the 2019 model.", "It's the two thousand eight model.",
                                  "It's the twenty nineteen model.", "I have a 2008 model.", "It's the 1998 edition."])
def test_a_year_that_names_a_model_stays(text, kinds):
    # (held-out-33 and -36: "It's the twenty nineteen model." / "It's the two thousand eight model." masked in every
    # decode, 4 digits no rule read)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["It's the two oh one nine model."], ["It's the 4111 model."], ["It's 2019 model."]])
def test_a_model_year_read_digit_by_digit_stays_masked(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_a_model_year_in_a_card_context_stays_masked(kinds):
    assert in_clear(redacted(["My card is 4111 1111.", "It's the 2019 model."], kinds)) == []


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My card is 4111 1111.", "It may be 1 1 1 1."],
                                   ["My card is 4111 1111.", "The 4th of May 1 1 1 1."],
                                   ["It was 2 0 1 9.", "I may have 4 1 1 1."]])
def test_may_the_verb_or_a_date_before_digits_keeps_the_passage(texts, kinds):
    assert in_clear(redacted(texts, kinds)) == [], texts


# A number the recogniser wrote as other words at a final's end, before the final that reads it on (held-out-37's
# first finals, and held-out-39's: garbled whole before any keyword, they went out before the number was masked).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["for even one piece and", "sorry, 4717 and 2208,", "and 5539 and 6601."],
                                   ["4 even 1 peaks and", "Sorry, 4-7-1-7 and 2-2-0-8,", "5-5-3-9 and 6-6-0-1."],
                                   ["Okay, let's animate. Free payment for good.", "Hold on, 4-5-3-2-1-1-8-9."],
                                   ["So it's for even one", "Hold on, 4717 2208."],
                                   ["Okay, I'm gonna make free payment for good.", "Hold on, I need 4-5-3-2-1-1-8-9."],
                                   ["4 even 1 peaks and", "Sorry, 4 game and 1 game and 2 2 8", "and"],
                                   ["for the", "full launch, 4111 1111 1111 1111,"],
                                   ["for it time.", "All 4111 1111 payments.", "Go 1111 1111."]])
def test_a_number_heard_as_words_before_the_final_that_reads_it_on_is_masked(texts, kinds):
    # (held-out-37, scored once: "for even one piece and" / "4 even 1 peaks and" for "Four seven one six, and,",
    # then "sorry, four seven one seven, and two two oh eight,", tiny.en and base; the first went out in clear;
    # held-out-26's "Hold on, I need [NUMBER_1]." after "... free payment for good."; a short final with a digit's
    # homophone, "for the" before "full launch, [CREDIT_CARD_1],", held-out-9 and -26)
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not {"for", "free"} & {core(w) for text in out for w in text.split()}, out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["I would like to pay for it.", "It's 4111 1111 1111 1111."],
                                   ["I've got two dogs and three cats.", "It's 4111 1111 1111 1111."],
                                   ["I'll take one. Thanks.", "My card is 4111 1111 1111 1111."],
                                   ["for even one piece and", "Thanks, that's all for today."],
                                   ["I was on hold for two hours.", "We ordered 650 units."],
                                   ["The final score was twenty one to fourteen.", "We ordered 650 units."],
                                   ["It was for the $5 last month.", "I paid the bill and 120."],
                                   ["Can you go on for one moment?", "It's 212 555 0182."],
                                   ["Turn it up to setting two.", "It's 212 555 0182."],
                                   ["I bought three tickets for the show.", "It's 212 555 0182."],
                                   ["I bought free tickets for the show.", "It's 212 555 0182."]])
def test_words_before_a_number_that_is_not_read_on_stay(texts, kinds):
    # (only a stretch of digits' words and homophones, not "to ... for" alone nor a quantity with its unit, at the end
    # of the final right before a number that begins the next; and only when a number follows; held-out-10's "I was
    # on hold for two hours." before "We ordered six hundred and fifty units.", a cost of a first version)
    assert redacted(texts, kinds)[0] == texts[0]


# A number begun after "it's", garbled whole in a final whose sentence goes on, its next groups masked in the next
# final a few garbled words in (held-out-33, base live and in packs over mu-law: the "four" / "for" went out).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["It's four time, I'm big Sorry", "4557, I'm I'm Dan, none will 8846.", "2201."],
                                   ["it's for I'm I'm big sorry", "or I'm I'm Pam and nodal 4557 1123", "Go on."],
                                   ["It's for I'm I'm big sorry", "Or I'm I'm a total 455-711-2388"]])
def test_a_number_begun_after_its_and_heard_as_words_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and "for" not in out[0].split(), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["It's for my son.", "My card is 4111 1111 1111 1111."],
                                   ["It's too late, sorry", "4111 1111 1111 1111"],
                                   ["It's for two hours,", "212 555 0182"], ["It's for one moment", "212 555 0182"],
                                   ["It's for 12 people and", "212 555 0182"],
                                   ["It's for my son, and", "then my wife said we should all go and see the 4111 1111"]])
def test_words_after_its_that_are_not_a_number_begun_stay(texts, kinds):
    # (a sentence that ended, "to" or "too", a quantity, or a number too far into the next final)
    assert redacted(texts, kinds)[0] == texts[0]


@pytest.mark.parametrize("text", ["It's four time, I'm big Sorry", "it's for I'm I'm big sorry"])
def test_a_final_with_a_number_begun_after_its_is_held(text):
    redactor = Redactor(("pci",), hold_gap=3 * SECOND)
    assert redactor.final(final(text, 0)) == [] and redactor.holding


@pytest.mark.parametrize("text", ["for even one piece and", "4 even 1 peaks and", "Okay, let's animate. Free payment for"])
def test_a_final_that_ends_in_a_number_heard_as_words_is_held(text):
    redactor = Redactor(("pci",), hold_gap=3 * SECOND)
    assert redactor.final(final(text, 0)) == [] and redactor.holding


@pytest.mark.parametrize("text", ["I would like to pay for it.", "I've got two dogs and three cats.",
                                  "I'll take one. Thanks.", "Thanks, that's all for today."])
def test_a_final_with_no_number_heard_as_words_at_its_end_is_not_held(text):
    redactor = Redactor(("pci",), hold_gap=3 * SECOND)
    assert redactor.final(final(text, 0)) != [] and not redactor.holding


# Held-out-42's leaks, scored once with the rules before them (2026-11-28).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("text", ["date on worth the third on March 19, 1776.", "Date of birth, the 3rd of March 1976.",
                                  "My date a berth is March 3, 1976."])
def test_a_date_of_birth_whose_keyword_was_misheard_is_masked(text, kinds):
    # (held-out-42, scored once: "date on worth the third on March 19, 1776." for "Date of birth, the third of March,
    # nineteen seventy six.", tiny.en over mu-law)
    assert in_clear(redacted([text], kinds)) == [], redacted([text], kinds)


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The date on the form is March 3, 2024.", "Is it worth the third on March 3?"])
def test_a_date_with_no_birth_heard_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"ssn", "pii"} & set(kinds)])
def test_socials_after_the_last_four_is_the_ssns_keyword(kinds):
    # (held-out-40, base in packs over mu-law: "The last four are my socials, two rhino-six." for "The last four of my
    # social are two nine oh six.", then its correction)
    out = redacted(["The last four are my socials, two rhino-six.", "Norway hits two rhino-eight."], kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
def test_socials_alone_are_accounts_not_a_keyword(kinds):
    assert redacted(["Follow us on our socials for updates."], kinds) == ["Follow us on our socials for updates."]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
def test_finals_that_go_on_reading_a_garbled_number_stay_held_for_the_one_that_reads_it(kinds):
    # (held-out-37, tiny.en over mu-law, "Four seven one six, and," / "sorry, four seven one seven, and two two oh
    # eight," / "and five five three nine, and six six oh one.": the second's own number begins too late in it to
    # reach the first; the third's reaches the second, and through it the first)
    out = redacted(["for even one piece and", "Sorry for him and one came and I'm too too late.",
                    "and five, five, three, nine, and six, six, four, one."], kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
def test_a_chain_of_garbled_finals_is_held_no_longer_than_max_held(kinds):
    redactor = Redactor(kinds, hold_gap=3 * SECOND)
    out = []
    for n in range(8):
        out += redactor.final(final("and for one two", n))
        assert len(redactor.held) <= MAX_HELD
    out += redactor.release()
    assert [t.utterance_id for t in out] == [f"u-{n}" for n in range(8)]


# Held-out-43's leaks, scored once with the rules before them (2026-11-28).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"ssn", "pii"} & set(kinds)])
@pytest.mark.parametrize("texts", [["I just need the last four.", "Sure, it's too same in same England."],
                                   ["I just read the last four.", "Sure, it's to Heaven, Heaven."],
                                   ["The last four digits of it, please?", "Sure, it's too safe and safe and run."],
                                   ["What are the last four?", "Sure, it's too safe and safe and run."]])
def test_the_answer_to_the_last_four_asked_for_is_a_passage(texts, kinds):
    # (held-out-43, scored once: "Sure, it's two seven seven one." after the agent's "I just need the last four.",
    # no SSN keyword said; tiny.en and base, live and in packs)
    out = redacted(texts, kinds)
    assert "too" not in out[1] and " to " not in out[1], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["I'll take the last four.", "Thank you so much, see you at 5 pm."],
                                   ["The last four years were good.", "It's too late now."]])
def test_no_digits_asked_for_or_an_amount_after_leaves_the_answer_readable(texts, kinds):
    assert redacted(texts, kinds)[1] == texts[1]


# Held-out-44's false masks in its own words, scored once with the rules before them (2026-11-28).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["End of next year, twelve twenty seven.", "Three digits on the back?"],
                                   ["End of next year, twelve twenty seven.", "The three digits on the back?"],
                                   ["It expires twelve twenty seven.", "Sixteen digits on the front, please."],
                                   ["My card number is 4111 1111 1111 1111.", "And the three digit code?"]])
def test_a_count_of_digits_asked_for_is_no_digit_of_the_number_before(texts, kinds):
    # (held-out-44, its script's own words: "Three" masked as the expiry's last digit, and in its passage)
    out = redacted(texts, kinds)
    assert out[1] == texts[1], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["My social is 568-21-9003.", "And a good number to reach you?"],
                                   ["My card number is 4111 1111 1111 1111.", "Is there a number to call you back on?"]])
def test_a_number_to_reach_you_keeps_its_to(texts, kinds):
    # (held-out-44, its script's own words: "And a good number [SSN_3] reach you?")
    out = redacted(texts, kinds)
    assert out[1] == texts[1], out


# Held-out-53's false mask in its own words, scored once with the rules before it (2026-11-29): the agent's question
# masked in its own words and 20 of its 24 decodes.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["I'll need your social to verify."], ["I need your social security number to confirm."],
                                   ["My card number is 4111 1111 1111 1111.", "I'll need the card to process it."],
                                   ["What's the account number to check?"], ["I just need your social to pull it up."]])
def test_to_before_a_verb_after_a_keyword_is_no_digit(texts, kinds):
    out = redacted(texts, kinds)
    assert out[-1] == texts[-1], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My social is to to verify one."], ["My social is to, verify, to."],
                                   ["My social is 568-21-9003.", "No, to three."], ["My card is to check 4 1 1 1."]])
def test_a_to_that_is_no_infinitive_still_fails_closed(texts, kinds):
    out = redacted(texts, kinds)
    assert not in_clear(out) and out != texts, out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The meeting runs from ten to eleven thirty.", "The meeting runs from 10 to 11.30.",
                                  "We're open from nine to five thirty."])
def test_a_span_of_hours_is_a_time(text, kinds):
    # (held-out-44, its script's own words and every decode of it: "The meeting runs from [NUMBER_1].")
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("text", ["The card number is from four to one one three oh.",
                                  "My card number runs from four one to five five three oh."])
def test_a_span_that_is_no_clock_still_fails_closed(text, kinds):
    # (digits read one by one after "to" are no hour and its minutes)
    out = redacted([text], kinds)
    assert not in_clear(out) and out != [text], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["It expires twelve twenty seven.", "Three four five."],
                                   ["My social is five six eight,", "two one, nine oh oh three."],
                                   ["And a good number to reach you?", "Seven oh three, triple two, one eight four six."]])
def test_the_digits_beside_those_are_still_masked(texts, kinds):
    assert not in_clear(redacted(texts, kinds)), redacted(texts, kinds)


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["and the next year 12-27-3", "digits on the Mac."],
                                   ["It expires 12/27 3 digits on the back."]])
def test_a_number_glued_to_a_count_of_digits_is_still_masked(texts, kinds):
    # (held-out-44, tiny.en in packs over mu-law: "End of next year, twelve twenty seven." / "Three digits on the
    # back?" written with the count in the expiry's token; a count is one word of 1-2 digits)
    out = redacted(texts, kinds)
    assert not in_clear(out), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I ordered two boxes of twelve.", "I ordered 2 boxes of 12.", "We bought a pack of six.",
                                  "They sell them in bags of ten.", "We're a family of five."])
def test_what_each_of_a_count_holds_is_a_quantity(text, kinds):
    # (held-out-44, its script's own words and most decodes: "I ordered [NUMBER_1] boxes of [NUMBER_2].")
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My card number is four one one one,", "one box of twelve."],
                                   ["The last four of my social are", "a set of twelve."],
                                   ["The security code is on the back.", "A box of 12."]])
def test_each_of_in_a_secret_context_still_fails_closed(texts, kinds):
    assert not in_clear(redacted(texts, kinds)), redacted(texts, kinds)


# The lines with no number that this session's decodes of 14 parts masked most (bench.redaction's "plain").
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["I just need the last 4."], ["What are the first 6?"],
                                   ["My card number is 4111 1111 1111 1111.", "Can you read the last 4 of the card again?"],
                                   ["It expires 12 27.", "Okay. And the free digit on the back?"],
                                   ["It expires 12 27.", "Free digits on the back."],
                                   ["My social is 568-21-9003.", "And I go down to reach you."],
                                   ["My card number is 4111 1111 1111 1111.", "Is there a good time to call you?"]])
def test_an_agents_question_stays_readable(texts, kinds):
    out = redacted(texts, kinds)
    assert out[-1] == texts[-1], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} & set(kinds)])
@pytest.mark.parametrize("texts", [["My card number is 4111 1111 1111,", "the last 4 3 2 1."],
                                   ["The last four of my social are", "4."],
                                   ["My social is 123 45", "the last 6789."],
                                   ["the last 4-1-5 again,"]])
def test_digits_after_last_are_still_masked(texts, kinds):
    assert not in_clear(redacted(texts, kinds)), redacted(texts, kinds)


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_digits_read_on_after_next_and_or_are_masked(kinds):
    # (held-out-32, base in packs over mu-law: "next 3 or 4, 20 30," for "Expiry reads four, twenty thirty." after
    # the card's groups and the agent's "Next four?", its 3 kept as a count)
    texts = ["First 4,", "6 or 11,", "next 4,", "not not not 9,", "and the rest 9", "or 13, 9 424,", "next 3 or 4, 20 30,"]
    out = redacted(texts, kinds)
    assert out[2] == "next 4," and written_digits(out[3:]) == [], out
    assert redacted(["I'll call in the next 2 or 3 days."], kinds) == ["I'll call in the next 2 or 3 days."]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_the_last_group_read_after_last_is_masked(kinds):
    # (held-out-10, base in packs: "And last, 9 and [CREDIT_CARD_2] all." for the card's last group, its 9 kept as a
    # count with the first version of "the last 4")
    texts = ["So, I'll head with the card number when you're ready.", "I want 5 1.", "And last, 9 and 8 8 all."]
    assert not in_clear(redacted(texts, kinds)), redacted(texts, kinds)


# Held-out-45's leaks, scored once with the rules before them (2026-11-28): a date of birth said day first, its year
# lost ("I was born on the 14th of July, I'll see you later." for "... the fourteenth of July, nineteen eighty.",
# tiny.en, live and in packs, 16 kHz and mu-law).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["I was born on the 14th of July, I'll see you later."],
                                   ["I was born in the 14th of July, thank you Nikki!"],
                                   ["I was born on the 14th of July."], ["My birthday is the 3rd of May."],
                                   ["it was my birthday, the 3rd of May"],
                                   ["Date of birth, 14 July."], ["My date of birth is the 14th of July, 1980."]])
def test_a_date_of_birth_said_day_first_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and "July" not in out[0] and "May" not in out[0], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["We moved here on the 14th of July."], ["The party is on the 3rd of May."]])
def test_a_day_first_date_of_no_birth_stays(texts, kinds):
    assert redacted(texts, kinds)[-1] == texts[-1]


# Held-out-45's negatives as its decodes wrote them, masked with the rules before them (2026-11-28): minutes in digits
# before "past" and the hour ("It's 20 past 4."), a house number after "at number", a sum after "about".
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["20 past 4.", "It's 20 past 4.", "it's 20 past four.", "It's 10 past 9.",
                                  "It's 25 past 11.", "It's 10 past ten.", "We live at number 22.", "It was about 150.",
                                  "it was about 100 and 50 quid.", "It cost around 80.", "I got 90 out of a hundred.",
                                  "I got ninety out of a hundred."])
def test_a_time_a_house_number_and_a_rough_sum_stay(text, kinds):
    assert redacted([text], kinds) == [text]
    if not text[0].isdigit():  # (a final that begins with digits may go on the number the one before ended with)
        out = redacted(["I'm staying in room 412.", text], kinds)
        assert out[1] == text, out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} <= set(kinds)])
@pytest.mark.parametrize("texts", [["My card number is", "4111 1111 1111 past 1111."],
                                   ["My card number is 4111 1111 1111.", "about 1111."],
                                   ["My social is 123 45", "about 6789."], ["The card is at number 4111 1111 1111 1111."],
                                   ["My card number is 4111 1111 1111.", "20 past 1 1 1 1."], ["look at number 3."],
                                   ["Okay,", "I'm being pre-wanna-wanna-wanna", "look at number 3."],
                                   ["My social is", "about 123-45-6789."]])
def test_digits_beside_past_at_number_and_about_are_still_masked(texts, kinds):
    assert not in_clear(redacted(texts, kinds)), redacted(texts, kinds)


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I bought three cards.", "I've got two cards with you.", "We have 3 cards on file."])
def test_a_count_of_cards_stays(text, kinds):
    # (held-out-45's negatives, base over mu-law: "I bought three cards." for "I've got three kids.", its "three"
    # masked as a card's digit; a count before the plural says how many cards, no card's number)
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["I have two cards, the first is 4111 1111 1111 1111."],
                                   ["I've got two cards.", "4111 1111", "1111 1111."],
                                   ["Two cards.", "The card number is 4 1 1 1."]])
def test_digits_after_a_count_of_cards_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# Held-out-6's negative as this session's decodes wrote it (2026-11-28), masked with the rules before.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I opened it in 2000 and 5.", "We moved here in 2000 and 12."])
def test_a_year_said_the_british_way_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} <= set(kinds)])
@pytest.mark.parametrize("texts", [["My card number is 4111 1111", "2000 and 5"], ["My social is 123", "gate 45 6789."],
                                   ["We board at gate 12."], ["Okay, it's", "gate 12."],
                                   ["My card number is 4111 1111 1111 1111.", "in 2000 and 5 1 1."]])
def test_digits_beside_a_gate_or_a_british_year_are_still_masked(texts, kinds):
    # ("gate" is how the recogniser hears "eight": "gate 12" may be "eight one two", and stays masked)
    out = redacted(texts, kinds)
    assert not re.search(r"\d", re.sub(r"\[[A-Z_]+_\d+\]|2000", "", " ".join(out))), out


# Two leaks of a first version that kept "for" before a determiner as a word (this session's decodes, tiny.en live
# over mu-law): "for" there is the four of an expiry ("good through November, twenty ...") and of a sort code's
# "forty"; it stays masked.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} <= set(kinds)])
@pytest.mark.parametrize("texts", [["The card is good for your member when it is."],
                                   ["I was born in the 14th of July, thank you Nikki!", "Welcome to my free one, my two",
                                    "He thought I made, thought gone for the plan, thought he thought."]])
def test_for_before_a_determiner_in_a_passage_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert "for" not in [core(w) for w in out[-1].split()], out


# Held-out-43's SSN asked for by its last four, "four" heard as "one" (tiny.en, live and in packs, this session's
# decodes as the last session's): a need for "the last one" asks for digits as "the last four" does.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"ssn"} <= set(kinds)])
@pytest.mark.parametrize("texts", [["I just need the last one.", "Sure, it's too safe and safe and run."],
                                   ["I know you need the last one.", "Sure, it's too same and same in run."]])
def test_a_need_for_the_last_one_asks_for_digits(texts, kinds):
    out = redacted(texts, kinds)
    assert "too" not in [core(w) for w in out[-1].split()], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["Which cake would you like?", "I'll take the last one.", "Thanks, that's great."],
                                   ["I just need the last one.", "Sure, here you go."]])
def test_the_last_one_with_no_digits_after_it_stays(texts, kinds):
    assert redacted(texts, kinds) == texts


# Held-out-42's negatives as this session's decodes wrote them, masked with the rules before.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The kids are 8 and 10.", "The kids are eight and ten.", "My boys are 7, 9 and 12.",
                                  "It's a 40-minute drive.", "a 40-minute drive.", "It's a 3-hour flight."])
def test_kids_ages_and_a_duration_glued_to_its_unit_stay(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if {"pci", "ssn"} <= set(kinds)])
@pytest.mark.parametrize("texts", [["My card number is 4111 1111 1111", "The kids are 1 1 1 1."],
                                   ["The kids are 4 1 1 1."], ["My social is 123 45", "6789-minute"],
                                   ["My card number is", "4111-minute 1111 1111 1111"],
                                   ["I'm a 3-minute number in 412."], ["It's a 3-minute, 4 1 1."]])
def test_digits_beside_kids_or_glued_to_a_unit_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# Held-out-4's negative after its phone number, as this session's decodes wrote it (masked as the phone's piece).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["My number is 555 867 5309.", "Call me around 6 tonight."],
                                   ["My number is 555 867 5309.", "Call me around six tonight."],
                                   ["The best number is 9 1 7 2 2 8 8 1 4", "Call me after 7 tomorrow."]])
def test_an_hour_before_a_days_word_ending_its_sentence_stays(texts, kinds):
    assert redacted(texts, kinds)[-1] == texts[-1]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["My number is 555 867", "around 5309 tonight."],
                                   ["My number is 555 867", "around 5 tonight, 3 0 9."],
                                   ["My number is 555 867 530", "around 9 tonight 1 2."]])
def test_a_phone_numbers_digits_before_a_days_word_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["My number is 555 867", "around 5309."], ["My number is 555 867", "about 5309."],
                                   ["My number is 555 867 5309.", "We live at number 530."]])
def test_a_rough_sum_or_a_house_number_in_a_phone_numbers_passage_is_masked(texts, kinds):
    # (a first version kept "around 5309." after "My number is 555 867": a rough sum only where nothing says a secret)
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# Held-out-46, scored once: a date of birth's "nineteen seventy nine" as "17, 9" after its month, a phone number's
# last digits before it in the same final ("1, 4, 1, March, 9, 17, 9," tiny.en in packs over mu-law): the "1," read
# as the day before the month made "9, 17, 9" a year. A year is one number or two pairs, not three groups.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["Area code 312,", "5, 5, 5,", "1, 9, 8,", "1, 4, 1, March, 9, 17, 9,"],
                                   ["1, 4, 1, March, 9, 17, 9,"], ["March, 9, 17, 9,"],
                                   ["I was born on the 1st, March, 9, 17, 9."]])
def test_a_year_of_three_groups_after_a_month_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It was 1 March 2024.", "It was 1 March, 20 24.", "We met on March 3, 2024.",
                                  "The bill came on the 3rd of May 2023."])
def test_a_date_with_its_year_whole_or_in_pairs_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# Held-out-46, scored once: a Mastercard's groups garbled over four finals, then its expiry "the end of oh nine,
# twenty seven" as "the $10-8-8-8-8-8," (tiny.en in packs): a currency sign glued to a chain of digit groups is
# no price; "$10-20" (a range) is.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["Can I take the loan loan now the card?", "Yes, 5-4-1-2, also,", "5-14-1-4, same as",
                                    "8-12-6,", "and 4-8-14,", "the $10-8-8-8-8-8,", "the loan now the back-8-5."],
                                   ["the $10-8-8-8-8-8,"], ["It runs to the £10-8-8."]])
def test_a_currency_sign_glued_to_a_chain_of_digits_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It costs $10-20.", "That's $10-$20.", "It was about £5-10 a month."])
def test_a_range_of_prices_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# Held-out-46's negatives, in their own words and every decode: "My daughter is in year [NUMBER_1]." (a school's
# year: 1-13 after "in year"; an expiry's year is no school's). ("We sat in row [NUMBER_1]." stays masked: "row" is
# how a digit's word is heard, the reason the nouns that name a number leave it out.)
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["My daughter is in year nine.", "My daughter is in year 9.", "He's in year 12 now."])
def test_a_school_year_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["It expires in year 27."], ["My card number is 4111 1111", "in year 11 11."],
                                   ["The security code is row 842."], ["It expires in year twenty seven."],
                                   ["We sat in row eleven."]])
def test_digits_after_row_or_year_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [] and not re.search(r"\b(?:twenty|seven|eleven)\b", " ".join(out)), out


# An expiry written as a range with its unit: a month (1-12), a hyphen and a card's year (20-39), where a card's
# keyword or a masked number's passage holds ("My credit card at fire nearly 5-20 seconds." for "My credit card
# expires oh five twenty eight.", tuning, tiny.en over mu-law; "3-20 days." for "Oh three slash twenty eight." after
# a card's groups, held-out-45), also after a digit's word the recogniser wrote before it ("for 3-20 days." after a
# card's pairs, held-out-54, tiny.en, en-029+klatt3).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["My credit card at fire nearly 5-20 seconds."],
                                   ["My card number is 4111 1111 1111 1111.", "3-20 days."],
                                   ["Go ahead with the card whenever you're ready.", "41, 26, 43, 80.", "55, 10, 62, 99.",
                                    "for 3-20 days."],
                                   ["My card number is 4111 1111 1111 1111.", "Oh, 3-20 days."],
                                   ["My card number is 4111 1111 1111 1111.", "It expires 05-28 days."]])
def test_an_expiry_written_as_a_range_in_a_cards_context_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [] and "[CREDIT_CARD_EXPIRATION_" in out[-1], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["Delivery takes 3-20 days."], ["It takes 10-15 minutes."]])
def test_a_range_with_its_unit_stays(texts, kinds):
    assert redacted(texts, kinds)[-1] == texts[-1]


# An hour heard as its homophone before its minutes and a day's part (tuning's negatives, base and tiny.en over
# mu-law: "The meeting is at free 30 in the afternoon." masked in 5 of its decodes) where nothing says a secret.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The meeting is at free 30 in the afternoon.", "The meeting's at for 15 tomorrow.",
                                  "We land at free 45 pm."])
def test_an_hour_heard_as_its_homophone_before_its_minutes_and_a_days_part_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My card was declined at free 30 yesterday."],
                                   ["My card number is 4111 1111", "at free 30 in the afternoon."],
                                   ["The meeting is at free 3011 in the afternoon."]])
def test_a_homophone_and_digits_where_a_secret_may_be_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# A unit's word after the number's sentence ended is no unit of it (held-out-38, base in packs: "Area code 415." then
# "Minute 6-2-4-9-9-1." for "five five five, ...", the 415 kept as 415 minutes).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["Area code 415.", "Minute 6-2-4-9-9-1."], ["My social is 302.", "Days 14 7229."],
                                   ["Area code 415. Minutes 555 0198."]])
def test_a_unit_after_the_numbers_sentence_ended_is_none_of_it(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I waited 40 minutes.", "It took 3 days, maybe.", "We met at 10. Minutes later he left."])
def test_a_unit_in_the_numbers_sentence_still_makes_it_an_amount(text, kinds):
    assert redacted([text], kinds) == [text]


# "o'clock" makes a time only of an hour, 1-12 (held-out-36, tiny.en over mu-law: "So that's time for two run three
# three o'clock." for the agent's read-back "So that's five four two one, three three oh eight?", its "three three"
# kept as 33 o'clock).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["So that's time for two run three three o'clock."],
                                   ["My card number is 4111 1111", "1111 40 o'clock."]])
def test_oclock_after_no_hour_is_no_time(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It's at three o'clock.", "Come at 10 o'clock.", "Tickets for the eight o'clock show.",
                                  "The twelve o'clock news."])
def test_oclock_after_an_hour_is_a_time(text, kinds):
    assert redacted([text], kinds) == [text]


# A country code said after "plus", its digit heard as a homophone, where a phone's keyword holds (held-out-47, base
# in packs over mu-law: "Plus, for the Samron Samron Double Law," for "plus four four, seven seven double oh," after
# "You can reach me on my mobile,": the "for" in clear beside the number's rest).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["You can reach beyond my mobile.", "Plus, for the Samron Samron Double Law,", "9123."],
                                   ["My phone number is plus won, two one two,", "555 0198."],
                                   ["Call me on plus for four, 7700 900123."]])
def test_a_country_code_heard_as_a_homophone_after_plus_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    # ("Double Law": "double oh" with its digit misheard says no digit of its own.)
    assert [w for w in in_clear(out) if w != "double"] == [] and homophones_beside(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Plus, for the record, I paid.", "Plus, to be fair, it works."])
def test_plus_where_no_phone_is_said_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# A number below zero (held-out-47's "The temperature dropped to minus four." masked in its own words and every
# decode, "to" with it) where nothing says a secret; a secret's group is never negative.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The temperature dropped to minus four.", "The temperature dropped to minus 4.",
                                  "It was minus 12 last night.", "The score is negative three."])
def test_a_number_below_zero_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My card number is 4111 1111", "minus 4."], ["My social is minus four two one."],
                                   ["The temperature dropped to minus 4 4 1 9."]])
def test_digits_after_minus_where_a_secret_may_be_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# A bus's, a room's or a platform's number said "the number nine" after its noun and a verb (held-out-47's "Our bus
# was the number nine." masked in its own words and every decode).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Our bus was the number nine.", "Our bus was the number 9.", "The bus number 9.",
                                  "Our room is number 12.", "My flight was the number 229."])
def test_a_number_its_noun_names_after_a_verb_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My card number is 4111 1111", "our bus was the number 1111."],
                                   ["Our bus was the number 4111 1111 1111 1111."]])
def test_a_card_after_a_named_number_is_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# "quarter to" an hour with its "to" read as a digit (held-out-47's "Dinner is at quarter to eight.", tiny.en in packs
# over mu-law: "Dinner in at quarter-8." / base "then reset quarter to 8." masked as 28).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Dinner is at quarter to 8.", "Then reset quarter to 8.", "It's twenty to 9.",
                                  "We leave at ten to 11."])
def test_an_hour_after_quarter_to_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My card number is 4111 1111", "quarter to 81."], ["Quarter to 8 4 4 1."]])
def test_digits_after_quarter_to_that_are_no_hour_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# "quarter to eight" written as one word with its hour (held-out-47, tiny.en in packs over mu-law: "Dinner in at
# quarter-8." masked).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Dinner in at quarter-8.", "We start at half-9 tomorrow."])
def test_a_quarter_or_half_glued_to_its_hour_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My card number is 4111 1111", "quarter-8 1111."], ["Dinner at quarter-84."]])
def test_a_quarter_glued_to_digits_that_are_no_hour_is_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# The word after "double" or "triple" is the digit it repeats, whatever the recogniser made of it (held-out-23, tiny.en
# in packs over mu-law: "... triple tow one" for a card's "triple two one", "triple" in clear before the number).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["The fixed engine is from the front, or normal for a moment, triple tow one",
                                    "and long, 8.3, 6.94,", "malle broken, 29,", "the 3-digit code in 7.25."],
                                   ["My card number is 4111, double tree 1111."]])
def test_the_word_after_double_or_triple_goes_with_the_number(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


# A price after its noun and "says" (held-out-5's negative "The bill says a hundred and twenty.", written "The bill
# says 100 and 20." by tiny.en and masked whole), the hundred and its rest written apart.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The bill says 100 and 20.", "The bill is 100 and 20.", "The total said 120.",
                                  "The balance shows 300 and 45."])
def test_a_price_its_noun_says_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["I have 500 and 20."], ["My card number is 4111 1111", "1111 100 and 20."],
                                   ["The bill says 4111 1111 1111 1111."], ["It's 999 and 20."]])
def test_digits_after_a_hundred_and_where_a_secret_may_be_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# A house's or a bus's number said as words after "number" (held-out-45's "We live at number twenty two." masked in its
# own words: "number" and a word announced digits read).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["We live at number twenty two.", "Our bus was the number twenty two.",
                                  "The house is number forty one."])
def test_a_number_its_noun_names_said_as_words_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["We live at number four one one one, one one one one."],
                                   ["Our house number is four one one one one one one one."]])
def test_digits_read_after_a_named_number_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


# A round thousand said as words counting the noun after it (held-out-29's "I walk ten thousand steps a day." masked in
# its own words), and a bus's number said as words between "number" and "bus" (held-out-34's "I got the number forty
# three bus.").
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I walk ten thousand steps a day.", "We sold twenty thousand tickets.",
                                  "I got the number forty three bus.", "Take the number twenty one tram."])
def test_a_round_thousand_or_a_buss_number_said_as_words_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# ... and a round thousand written with its comma, as the recogniser writes "ten thousand" (held-out-29's "I walk ten
# thousand steps a day." as `I walked 10,000 steps a day.`, base and tiny.en, masked in 6 of its decodes).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I walked 10,000 steps a day.", "We have 2,000 customers.",
                                  "We sold 250,000 units."])
def test_a_round_thousand_written_with_its_comma_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My card number is", "10,000 1111 1111 1111."], ["I walked 10,000."],
                                   ["I walked 10000 steps."]])
def test_a_thousand_that_counts_nothing_or_is_written_without_its_comma_is_still_masked(texts, kinds):
    assert written_digits(redacted(texts, kinds)) == []


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["I walk ten thousand four hundred and twelve steps."],
                                   ["I got the number four three one one bus."],
                                   ["My card number is 4111 1111", "twenty one thousand steps."]])
def test_digits_beside_a_round_thousand_or_a_buss_number_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [] and in_clear(out) == [], out


# A game's score after "score" and a verb the recogniser misheard (held-out-19's "The final score was twenty one to
# fourteen.": "The final score run 21 to 14.", base and tiny.en over mu-law, masked).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The final score run 21 to 14.", "The final score 21 to 14.",
                                  "the final score ran 20 to 14."])
def test_a_score_after_score_and_a_misheard_verb_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My credit score run 411 to 1111."], ["My social is 21 to 14, score run 4 to 3 2 1."]])
def test_digits_after_score_that_are_no_score_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# "quid" is a currency (held-out-45's negative "It was about a hundred and fifty quid.", masked in the passage that a
# mask before it opened: "It was about [NUMBER_2] quid.", base and tiny.en).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["It's got 999.", "It was about 150 quid."], ["It cost me fifty quid."],
                                   ["It's got 999.", "That's twenty quid each."]])
def test_an_amount_in_quid_stays(texts, kinds):
    assert redacted(texts, kinds)[-1] == texts[-1]


# A count glued to its noun by a hyphen (held-out-5's negative "It's a three bedroom house." written "It's a 3-bed room
# house." by tiny.en over mu-law, masked), as a duration's is ("a 40-minute drive").
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It's a 3-bed room house.", "It's a 2-bedroom flat.", "We booked a 3-day trip.",
                                  "It's a 5-star hotel."])
def test_a_count_glued_to_its_noun_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["I'm a 3-bed number in 4111."], ["My card number is 4111 1111", "1111 3-bed."],
                                   ["It's a 3-bed room, six nine."]])
def test_a_count_glued_to_a_noun_beside_digits_is_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# A kin's age with its "is" heard as "in" (held-out-5's "My son is fourteen." written "My son in 14." by base and tiny.en
# in packs, masked).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["My son in 14.", "My son in fourteen.", "My daughter in nine."])
def test_a_kins_age_after_is_heard_as_in_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# An expiry written as a price after its month's digit heard as a homophone, in the passage a card's code opened
# (held-out-41, base over mu-law: "Tick Fireball for $29." for "It expires oh four, twenty nine." after "I'm one two."
# for the code "Nine one two.").
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["and the pre-digit on the back.", "I'm one two.", "Tick Fireball for $29."],
                                   ["My card number is 4111 1111 1111 1111.", "It's for $27."]])
def test_an_expiry_written_as_a_price_after_a_homophone_in_a_passage_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [] and homophones_beside(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["It's for $29."], ["I paid for $29 yesterday."], ["It's got 999.", "It went for $250."]])
def test_a_price_after_for_where_no_card_was_read_stays(texts, kinds):
    assert redacted(texts, kinds)[-1] == texts[-1]


# "ending in" announces digits read, its "ending" misheard too (held-out-13, base live: "so that's the car vendor in
# seeks to do for correct." for the agent's read-back "So, the card ending in six two four, correct?"; held-out-5's
# "I'm calling him out to the car window in ...").
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["so that's the car vendor in seeks to do for correct."],
                                   ["It's the account ending in for to free."], ["The car window in six to for."]])
def test_digits_after_ending_in_are_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and homophones_beside(out) == [] and not re.search(r"\b(to|for|free)\b", out[0]), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The window in the kitchen is broken.", "The film had a happy ending in the end."])
def test_ending_in_before_no_digits_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# An expiry said "the end of" its month and its year, a unit heard after the year (held-out-24, base live: "It should
# feel the end of all nine, twenty-three minutes." for "It's good till the end of oh nine, twenty three.": kept as 923
# minutes).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["It should feel the end of all nine, twenty-three minutes."],
                                   ["It runs to the end of oh nine, twenty seven days."]])
def test_an_expiry_after_the_end_of_with_a_unit_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["At the end of the day it took 25 minutes.", "By the end of it, 40 minutes had gone."])
def test_minutes_after_the_end_of_stay(text, kinds):
    assert redacted([text], kinds) == [text]


# A Spanish digit's word alone that ends its phrase is a number's last piece, as an English one is (spanish-2, base
# live: "¿Cuál lo pinto, pinto, seis?" for a card's groups, the "seis" in clear; "Mi número es cinco." was too).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["¿Cuál lo pinto, pinto, seis?"], ["Mi número es cinco."], ["Es el cuatro, y"]])
def test_a_spanish_digit_alone_ending_its_phrase_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Tengo seis hijos.", "Son las seis.", "Nos vemos a la una.", "Quiero uno.",
                                  "Vivo en el piso cuatro.", "Está en la página nueve."])
def test_a_spanish_count_hour_or_named_number_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# A card's year after "the end of", its month garbled, in a card's passage (held-out-46, tiny.en live: "You close to the
# end of all the hours, 22 minutes." for "It runs to the end of oh nine, twenty seven." after the card's groups).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["Can I take the long number on the card?", "Yes, 5 4 1 2, also.", "5, 4, 2, 1, 4, 7,",
                                    "We all ate it last week.", "for the item.",
                                    "You close to the end of all the hours, 22 minutes."],
                                   ["My card number is 4111 1111 1111 1111.", "Good till the end of the year, 28 days."]])
def test_a_cards_year_after_the_end_of_in_a_passage_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# "double"/"triple" glued to the word after it by a hyphen, as the recogniser writes "triple four" (held-out-48, base in
# packs over mu-law: "three triple-frogs." for a Discover card's "two three, triple four, nine," its keyword garbled).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["three triple-frogs."], ["Fix your walk walk. I move through", "three triple-frogs."],
                                   ["Two three, triple-four, nine."], ["five double-eight."]])
def test_double_or_triple_glued_by_a_hyphen_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not re.search(r"(?i)triple|double", " ".join(out)), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It's a double-decker bus.", "We booked a triple-room for three nights.",
                                  "He got a double-double at the cafe."])
def test_double_or_triple_glued_to_a_word_with_no_digit_beside_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# A final that begins with a digit right after a final that ended in a masked number with no pause goes on with
# that number, whatever unit is heard after it (held-out-48, tiny.en live over mu-law: "2 feet while I..." for the
# toll-free number's "two three one nine." after "What is for Bridge Time Time Time" for "One eight hundred, five
# five five,", its keyword garbled).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["I can't wait to talk.", "What is for Bridge Time Time Time", "2 feet while I..."],
                                   ["It's four four one two, five five", "3 miles away."]])
def test_a_digit_going_on_with_a_masked_number_across_finals_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["We drove 200 miles.", "2 miles more to go."], ["It's a long way.", "2 feet of snow fell."]])
def test_a_distance_beginning_a_final_after_no_masked_number_stays(texts, kinds):
    assert redacted(texts, kinds) == texts


# "of birth" heard as "on board" (held-out-48, base live over mu-law: "and your date on board." for the agent's "And
# your date of birth?"; the caller's "The thirtieth of November, eighty four." then kept its day).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["and your date on board.", "The thirtieth of November, eighty four."],
                                   ["and your date on board.", "The 30th of November, 84."]])
def test_a_date_of_birth_after_date_on_board_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and re.search(r"\[DOB_\d+\]", out[1]) and not re.search(r"(?i)thirtieth|30", out[1]), out


# A place's number said "two hundred and twelve" and written "200 and 12" after the noun that names it (held-out-49,
# "It's on page two hundred and twelve.": its 12 masked in 11 of 24 decodes); not where no such noun names it.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It's on page 200 and 12.", "it's on page 200 and 12", "We're in room 300 and 4."])
def test_a_named_number_written_as_its_hundred_and_rest_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["It's 200 and 12."], ["The security page 800 and 85."],
                                   ["My card number is 4111 1111", "page 100 and 11."]])
def test_a_hundred_and_its_rest_no_noun_names_is_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# "birthday" heard as "board" after its possessive, a month after it (held-out-19, tiny.en in packs: "My board is on
# July 4th." for "My birthday is on July fourth.", its day in clear); a board that is one keeps its numbers.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["My board is on July 4th."], ["Her board was on the 3rd of May."]])
def test_a_birthday_heard_as_board_before_a_month_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and re.search(r"\[DOB_\d+\]", out[0]), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["My board meeting is on July 4th.", "The board is on July 4th.",
                                  "Your board is 4 feet long."])
def test_a_board_that_is_one_keeps_its_dates(text, kinds):
    assert redacted([text], kinds) == [text]


# A birthday's day said as an ordinal's word, no year after it: no digit for the number rules to take (found beside
# held-out-19's "My board is on July 4th."); a date with no birth's keyword stays.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("text", ["My birthday is the third of May.", "My birthday is on the third of May.",
                                  "My birthday is May third.", "I was born on the twenty-first of June.",
                                  "Date of birth, the fourth on July."])
def test_a_birthday_with_its_day_said_as_an_ordinal_is_masked(text, kinds):
    out = redacted([text], kinds)[0]
    assert re.search(r"\[DOB_\d+\]", out) and not re.search(r"(?i)third|fourth|twenty-first", out), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["We spoke on the third of May.", "The offer ends May third."])
def test_a_date_said_with_an_ordinal_and_no_birth_keyword_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# An hour said after "half past" or "quarter to" ends a final, and a number begins the next: the time stays, the
# number is judged alone (held-out-42, base over mu-law: "Meet me at half past three." then "620 gone on noon." made
# one number of "3" and "620", the time masked in 2 of 12 decodes).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["Meet me at half past three.", "620 gone on noon."],
                                   ["Meet me at half past three", "120."], ["I'll be there at quarter to six.", "4412."]])
def test_an_hour_said_by_its_clock_words_does_not_go_on_into_the_next_final(texts, kinds):
    out = redacted(texts, kinds)
    assert out[0] == texts[0] and written_digits(out) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My card number is half past 4", "412 4412 4412."], ["half past 3 4 1 2 4 4"]])
def test_digits_after_clock_words_with_no_pause_or_where_a_keyword_holds_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


# A date of birth in Spanish with no year: its day before "de" and its month after "nací" or "mi cumpleaños" (as "I
# was born on the 14th of July" is masked), said in digits, as a number or as "primero"; a date with no birth's
# keyword stays.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("text", ["Nací el 15 de mayo.", "Nací el quince de mayo.", "Nací el tres de mayo.",
                                  "Mi cumpleaños es el 15 de mayo.", "Nací el primero de mayo."])
def test_a_spanish_birthday_with_no_year_is_masked(text, kinds):
    out = redacted([text], kinds)[0]
    assert re.search(r"\[DOB_\d+\]", out) and not re.search(r"(?i)15|quince|tres|primero", out), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["Nos vemos el 3 de mayo.", "Nos vemos el quince de mayo.",
                                  "La reunión es el primero de mayo."])
def test_a_spanish_date_with_no_birth_keyword_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# A date of birth after a secret, its keyword lost, its day an ordinal's word and "of" heard as "on" (held-out-42, base
# over mu-law: "The third on March, [SSN_2]." for "Date of birth, the third of March, nineteen seventy six.", its day
# and month in clear beside the masked year).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"ssn"}])
@pytest.mark.parametrize("texts", [["My social is 1-2-3-4, I'm the 6-7-8-9.", "The third on March, 1976."],
                                   ["My social is 1-2-3-4, I'm the 6-7-8-9.", "The 3rd on March, 1976."]])
def test_a_date_of_birth_with_on_for_of_after_a_secret_is_masked_whole(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and not re.search(r"(?i)third|3rd|march", out[1]), out


# An SSN said as numbers, two of 2 digits back to back and a word heard as a unit after them (held-out-50, base in
# packs: "Total 40 60 minute volume." after "I will need your social security number." for "Two twelve, forty, sixty
# seven eighty nine."; live: "Top round, 40, 62 minute volume."): no quantity is said so, whatever its unit.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["I will need your social security number.", "Total 40 60 minute volume."],
                                   ["or you need no sessions to count it in numbers.", "Top round, 40, 62 minute volume."],
                                   ["It takes forty sixty minutes."], ["sixty seven eighty nine days"]])
def test_numbers_of_two_digits_back_to_back_before_a_unit_are_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert numbers_said(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It took 40 minutes.", "See you at 10 45 am.", "Give me 3 30 minutes.",
                                  "It takes 40 to 60 minutes.", "It was 20 20 hours."])
def test_one_number_or_a_clock_before_a_unit_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# "two two" heard as "total" inside a phone number, after its first groups or a digit's word (held-out-50, base in
# packs: "503-221. Total 1. 40-40." for "Five oh three, two two one, forty forty,"; over mu-law "is the three total
# 1440"): no price follows a number read in groups.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["And a lot better each.", "503-221. Total 1. 40-40.", "Extension Tone."],
                                   ["And a number to reach. So", "is the three total 1440", "extension plan."]])
def test_total_heard_between_groups_of_a_number_prices_nothing(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["We bought three items, total 45 dollars.", "The total was 45 dollars.",
                                  "I ordered three items. Total $45.", "That's 3 items, total 45 dollars."])
def test_a_total_with_its_currency_after_a_count_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["I paid twenty nine ninety nine for it.", "We're a team of fifteen."],
                                   ["It cost forty sixty in the end."], ["It's forty nine ninety nine a month."],
                                   ["It's forty nine ninety nine dollars."]])
def test_a_price_said_in_pairs_stays(texts, kinds):
    assert redacted(texts, kinds) == texts


# A date of birth's day and month said in words right before its year, the year masked as the SSN's (its keyword
# lost, a word between or the year garbled: held-out-42, "Date of birth, the third of March, nineteen seventy six."
# after the SSN, tiny.en: "The third of March, ITC [SSN_2].", "Stay on the third on March, 1977-66.").
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["My social is 123-45-6789.", "The third of March, ITC 1976."],
                                   ["My social is 123-456789.", "Stay on the third on March, 1977-66."]])
def test_a_day_in_words_right_before_a_masked_year_after_an_ssn_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert not re.search(r"(?i)third|1976|1977|66", out[1]), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["My social is 123-45-6789.", "We spoke on the third of March, thanks."],
                                   ["Your order of 4 4 1 2 ships on the third of March."]])
def test_a_date_in_words_with_no_masked_year_right_after_it_stays(texts, kinds):
    out = redacted(texts, kinds)
    assert "third of March" in out[-1], out


# A question for a card's code or expiry: its "for" is the preposition before the card's noun, no digit (held-out-51,
# "And the pin for that card?" masked as `And the pin [CREDIT_CARD_3] that card?` in its own words and in 11 of its
# 12 decodes: "and the pin for net card", "And the beam for that card.").
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["And the pin for that card?"], ["and the pin for net card"],
                                   ["What's the expiry date for your card?"], ["And the beam for dust cards."],
                                   ["Can I have the security code for the account?"],
                                   ["It's triple four, eight, triple one, two.", "That one's for the savings."]])
def test_for_before_the_cards_noun_is_no_digit(texts, kinds):
    assert redacted(texts, kinds)[-1] == texts[-1]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["And the pin for that card?", "Four four card one two."],
                                   ["What's the pin? It's for card 1 2."], ["The pin for 4 card 1 2 3."]])
def test_digits_after_for_and_a_card_word_are_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert not in_clear(out[-1:]), out


# A range of amounts whose unit is said once, after its second number ("between forty and fifty dollars", held-out-51:
# its first number masked in its own words and in 9 of its 12 decodes).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["It's between forty and fifty dollars.", "It's between 40 and $50.",
                                  "It's between 40 and 60 dollars.", "Is it forty or fifty dollars?",
                                  "between 40 and 50 minutes."])
def test_the_first_number_of_a_range_with_its_unit_after_the_second_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My card number is", "4111 and 50 dollars."],
                                   ["It's 4111 or 50 dollars."], ["Between 1234 and 50 dollars."]])
def test_a_long_number_before_and_a_price_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert not re.search(r"4111|1234", " ".join(out)), out


# A day of the month written as an ordinal's digits, alone, where a birth's keyword holds: the day of the date of birth
# asked for, its month and year garbled (held-out-51, "Oh four slash twelve slash nineteen ninety." after "And your date
# of birth?", base in packs over mu-law: "So for last year, on the 19th."; there the question was garbled too, "not on
# the first?", and no rule reads it).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["And your date of birth?", "So for last year, on the 19th."],
                                   ["What's your date of birth?", "The 3rd."], ["My birthday is on the 21st."]])
def test_a_day_alone_after_a_birth_keyword_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert not written_digits(out), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["What is your date of birth?", "It's on file.",
                                    "Okay, thank you very much, that all matches what we have here today.",
                                    "Your payment is due on the 19th."], ["The meeting is on the 3rd."]])
def test_a_day_alone_with_no_birth_keyword_before_it_stays(texts, kinds):
    out = redacted(texts, kinds)
    assert out[-1] == texts[-1], out


# A rating, "N out of M", is no secret's digits, in a passage too (held-out-35 and -41: "I'd give it eight out of ten."
# masked in their own words after a false mask before it opened a passage); in a card's or an SSN's keyword context it
# is masked as any short quantity there is.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["I'm in row twelve, seat nine.", "I'm on version two point one.",
                                    "I'd give it eight out of ten."],
                                   ["Boarding is at gate thirty one.", "I'd give it three out of five."],
                                   ["It's triple four, eight, triple one, two.", "I'd give it 3 out of 5."],
                                   ["Nine out of ten people agree."]])
def test_a_rating_out_of_stays(texts, kinds):
    out = redacted(texts, kinds)
    assert out[-1] == texts[-1], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My card number is", "4111 out of 1111 1111 1111."],
                                   ["My social is one two three, out of, four five six seven."]])
def test_digits_around_out_of_in_a_secret_are_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert not written_digits(out) and not in_clear(out), out


# "one sec", "one moment" asks the agent to wait: no digit, a card's keyword after it or not (held-out-41: "Sorry, one
# sec, it's a Visa." masked as `Sorry, [CREDIT_CARD_1] sec, it's a Visa.` in its own words).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["Sorry, one sec, it's a Visa."], ["One moment, it's a Mastercard."],
                                   ["My card is, one second, let me find it."]])
def test_one_sec_before_a_card_keyword_stays(texts, kinds):
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["My card number is", "one, second group four one one one."],
                                   ["The card is four one one one, one sec, one one one one."]])
def test_a_cards_digits_around_one_sec_are_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert not written_digits(out) and not in_clear(out), out


# "reference is" announces digits as "number is" does (held-out-3, "My reference is oh seven seven two.", tiny.en in
# packs over mu-law: `My reference is O M and M and [NUMBER_1].`, its "oh" in clear).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My reference is O M and M and 72."], ["The reference was oh, um, seven seven two."]])
def test_digits_after_reference_is_are_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert not written_digits(out) and not in_clear(out) and not re.search(r"\bO\b", out[0]), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["The reference is on the letter we sent you.", "Your reference was fine."])
def test_words_after_reference_is_stay(text, kinds):
    assert redacted([text], kinds) == [text]


# A model's year after "its", how the recogniser wrote "It's a" (held-out-51, "It's a twenty nineteen model.", base:
# `its 2019 model.` masked in 2 of its 12 decodes).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["its 2019 model.", "Its 2008 model is fine."])
def test_a_model_year_after_its_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# A card's expiry month and year said "in March twenty twenty nine", written as a day 20 and a year after "in" and its
# month (held-out-6, "It expires in March twenty twenty nine.", base: `in March 20, 2019.`, its keyword lost): no date of
# a call is said "in" its month with a day; it fails closed where cards are redacted.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["in March 20, 2019."], ["It's in June 20, 2028."]])
def test_a_month_and_a_year_said_twenty_twenty_after_in_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert not written_digits(out), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["We spoke on March 20, 2019.", "I paid it in March 12, 2019, I think.",
                                  "It was March 20, 2019."])
def test_a_date_with_its_day_after_on_or_another_day_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# held-out-52's negatives, in its own words and as base and tiny.en wrote them (masked in its own words, 87 of its 140
# decoded amounts masked at its first scoring): a price "plus tax", a menu's option pressed, a game's score right after
# its verb, an age after "turn".
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", [
    "It was nineteen ninety nine plus tax.", "It was 1999 plus tax.", "It was 99 plus tax.", "That's 40 before tax.",
    # (a price in dollars and cents said as two numbers, held-out-54's own words, scored once with the rules before)
    "It was forty two ninety nine plus shipping.", "It was 42 99 plus shipping.", "It's twenty nine ninety nine plus tax.",
    "I pressed two for billing.", "I pressed 2 for willing.", "Press one for sales.", "I pressed 2 for really.",
    "We lost three to one last night.", "We lost 3 to 1 last night.", "They beat us 2 to 1.",
    "My daughter must turn 16.", "She'll turn eighteen in May.",
])
def test_a_price_plus_tax_a_menu_option_a_score_and_an_age_stay(text, kinds):
    assert redacted([text], kinds) == [text]


# ... but digits read so stay masked.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [
    ["It was 4111 1111 plus tax."], ["It was forty one twenty six thirty three plus tax."],
    ["My card number is forty two ninety nine, plus shipping.", "Twenty six, thirty three."],
    ["I pressed 4 1 1 1 for billing."], ["Press 4 for 1 1 1."],
    ["We lost 4 1 1 to 1."], ["My card number is", "turn 4 1 1 1."],
])
def test_digits_read_before_plus_tax_after_press_or_a_games_verb_are_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert not written_digits(out), out


# A count after "last" or "first" where digits are read stays only before a word that names what it counts: the
# recogniser wrote "the last group is nine nine three one" as "the last two design, I'm free one." (base) and "the last 3
# design I'll read one," (tiny.en in packs) in held-out-52's read-back card, their digit in clear.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [
    ["Go ahead with the card number when you're ready", "4 5 3 2 1 8 8 7", "20469913",
     "Let me read that work. 4 times 32 187 2046 9913", "No, the last two design, I'm free one.", "and it expires."],
    ["Go ahead with the cadon that will already", "4532, run it at 7,", "2, 4, 6, 9, 1, 3",
     "Let me read that back 4532, run it at 7, 2, 4, 6, 9, 9, 1, 3", "No, the last 3 design I'll read one,",
     "and the text fires,"],
])
def test_a_count_before_a_word_no_count_of_digits_names_is_masked_where_digits_are_read(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("last", [
    "And the last four digits again?", "No, the last four are 9931.", "The first two of them are right.",
    "The last two groups, please.", "Just the last four.",
])
def test_a_count_of_digits_where_digits_are_read_stays(last, kinds):
    out = redacted(["My card number is 4532 1887 2046 9913.", last], kinds)
    assert out[1].split()[:3] == last.split()[:3], out


# ... and a game's score after its verb stays in the passage a masked number opened, where no keyword holds (held-out-52's
# negatives as base wrote them: "We lost [NUMBER_2] last night." after a false mask); "We lost 4 1 1 to 1." is masked.
@pytest.mark.parametrize("kinds", KINDS)
def test_a_score_after_its_verb_stays_in_a_passage_no_keyword_holds(kinds):
    out = redacted(["It was 4111 1111.", "We lost three to one last night."], kinds)
    assert out == ["It was [NUMBER_1].", "We lost three to one last night."], out
    assert not written_digits(redacted(["It was 4111 1111.", "We lost 4 1 1 to 1."], kinds))


# ... and so is one before "is" or "was", where a count of digits takes "are": "the last bit is one two two six" heard as
# "And the last one is 1-226." (base in packs over mu-law) and "and the last three is 1, 2, 2, 6." (tiny.en in packs),
# held-out-14, their digit in clear.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [
    ["Can I take the card we gave now?", "Yep. Time time. 21.00 .M .N", ".3.884.0.", "And the last one is 1-226."],
    ["Can I take the cat details now?", "Yup, fine fine, 2, 1, no may lose even 3,", "8, 4, 0,",
     "and the last three is 1, 2, 2, 6."],
    ["My card number is 4532 1887 2046 9913.", "No, the last 4 is 9931."],
])
def test_a_count_before_is_is_masked_where_digits_are_read(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_a_count_before_a_function_word_stays_where_digits_are_read(kinds):
    # (held-out-19, base in packs: a sentence's end lost after "the first one")
    out = redacted(["My card number is 4532 1887 2046 9913.", "Chapter 111 the first one The"], kinds)
    assert out[1].endswith("the first one The"), out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "ssn" in kinds])
@pytest.mark.parametrize("text", ["Sorry, the last four hours.", "I'll read the last four letters."])
def test_the_last_four_asked_for_stays_where_digits_are_read(text, kinds):
    # (the agent's "the last four of your social" misheard, after an SSN read: masked by the rule before)
    out = redacted(["My social is 123 45 6789.", text], kinds)
    assert out[1] == text, out


# held-out-54's agent, in its own words and its decodes, scored once with the rules before (2026-11-30): "And the
# three on the back?" (a CVV asked for by its count of digits) and "And the full one, with the dashes?" (an SSN asked
# for again, "one" a pronoun) were masked in the passage of the number read before them.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [
    ["Go ahead with the card whenever you're ready.", "Forty one, twenty six, thirty three, eighty,",
     "fifty five, ten, sixty two, ninety nine.", "Oh three slash twenty eight.", "And the three on the back?",
     "Seven seven one."],
    ["Go ahead with the card whenever you're ready.", "41, 26, 43, 80.", "55, 10, 62, 99.", "for 3-20 days.",
     "and the three on the back.", "771."],
    ["My card number is 4532 1887 2046 9913.", "What are the four on the front?"],
])
def test_a_cvvs_count_of_digits_asked_for_stays(texts, kinds):
    out = redacted(texts, kinds)
    asked = next(n for n, text in enumerate(texts) if " on the " in text)
    assert out[asked] == texts[asked] and in_clear(out[:asked] + out[asked + 1:]) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "ssn" in kinds])
@pytest.mark.parametrize("asked", ["And the full one, with the dashes?", "Can you read the whole one again?",
                                   "Now the other one, please."])
def test_one_after_the_and_an_adjective_is_a_pronoun_where_digits_are_read(asked, kinds):
    out = redacted(["Can I get the last four of the social?", "Sure, eight two oh six.", asked,
                    "Three one two dash four four dash eight two oh six."], kinds)
    assert out[2] == asked and in_clear(out[1:2] + out[3:]) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["My card number is 4532 1887 2046 9913.", "It's the three on the back, 7 7 1."],
                                   ["My card number is 4532 1887 2046 9913.", "The full one. 4532."],
                                   ["My card number is 4532 1887 2046 9913.", "the new one"]])
def test_digits_after_a_count_or_a_pronoun_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [] and "new one" not in out[-1], out


# A zero the recogniser glued with hyphens between words it made of the digits beside it: "I don't even know my
# near-o-tuan." for "The routing number is zero two one, ..." (held-out-54, base over mu-law), "... are re-o-pammon,"
# for "... sorry, oh seven twenty seven." (held-out, tiny.en in packs over mu-law), no keyword heard: masked where
# cards or SSNs are redacted, whatever the context. A name spelled letter by letter is no such word.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds or "ssn" in kinds])
@pytest.mark.parametrize("text", ["I don't even know my near-o-tuan.",
                                  "The next pirate-y, most exwancy-pammon are re-o-pammon, and"])
def test_a_zero_glued_between_garbled_words_is_masked(text, kinds):
    out = redacted([text], kinds)[0]
    assert "-o-" not in out and "[" in out, out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["That's J-O-N-E-S.", "It's spelled B-O-B.", "O-K, thanks.", "It was a knock-out."])
def test_a_word_spelled_with_an_o_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# An agent's prompt for the next digits by their count, held with the digits read after it ("First four?" / "Six oh
# one one.", held-out-32's own words: the count masked with the group it asked for).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [
    ["First four?", "Six oh one one.", "Next four?", "Nought nought nought nine.", "And the rest?",
     "Nine oh one three, nine four two four."],
    ["First four?", "6011.", "Next four?", "0009.", "And the last four?", "9013 9424."],
])
def test_a_count_asked_for_before_the_digits_read_stays(texts, kinds):
    out = redacted(texts, kinds)
    asked = [n for n, text in enumerate(texts) if text.endswith("?")]
    assert [out[n] for n in asked] == [texts[n] for n in asked], out
    assert in_clear([text for n, text in enumerate(out) if n not in asked]) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["My card number is", "four? 6011 0009 9013."], ["First 4? 6011."]])
def test_digits_after_a_question_mark_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [] or written_digits(out) == ["4"], out


# A quantity and a half before what it counts ("I waited two and a half hours."; "It got two, and a half stars.", the
# comma the recogniser's, held-out-30, base in packs: masked, and the passage it opened masked "the 11 o'clock news"
# and "a top 10 hit" after it).
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I waited two and a half hours.", "It got two, and a half stars.",
                                  "It's like two and a half tons.", "We need three and a quarter yards of it.",
                                  "It's got 2 and a half stars."])
def test_a_quantity_and_a_half_before_its_noun_stays(text, kinds):
    assert redacted([text], kinds) == [text]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds or "ssn" in kinds])
@pytest.mark.parametrize("texts", [["It's 4 1 1 and a half hours."], ["My card number is", "forty one, and a half"],
                                   ["It's two and a half."]])
def test_digits_before_and_a_half_that_count_nothing_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [] and not re.search(r"\b(?:two|forty one)\b", " ".join(out)), out


# An age glued to "year-old" is one after a determiner ("a 9-year-old", "my 10-year-old"); alone at a sentence's start
# it is what the recogniser made of other words ("10-year-old. It's 9-0-3." for "Hang on. It's nine oh oh three.", an
# SSN's last four after its keyword misheard, held-out-44, tiny.en over mu-law).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
def test_a_glued_age_with_no_determiner_is_masked(kinds):
    out = redacted(["for my refication, for last, for your soul.", "10-year-old. It's 9-0-3."], kinds)
    assert written_digits(out) == [], out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I have a 9-year-old and a 12-year-old.", "My 10-year-old loves it.",
                                  "Our 3-year-old is sick.", "She's an 8-year-old."])
def test_a_glued_age_after_a_determiner_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# A date of birth said year first, no keyword before it (held-out-55's "Nineteen eighty four, March the ninth.": its
# year masked as a bare number, its day in clear, "[NUMBER_1], March 9th." in 5 of 24 decodes): the date after a
# masked year goes with it; and where a birth's keyword holds, the year before its month is the birth's too ("I was
# born in 1984, March 9th." kept its year).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["and 1984, March 9th."], ["1984, March 9."], ["Nineteen eighty four, March the ninth."],
                                   ["I was born in 1984, March 9th."], ["My date of birth is 1984, March 9th."],
                                   ["My date of birth is nineteen eighty four, March the ninth."],
                                   ["I was born in 1990.", "Nineteen eighty four, March the ninth."],
                                   ["I was born in 1984, March 9th.", "Nineteen eighty four, March the ninth."],
                                   # (the year misheard: base over 16 kHz, held-out-55)
                                   ["and 8884, March 9th."], ["I-884, March 9th,"]])
def test_a_date_after_its_masked_year_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    bare = re.sub(r"\[[A-Z_]+_\d+\]", " ", " ".join(out))
    assert in_clear(out) == [] and not re.search(r"(?i)ninth|nineteen|eighty|9", bare), out


@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("text", ["I called on March 9th, 2024.", "It was March the ninth.", "We met in March, 9 of us."])
def test_a_date_with_no_masked_year_before_it_stays(text, kinds):
    assert redacted([text], kinds) == [text]


# A preposition that ends a question asked with a question's word is no digit ("And how long is it good for?" after a
# card's groups, held-out-55's own words: "good [NUMBER_5]?"); a homophone that ends a reading is still one.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["And how long is it good for?"], ["What's it for?"],
                                   ["My card is 4111 1111 1111 1111.", "And how long is it good for?"],
                                   ["Who is the letter addressed to?"]])
def test_a_preposition_ending_a_question_stays(texts, kinds):
    assert redacted(texts, kinds)[-1] == texts[-1]


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["My card is 4111 1111 1111", "and the last is for?"],
                                   ["The digits on the back aren't I low too."], ["My social ends in two two for."]])
def test_a_homophone_ending_a_reading_is_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert not re.search(r"(?i)\b(for|too|two)\b", out[-1]), out


# ... but not where digits are read right after it: a recording's pack may deal a number's first digit to the question
# before it ("What do we reach for?" / "[PHONE_NUMBER_1] is ..." for "What number can we reach you on?" / "One eight
# hundred, five five five,", held-out-48, base in packs).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["What do we reach for?", "One is for three. Five, five, five.",
                                    "Two, three, what's the eye?"], ["What do we reach for?", "800-555 is 2319."]])
def test_a_homophone_ending_a_question_before_digits_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert "for" not in out[0], out


# An amount's cents said after its currency's word ("Pagué cuarenta y nueve euros con noventa y nueve.", spanish-3's
# own words: its cents masked, and the passage that opened masked "Tengo tres hijos" and "Llamé dos veces" after it);
# digits after a currency's word that no "con" or "and" joins stay masked where a card's context holds.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["Pagué cuarenta y nueve euros con noventa y nueve.", "Tengo tres hijos y un perro.",
                                    "Llamé dos veces esta semana."],
                                   ["Pagué 49 euros con 99."], ["It was twenty dollars and fifty."],
                                   ["Son cinco euros y cincuenta."]])
def test_cents_after_their_currency_stay(texts, kinds):
    assert redacted(texts, kinds) == texts


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
@pytest.mark.parametrize("texts", [["My card number is 4111 1111", "dollars. 1111 1111"],
                                   ["Mi tarjeta es cuatro uno uno uno, uno uno uno uno,", "euros con uno uno uno uno."]])
def test_digits_after_a_currency_in_a_card_are_still_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [] and in_clear(out) == [], out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pci" in kinds])
def test_two_digits_after_a_currency_and_and_in_a_card_are_masked(kinds):
    out = redacted(["My card number is 4111 1111 1111", "dollars and 11."], kinds)
    assert written_digits(out) == [], out


# A code asked for by its count in Spanish ("¿Y los tres de atrás?" after a card's pairs, spanish-3's own words:
# `¿Y los [CREDIT_CARD_2] de atrás?`), as "the three on the back" is.
@pytest.mark.parametrize("kinds", KINDS)
@pytest.mark.parametrize("texts", [["Cincuenta y cuatro, doce, treinta y tres, ochenta,",
                                    "noventa y uno, cero dos, sesenta y seis, cuarenta.", "¿Y los tres de atrás?"],
                                   ["¿Y los cuatro de delante?"], ["Dígame los tres de detrás."]])
def test_a_code_asked_for_by_its_count_in_spanish_stays(texts, kinds):
    assert redacted(texts, kinds)[-1] == texts[-1]


# A digit's word left of a date of birth the recogniser garbled, in the reply to its question ("The circuit does not
# fit in, I take one." / "The Fair Condon, the Perman, I'm the one." for held-out-53's "The second of the tenth, ninety
# one.", in 4 of its 24 decodes): masked as the birth's; "one moment" and a count of digits stay.
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["And your date of birth?", "The circuit does not fit in, I take one."],
                                   ["and your date of birth.", "The Fair Condon, the Perman, I'm the one."],
                                   ["What's your date of birth?", "It's the fifth, nine, something."]])
def test_a_digit_word_in_a_garbled_birth_date_is_masked(texts, kinds):
    out = redacted(texts, kinds)
    assert in_clear(out) == [] and re.search(r"\[DOB_\d+\]", out[-1]), out


@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["And your date of birth?", "Just one moment, please."],
                                   ["And your date of birth?", "Sure, one sec."],
                                   ["Your date of birth, the last two digits of the year?"]])
def test_a_wait_or_a_count_after_a_birth_question_stays(texts, kinds):
    assert redacted(texts, kinds) == texts


# "total" after a group that ends its sentence with "!" is the recogniser's word for a digit, as after "." ("4-9-3!
# Total 1, 40-40!" for "... two two one, forty forty,", held-out-50, base in packs: 5 digits in clear).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if set(kinds) & {"pci", "ssn"}])
@pytest.mark.parametrize("texts", [["4-9-3! Total 1, 40-40!"], ["And a lot better each of!", "4-9-3! Total 1, 40-40!"]])
def test_total_after_a_group_ending_with_an_exclamation_is_no_price(texts, kinds):
    out = redacted(texts, kinds)
    assert written_digits(out) == [], out


# After an account's or a birth's question a wait and a quantity stay (a digit's word in the reply to a birth's
# question is masked only where it counts nothing, test_a_digit_word_in_a_garbled_birth_date_is_masked).
@pytest.mark.parametrize("kinds", [kinds for kinds in KINDS if "pii" in kinds])
@pytest.mark.parametrize("texts", [["What's the account number?", "One moment, please."],
                                   ["Your account number, the last four digits?"], ["My account has two users."],
                                   ["I have a savings account and two cards."],
                                   ["And your date of birth?", "I have two dates on file."]])
def test_a_wait_or_a_count_after_an_account_question_stays(texts, kinds):
    assert redacted(texts, kinds) == texts
