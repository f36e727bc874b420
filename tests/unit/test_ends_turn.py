"""The sentence endpoint's decision (asr_worker.core.ends_turn): which decodes at a pause end a turn."""

import pytest

from asr_worker.core import as_sentence, ends_turn
from asr_worker.engines.base import Hypothesis


def ends(text: str, *, language: str = "en", confidence: float | None = 0.3) -> bool:
    return ends_turn(Hypothesis(text=text, language=language, confidence=confidence), confidence=0.6, short_words=3)


@pytest.mark.parametrize("text", ["Hi.", "Thank you.", "Robert Brown.", "Yes!", "Is it?"])
def test_a_short_sentence_ends_whatever_the_confidence(text):
    assert ends(text)


def test_a_long_sentence_ends_only_where_the_decode_is_sure():
    text = "I would like to check the balance of my account."
    assert not ends(text, confidence=0.5)
    assert ends(text, confidence=0.7)
    assert ends(text, confidence=None)  # an engine that gives no confidence


@pytest.mark.parametrize("text", ["42", "Okay,", "Well,", "Right", "Well...", "Maria", "Sí,"])
def test_a_short_reply_written_without_a_full_stop_ends(text):
    """Whisper writes a lone reply at a pause without a sentence mark: it merged with the next turn."""
    assert ends(text, language="es" if text == "Sí," else "en")


@pytest.mark.parametrize("text", ["I want to", "and so", "My name is", "Okay, so", "Yeah, I", "Well, the",
                                  "Forty-", "Thanks for calling the store", ""])
def test_a_decode_that_leaves_the_phrase_open_does_not_end(text):
    assert not ends(text)


def test_the_open_words_are_the_decodes_language():
    assert not ends("Yo quiero la", language="es")
    assert ends("Yo quiero la", language="en")  # "la" leaves no English phrase open


def test_in_a_language_without_a_word_list_only_a_sentence_mark_ends():
    assert not ends("42", language="de")
    assert not ends("42", language="")
    assert ends("42.", language="de")


def test_in_an_ungated_language_every_sentence_ends_whatever_the_confidence():
    """English lost nothing without the confidence gate, and phone calls' sentences (confidence
    p50 0.64 through μ-law) were held back by it with the other party's replies merged into them."""
    text = "Which may want to do that for the engineer come with it."
    hypothesis = Hypothesis(text=text, language="en", confidence=0.4)
    assert ends_turn(hypothesis, confidence=0.6, short_words=3, ungated=("en",))
    assert not ends_turn(hypothesis, confidence=0.6, short_words=3, ungated=("es",))
    spanish = Hypothesis(text="Me han cobrado dos veces el mismo envío.", language="es", confidence=0.4)
    assert not ends_turn(spanish, confidence=0.6, short_words=3, ungated=("en",))


@pytest.mark.parametrize(("text", "sentence"), [
    ("or be too", "or be too."), ("Okay,", "Okay."), ("Well...", "Well."), ("Hi.", "Hi."), ("Is it?", "Is it?"),
    ("42", "42."), ('He said "yes."', 'He said "yes."'),
])
def test_a_turn_heard_as_context_ends_a_sentence(text, sentence):
    assert as_sentence(text) == sentence
