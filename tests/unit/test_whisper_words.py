"""whisper's words as the engine hands them on: the pieces its alignment split joined back."""

from __future__ import annotations

import pytest

from asr_worker.engines.whisper import join_split_words


def aligned(*pieces: str) -> list[tuple[str, float, float, float]]:
    """``pieces`` as faster-whisper's words: 0.25 s each, probabilities 0.9, 0.8, 0.9, 0.8..."""
    return [(piece, i * 0.25, (i + 1) * 0.25, 0.9 if i % 2 == 0 else 0.8) for i, piece in enumerate(pieces)]


@pytest.mark.parametrize("pieces, words", [
    # tiny.en's "4111 1111 1111 1111" read aloud: the text says 4,111,111,..., the words must too
    # (issue 45: the words' punctuated_word ",111" made transcripts of words read "4 ,111 ,111").
    ((" My", " card", " is", " 4", ",111", ",111", ",111."), ["My", "card", "is", "4,111,111,111."]),
    ((" expires", " 05", "/27."), ["expires", "05/27."]),
    ((" at", " 3", ":30", " pm"), ["at", "3:30", "pm"]),
    ((" $25", ".50"), ["$25.50"]),
    ((" cold", "-hearted"), ["cold-hearted"]),
    ((" at", " 10", " o", "'clock."), ["at", "10", "o'clock."]),
    ((" He", " said", " 'hello'"), ["He", "said", "'hello'"]),  # a quote, said apart
    ((" 123", "-45", "-6789"), ["123-45-6789"]),
    # Not a number's piece: a separator after a word, or a piece said apart (a space before it).
    ((" is", ",111"), ["is", ",111"]),
    ((" 0", " .5", " last"), ["0", ".5", "last"]),
    ((" 4", ",", " 5"), ["4", ",", "5"]),
])
def test_words_say_what_the_text_says(pieces, words):
    assert [w.text for w in join_split_words(aligned(*pieces))] == words


def test_a_joined_number_spans_its_pieces():
    [card] = join_split_words(aligned(" 4", ",111", ",111"))
    assert (card.start, card.end) == (0.0, 0.75)
    assert 0.8 <= card.probability <= 0.9
