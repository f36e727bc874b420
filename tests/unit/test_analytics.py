"""The analytics core (gateway/analytics): talk, overtalk, interruptions, alerts, loudness, phrases, sentiment.

Pure: spans, words and samples made up here; no processes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from common.errors import ConfigError, ProtocolError
from common.metrics import GatewayMetrics
from gateway.analytics import talk
from gateway.analytics.loudness import LevelMeter
from common.contract import alert_problems
from gateway.policy.analytics import (MAX_PHRASE_CHARS, MAX_PHRASES, AlertRules, AnalyticsSettings, CallAnalytics,
                                       TenantAnalytics, parse_phrases)
from gateway.analytics.phrases import PhraseSpotter, timed_tokens
from gateway.analytics.sentiment import sentiment
from gateway.analytics.tracker import LIVE_LAG_MS, CallTracker
from gateway.core import events
from gateway.features.analytics import QUEUE, CallAnalyzer
from gateway.doors.native import NativeDoor, parse_config
from gateway.policy.keyfile import parse_keys


def words_over(start: int, end: int, count: int) -> list[tuple[str, int, int, float]]:
    step = (end - start) // count
    return [(f"w{i}", start + i * step, start + (i + 1) * step, 0.9) for i in range(count)]


# -- talk -----------------------------------------------------------------------------------------


def test_coverage_counts_talk_and_overtalk():
    channels = {0: [(0, 4000), (6000, 8000)], 1: [(3000, 5000)]}
    assert talk.coverage(channels) == (7000, 1000)  # 0-5000 and 6000-8000; 3000-4000 both


def test_merged_joins_overlapping_spans_and_drops_empty_ones():
    assert talk.merged([(500, 900), (0, 600), (1000, 1000), (1000, 1200)]) == [(0, 900), (1000, 1200)]


def test_interruption_needs_a_lead_and_an_overlap():
    assert talk.interruption((2000, 4000), 1, (0, 3000), 0) == talk.Interruption(by=1, of=0, at_ms=2000,
                                                                                duration_ms=1000)
    assert talk.interruption((100, 4000), 1, (0, 3000), 0) is None  # a joint start
    assert talk.interruption((2900, 4000), 1, (0, 3000), 0) is None  # a 100 ms overlap: a backchannel
    assert talk.interruption((3000, 4000), 1, (0, 3000), 0) is None  # a turn change


def test_interruptions_monologues_and_response_times():
    channels = {0: [(0, 3000), (3500, 6000), (9000, 10_000)], 1: [(5000, 8000), (10_500, 11_000)]}
    assert talk.interruptions(channels) == [talk.Interruption(by=1, of=0, at_ms=5000, duration_ms=1000)]
    assert talk.monologues(channels) == {0: 6000, 1: 3000}
    # channel 0 answers at 9000 after 1's end at 8000; channel 1 answers at 10500 after 0's end at 10000
    assert talk.response_times(channels) == {0: [1000], 1: [500]}
    assert talk.silences(channels, 20_000, longer_than_ms=2000) == [(11_000, 20_000)]
    assert talk.gaps([(5, 10), (0, 3)], 0, 12) == [(3, 5), (10, 12)] and talk.gaps([(0, 20)], 5, 10) == []
    assert talk.overlaps({0: [(0, 10), (20, 30)], 1: [(5, 25)], 2: [(9, 12)]}) == [(5, 12), (20, 25)]


# -- the tracker ------------------------------------------------------------------------------------


def tracker(**alerts) -> CallTracker:
    return CallTracker(channels=2, settings=AnalyticsSettings(alerts=AlertRules(**alerts), sentiment=False),
                       parties=("agent", "customer"))


def test_summary_of_a_two_party_call():
    t = tracker()
    t.final(channel=0, utterance_id="a", text="x " * 10, start_ms=0, end_ms=4300, words=words_over(200, 4000, 10))
    t.final(channel=1, utterance_id="b", text="y " * 5, start_ms=2700, end_ms=6000, words=words_over(3000, 5500, 5))
    summary = t.summary(10_000)
    agent, customer = summary["parties"]
    assert (agent["talk_ms"], customer["talk_ms"]) == (3800, 2500)
    assert summary["overtalk_ms"] == 1000 and summary["non_talk_ms"] == 10_000 - 5300
    assert summary["interruptions"]["count"] == 1 and customer["interrupted_others"] == 1
    assert agent["interrupted_by_others"] == 1 and agent["party"] == "agent"
    assert agent["wpm"] == round(10 * 60_000 / 3800, 1)


def test_live_events_interruption_overtalk_and_speed():
    t = tracker(overtalk_sec=1.0, fast_wpm=200)
    t.speech_started(0, 0)
    t.speech_started(1, 2000)
    out = t.final(channel=0, utterance_id="a", text="x " * 20, start_ms=0, end_ms=5000, words=words_over(100, 5000, 20))
    assert [e["event"] for e in out] == ["utterance", "alert"] and out[1]["alert"] == "fast"
    out = t.final(channel=1, utterance_id="b", text="y " * 4, start_ms=2000, end_ms=7000,
                  words=words_over(2500, 7000, 4))
    interruption, = [e for e in out if e["event"] == "interruption"]
    assert (interruption["by"], interruption["of"], interruption["duration_ms"]) == (1, 0, 2500)
    assert not [e for e in out if e.get("alert") == "overtalk"]  # no clock: both may speak on
    alert, = t.speech_ended(0, 0, 5000)  # the VAD's end: 2000-5000 both spoke
    assert (alert["alert"], alert["start_ms"], alert["duration_ms"]) == ("overtalk", 2000, 3000)
    assert "ongoing" not in alert


def test_the_clock_raises_dead_air_once_and_ends_it_when_speech_resumes():
    t = tracker(dead_air_sec=5)
    t.final(channel=0, utterance_id="a", text="hello there", start_ms=0, end_ms=1000, words=words_over(0, 1000, 2))
    assert t.tick(1000 + 4000 + LIVE_LAG_MS) == []
    alert, = t.tick(1000 + 5000 + LIVE_LAG_MS)
    assert (alert["alert"], alert["start_ms"], alert["ongoing"]) == ("dead_air", 1000, True)
    assert t.tick(1000 + 9000 + LIVE_LAG_MS) == []  # once per silence
    ended, = t.speech_started(1, 12_000)  # over: a start bounds it, whatever the clock
    assert (ended["id"], ended["start_ms"], ended["duration_ms"], ended["ended"]) == (alert["id"], 1000, 11_000, True)
    assert t.tick(40_000) == []  # channel 1 speaks (no end yet)
    summary = t.summary(40_000)
    assert summary["alerts"]["dead_air"] == 1 and summary["dead_air"]["items"] == [{"start_ms": 1000,
                                                                                    "end_ms": 12_000}]


def test_dead_air_the_clock_missed_alerts_when_speech_resumes():
    t = tracker(dead_air_sec=5)
    t.final(channel=0, utterance_id="a", text="hello there", start_ms=0, end_ms=1000, words=words_over(0, 1000, 2))
    alert, = t.speech_started(1, 8000)
    assert (alert["alert"], alert["duration_ms"]) == ("dead_air", 7000) and "ongoing" not in alert


def test_the_clock_raises_overtalk_while_both_speak_and_the_end_settles_it():
    t = tracker(overtalk_sec=2)
    t.speech_started(0, 0)
    t.speech_started(1, 1000)
    assert t.tick(1000 + 1900 + LIVE_LAG_MS) == []
    alert, = t.tick(1000 + 2000 + LIVE_LAG_MS)
    assert (alert["alert"], alert["start_ms"], alert["ongoing"]) == ("overtalk", 1000, True)
    t.final(channel=0, utterance_id="a", text="x " * 8, start_ms=0, end_ms=6000, words=words_over(0, 6000, 8))
    out = t.final(channel=1, utterance_id="b", text="y " * 8, start_ms=1000, end_ms=6000,
                  words=words_over(1000, 6000, 8))
    assert not [e for e in out if e.get("alert") == "overtalk"]  # raised already, still going
    # Their VAD ends never came: the end of the call ends each utterance with its last final.
    ended, = t.settle(6000)
    assert (ended["id"], ended["start_ms"], ended["duration_ms"], ended["ended"]) == (alert["id"], 1000, 5000, True)
    summary = t.summary(6000)
    assert summary["alerts"]["overtalk"] == 1 and summary["overtalk"]["items"] == [{"start_ms": 1000,
                                                                                   "end_ms": 6000}]


def test_loud_alert_and_level_in_the_summary():
    t = tracker(loud_dbfs=-20)
    out = t.final(channel=0, utterance_id="a", text="stop it", start_ms=0, end_ms=1000, level_dbfs=-12.5)
    assert out[-1]["alert"] == "loud" and out[-1]["value"] == -12.5
    assert t.summary(1000)["parties"][0]["level_dbfs"] == -12.5


def test_an_empty_final_counts_nothing():
    t = tracker()
    assert t.final(channel=0, utterance_id="a", text=" ", start_ms=0, end_ms=1000) == []
    assert t.summary(1000)["parties"][0]["talk_ms"] == 0


def test_a_one_channel_call():
    t = CallTracker(channels=1, settings=AnalyticsSettings(sentiment=False))
    t.final(channel=0, utterance_id="a", text="one two three", start_ms=0, end_ms=3000)
    summary = t.summary(4000)
    assert summary["overtalk_ms"] == 0 and summary["parties"][0]["talk_ms"] == 3000


# -- loudness --------------------------------------------------------------------------------------


def test_level_of_a_full_scale_sine_and_of_quieter_blocks():
    meter = LevelMeter()
    t = np.arange(16_000) / 16_000
    sine = (32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    for start in range(0, len(sine), 700):  # chunks that do not line up with the blocks
        meter.push(sine[start:start + 700])
    assert meter.level(0, 1000) == pytest.approx(-3.01, abs=0.05)
    meter.push((sine // 10).astype(np.int16))  # -20 dB
    assert meter.level(1000, 2000) == pytest.approx(-23.01, abs=0.05)
    assert meter.level(500, 1500) == pytest.approx(-3.01, abs=0.05)  # the gate leaves out the half 20 dB down
    meter.push((sine // 2).astype(np.int16))  # -6 dB: within the gate
    assert meter.level(2000, 3000) == pytest.approx(-9.03, abs=0.05)
    meter.forget_before(1000)
    assert meter.level(0, 900) is None and meter.level(1000, 2000) is not None
    meter.push(np.zeros(1600, np.int16))
    assert meter.level(3000, 3100) == -100.0


# -- phrases ---------------------------------------------------------------------------------------


def test_phrases_match_words_whatever_the_case_and_punctuation():
    spotter = PhraseSpotter(["cancel my account", "manager", "Acme-Corp"])
    words = [(" I", 0, 100, 0.9), (" want", 100, 300, 0.8), (" to", 300, 400, 0.9), (" CANCEL", 400, 700, 0.6),
             (" my", 700, 800, 0.9), (" account!", 800, 1200, 0.9), (" acme", 1300, 1500, 0.5),
             (" corp's", 1500, 1800, 0.7)]
    found = spotter.spot(timed_tokens(text="", words=words, start_ms=0, end_ms=2000, confidence=None), channel=1,
                         utterance_id="u")
    assert [(m.phrase, m.start_ms, m.end_ms) for m in found] == [("cancel my account", 400, 1200)]
    assert found[0].confidence == pytest.approx(0.8)
    found = spotter.spot(timed_tokens(text="Get me the manager, and Acme corp!", words=(), start_ms=10, end_ms=90,
                                      confidence=0.7), channel=0, utterance_id="v")
    assert [(m.phrase, m.start_ms, m.confidence) for m in found] == [("manager", 10, 0.7), ("Acme-Corp", 10, 0.7)]


def test_phrase_events_from_the_tracker():
    t = CallTracker(channels=1, settings=AnalyticsSettings(phrases=("speak to a manager",), sentiment=False))
    out = t.final(channel=0, utterance_id="u", text="Let me speak to a manager.", start_ms=0, end_ms=2000)
    phrase, = [e for e in out if e["event"] == "phrase"]
    assert phrase["phrase"] == "speak to a manager" and phrase["channel"] == 0
    assert t.summary(2000)["phrases"]["count"] == 1


# -- sentiment -------------------------------------------------------------------------------------


@pytest.mark.extra("analytics")
def test_sentiment_of_utterances_and_parties():
    t = CallTracker(channels=2, settings=AnalyticsSettings(), scorer=sentiment())
    good, = [e for e in t.final(channel=0, utterance_id="a", text="Thank you so much, that is great!",
                                start_ms=0, end_ms=2000) if e["event"] == "utterance"]
    bad, = [e for e in t.final(channel=1, utterance_id="b", text="This is terrible, I hate this awful service.",
                               start_ms=2000, end_ms=4000) if e["event"] == "utterance"]
    assert good["sentiment"] == "positive" and good["sentiment_score"] > 0.5
    assert bad["sentiment"] == "negative" and bad["sentiment_score"] < -0.5
    summary = t.summary(4000)
    assert [p["sentiment"]["sentiment"] for p in summary["parties"]] == ["positive", "negative"]
    assert sentiment().score("The parcel arrived on Tuesday.").label == "neutral"


# -- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize("alerts, message", [
    ({"dead_air_sec": 0.2}, "alerts.dead_air_sec=0.2 is out of range 1..3600"),
    ({"overtalk_sec": 1000}, "alerts.overtalk_sec=1000 is out of range 0.5..600"),
    ({"fast_wpm": "fast"}, "alerts.fast_wpm must be a number"),
    ({"loud_dbfs": 3}, "alerts.loud_dbfs=3 is out of range -60..0"),
    ({"loud_dbfs": True}, "alerts.loud_dbfs must be a number"),
    ({"slow_wpm": 10}, "unknown threshold(s) slow_wpm"),
    ([1], "analytics.alerts must be an object"),
])
def test_thresholds_out_of_range_are_refused(alerts, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CallAnalytics.parse({"alerts": alerts})


@pytest.mark.parametrize("phrases, message", [
    ([], "analytics.phrases is empty"),
    (["ok"] * 0 + [f"p{i}" for i in range(MAX_PHRASES + 1)], f"has {MAX_PHRASES + 1} phrases; at most {MAX_PHRASES}"),
    (["x" * (MAX_PHRASE_CHARS + 1)], f"analytics.phrases\\[0\\] has {MAX_PHRASE_CHARS + 1} characters"),
    (["fine", "?!"], r"analytics.phrases\[1\] has no word"),
    (["fine", 3], r"analytics.phrases\[1\] must be a string"),
    ("cancel", "analytics.phrases must be a list"),
    ([" ".join(["w"] * 13)], "has 13 words; at most 12"),
])
def test_bad_phrase_lists_are_refused(phrases, message):
    with pytest.raises(ConfigError, match=message):
        CallAnalytics.parse({"phrases": phrases})


def test_a_calls_settings_over_its_tenants():
    tenant = TenantAnalytics(phrases=("refund",), alerts=AlertRules(dead_air_sec=30, loud_dbfs=None))
    call = CallAnalytics.parse({"phrases": ["manager", "refund"], "alerts": {"dead_air_sec": 5}, "sentiment": False})
    settings = call.settings(tenant)
    assert settings.phrases == ("refund", "manager") and not settings.sentiment
    assert settings.alerts == AlertRules(dead_air_sec=5, loud_dbfs=None)
    assert CallAnalytics.parse(True).settings(tenant).alerts.dead_air_sec == 30
    assert CallAnalytics.parse(False) is None and CallAnalytics.parse(None) is None
    with pytest.raises(ConfigError, match="analytics: unknown setting"):
        CallAnalytics.parse({"phrase": ["x"]})
    with pytest.raises(ConfigError, match="analytics must be true, false or an object"):
        CallAnalytics.parse("yes")
    assert parse_phrases([" refund ", "refund"]) == ("refund",)


def test_dead_air_is_found_whatever_order_the_finals_come_in():
    """Channel 0's final comes after channel 1 started again; the VAD's facts still show the silence."""
    t = tracker(dead_air_sec=1)
    out = t.speech_started(0, 0)
    out += t.speech_started(1, 9000)  # 0's end is late: nobody is known to be silent yet
    out += t.final(channel=0, utterance_id="a", text="x y", start_ms=0, end_ms=7000, words=words_over(0, 7000, 2))
    assert not [e for e in out if e["event"] == "alert"]  # 0 may still speak: its utterance has not ended
    out += t.speech_ended(0, 0, 7000)
    out += t.speech_started(0, 16_000)  # and 0 speaks again before 1's final
    out += t.final(channel=1, utterance_id="b", text="x y", start_ms=9000, end_ms=14_000,
                   words=words_over(9000, 14_000, 2))
    alert, = [e for e in out if e.get("alert") == "dead_air"]
    assert (alert["start_ms"], alert["duration_ms"]) == (7000, 2000)


# -- dead air and overtalk: the same facts live and in the summary ---------------------------------


def test_an_utterance_in_progress_after_its_early_final_is_not_dead_air():
    """The demo page under load: one long utterance of continuous speech, an early final at its first
    sentence, the rest's final 10 s late. The old tracker took the early final for the end of the
    utterance and alerted "dead air, ongoing" from 2.9 s while the caller spoke."""
    t = tracker(dead_air_sec=10)
    out = t.speech_started(0, 200)
    for now in range(500, 4500, 500):
        out += t.tick(now)
    out += t.final(channel=0, utterance_id="a", text="x " * 8, start_ms=200, end_ms=3000,
                   words=words_over(300, 2900, 8))
    for now in range(4500, 20_000, 500):  # 0 speaks on until 15.5 s; the rest's final is late (load)
        out += t.tick(now)
    assert not [e for e in out if e.get("alert") == "dead_air"], out
    out += t.final(channel=0, utterance_id="b", text="x " * 30, start_ms=3000, end_ms=15_500,
                   words=words_over(3000, 15_400, 30))
    out += t.speech_ended(0, 200, 15_500)
    for now in range(20_000, 24_000, 500):  # 4.5 s of silence so far, judged 4 s late: none yet
        out += t.tick(now)
    out += t.settle(24_000)
    summary = t.summary(24_000)
    assert not [e for e in out if e.get("alert") == "dead_air"], out
    assert summary["dead_air"]["count"] == 0 and alert_problems(out, summary) == []


def test_a_late_end_and_the_start_behind_it_are_no_dead_air():
    """Under load the VAD's end of an utterance comes with its final, 10 s late, the next start right
    behind it: the silence between them is short, whatever the clock says meanwhile."""
    t = tracker(dead_air_sec=5)
    out = t.speech_started(0, 0)
    for now in range(500, 18_000, 500):
        out += t.tick(now)
    out += t.speech_ended(0, 0, 8000)  # at 17.5 s: the pipeline is about 10 s late
    out += t.tick(18_000)
    out += t.speech_started(0, 8900)
    for now in range(18_500, 30_000, 500):
        out += t.tick(now)
    assert not [e for e in out if e.get("alert") == "dead_air"], out
    out += t.speech_ended(0, 8900, 20_000)
    out += t.settle(30_000)
    assert [(e["start_ms"], e["duration_ms"]) for e in out if e.get("alert") == "dead_air"] == [(20_000, 10_000)]
    assert alert_problems(out, t.summary(30_000)) == []


def test_a_start_later_than_the_lag_withdraws_the_alert_it_contradicts():
    t = tracker(dead_air_sec=5)
    out = t.speech_started(0, 0) + t.speech_ended(0, 0, 1000)
    alert, = t.tick(1000 + 5000 + LIVE_LAG_MS)
    assert alert.get("ongoing")
    withdrawn, = t.speech_started(1, 4000)  # a start the pipeline was 3 s late with: 3 s of silence only
    assert (withdrawn["id"], withdrawn["retracted"]) == (alert["id"], True)
    out += [alert, withdrawn] + t.settle(9000)
    summary = t.summary(9000)
    assert summary["alerts"]["dead_air"] == 0 and summary["dead_air"]["count"] == 0
    assert alert_problems(out, summary) == []


def test_silence_at_the_end_of_the_call_is_alerted_when_it_settles():
    t = tracker(dead_air_sec=2)
    out = t.speech_started(0, 0) + t.speech_ended(0, 0, 1000)
    out += t.final(channel=0, utterance_id="a", text="hello", start_ms=0, end_ms=1000)
    settled = t.settle(4000)
    assert [(e["alert"], e["start_ms"], e["duration_ms"]) for e in settled] == [("dead_air", 1000, 3000)]
    summary = t.summary(4000)
    assert alert_problems(out + settled, summary) == [] and summary["dead_air"]["total_ms"] == 3000


def test_a_random_call_alerts_as_its_summary_says_however_late_the_facts():
    """Two parties, facts arriving late by varying amounts with the clock running: whatever alerts
    went out, once settled they are the summary's stretches."""
    import random
    rng = random.Random(7)
    for _ in range(50):
        t = tracker(dead_air_sec=2, overtalk_sec=1)
        facts = []  # (arrival clock ms, what)
        for channel in (0, 1):
            at = rng.randrange(0, 3000)
            while at < 60_000:
                length = rng.randrange(300, 9000)
                late = rng.choice([300, 800, 2000, 6000, 12_000])
                facts.append((at + 200 + rng.randrange(0, 300), "start", channel, at, at + length))
                facts.append((at + length + late, "end", channel, at, at + length))
                at += length + rng.randrange(200, 6000)
        facts.sort()
        out: list[dict] = []
        clock = 0
        for arrival, what, channel, start, end in facts:
            while clock + 500 <= arrival:
                clock += 500
                out += t.tick(clock)
            out += t.speech_started(channel, start) if what == "start" else t.speech_ended(channel, start, end)
        out += t.settle(clock)
        summary = t.summary(clock)
        assert alert_problems(out, summary) == [], (alert_problems(out, summary), out, summary)


# -- the consistency check ---------------------------------------------------------------------------


def summary_of(dead_air=(), overtalk=(), alerts=None) -> dict:
    def stretches(found):
        return {"count": len(found), "items": [{"start_ms": s, "end_ms": e} for s, e in found]}
    return {"alerts": {"dead_air": 0, "overtalk": 0, "fast": 0, "loud": 0, **(alerts or {})},
            "dead_air": stretches(dead_air), "overtalk": stretches(overtalk)}


def alert(kind, id, start, duration, **flags) -> dict:
    return {"event": "alert", "alert": kind, "id": id, "start_ms": start, "duration_ms": duration, **flags}


def test_consistent_accepts_alerts_inside_the_summary_stretches():
    events = [{"event": "utterance"}, alert("dead_air", 1, 1000, 10_000, ongoing=True),
              alert("dead_air", 1, 1000, 12_000, ended=True), alert("overtalk", 2, 3000, 4000),
              alert("dead_air", 3, 20_000, 10_000, ongoing=True), alert("dead_air", 3, 20_000, 500, retracted=True),
              alert("loud", 4, 0, 900)]
    assert alert_problems(events, summary_of([(1000, 13_000)], [(3000, 7000)], {"dead_air": 1, "overtalk": 1, "loud": 1})) == []


@pytest.mark.parametrize("events, summary, problem", [
    # The bug of issue 42: dead air "ongoing" while the summary has none.
    ([alert("dead_air", 1, 2900, 10_100, ongoing=True)], summary_of([(2900, 14_000)], alerts={"dead_air": 1}),
     "dead_air alert 1 at 2900 ms still goes on"),
    ([alert("dead_air", 1, 2900, 10_100, ongoing=True)], summary_of(),
     "1 dead_air alert(s) stand; the summary counts 0"),
    ([alert("dead_air", 1, 2900, 10_100, ended=True)], summary_of(),
     "ends or withdraws an alert never raised"),
    ([alert("dead_air", 1, 2900, 10_100)], summary_of([(2900, 12_000)], alerts={"dead_air": 1}),
     "(2900-13000 ms) is in none of the summary's dead_air stretches"),
    ([alert("overtalk", 1, 1000, 3000)], summary_of((), [(1000, 4000), (9000, 9900)], {"overtalk": 1}),
     "1 overtalk alert(s) stand; the summary has 2 overtalk stretch(es)"),
    ([alert("fast", 1, 0, 1000)], summary_of(), "1 fast alert(s) stand; the summary counts 0"),
    ([{"event": "alert", "alert": "loud", "start_ms": 0, "duration_ms": 5}], summary_of(), "has no id"),
    ([alert("dead_air", 1, 0, 10_000, retracted=True)], summary_of(), "ends or withdraws an alert never raised"),
    ([alert("dead_air", 1, 0, 10_000, ongoing=True), alert("dead_air", 1, 0, 10_000, retracted=True),
      alert("dead_air", 1, 0, 12_000, ended=True)], summary_of([(0, 12_000)], alerts={"dead_air": 1}),
     "comes after its alert was withdrawn"),
])
def test_consistent_says_where_alerts_and_summary_disagree(events, summary, problem):
    problems = alert_problems(events, summary)
    assert any(problem in p for p in problems), problems


# -- the keys file ---------------------------------------------------------------------------------


def test_keys_file_analytics_settings_of_a_tenant():
    keys = parse_keys("k1 tenant=acme analytics=on phrases=cancel+my+account,manager "
                      "alerts=dead_air_sec:8,loud_dbfs:off\n"
                      "k2 tenant=acme analytics=on phrases=cancel+my+account,manager "
                      "alerts=dead_air_sec:8,loud_dbfs:off\nk3 tenant=globex\n", source="keys")
    settings = keys["k1"].analytics
    assert settings == TenantAnalytics(enabled=True, phrases=("cancel my account", "manager"),
                                       alerts=AlertRules(dead_air_sec=8, loud_dbfs=None))
    assert keys["k3"].analytics is None


@pytest.mark.parametrize("line, message", [
    ("k1 analytics=yes", "keys:1: analytics must be on or off"),
    ("k1 alerts=dead_air_sec:0.1", "keys:1: alerts.dead_air_sec=0.1 is out of range 1..3600"),
    ("k1 alerts=dead_air_sec", "keys:1: alerts: 'dead_air_sec' is not name:value"),
    ("k1 alerts=fast_wpm:quick", "keys:1: alerts: fast_wpm's value 'quick' is not a number or off"),
    ("k1 alerts=slow:3", "keys:1: alerts: unknown threshold"),
    ("k1 phrases=" + ",".join(f"p{i}" for i in range(MAX_PHRASES + 1)), f"keys:1: phrases has {MAX_PHRASES + 1}"),
    ("k1 phrases=ok,,fine", r"keys:1: phrases\[1\] has no word"),
    ("k1 tenant=a phrases=x\nk2 tenant=a phrases=y", "keys:2: tenant a has other analytics"),
])
def test_keys_file_bad_analytics_settings(line, message):
    with pytest.raises(ConfigError, match=message):
        parse_keys(line, source="keys")


# -- the doors -------------------------------------------------------------------------------------


def test_the_native_door_renders_events_and_the_summary():
    config = parse_config(json.dumps({"type": "config", "analytics": {"phrases": ["refund"]}}))
    assert config.call_analytics.phrases == ("refund",)
    assert config.pipeline(denoise_default=False).asr.words  # analytics time talk by words
    door = NativeDoor(None)
    door.render(events.Opened("call", ("s",)))
    event, = door.render(events.Analytics({"event": "alert", "alert": "dead_air", "start_ms": 0}))
    assert json.loads(event) == {"type": "analytics", "session_id": "call", "event": "alert", "alert": "dead_air",
                                 "start_ms": 0, "seq": 1}
    summary, = door.render(events.Analytics({"talk_ms": 5}, summary=True))
    assert json.loads(summary) == {"type": "analytics_summary", "session_id": "call", "summary": {"talk_ms": 5},
                                   "seq": 2}


def test_a_bad_analytics_config_is_a_bad_config_error():
    with pytest.raises(ProtocolError, match=r"analytics.phrases\[0\] has no word") as caught:
        parse_config(json.dumps({"type": "config", "analytics": {"phrases": ["..."]}}))
    assert caught.value.code == "bad_config"


# -- the analyzer task (gateway/features/analytics.py) --------------------------------------------------


def final_event(channel: int, start_ms: int, end_ms: int, text: str) -> events.Final:
    words = tuple(events.Word(text=w, start_ms=s, end_ms=e, confidence=0.9)
                  for w, s, e, _ in words_over(start_ms, end_ms, len(text.split())))
    return events.Final(channel=channel, session_id="s", utterance_id=f"s-{start_ms}", text=text, start_ms=start_ms,
                        end_ms=end_ms, language="en", speech_final=True, words=words)


async def test_the_analyzer_sends_events_then_the_summary_and_counts_by_tenant():
    registry = CollectorRegistry()
    sent: list[events.Analytics] = []

    async def emit(event: events.Analytics) -> None:
        sent.append(event)

    analyzer = CallAnalyzer(tracker(overtalk_sec=1.0), channels=2, tenant="acme", metrics=GatewayMetrics(registry),
                            emit=emit, call_log=lambda: None)
    analyzer.start()
    tone = (8000 * np.sin(np.arange(16_000 * 8) / 3)).astype(np.int16)
    analyzer.audio(0, [(0, tone)])
    analyzer.audio(1, [(0, tone)])
    analyzer.speech_started(0, 0)
    analyzer.final(final_event(0, 0, 5000, "one two three four five six seven"))
    analyzer.final(final_event(1, 2000, 6000, "eight nine ten eleven"))
    summary = await analyzer.finish(8000)
    kinds = [e.data.get("event") for e in sent[:-1]]
    assert kinds.count("utterance") == 2 and "interruption" in kinds and sent[-1].summary
    assert sent[-1].data == summary and summary["interruptions"]["count"] == 1
    assert all(-20 < e.data["level_dbfs"] < -10 for e in sent if e.data.get("event") == "utterance")
    value = registry.get_sample_value
    assert value("streamscribe_gateway_analytics_call_seconds_total", {"tenant": "acme"}) == 8.0
    assert value("streamscribe_gateway_analytics_alerts_total", {"tenant": "acme", "alert": "overtalk"}) == 1
    assert value("streamscribe_gateway_analytics_interruptions_total", {"tenant": "acme"}) == 1

    # Never started (its task does not take records): past QUEUE records are dropped and counted.
    idle = CallAnalyzer(tracker(), channels=1, tenant="acme", metrics=GatewayMetrics(CollectorRegistry()),
                        emit=None, call_log=lambda: None, clock=False)
    for _ in range(QUEUE + 3):
        idle.speech_started(0, 0)
    assert idle.metrics.analytics_dropped._value.get() == 3


# -- talk time from the words ------------------------------------------------------------------------


def test_spoken_joins_words_closer_than_the_gap_and_keeps_pauses_out():
    gap = talk.TALK_GAP_MS
    words = [(1000, 1400), (0, 300), (300 + gap - 1, 900), (1400 + gap, 2000), (2100, 2100), (1900, 2050)]
    assert talk.spoken(words) == [(0, 1400), (1400 + gap, 2050)]  # a gap of exactly TALK_GAP_MS is a pause
    assert talk.spoken([]) == [] and talk.spoken([(5, 5)]) == []
    assert talk.spoken([(0, 100), (150, 200)], gap_ms=0) == [(0, 100), (150, 200)]


def test_talk_time_leaves_out_the_pauses_inside_an_utterance():
    """Issue 45: a pause inside an utterance (shorter than the VAD's silence_threshold) counted as talk."""
    t = tracker()
    words = [("one", 0, 400, 0.9), ("two", 500, 1000, 0.9), ("three", 1700, 2200, 0.9), ("four", 2250, 2600, 0.9)]
    utterance, = t.final(channel=0, utterance_id="a", text="one two three four", start_ms=0, end_ms=3000, words=words)
    assert (utterance["start_ms"], utterance["end_ms"]) == (0, 2600)  # the speech span keeps the pause
    t.final(channel=1, utterance_id="b", text="yes", start_ms=1000, end_ms=1600, words=[("yes", 1100, 1600, 0.9)])
    summary = t.summary(4000)
    agent, customer = summary["parties"]
    assert agent["talk_ms"] == 1000 + 900  # 0-1000 (a 100 ms gap joined) and 1700-2600, not the 700 ms pause
    assert agent["wpm"] == round(4 * 60_000 / 1900, 1)
    # The customer spoke inside the agent's pause: no overtalk, although the speech spans overlap.
    assert customer["talk_ms"] == 500 and summary["overtalk_ms"] == 0
    assert summary["talk_ms"] == 2400 and summary["non_talk_ms"] == 4000 - 2400


def test_a_final_without_word_timings_talks_over_its_span():
    t = tracker()
    t.final(channel=0, utterance_id="a", text="hello there", start_ms=500, end_ms=2000)
    assert t.summary(3000)["parties"][0]["talk_ms"] == 1500
