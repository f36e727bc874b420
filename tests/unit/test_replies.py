"""A short reply inside a final is parted from the sentence beside it (asr_worker/replies.py)."""

import numpy as np

from asr_worker.replies import MIN_GAP, gaps, sentences, split_reply

SR = 16_000


def tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (level * 32767 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.int16)


def call(*parts: float) -> np.ndarray:
    """Speech and silence by turns, from silence: ``call(0.3, 0.5, 0.3, 2.0, 0.2)``."""
    return np.concatenate([quiet(s) if i % 2 == 0 else tone(s) for i, s in enumerate(parts)])


def test_sentences_part_after_a_mark_before_a_capital():
    assert sentences("42. Thanks for calling the store.") == ["42.", "Thanks for calling the store."]
    assert sentences("Hi! ¿Cómo está?") == ["Hi!", "¿Cómo está?"]
    assert sentences("Thanks for contacting the store.") == ["Thanks for contacting the store."]


def test_a_title_or_a_lower_case_word_after_a_stop_parts_no_sentence():
    assert sentences("Mr. Brown is here.") == ["Mr. Brown is here."]
    assert sentences("It costs 3.50 today.") == ["It costs 3.50 today."]
    assert sentences("Thanks. for calling") == ["Thanks. for calling"]


def test_gaps_are_silences_between_speech_no_shorter_than_min_gap():
    pcm = call(0.3, 0.5, 0.32, 1.0, 0.05, 1.0, 0.4)
    found = gaps(pcm)
    assert len(found) == 1  # the 0.05 s catch is none, nor the silence at either end
    first, end = found[0]
    assert abs(first - int(0.8 * SR)) <= 320 and abs(end - int(1.12 * SR)) <= 320
    assert end - first >= MIN_GAP


def test_a_reply_answered_within_the_pause_is_parted_in_its_gap():
    """"Forty two." then the other party 0.32 s later: no VAD pause, one decode of both."""
    pcm = call(0.3, 0.6, 0.32, 2.5, 0.2)
    split = split_reply("42. Could you tell me how many items are in the order?", pcm)
    assert split is not None
    assert split.before == "42." and split.after == "Could you tell me how many items are in the order?"
    assert int(0.9 * SR) < split.at < int(1.22 * SR)


def test_a_reply_after_a_sentence_is_parted_too():
    pcm = call(0.3, 2.5, 0.3, 0.5, 0.3)
    split = split_reply("Can I have the name on the account? David.", pcm)
    assert split is not None and split.after == "David." and split.before.endswith("account?")
    assert int(2.8 * SR) < split.at < int(3.1 * SR)


def test_one_sentence_is_never_parted_whatever_its_pauses():
    """"Thanks for contacting the store." with a 0.16 s catch after "Thanks" (Genesys' suite)."""
    pcm = call(0.3, 0.4, 0.16, 1.6, 0.2)
    assert split_reply("Thanks for contacting the store.", pcm) is None


def test_two_long_sentences_are_left_to_the_endpoint():
    pcm = call(0.3, 2.0, 0.3, 2.0, 0.2)
    assert split_reply("I have updated the address for you. Is there anything else I can help with?", pcm) is None


def test_no_gap_where_the_reply_could_end_no_split():
    """Sentences run together ("Okay. So what I need is ...") are not parted anywhere else."""
    assert split_reply("Okay. So what I need is the account number.", call(0.3, 2.5, 0.2)) is None
    # A gap too far on for a one-word reply (a pause inside the next sentence).
    assert split_reply("Yes. I would like to check, the balance of my account.", call(0.3, 1.9, 0.3, 1.0, 0.2)) is None


def test_the_longest_gap_near_the_reply_is_the_turn():
    pcm = call(0.3, 0.3, 0.13, 0.3, 0.35, 2.0, 0.2)  # "Robert ... Brown." then the next turn
    split = split_reply("Robert Brown. Thanks for calling the store.", pcm)
    assert split is not None and int(1.03 * SR) < split.at < int(1.38 * SR)


def test_the_same_text_and_audio_split_the_same():
    pcm = call(0.3, 0.6, 0.32, 2.5, 0.2)
    text = "42. Could you tell me how many items are in the order?"
    assert split_reply(text, pcm) == split_reply(text, pcm.copy())
