"""bench/contract_soak.py's pure parts: the plan, the speech's layout, a session's events and findings."""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import pytest

from bench import contract_soak as soak
from bench.contract_soak import Builder, Part, Planned, Speech

RATE = soak.RATE


def planned(door: str, *, asks: bool = True, detect: bool = False, kind: str = "continuous") -> Planned:
    return Planned(index=7, door=door, speed=2.0, hog=True, kind=kind, seed=1, asks=asks, detect=detect)


def speech(*parts: Part, parties: int = 1, language: str = "en") -> Speech:
    return Speech("test-1", language, np.zeros((RATE * 10, parties), np.float32), parts)


# -- the plan -------------------------------------------------------------------------------------


def test_a_plan_crosses_doors_speeds_and_kinds_in_their_shares() -> None:
    sessions = soak.plan(440)
    kinds = Counter(p.kind for p in sessions)
    assert kinds == {"continuous": 120, "tail": 120, "calls": 120, "spanish": 40, "kill": 40}
    for door in soak.DOORS:
        mine = [p for p in sessions if p.door == door]
        assert {(p.kind, p.speed) for p in mine} == {(k, s) for k in soak.KINDS for s in soak.SPEEDS}
        assert {p.asks for p in mine if p.kind == "tail"} == {True, False}
    assert [p.hog for p in sessions] == [False] * 220 + [True] * 220
    assert {p.detect for p in sessions if p.kind == "spanish"} == {True, False}
    assert not any(p.detect for p in sessions if p.kind != "spanish")
    assert len({p.seed for p in sessions}) == 440


def test_a_small_slice_gets_both_speeds_and_a_plan_without_choices_is_refused() -> None:
    sessions = soak.plan(4, doors=["flux"], kinds=["tail"], hogs=(False,))
    assert [p.speed for p in sessions] == [1.0, 2.0, 1.0, 2.0] and {p.kind for p in sessions} == {"tail"}
    assert [p.condition for p in sessions[:2]] == ["1x alone", "2x alone"]
    with pytest.raises(ValueError, match="at least 1"):
        soak.plan(0)
    with pytest.raises(ValueError, match="a kind"):
        soak.plan(5, kinds=[])


def test_flags_take_known_values_only() -> None:
    assert soak.some_of("all", soak.DOORS, "--doors") == list(soak.DOORS)
    assert soak.some_of("native, flux", soak.DOORS, "--doors") == ["native", "flux"]
    with pytest.raises(argparse.ArgumentTypeError, match="--doors takes"):
        soak.some_of("native,sip", soak.DOORS, "--doors")
    assert soak.speeds("1,2") == [1.0, 2.0]
    for bad in ("fast", "0", "1,9"):
        with pytest.raises(argparse.ArgumentTypeError):
            soak.speeds(bad)


def test_options_asked_per_door() -> None:
    assert soak.options("native", True) == {"words": True} and soak.options("native", False) == {}
    assert soak.options("deepgram", True) == {"interim_results": "false", "punctuate": "true"}
    assert soak.options("deepgram", False)["utterance_end_ms"] == "1000"
    assert soak.options("flux", True) == {"eager_eot_threshold": "0.5"}
    assert soak.options("twilio", True) == soak.options("audiohook", True) == {}


# -- the speech -----------------------------------------------------------------------------------


def test_a_builder_lays_pieces_a_pause_after_the_previous_speech() -> None:
    builder = Builder()
    tone = np.ones(RATE, np.float32)
    builder.add(tone, "one", pause=0.7, span=(RATE // 10, RATE // 2))  # the first piece starts at the lead
    builder.add(tone[:RATE // 5], "", pause=0.3, speech=False)
    made = builder.speech("x-1", "en")
    assert [(p.start_ms, p.end_ms, p.speech) for p in made.parts] == [(500, 900, True), (1200, 1400, False)]
    assert made.seconds == pytest.approx(1.4 + soak.TAIL)
    assert made.audio[int(0.4 * RATE), 0] == 1 and made.audio[int(1.45 * RATE), 0] == 0


def test_knowledge_is_per_party_in_stereo_and_in_order_on_one_channel() -> None:
    call = speech(Part(1, "Hello there.", 500, 1200), Part(0, "Hi.", 1600, 1900),
                  Part(1, "", 2000, 2100, speech=False), Part(1, "How are you?", 2500, 3300), parties=2)
    spans, said = call.knowledge(stereo=True)
    assert spans == {1: [(500, 1200), (2500, 3300)], 0: [(1600, 1900)]}
    assert said == {1: "Hello there. How are you?", 0: "Hi."}
    spans, said = call.knowledge(stereo=False)
    assert spans == {0: [(500, 1200), (1600, 1900), (2500, 3300)]}
    assert said == {0: "Hello there. Hi. How are you?"}


def test_a_breath_is_short_quiet_noise() -> None:
    burst = soak.breath(np.random.default_rng(3), 0.2)
    assert len(burst) == int(0.2 * RATE) and burst.dtype == np.float32
    assert np.abs(burst).max() == pytest.approx(0.05) and abs(burst[0]) < 1e-3


# -- a session's events and findings ------------------------------------------------------------------


def native_final(text: str, start: int, end: int, uid: str, **fields) -> dict:
    return {"type": "final", "text": text, "start_ms": start, "end_ms": end, "utterance_id": uid, "language": "en",
            **fields}


def results(text: str, start: float, duration: float, *, final: bool = True) -> dict:
    return {"type": "Results", "is_final": final, "start": start, "duration": duration,
            "channel": {"alternatives": [{"transcript": text}]}}


def turn(event: str, index: int, text: str, start: float, end: float, **fields) -> dict:
    return {"type": "TurnInfo", "event": event, "turn_index": index, "transcript": text,
            "audio_window_start": start, "audio_window_end": end, **fields}


def test_events_come_through_each_doors_reader() -> None:
    assert [e.kind for e in soak.events_of("native", [{"type": "session_created"}, native_final("a", 0, 5, "u1")])] \
        == ["final"]
    assert [(e.kind, e.start_ms, e.end_ms) for e in soak.events_of("deepgram", [results("a b", 1.0, 0.5, final=False),
                                                                                {"type": "Metadata"}])] \
        == [("partial", 1000, 1500)]
    flux = soak.events_of("flux", [{"type": "Connected"}, turn("Update", 0, "a", 0.1, 0.5),
                                   turn("EndOfTurn", 0, "a b", 0.1, 0.9)])
    assert [(e.kind, e.utterance_id) for e in flux] == [("partial", "turn0"), ("final", "turn0")]
    assert soak.events_of("twilio", [{"event": "final", "text": "hi", "start_ms": 0, "end_ms": 300}])[0].text == "hi"
    with pytest.raises(ValueError, match="door must be one of"):
        soak.events_of("sip", [])


def test_a_flux_turn_that_carries_an_ended_turns_words_is_a_violation() -> None:
    said = speech(Part(0, "It was the season of light.", 500, 2500), Part(0, "It was the season of darkness.", 2900, 5000))
    messages = [turn("StartOfTurn", 0, "It was", 0.5, 1.0), turn("EndOfTurn", 0, "It was the season of light.", 0.5, 2.6),
                turn("StartOfTurn", 1, "It was the season of light.", 2.6, 2.8),
                turn("EndOfTurn", 1, "It was the season of light. It was the season of darkness.", 2.6, 5.1)]
    outcome = soak.judge(planned("flux", asks=False), said, messages)
    assert [v.kind for v in outcome.violations] == ["repeated_text"]
    assert outcome.finals == 2 and outcome.drops == [] and outcome.error is None
    clean = [messages[0], messages[1], turn("EndOfTurn", 1, "It was the season of darkness.", 2.6, 5.1)]
    assert soak.judge(planned("flux", asks=False), said, clean).violations == []


def test_judge_knows_the_speech_the_language_and_the_channels() -> None:
    said = speech(Part(0, "Thanks for calling the store.", 500, 2500), Part(1, "Yes.", 3000, 3400), parties=2)
    lost = soak.judge(planned("native", asks=False), said, [native_final("Thanks for calling the store.", 400, 2600,
                                                                          "u1")])
    assert [v.kind for v in lost.violations] == ["lost_speech"]  # "Yes." on the mixed-down channel
    tagged = [native_final("Thanks for calling the store.", 400, 2600, "u1", language="es"),
              native_final("Yes.", 2900, 3500, "u2")]
    assert [v.kind for v in soak.judge(planned("native", asks=False), said, tagged).violations] == [
        "language_flip", "wrong_language"]
    spanish = speech(Part(0, "Hola.", 500, 900), language="es")
    detected = [native_final("Hola, buenos dias.", 400, 1000, "u1", language="es")]
    assert soak.judge(planned("native", asks=False, detect=True, kind="spanish"), spanish, detected).violations == []
    assert [v.kind for v in soak.judge(planned("native", asks=False, kind="spanish"), spanish,
                                       [native_final("Hello.", 400, 1000, "u1")]).violations] == ["language_flip"]


def test_native_words_asked_and_missing_is_a_drop_unless_refused() -> None:
    asked = soak.options("native", True)
    bare = [native_final("Hello there.", 0, 900, "u1"), native_final("", 900, 950, "u2")]
    assert soak.option_drops("native", asked, bare) == ["words: 1 final(s) without words, e.g. 'Hello there.'"]
    timed = [native_final("Hello there.", 0, 900, "u1", words=[{"word": "Hello"}, {"word": "there."}])]
    assert soak.option_drops("native", asked, timed) == []
    refused = [{"type": "error", "code": "bad_config", "message": "words are not available"}, *bare]
    assert soak.option_drops("native", asked, refused) == []
    assert soak.option_drops("native", {}, bare) == []


def test_deepgram_options_dropped() -> None:
    asked = soak.options("deepgram", True)
    got = [results("hello", 0.0, 0.5, final=False), results("hello there my friend", 0.0, 1.5)]
    drops = soak.option_drops("deepgram", asked, got)
    assert drops == ["interim_results=false: 1 interim result(s)",
                     "punctuate=true: 1 final(s) unpunctuated, e.g. 'hello there my friend'"]
    assert soak.option_drops("deepgram", asked, [results("Hello there, my friend.", 0.0, 1.5)]) == []
    other = soak.options("deepgram", False)
    assert soak.option_drops("deepgram", other, [results("Hello there.", 0.0, 1.0)]) == [
        "utterance_end_ms=1000: no UtteranceEnd in a session with words",
        "vad_events=true: no SpeechStarted in a session with words"]
    assert soak.option_drops("deepgram", other, [{"type": "SpeechStarted"}, results("Hello there.", 0.0, 1.0),
                                                 {"type": "UtteranceEnd"}]) == []
    assert soak.option_drops("deepgram", other, [results("", 0.0, 1.0)]) == []  # no words: nothing to end
    assert soak.option_drops("deepgram", asked, [{"type": "Warning", "description": "no"}, *got]) == []


def test_flux_eager_end_of_turn_asked_for_comes_before_each_models_end_of_turn() -> None:
    asked = soak.options("flux", True)
    messages = [turn("EagerEndOfTurn", 0, "Hi.", 0.1, 0.5), turn("EndOfTurn", 0, "Hi.", 0.1, 0.5),
                turn("EndOfTurn", 1, "Bye.", 1.0, 1.4), turn("EndOfTurn", 2, "Now.", 2.0, 2.4, trigger="manual")]
    assert soak.option_drops("flux", asked, messages) == [
        "eager_eot_threshold: EndOfTurn of turn(s) [1] without an EagerEndOfTurn"]
    assert soak.option_drops("flux", {}, messages) == []


def test_the_table_has_a_row_per_door_and_condition_and_a_total() -> None:
    said = speech(Part(0, "Hello there friend.", 500, 1500))
    clean = soak.judge(planned("native", asks=False), said, [native_final("Hello there friend.", 400, 1600, "u1")])
    broken = soak.judge(planned("twilio"), said, [{"event": "final", "text": "Hello there friend.", "start_ms": 400,
                                                   "end_ms": 1600, "utterance_id": "u1"},
                                                  {"event": "final", "text": "hello there friend", "start_ms": 1500,
                                                   "end_ms": 1600, "utterance_id": "u2"}], error="closed 1011 boom")
    lines = soak.table([clean, broken], "condition").splitlines()
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|")
    assert lines[2].startswith("| native | 2x hog | 1 | 0 | 1 | 0 |")
    # overlap and repeated text at one final; the failure counted
    assert lines[3] == "| twilio | 2x hog | 1 | 1 | 2 | 1 | 0 | 1 | 0 | 0 | 0 | 0 | 0 | 0 |"
    assert lines[4] == "| all | all | 2 | 1 | 3 | 1 | 0 | 1 | 0 | 0 | 0 | 0 | 0 | 0 |"
    assert soak.summary(broken).startswith("session 7 test-1 twilio 2x hog (10.0 s): overlap x1, repeated_text x2")
    assert "failed: closed 1011 boom" in soak.summary(broken)
