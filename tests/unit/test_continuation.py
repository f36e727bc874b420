"""The rest after an early final: its prompt, and the tests that tell an echo of it."""

import asyncio

import numpy as np

from asr_worker.continuation import (PROMPT_CHARS, Piece, context, continued, decode_rest, echoes, implausible, judged,
                                     prompt, spoken_seconds, words)
from asr_worker.engines import DecodeRequest, Hypothesis, Word

SR = 16_000


def test_the_prompt_is_the_latest_finals_cut_at_a_word():
    assert prompt(["Hello. ", "", " It is 773."]) == "Hello. It is 773."
    long = ["word " * 30 + "first.", "word " * 30 + "last."]
    cut = prompt(long)
    assert len(cut) <= PROMPT_CHARS and cut.endswith("last.") and not cut.startswith(("ord", " "))
    assert prompt([]) == ""


def test_words_are_lower_case_without_punctuation():
    assert words("What you can do for your country.") == ["what", "you", "can", "do", "for", "your", "country"]
    assert words("I'm at 4929, ¿sí?") == ["i'm", "at", "4929", "sí"]


def test_a_rest_that_says_part_of_the_prompt_again_echoes_it():
    before = "Ask not what your country can do for you. Ask what you can do for your country."
    assert echoes("What you can do for your country.", before)
    assert echoes("country.", before)
    # It carries the prompt's last words over, then goes on.
    assert echoes("It was the season of light, it was the season of darkness.", "It was the season of light.")


def test_a_rest_that_opens_with_an_earlier_sentence_echoes_it():
    """Base on μ-law, the turn set's spare-3006 through Twilio: the rest of "We will collect the old
    boiler on Monday morning." began with a sentence two turns back, one word added."""
    before = "I can book you a call back tomorrow afternoon. See you tomorrow."
    assert echoes("I can book you a call back for tomorrow afternoon. and we will correct the rules Boiler on "
                  "Monday morning.", before)
    assert echoes("Can book you a call back tomorrow afternoon. Thanks.", before)  # the first word dropped


def test_a_rest_with_an_earlier_sentence_after_its_first_echoes_it():
    """Base on μ-law, the turn set's extra-5011 through Twilio: the rest of "The technician said the
    router was faulty." wrote a filler sentence, then the sentence before it again, one word changed."""
    assert echoes("I'm not sure. I never received a confirmation email. The technician can't marute a one-fold bit.",
                  "Uh-oh! I never received the confirmation email.")


def test_a_rest_with_words_of_its_own_does_not_echo():
    assert not echoes("And what about my account?", "I would like to check my balance.")
    assert not echoes("", "Anything.") and not echoes("Yes.", "")
    # Two of the prompt's last words, then new ones: a phrase said again, not the prompt carried over.
    assert not echoes("Your country needs you.", "Ask what you can do for your country.")
    # A new sentence that begins the way an earlier one did, or speech that repeats its own pattern.
    assert not echoes("I would like to check my bill today.", "I would like to check the balance of my account.")
    assert not echoes("It was the age of foolishness, it was the epoch of belief.",
                      "It was the best of times, it was the worst of times, it was the age of wisdom.")


def test_more_words_than_the_audio_can_hold_are_implausible():
    assert implausible("What you can do for your country.", 0.16)
    assert not implausible("Hi.", 0.2) and not implausible("Thank you.", 0.16)
    assert not implausible("It was the season of light.", 1.5)
    assert not implausible("Card 4929 3851 7602 2948.", 1.0)  # digits written as one word each group


def piece(seconds: float, text: str) -> Piece:
    return Piece(np.full(int(seconds * SR), 1000, np.int16), text)


def test_the_context_is_the_latest_whole_pieces_with_text_that_fit():
    pieces = (piece(4, "One."), piece(3, "Two."), piece(4, "Three."))
    assert [p.text for p in context(pieces, max_samples=8 * SR)] == ["Two.", "Three."]
    assert [p.text for p in context(pieces, max_samples=11 * SR)] == ["One.", "Two.", "Three."]
    assert context((piece(9, "Long."),), max_samples=8 * SR) == ()  # no room for the last piece
    assert [p.text for p in context((piece(1, "One."), piece(1, " "), piece(1, "Three.")))] == ["Three."]


def test_continued_takes_the_prefix_and_its_words_off():
    hypothesis = Hypothesis(text="It is 773. 501 992.", language="en", confidence=0.9,
                            words=(Word("It", 0.0, 0.2, 0.9), Word("is", 0.2, 0.4, 0.9), Word("773.", 0.4, 1.0, 0.9),
                                   Word("501", 1.6, 2.0, 0.8), Word("992.", 2.0, 2.4, 0.6)))
    rest = continued(hypothesis, prefix="It is 773.", offset=1.2, tokenize=lambda t: list(range(len(t.split()))))
    assert rest is not None and rest.text == "501 992."
    assert [(w.text, round(w.start, 1)) for w in rest.words] == [("501", 0.4), ("992.", 0.8)]
    assert abs(rest.confidence - 0.7) < 1e-9
    assert continued(hypothesis, prefix="Hello.", offset=1.2, tokenize=lambda t: []) is None


class Decoder:
    """A stand-in engine for decode_rest: answers each request with the next of ``texts`` and keeps the requests."""

    def __init__(self, *texts: str) -> None:
        self.texts = list(texts)
        self.requests: list[DecodeRequest] = []

    async def __call__(self, request: DecodeRequest) -> Hypothesis:
        self.requests.append(request)
        text = self.texts.pop(0)
        return Hypothesis(text=text.removeprefix("(no speech) "), language="en", no_speech=text.startswith("(no speech)"))


def rest(decoder: Decoder, *, heard: tuple[Piece, ...], earlier=("Could you read it?", "It is 773."), seconds=2.0):
    request = DecodeRequest("r1", np.zeros(int(seconds * SR), np.float32), True, context="Acme")
    return asyncio.run(decode_rest(request, decoder, heard=heard, earlier=earlier, tokenize=lambda t: []))


def test_the_rest_is_decoded_after_the_pieces_before_it_with_their_text_forced():
    decoder = Decoder("Could you read it? It is 773. 501 992.")
    got, echoed = rest(decoder, heard=(piece(1.0, "Could you read it?"), piece(1.2, "It is 773.")))
    assert got is not None and got.text == "501 992." and echoed == 0
    (request,) = decoder.requests
    assert request.prefix == "Could you read it? It is 773." and request.context == "Acme"
    assert len(request.audio) == int(4.2 * SR)


def test_without_a_piece_the_rest_is_decoded_alone_with_the_earlier_finals_as_its_prompt():
    decoder = Decoder("501 992.")
    got, echoed = rest(decoder, heard=())
    assert got is not None and got.text == "501 992." and echoed == 0
    (request,) = decoder.requests
    assert request.prefix == "" and len(request.audio) == 2 * SR
    assert request.context == "Acme Could you read it? It is 773."


def test_a_rest_that_echoes_its_context_is_decoded_with_less():
    """Whisper wrote the piece again after its prefix, then the prompt's last sentence again: the
    rest's audio alone gives its text."""
    decoder = Decoder("It is 773. It is 773.", "It is 773.", "Thank you.")
    got, echoed = rest(decoder, heard=(piece(1.2, "It is 773."),))
    assert got is not None and got.text == "Thank you." and echoed == 2
    assert [(r.prefix, r.context, len(r.audio)) for r in decoder.requests] == [
        ("It is 773.", "Acme", int(3.2 * SR)), ("", "Acme Could you read it? It is 773.", 2 * SR), ("", "Acme", 2 * SR)]
    assert len({r.request_id for r in decoder.requests}) == 3


def test_a_short_rest_is_no_speech_when_its_own_audio_says_so():
    """The continued window's no-speech verdict is the context's: a breath after a sentence came
    out as "Thank you very much."; decoded alone, it is no speech."""
    decoder = Decoder("It is 773. Thank you very much.", "(no speech) Okay.")
    got, _ = rest(decoder, heard=(piece(1.2, "It is 773."),), seconds=0.6)
    assert got is not None and got.no_speech
    assert [(r.prefix, len(r.audio)) for r in decoder.requests] == [("It is 773.", int(1.8 * SR)), ("", int(0.6 * SR))]


def test_a_short_rest_with_speech_keeps_its_continued_text():
    decoder = Decoder("It is 773. 501.", "Five oh one.")
    got, _ = rest(decoder, heard=(piece(1.2, "It is 773."),), seconds=0.6)
    assert got is not None and got.text == "501." and not got.no_speech


def test_a_continuation_that_writes_nothing_after_its_context_takes_the_words_its_audio_says_alone():
    """Issue 47: "Exactly." said 0.48 s after "Do you want me to cancel the second order?" (one VAD
    utterance, base, the Deepgram door): whisper ended the continued decode right after the forced
    sentence, and the reply had no final ("has no words"); alone its audio says a word."""
    decoder = Decoder("Do you want me to cancel the second order?", "Exactly.")
    got, echoed = rest(decoder, heard=(piece(2.8, "Do you want me to cancel the second order?"),), seconds=1.2)
    assert got is not None and got.text == "Exactly." and not got.no_speech and echoed == 0
    assert [r.prefix for r in decoder.requests] == ["Do you want me to cancel the second order?", ""]


def test_a_short_rest_that_sounds_longer_than_a_breath_keeps_its_continued_words():
    """"Exactly." 0.48 s after a sentence (fresh-2004, base): continued "Emercately.", alone "... ..."
    judged no speech, and the reply was lost. 0.8 s of sound is no breath: the continued words stand."""
    decoder = Decoder("It is 773. Exactly.", "(no speech) ... ...")
    request = DecodeRequest("r1", sound(1.4, at=0.3, length=0.8), True, context="Acme")
    got, _ = asyncio.run(decode_rest(request, decoder, heard=(piece(1.2, "It is 773."),), earlier=(),
                                     tokenize=lambda t: []))
    assert got is not None and got.text == "Exactly." and not got.no_speech
    assert len(decoder.requests) == 1  # no decode alone


def test_a_continuation_that_writes_nothing_over_audio_alone_calls_silence_is_no_speech():
    decoder = Decoder("It is 773.", "(no speech) Thank you very much.")
    got, _ = rest(decoder, heard=(piece(1.2, "It is 773."),), seconds=0.6)
    assert got is not None and got.no_speech


def sound(seconds: float, *, at: float, length: float) -> np.ndarray:
    """``seconds`` of silence with ``length`` s of a loud tone from ``at``."""
    audio = np.zeros(int(seconds * SR), np.float32)
    first = int(at * SR)
    audio[first:first + int(length * SR)] = 0.3 * np.sin(np.arange(int(length * SR)) * 0.2)
    return audio


def test_a_rests_sound_is_its_frames_of_speech_not_its_silence():
    assert abs(spoken_seconds(sound(0.7, at=0.3, length=0.1)) - 0.1) < 0.021
    assert spoken_seconds(np.zeros(SR, np.float32)) == 1.0  # no speech by level: all of it


def test_a_last_decode_with_more_words_than_its_sound_holds_is_no_speech():
    """A breath 0.3 s after a sentence: the continued decode echoed it, the prompted one too, and
    alone whisper wrote "Thank you very much." on 0.1 s of sound."""
    decoder = Decoder("It is 773. It is 773.", "It is 773.", "Thank you very much.")
    request = DecodeRequest("r1", sound(0.7, at=0.3, length=0.1), True)
    got, echoed = asyncio.run(decode_rest(request, decoder, heard=(piece(1.2, "It is 773."),),
                                          earlier=("It is 773.",), tokenize=lambda t: []))
    assert got is not None and got.no_speech and echoed == 2


def test_a_short_reply_its_sound_can_hold_is_kept():
    decoder = Decoder("It is 773. It is 773.", "It is 773.", "Thank you.")
    request = DecodeRequest("r1", sound(0.9, at=0.3, length=0.45), True)
    got, _ = asyncio.run(decode_rest(request, decoder, heard=(piece(1.2, "It is 773."),),
                                     earlier=("It is 773.",), tokenize=lambda t: []))
    assert got is not None and got.text == "Thank you." and not got.no_speech


def test_a_decode_with_more_words_than_its_sound_holds_is_judged_no_speech():
    """Whisper's filler on a 0.3 s tail after a sentence: "I'm not going to be able to do that."
    (the contract soak, a Flux session of the ``tail`` kind); a reply its sound can hold stays."""
    tail = sound(0.6, at=0.15, length=0.3)
    filler = Hypothesis(text="I'm not going to be able to do that.")
    assert judged(filler, spoken_seconds(tail)).no_speech
    reply = Hypothesis(text="Thank you.")
    assert judged(reply, spoken_seconds(tail)) is reply
