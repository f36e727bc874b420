"""A short reply inside a final is parted from the sentence beside it (asr_worker/replies.py)."""

import numpy as np

from asr_worker.replies import MIN_GAP, Part, gaps, sentences, split_replies

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


def texts(parts: list[Part]) -> list[str]:
    return [part.text for part in parts]


def test_a_reply_answered_within_the_pause_is_parted_in_its_gap():
    """"Forty two." then the other party 0.32 s later: no VAD pause, one decode of both."""
    pcm = call(0.3, 0.6, 0.32, 2.5, 0.2)
    reply, question = split_replies("42. Could you tell me how many items are in the order?", pcm)
    assert (reply.text, question.text) == ("42.", "Could you tell me how many items are in the order?")
    assert reply.at == 0 and int(0.9 * SR) < question.at < int(1.22 * SR)


def test_a_reply_after_a_sentence_is_parted_too():
    pcm = call(0.3, 2.5, 0.3, 0.5, 0.3)
    question, reply = split_replies("Can I have the name on the account? David.", pcm)
    assert reply.text == "David." and question.text.endswith("account?")
    assert int(2.8 * SR) < reply.at < int(3.1 * SR)


def test_a_reply_between_two_sentences_is_parted_at_the_gaps_around_it():
    """"... how can I help you today? Robert Brown. Your refund will be ..." (base, one channel)."""
    pcm = call(0.3, 3.6, 0.35, 0.8, 0.3, 3.4, 0.2)
    text = "Thanks for calling the store. How can I help you today? Robert Brown. Your refund will be processed within five working days."
    parts = split_replies(text, pcm)
    assert texts(parts) == ["Thanks for calling the store. How can I help you today?", "Robert Brown.",
                            "Your refund will be processed within five working days."]
    assert int(3.9 * SR) < parts[1].at < int(4.25 * SR) and int(5.05 * SR) < parts[2].at < int(5.35 * SR)


def test_a_reply_between_sentences_far_from_where_its_words_put_it_is_not_parted():
    pcm = call(0.3, 0.5, 0.3, 0.6, 0.3, 6.0, 0.2)  # the short speech is near the start, the words say the middle
    text = "Thanks for calling the store today. Yes. Your refund will be processed within five working days, I promise."
    assert texts(split_replies(text, pcm)) == [text]


def test_one_sentence_is_never_parted_whatever_its_pauses():
    """"Thanks for contacting the store." with a 0.16 s catch after "Thanks" (Genesys' suite)."""
    pcm = call(0.3, 0.4, 0.16, 1.6, 0.2)
    assert texts(split_replies("Thanks for contacting the store.", pcm)) == ["Thanks for contacting the store."]


def test_two_long_sentences_are_left_to_the_endpoint():
    pcm = call(0.3, 2.0, 0.3, 2.0, 0.2)
    text = "I have updated the address for you. Is there anything else I can help with?"
    assert texts(split_replies(text, pcm)) == [text]


def test_no_gap_where_the_reply_could_end_no_split():
    """Sentences run together ("Okay. So what I need is ...") are not parted anywhere else."""
    assert len(split_replies("Okay. So what I need is the account number.", call(0.3, 2.5, 0.2))) == 1
    # A gap too far on for a one-word reply (a pause inside the next sentence).
    assert len(split_replies("Yes. I would like to check, the balance of my account.", call(0.3, 1.9, 0.3, 1.0, 0.2))) == 1


def test_the_longest_gap_near_the_reply_is_the_turn():
    pcm = call(0.3, 0.3, 0.13, 0.3, 0.35, 2.0, 0.2)  # "Robert ... Brown." then the next turn
    _, rest = split_replies("Robert Brown. Thanks for calling the store.", pcm)
    assert int(1.03 * SR) < rest.at < int(1.38 * SR)


def test_replies_at_both_ends_are_both_parted():
    pcm = call(0.3, 0.4, 0.3, 2.0, 0.3, 0.4, 0.2)
    assert texts(split_replies("Yes. I would like to check my balance. Thanks.", pcm)) == [
        "Yes.", "I would like to check my balance.", "Thanks."]


def test_the_same_text_and_audio_split_the_same():
    pcm = call(0.3, 0.6, 0.32, 2.5, 0.2)
    text = "42. Could you tell me how many items are in the order?"
    assert split_replies(text, pcm) == split_replies(text, pcm.copy())


def test_a_reply_joined_to_the_sentence_before_with_a_comma_is_parted_at_a_turns_gap():
    """tiny.en, the turn set's spare-3006: "I can be non-fold for nearly an hour, Sarah." with
    "Sarah." said 0.31 s after the sentence by the other party."""
    pcm = call(0.3, 2.4, 0.31, 0.45, 0.2)
    sentence, reply = split_replies("I have been on hold for nearly an hour, Sarah.", pcm)
    assert (sentence.text, reply.text) == ("I have been on hold for nearly an hour.", "Sarah.")
    assert int(2.7 * SR) < reply.at < int(3.01 * SR)


def test_a_clause_after_a_commas_own_pause_stays_in_its_sentence():
    # A comma's pause (0.16-0.24 s in the turn set's voices) is no turn.
    pcm = call(0.3, 1.8, 0.22, 0.8, 0.2)
    text = "She said someone would ring me back, but nobody did."
    assert texts(split_replies(text, pcm)) == [text]
    # Nor is a long clause after the comma, or a short clause after a short one.
    pcm = call(0.3, 1.8, 0.4, 1.6, 0.2)
    text = "Good afternoon, you have reached the claims line."
    assert texts(split_replies(text, pcm)) == [text]
    assert texts(split_replies("Yes, please.", call(0.3, 0.4, 0.4, 0.5, 0.2))) == ["Yes, please."]
    assert texts(split_replies(", Sarah.", call(0.3, 0.4, 0.4, 0.5, 0.2))) == [", Sarah."]  # nothing before the comma
