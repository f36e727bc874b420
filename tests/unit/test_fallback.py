"""The whisper engine's beam fallback for poor finals, on recorded decoder outputs (no model here).

tests/data/whisper_fallback.json holds every final decode of the call scripts through 8 kHz
μ-law (the Twilio door's audio) as the live path makes them (``bench/early_final_replay.py``:
the VAD's pauses, the sentence endpoint, the continuation after early finals), tiny.en's greedy
decode and its beam-5 decode of the same request, each with whisper's scores, recorded with

    python -m bench.early_final_replay --model tiny.en --sets calls --telephone --ways continued \\
        --final-beam-size 1 --record tests/data/whisper_fallback.json

The decision is replayed on them: which finals it decodes again and which decode it keeps. (What
it does to the WER is measured on the live path, where a final's text becomes the prefix of the
next: BENCHMARKS.md, "Early-final replay".)
"""

from __future__ import annotations

import json
from pathlib import Path

from asr_worker.engines.fallback import (Decoded, FallbackPolicy, content_words, needs_beam, pick, repeats,
                                         stopped_early)
from asr_worker.engines.whisper import WhisperOptions
from tests.kit.testdata import accuracy_lines

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "whisper_fallback.json"
RECORDED = json.loads(FIXTURE.read_text())["decodes"]
FINALS = [d for d in RECORDED if "final" in d]
REFERENCES = {script: text for script, _, text in accuracy_lines("calls.txt")}
DEFAULT = FallbackPolicy(beam_size=WhisperOptions().final_beam_size, logprob=WhisperOptions().final_beam_logprob,
                         compression_ratio=WhisperOptions().final_beam_compression_ratio)


def decoded(recorded: dict) -> Decoded:
    return Decoded(text=recorded["text"], avg_logprob=recorded["avg_logprob"],
                   no_speech_prob=recorded["no_speech_prob"])


def kept_text(decode: dict, policy: FallbackPolicy) -> str:
    """The final's text the engine would hand on under ``policy`` (the prefix, earlier finals' text, cut off)."""
    greedy, beam = decoded(decode["greedy"]), decoded(decode["beam"])
    chosen = greedy
    if needs_beam(greedy, policy) and pick(greedy, beam) == "beam":
        chosen = beam
    text, prefix = chosen.text, decode["prefix"]
    return text[len(prefix):].strip() if prefix and text.startswith(prefix) else text


def test_the_recording_holds_finals_of_every_call_script():
    assert {d["item"].split("/")[0] for d in FINALS} == set(REFERENCES)
    assert all(d["greedy"]["avg_logprob"] is not None and d["beam"]["avg_logprob"] is not None for d in RECORDED)


# -- the decision on single decodes ----------------------------------------------------------------

def test_a_confident_decode_stays_greedy():
    assert not needs_beam(Decoded(text="My account number is 47291836.", avg_logprob=-0.2), DEFAULT)


def test_a_poorly_scored_decode_is_decoded_again():
    assert needs_beam(Decoded(text="It is 2 to 1 maker 3.", avg_logprob=-0.9), DEFAULT)
    assert not needs_beam(Decoded(text="It is 2 to 1 maker 3.", avg_logprob=-0.9), FallbackPolicy(logprob=-1.0))


def test_a_loop_is_decoded_again_however_sure_whisper_is():
    looping = "My card number is " + "1-" * 40
    assert needs_beam(Decoded(text=looping, avg_logprob=-0.05), DEFAULT)


def test_silence_and_empty_decodes_are_never_decoded_again():
    assert not needs_beam(Decoded(text="Thank you.", avg_logprob=-1.2, no_speech_prob=0.9), DEFAULT)
    assert needs_beam(Decoded(text="Thank you.", avg_logprob=-1.2, no_speech_prob=0.3), DEFAULT)
    assert not needs_beam(Decoded(text="", avg_logprob=-3.0), DEFAULT)


def test_one_beam_turns_it_off():
    assert not needs_beam(Decoded(text="garbled", avg_logprob=-2.0), FallbackPolicy(beam_size=1))
    assert not FallbackPolicy(beam_size=1).enabled


def test_pick_keeps_the_better_scored_decode():
    assert pick(Decoded(text="a", avg_logprob=-0.9), Decoded(text="b", avg_logprob=-0.4)) == "beam"
    assert pick(Decoded(text="a", avg_logprob=-0.3), Decoded(text="b", avg_logprob=-0.4)) == "greedy"
    assert pick(Decoded(text="a", avg_logprob=-0.4), Decoded(text="b", avg_logprob=-0.4)) == "beam"


# -- the decision on the recorded finals -----------------------------------------------------------

def test_a_beam_decode_that_repeats_what_the_greedy_one_said_once_is_not_kept():
    # tests/e2e/test_telephony.py's AudioHook greeting through mu-law: beam search scored "Hi. Hi." higher.
    assert pick(Decoded(text="Hi.", avg_logprob=-0.9), Decoded(text="Hi. Hi.", avg_logprob=-0.4)) == "greedy"
    # Repeats the audio holds are in both decodes: the score decides.
    # Words said again inside a sentence are speech's own, which a garbled greedy decode may have lost.
    assert pick(Decoded(text="Did it in 7th and 3th?", avg_logprob=-0.9),
                Decoded(text="Did it seven, seven, three?", avg_logprob=-0.4)) == "beam"
    assert repeats("Hi. Hi.") == 1 and repeats("Hi! hi? Thanks.") == 1 and repeats("hello there") == 0
    assert repeats("two, two, one. Eight eight.") == 0


def test_the_default_decodes_again_only_part_of_the_finals():
    again = [d for d in RECORDED if needs_beam(decoded(d["greedy"]), DEFAULT)]
    assert 0 < len(again) < len(RECORDED)


def test_where_beam_search_changes_a_final_the_default_mostly_decodes_it_again():
    """Whisper's low score marks the finals beam search would write otherwise: of the recorded finals
    whose beam decode differs, the default decodes most again, and of those it skips, fewer differ."""
    changed = [kept_text(d, FallbackPolicy(beam_size=1)) != kept_text(d, FallbackPolicy(logprob=0.0)) for d in FINALS]
    flagged = [needs_beam(decoded(d["greedy"]), DEFAULT) for d in FINALS]
    caught = sum(c and f for c, f in zip(changed, flagged))
    assert caught > sum(c and not f for c, f in zip(changed, flagged))
    assert caught / sum(flagged) > sum(c and not f for c, f in zip(changed, flagged)) / max(1, flagged.count(False))


def test_on_the_recorded_finals_it_keeps_the_beam_decode_where_that_scores_higher():
    flagged = [d for d in RECORDED if needs_beam(decoded(d["greedy"]), DEFAULT)]
    kept = [pick(decoded(d["greedy"]), decoded(d["beam"])) for d in flagged]
    early = [stopped_early(d["greedy"]["text"], d["beam"]["text"]) for d in flagged]
    assert all(k == "beam" for d, k, e in zip(flagged, kept, early)
               if d["beam"]["avg_logprob"] >= d["greedy"]["avg_logprob"] and not e)
    assert kept.count("beam") > kept.count("greedy")
    assert early.count(True) == 1  # the one below


def test_a_beam_decode_that_stops_early_is_not_kept():
    """Whatever its score: the words after where it stopped would be dropped, silently."""
    # The loop guard's card_groups clip, tiny.en in process (BENCHMARKS, "Loop guard").
    greedy = Decoded(text="My card number is 4,111,111,111 Security Code 123 Social Security Number 123-45-6,700",
                     avg_logprob=-0.9)
    beam = Decoded(text="My card number is 4,111,111,111,111,111,111,111.", avg_logprob=-0.3)
    assert pick(greedy, beam) == "greedy"
    # The recorded phone/en-us final: the beam decode ends at the number, before "ask for ... department".
    (phone,) = [d for d in RECORDED if "apartment" in d["greedy"]["text"] and "apartment" not in d["beam"]["text"]]
    assert phone["beam"]["avg_logprob"] > phone["greedy"]["avg_logprob"]
    assert pick(decoded(phone["greedy"]), decoded(phone["beam"])) == "greedy"
    # Numbers written either way, a loop's repeats and a few words are not "stopping early".
    assert content_words("My account number is 47291836.") == content_words(
        "My account number is four, seven, two, nine.") == 5
    assert content_words("I'm, I'm, I'm too.") == 2
    # A dropped sentence that held a number: base, a Spanish ID number read at 16 kHz, the native
    # door; the beam decode scored -0.99 against the greedy one's -1.26 and skipped 5 s of speech.
    assert pick(Decoded(text="y en la nes 7 mos 5 4 1 9 8 es. lo tengo aquí delante", avg_logprob=-1.26),
                Decoded(text="Y lo tengo aquí delante.", avg_logprob=-0.99)) == "greedy"
    assert pick(Decoded(text="Did it in 7th and 3th?", avg_logprob=-0.9),
                Decoded(text="Did it seven, seven, three?", avg_logprob=-0.4)) == "beam"
