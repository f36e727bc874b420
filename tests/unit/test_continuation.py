"""The rest of an utterance after an early final: the earlier pieces kept, the prefix taken back off."""

from __future__ import annotations

import numpy as np

from asr_worker.continuation import Piece, continued, joined, kept
from asr_worker.engines import Hypothesis, Word

SR = 16_000


def piece(seconds: float, text: str) -> Piece:
    return Piece(np.full(int(seconds * SR), 1000, np.int16), text)


def tokenize(text: str) -> list[int]:
    return [len(word) for word in text.split()]


def test_kept_takes_the_latest_whole_pieces_that_fit_with_the_rest():
    pieces = (piece(8, "One."), piece(6, "Two."), piece(5, "Three."))
    assert [p.text for p in kept(pieces, rest=3 * SR, max_samples=20 * SR)] == ["Two.", "Three."]
    assert [p.text for p in kept(pieces, rest=0, max_samples=20 * SR)] == ["One.", "Two.", "Three."]
    assert kept(pieces, rest=16 * SR, max_samples=20 * SR) == ()  # no room for the last piece
    # A piece without text (no final words) cannot be a prefix: nothing before it is kept either.
    assert [p.text for p in kept((piece(1, "One."), piece(1, ""), piece(1, "Three.")), rest=0)] == ["Three."]


def test_joined_is_the_pieces_audio_as_floats_and_their_text():
    audio, text = joined((piece(1, " Hello. "), piece(0.5, "It is 773.")))
    assert audio.dtype == np.float32 and len(audio) == int(1.5 * SR) and abs(audio[0] - 1000 / 32768) < 1e-6
    assert text == "Hello. It is 773."


def test_continued_keeps_the_text_and_words_after_the_prefix_timed_from_the_rest():
    words = (Word("Could", 0.1, 0.3, 0.9), Word("you?", 0.3, 0.6, 0.9), Word("It", 1.3, 1.4, 0.6),
             Word("is", 1.4, 1.5, 0.8), Word("773.", 1.5, 2.2, 0.7))
    hypothesis = Hypothesis(text="Could you? It is 773.", language="en", tokens=9, words=words, confidence=0.8,
                            lost=((0.2, 0.5), (1.4, 2.0)))
    rest = continued(hypothesis, prefix="Could you?", offset=1.0, tokenize=tokenize)
    assert rest is not None
    assert rest.text == "It is 773." and rest.token_ids == (2, 2, 4) and rest.tokens == 3
    assert [(w.text, round(w.start, 2), round(w.end, 2)) for w in rest.words] == [
        ("It", 0.3, 0.4), ("is", 0.4, 0.5), ("773.", 0.5, 1.2)]
    assert abs(rest.confidence - 0.7) < 1e-9 and not rest.no_speech
    assert [(round(a, 2), round(b, 2)) for a, b in rest.lost] == [(0.4, 1.0)]  # the span within the rest


def test_continued_counts_the_prefix_words_by_their_letters_whatever_the_spacing():
    words = (Word("你好。", 0.0, 0.5, 0.9), Word("谢谢", 1.2, 1.5, 0.8))  # no spaces between words
    rest = continued(Hypothesis(text="你好。谢谢", words=words), prefix="你好。", offset=1.0, tokenize=tokenize)
    assert rest is not None and rest.text == "谢谢" and [w.text for w in rest.words] == ["谢谢"]


def test_continued_is_none_where_the_engine_did_not_write_the_prefix_and_empty_is_no_speech():
    hypothesis = Hypothesis(text="Could we? It is 773.")
    assert continued(hypothesis, prefix="Could you?", offset=1.0, tokenize=tokenize) is None
    nothing = continued(Hypothesis(text="Could you?"), prefix="Could you?", offset=1.0, tokenize=tokenize)
    assert nothing is not None and nothing.text == "" and nothing.no_speech and nothing.token_ids == ()
