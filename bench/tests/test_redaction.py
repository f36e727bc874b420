"""bench/redaction.py's per-entity scoring: which pieces of a call are one entity, what of it is in
clear, and when it counts as redacted (a recording's pack may write a number read in groups as one
token in one utterance, leaving its other pieces with no final of their own)."""

from __future__ import annotations

import pytest

from bench.redaction import clear_digits, entities, entity_score, leaks, plain_line, plain_words
from tests.kit.redaction import CALLS, SETS, CallPiece

CALL = dict(CALLS)


def test_a_number_read_in_groups_is_one_entity_with_its_keyword_around_it() -> None:
    (card,) = entities(CALL["card-groups"])
    assert card.members == (1, 2, 3, 4)
    assert card.stretch == range(0, 5)  # "My card number is" too: a pack may deal the number there
    (ssn,) = entities(CALL["ssn-groups"])
    assert ssn.members == (1, 2, 3)


def test_cards_read_one_after_another_are_entities_of_their_own() -> None:
    found = entities(CALL["card-runs"])
    assert [e.members for e in found] == [(0,), (1,), (2,), (3,)]
    assert [e.stretch for e in found] == [range(0, 1), range(1, 2), range(2, 3), range(3, 4)]
    assert [e.members for e in entities(CALL["card-details"])] == [(0,), (1,), (2,)]


def test_negatives_are_no_entities() -> None:
    assert entities(CALL["negatives"]) == []


@pytest.mark.parametrize("text, digits", [
    ("The security code is M and 3-1.", 2),  # base's CVV "seven three one": 3 and 1 in clear
    ("My credit card expires [CREDIT_CARD_EXPIRATION_1] 7.", 1),
    ("four one one one.", 4),  # spoken digits are digits
    ("Meem4 [CREDIT_CARD_1]", 1),  # a digit in a word no rule reads as a number
    ("[CVV_1].", 0),
    ("", 0),
    # Every spelling of a digit is a leaked digit, alone too: a number word, "oh", a homophone.
    ("I want this one.", 1),
    ("[CREDIT_CARD_1] four.", 1),
    ("My social info for [SSN_1]", 1),
    ("Double time, too.", 1),
    ("oh [SSN_1] ate", 2),
    ("I won it", 1),
    ("double five", 2),
    ("[CREDIT_CARD_1] cuatro", 1),
])
def test_clear_digits(text: str, digits: int) -> None:
    assert clear_digits(text) == digits


def test_a_word_the_script_says_as_a_word_is_no_digit() -> None:
    plain = plain_words([CallPiece("I would like to pay for this one.")])
    assert {"to", "for", "one"} <= plain
    assert clear_digits("I would like to pay for this one.", plain=plain) == 0
    assert clear_digits("I would like to pay for this one, and 4 too.", plain=plain) == 2
    # "for" where the script says "four" as a word ("the last four are"): said, no digit.
    assert clear_digits("Sorry, the rest for us.", plain=plain_words([CallPiece("Sorry, the last four are")])) == 0
    # A number word of a number the script reads is not plain: "four" of "four one one one".
    assert "four" not in plain_words([CallPiece("My card is four one one one.")])


def test_a_dates_day_said_as_an_ordinal_counts_its_digits() -> None:
    # (A date of birth said in words: "the fourteenth of July" in clear is two of its digits.)
    born = plain_words([CallPiece("I was born on the fourteenth of July, nineteen eighty.")])
    assert "fourteenth" not in born
    assert clear_digits("I was born on the fourteenth of July, [DOB_1].", plain=born) == 2
    assert clear_digits("My birthday is July third.") == 1
    assert clear_digits("It's the twenty-first on June.") == 2
    # An ordinal with no month beside it counts nothing ("the first three are", said as words by the script).
    assert clear_digits("The first one is fine.") == 1  # ("one": a digit's word)
    assert clear_digits("The first time.") == 0


def score(call: str, texts: list[str], n: int = 0) -> tuple[bool, int]:
    pieces = CALL[call]
    return entity_score(pieces, entities(pieces)[n], texts)


def test_a_number_the_pack_wrote_in_one_utterance_is_redacted_whole() -> None:
    # base over en-us 16 kHz, card-words as a recording: the pack wrote "40128888888888881" in one
    # utterance; the other pieces have no final of their own.
    assert score("card-words", ["My card number is", "[CREDIT_CARD_1].", "", "", ""]) == (True, 0)


def test_a_digit_in_clear_anywhere_in_the_stretch_is_a_leak() -> None:
    assert score("card-words", ["My card number is 4", "[CREDIT_CARD_1].", "", "", ""]) == (False, 1)
    assert score("card-groups", ["My card number is", "[CREDIT_CARD_1]", "[CREDIT_CARD_1]", "[CREDIT_CARD_1]",
                                 "[CREDIT_CARD_1] 2"]) == (False, 1)


def test_a_piece_written_as_words_is_not_covered() -> None:
    # "eight eight eight eight." as "Hey, hey": no digit leaks, but the number is not all redacted.
    assert score("card-words", ["My card number is", "[CREDIT_CARD_1]", "Hey, hey", "[CREDIT_CARD_1]",
                                "[CREDIT_CARD_1]"]) == (False, 0)


def test_no_placeholder_is_no_redaction() -> None:
    assert score("card-words", ["My card number is", "", "", "", ""]) == (False, 0)


def test_a_name_whose_words_survive_is_not_redacted() -> None:
    names = CALL["names"]
    texts = ["This is [NAME_1] calling about my bill.", *[""] * (len(names) - 1)]
    assert entity_score(names, entities(names)[0], texts) == (True, 0)
    texts[0] = "This is [NAME_1] Garcia calling about my bill."
    assert entity_score(names, entities(names)[0], texts) == (False, 0)


def test_a_homophone_left_next_to_no_digit_is_a_leak() -> None:
    # tiny.en's "My social info for 2, 7, 7" with the digits masked but "for" (the SSN's 4) left.
    ssn = CALL["ssn-everyday"]
    assert score("ssn-everyday", ["My social info for [SSN_1].", "[SSN_2]."]) == (False, 1)
    assert leaks(ssn[0], "My social info for [SSN_1].")
    assert not leaks(ssn[0], "My social info [SSN_1].")
    # A lone group word, "oh", "too" in the stretch of a card read in groups.
    assert score("card-no-keyword", ["Okay, here it is.", "[CREDIT_CARD_1]", "[CREDIT_CARD_1] too.",
                                     "Oh, [CREDIT_CARD_1]", "[CREDIT_CARD_1] nine."]) == (False, 3)


def test_a_lone_digit_the_script_says_as_a_word_is_no_leak() -> None:
    # tiny.en, en-gb (held-out): "Sorry, the last four are" written "Sorry, the last 4 hours.": the 4 is
    # the script's word "four", no digit of the SSN; a digit the script does not say as a word is one.
    assert clear_digits("Sorry, the last 4 hours.", plain=frozenset({"sorry", "the", "last", "four", "are"})) == 0
    assert clear_digits("Sorry, the last 4 hours.", plain=frozenset({"sorry", "the", "last", "are"})) == 1
    assert clear_digits("Sorry, the last 44 hours.", plain=frozenset({"four"})) == 2


def test_the_count_after_last_that_the_script_says_is_no_digit() -> None:
    # held-out-46, base over en-029+Jacky: "And the last four of your social, please." written "And the last one on
    # your social please.": the agent's count heard as another, no digit of the SSN; where the script says no "last"
    # and a count, that "one" is one.
    asked = plain_words([CallPiece("And the last four of your social, please.")])
    assert clear_digits("And the last one on your social please.", plain=asked) == 0
    assert clear_digits("And the last one on your social please, 4 7.", plain=asked) == 2
    assert clear_digits("And the last one on your social please.", plain=plain_words([CallPiece("And your social.")])) == 1


def test_every_call_of_every_set_has_a_name_of_its_own_and_something_to_score() -> None:
    # (The decodes' cache is keyed by the call's name: a name in two sets would read the other's.)
    names = [name for calls in SETS.values() for name, _ in calls]
    assert len(names) == len(set(names))
    for calls in SETS.values():
        for name, pieces in calls:
            assert any(piece.entity for piece in pieces), name
    assert not set(dict(SETS["held-out"])) & set(dict(CALLS))
    assert not set(dict(SETS["held-out-2"])) & (set(dict(CALLS)) | set(dict(SETS["held-out"])))
    assert not set(dict(SETS["held-out-3"])) & (set(dict(CALLS)) | set(dict(SETS["held-out"]))
                                                 | set(dict(SETS["held-out-2"])))
    assert not set(dict(SETS["held-out-4"])) & (set(dict(CALLS)) | set(dict(SETS["held-out"]))
                                                 | set(dict(SETS["held-out-2"])) | set(dict(SETS["held-out-3"])))
    assert not set(dict(SETS["held-out-5"])) & (set(dict(CALLS)) | set(dict(SETS["held-out"]))
                                                 | set(dict(SETS["held-out-2"])) | set(dict(SETS["held-out-3"]))
                                                 | set(dict(SETS["held-out-4"])))


def test_a_soundalike_in_a_piece_that_reads_no_digit_is_no_leak() -> None:
    # base over en-us 16 kHz wrote "My car to home is" for "My cart numb is": that "to" says no digit.
    texts = ["My car to home is", "[NUMBER_1]", "[NUMBER_1]", "[NUMBER_1]", "[NUMBER_1]"]
    assert score("card-misheard", texts) == (True, 0)
    assert score("card-misheard", ["My car to Hermes.", *texts[1:]]) == (True, 0)
    # ... but a digit written there, a digit's own word, or a soundalike at its end (where a pack may
    # deal the number's first word) is.
    assert score("card-misheard", ["My car 2 home is", *texts[1:]]) == (False, 1)
    assert score("card-misheard", ["My car two home is", *texts[1:]]) == (False, 1)
    assert score("card-misheard", ["My car home is to", *texts[1:]]) == (False, 1)
    # In a piece that reads digits, a soundalike anywhere is counted.
    assert score("ssn-correction", ["My DOS shall in no [SSN_1], [SSN_2] time."]) == (False, 1)


def test_a_plain_line_reads_no_number() -> None:
    # (digits the script reads with no label are no line of no number: "Okay. Six two one." masked is no false mask)
    assert plain_line(CallPiece("Three digits on the back?"))
    assert plain_line(CallPiece("That one's for the savings."))
    assert not plain_line(CallPiece("Okay. Six two one."))
    assert not plain_line(CallPiece("My card number is four one one one, no wait."))
    assert not plain_line(CallPiece("It's twenty past four.", label="time", entity="time"))


def test_a_lone_digit_the_spanish_script_says_as_a_word_is_no_leak() -> None:
    # spanish-2, base over es-419+f3: "Los tres de atrás son dos cero nueve." written "Los 3 de la razón los se on
    # huele.": the 3 is the script's count "tres", no digit of the code; a 2 would be one.
    said = plain_words([CallPiece("Los tres de atrás son dos cero nueve.")])
    assert clear_digits("Los 3 de la razón los se on huele.", plain=said) == 0
    assert clear_digits("Los 3 de la razón, 2.", plain=said) == 1
