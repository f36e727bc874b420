"""Packs of a recording's utterances (asr_worker/packing.py): the layout, the audio, words dealt
back to the utterances, and the splits at sentence ends."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from asr_worker.engines import Word
from asr_worker.packing import (ALONE, SPANNED, UtteranceSpan, beside_surplus, deal_words, join_words, offsets, pack_audio,
                                pack_length, spanned_by_numbers, split_at_sentences, unworded)
from asr_worker.core import ends_sentence

RATE = 100  # samples per second: times read as hundredths


def word(text: str, start: float, end: float, probability: float = 0.5) -> Word:
    return Word(text=text, start=start, end=end, probability=probability)


def test_the_layout_puts_a_gap_between_each_two_utterances():
    assert pack_length([300, 200, 100], gap=50) == 700
    assert pack_length([300], gap=50) == 300
    assert pack_length([], gap=50) == 0
    assert offsets([300, 200, 100], gap=50) == [0, 350, 600]


def test_the_pack_audio_is_the_utterances_with_silence_between_them():
    audio = pack_audio([np.full(3, 16384, np.int16), np.full(2, -16384, np.int16)], gap=2)
    assert audio.dtype == np.float32
    assert audio.tolist() == [0.5, 0.5, 0.5, 0.0, 0.0, -0.5, -0.5]
    assert pack_audio([], gap=2).size == 0


def test_each_word_goes_to_the_utterance_its_midpoint_falls_in_with_its_times_moved_there():
    # Utterances at 0..3 s and 3.5..5.5 s (a 0.5 s gap); the boundary is halfway through the gap.
    words = [word("one", 0.2, 0.6), word("two", 2.9, 3.2), word("three", 3.3, 3.6), word("four", 3.6, 4.0)]
    first, second = deal_words(words, [300, 200], gap=50, rate=RATE)
    assert [w.text for w in first] == ["one", "two"]
    assert [w.text for w in second] == ["three", "four"]
    # Moved to the utterance's start and kept inside it.
    assert (first[1].start, first[1].end) == pytest.approx((2.9, 3.0))
    assert (second[0].start, second[0].end) == pytest.approx((0.0, 0.1))
    assert (second[1].start, second[1].end) == pytest.approx((0.1, 0.5))
    assert second[1].probability == 0.5


def test_words_in_order_never_go_back_to_an_earlier_utterance_and_a_silent_one_gets_none():
    words = [word("a", 0.1, 0.2), word("b", 7.0, 7.2), word("c", 6.9, 7.0)]
    dealt = deal_words(words, [100, 100, 100], gap=100, rate=RATE)
    assert [[w.text for w in ws] for ws in dealt] == [["a"], [], ["b", "c"]]
    assert deal_words(words, [], gap=100, rate=RATE) == []


def test_an_utterance_splits_at_a_pause_after_a_complete_sentence():
    # An utterance at 10 s (session samples 1000..1600) with pauses ending at 12 s and 14 s.
    piece = UtteranceSpan(start=1000, samples=600, pauses=(1200, 1400))
    words = [word("Hi.", 0.1, 0.5), word("Thanks", 2.2, 2.6), word("for", 2.6, 2.8),
             word("calling", 4.2, 4.8), word("us.", 4.8, 5.2)]
    segments = split_at_sentences(piece, words, rate=RATE, ends_sentence=ends_sentence)
    assert [(s.start, s.end, s.text, s.split) for s in segments] == [
        (1000, 1200, "Hi.", True),
        (1200, 1600, "Thanks for calling us.", False),  # "Thanks for" ends no sentence at 14 s
    ]
    # The second segment's words are timed from its own start.
    assert segments[1].words[0].start == pytest.approx(0.2)
    assert segments[1].confidence == pytest.approx(0.5)


def test_a_pause_with_no_words_before_it_or_at_the_end_does_not_split():
    piece = UtteranceSpan(start=0, samples=500, pauses=(100, 500))
    words = [word("Done.", 2.0, 2.5)]
    segments = split_at_sentences(piece, words, rate=RATE, ends_sentence=ends_sentence)
    assert [(s.start, s.end, s.text, s.split) for s in segments] == [(0, 500, "Done.", False)]


def test_an_utterance_without_words_is_one_empty_segment():
    segments = split_at_sentences(UtteranceSpan(start=0, samples=300, pauses=(100,)), [], rate=RATE,
                                  ends_sentence=ends_sentence)
    assert [(s.start, s.end, s.words, s.confidence) for s in segments] == [(0, 300, (), None)]


def test_words_are_joined_with_spaces_except_in_languages_written_without():
    words = [word("Hello", 0.0, 0.1), word("there.", 0.1, 0.2)]
    assert join_words(words) == join_words(words, language="en") == "Hello there."
    assert join_words([word("你好", 0.0, 0.1), word("世界。", 0.1, 0.2)], language="zh") == "你好世界。"


def test_deal_spans_clips_a_cut_loop_to_the_utterances_it_overlaps():
    """Where the engine cut a loop out of a pack: each utterance gets the part of it inside it,
    in seconds from its own start; one the span misses gets none."""
    from asr_worker.packing import deal_spans

    lengths, gap, rate = [2 * 16000, 3 * 16000, 16000], 16000 // 2, 16000  # at 0, 2.5 and 6 s
    assert deal_spans([(1.5, 3.0)], lengths, gap=gap, rate=rate) == [[(1.5, 2.0)], [(0.0, 0.5)], []]
    assert deal_spans([(6.5, 9.0)], lengths, gap=gap, rate=rate) == [[], [], [(0.5, 1.0)]]
    assert deal_spans([], lengths, gap=gap, rate=rate) == [[], [], []]


# Three utterances of 1 s, 2 s and 1 s, 0.5 s between each two, at 10 samples a second:
# in the pack 0-1, 1.5-3.5 and 4-5 s.
SPAN = dict(lengths=[10, 20, 10], gap=5, rate=10)


def test_a_number_written_as_one_word_across_utterances_spans_those_it_covers():
    """The pack wrote a card number read in three groups as one word, timed over the three
    utterances: it is dealt to the middle one, and the other two are spanned."""
    number = Word("40128888888888881", 0.2, 4.9, 0.8)
    assert deal_words([number], **SPAN)[1]  # its midpoint, 2.55 s
    assert spanned_by_numbers([number], **SPAN) == [True, True, True]


def test_a_number_spans_an_utterance_only_over_half_of_it():
    """A number that reaches 0.4 s (40 %) into the next utterance does not span it; 0.6 s does."""
    assert spanned_by_numbers([Word("4012", 0.0, 4.4, 0.9)], **SPAN)[2] is False
    assert spanned_by_numbers([Word("4012", 0.0, 4.6, 0.9)], **SPAN)[2] is True
    # Several numbers add up: 0.3 s and 0.3 s of the last utterance.
    two = [Word("4012", 3.0, 4.3, 0.9), Word("8888", 4.3, 4.6, 0.9)]
    assert spanned_by_numbers(two, **SPAN)[2] is True


def test_only_numbers_span():
    """Whisper's alignment may stretch an ordinary last word over the audio after it: that is no
    speech written, and the utterance under it is still to be decoded alone."""
    stretched = Word("end.", 3.0, 5.0, 0.4)
    assert spanned_by_numbers([stretched], **SPAN) == [False, False, False]
    assert spanned_by_numbers([replace(stretched, text="3-1")], **SPAN) == [False, False, True]


def test_what_becomes_of_an_utterance_with_no_words():
    """Words or a cut loop: its finals as dealt; none and spanned: nothing more; none: decoded alone."""
    word = Word("yes", 0.0, 0.5, 0.9)
    fates = unworded([[word], [], [], [], [word]], [[], [(0.1, 0.2)], [], [], []], [False, False, True, False, True])
    assert fates == ["", "", SPANNED, ALONE, ""]


def test_an_utterance_beside_a_final_with_more_digits_than_its_audio_could_hold_is_covered():
    """tiny.en wrote "four two four two." (1.6 s) and the group after it as ``4242 4242``, timed
    inside the first: 8 digits in 1.6 s (over 4 a second) hold the next group's, and the
    utterance after it (no words) is covered; 4 digits there would not be."""
    group = [Word("4242", 0.1, 0.7, 0.9), Word("4242", 0.8, 1.5, 0.9)]
    dealt = [[Word("4111", 0.1, 1.4, 0.9)], group, [], [], [Word("Thanks.", 0.1, 0.5, 0.9)]]
    lengths = [16, 16, 16, 16, 16]
    assert beside_surplus(dealt, lengths, rate=10) == [True, False, True, True, True]
    dealt[1] = group[:1]
    assert beside_surplus(dealt, lengths, rate=10) == [False, False, False, False, False]
    # Before or after: the nearest with words on either side.
    assert beside_surplus([[], [], group], [16, 16, 16], rate=10) == [True, True, False]
