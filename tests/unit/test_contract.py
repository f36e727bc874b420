"""The transcript contract's checker (common.contract): hand-made streams and each door's real messages. Pure."""

from __future__ import annotations

import json

import pytest
from websockets.datastructures import Headers

from common import contract
from common.contract import Event, check
from gateway.core import events
from gateway.doors.audiohook import AudioHookDoor
from gateway.doors.base import Handshake
from gateway.doors.deepgram import DeepgramDoor
from gateway.doors.flux import FluxDoor
from gateway.doors.native import NativeDoor
from gateway.doors.twilio import TwilioDoor
from gateway.outputs.transcript_log import finals_fields, transcript_message
from tests.kit.telephony import SESSION_ID, AudioHookClient, twilio_start


def final(text: str, start_ms: int, end_ms: int, uid: str | None = None, **fields) -> Event:
    return Event(kind="final", text=text, start_ms=start_ms, end_ms=end_ms,
                 utterance_id=uid if uid is not None else f"u{start_ms}", **fields)


def partial(text: str, start_ms: int, end_ms: int, uid: str | None = None, **fields) -> Event:
    return Event(kind="partial", text=text, start_ms=start_ms, end_ms=end_ms,
                 utterance_id=uid if uid is not None else f"u{start_ms}", **fields)


def kinds(violations) -> list[tuple[str, int]]:
    return [(v.kind, v.index) for v in violations]


# -- clean streams -------------------------------------------------------------------------------

CALL = [
    partial("Ask not", 0, 900, language="en"),
    final("Ask not what your country can do for you.", 0, 3000, speech_final=False, language="en"),
    partial("ask what", 3000, 3800, language="en"),
    final("Ask what you can do for your country.", 3000, 5800, language="en"),
    final("Thank you.", 7000, 7600, language="en"),
    final("Thank you.", 8000, 8500, language="en"),  # short: said twice by chance
]


def test_a_clean_call_has_no_violation():
    assert check(CALL) == []
    assert check(CALL, language="en-US", speech={0: [(0, 5800), (7000, 7600), (8000, 8500)]},
                 reference={0: "Ask not what your country can do for you. Ask what you can do for your country. "
                               "Thank you. Thank you."}) == []
    assert check([]) == []


def test_a_clip_said_again_is_not_a_repeat():
    """Tests stream one clip several times in a session: each time at its own pace."""
    said = "Hello world, this is a test of the service."
    events_ = [final(said, 0, 3000), final(said, 5000, 8000), final(said, 8000, 10_900)]
    assert check(events_) == []
    # after other speech too
    assert check([final(said, 0, 3000), final("Something else entirely.", 4000, 5500), final(said, 6000, 9000)]) == []


def test_a_flagged_final_without_words_covers_its_speech():
    flagged = Event(kind="final", text="", start_ms=1000, end_ms=2000, utterance_id="u", flags=frozenset({"no_words"}))
    assert check([flagged], speech={0: [(1000, 2000)]}) == []


def test_channels_are_checked_apart():
    both = [final("Hello there my friend.", 0, 2000, channel=0), final("Hello there my friend.", 500, 2500, channel=1)]
    assert check(both) == []


# -- each kind of violation ----------------------------------------------------------------------

def test_overlapping_finals():
    """The demo page under load: two ids, overlapping spans (issue 42)."""
    events_ = [final("I would like to check the balance of my account.", 10_600, 14_500),
               final("I would like to check the balance of my account, please.", 10_500, 15_300)]
    assert kinds(check(events_)) == [("overlap", 1)]  # (its span could hold its words: no repeat by pace)


def test_a_final_going_back_before_the_last_one():
    violations = check([final("Good morning.", 5000, 6000), final("Hi.", 1000, 1500)])
    assert kinds(violations) == [("overlap", 1)]
    assert "goes back" in violations[0].detail


def test_touching_spans_are_not_an_overlap():
    assert check([final("One two three.", 0, 1500), final("Four five six.", 1500, 3000)]) == []


def test_two_finals_for_one_utterance():
    assert kinds(check([final("Hello.", 0, 800, "a"), final("Goodbye.", 900, 1500, "a")])) == [("duplicate_final", 1)]


def test_a_short_final_repeating_the_sentence_before():
    """Issue 42: the early final, then 160 ms of audio 'saying' the sentence's end again."""
    events_ = [final("Ask what you can do for your country.", 7870, 10_820),
               final("What you can do for your country.", 10_820, 10_980)]
    violations = check(events_)
    assert kinds(violations) == [("repeated_text", 1), ("repeated_text", 1)]  # too fast, and a repeat
    assert "words/s" in violations[0].detail or "words/s" in violations[1].detail
    print(contract.describe(events_, violations))


def test_a_final_starting_with_the_sentence_before():
    """Issue 42's read passage: the earlier final's sentence again, then the new words, in the new words' time."""
    events_ = [final("It was the season of light.", 20_000, 21_800),
               final("It was the season of light, it was the season of darkness.", 22_200, 24_000)]
    assert kinds(check(events_)) == [("repeated_text", 1)]
    # the same said in full: its span holds all of it at the pace of the first
    assert check([events_[0], final(events_[1].text, 22_200, 25_800)]) == []


def test_a_final_holding_the_sentence_before_inside_it():
    """The turn set's extra-5011, base through Twilio: the final of "The technician said the router
    was faulty." (9.60-12.28 s) wrote the sentence before it again after a filler, one word changed."""
    before = final("I never received the confirmation email.", 6630, 9210)
    after = "I'm not sure. I never received a confirmation email. The technician can't marute a one-fold bit."
    assert kinds(check([before, final(after, 9600, 12_280)])) == [("repeated_text", 1)]
    assert kinds(check([before, final(after, 9600, 12_280)], reference={0: before.text})) == [("repeated_text", 1)]
    # its span could hold all of it at the pace of the first: said again
    assert check([before, final(after, 9600, 17_600)]) == []
    # a three-word final with a word changed is no repeat: short phrases recur with a word of their own
    assert check([final("I see that.", 0, 900), final("Okay. I saw that, and the rest is fine.", 1000, 4000)]) == []


def test_a_repeat_two_finals_back():
    events_ = [final("I have updated the address for you.", 0, 2500), final("Thank you.", 3000, 3500),
               final("updated the address for you", 4000, 4300)]
    violations = check(events_)
    assert kinds(violations) == [("repeated_text", 2), ("repeated_text", 2)]  # too fast, and a repeat
    assert "repeats event 0" in violations[1].detail


def test_a_reference_decides_a_repeat():
    said = "We were all going direct the other way."
    twice = [final(said, 0, 2500), final(said, 3000, 5500)]
    assert check(twice) == []  # plausible: said again
    assert kinds(check(twice, reference={0: said})) == [("repeated_text", 1)]  # the reference says it once
    assert check(twice, reference={0: f"{said} {said}"}) == []


def test_words_said_twice_in_a_row_in_one_final():
    run = "We were all going direct the other way. We were all going direct the other way."
    assert kinds(check([final(run, 0, 6000)])) == [("repeated_text", 0)]
    # short phrases repeat in speech
    assert check([final("It was the age of wisdom, it was the age of foolishness.", 0, 4000)]) == []


def test_too_many_words_for_the_audio():
    assert kinds(check([final("one two three four five six seven eight nine", 0, 1000)])) == [("repeated_text", 0)]
    assert check([final("one two", 0, 100)]) == []  # too few words for a rate


def test_a_partial_after_its_final():
    events_ = [partial("hello", 0, 500, "a"), final("Hello.", 0, 800, "a"), partial("hello th", 0, 900, "a")]
    assert kinds(check(events_)) == [("partial_after_final", 2)]
    # a door without utterance ids: a partial starting inside finalised audio
    events_ = [Event(kind="final", text="Hello.", start_ms=0, end_ms=800),
               Event(kind="partial", text="hello", start_ms=0, end_ms=900),
               Event(kind="partial", text="there", start_ms=800, end_ms=1200)]
    assert kinds(check(events_)) == [("partial_after_final", 1)]


def test_one_short_final_in_another_language_is_a_flip():
    events_ = [final("Hello, how are you today?", 0, 2000, language="en"),
               final("Bene.", 2500, 2900, language="it"),
               final("I am fine, thank you.", 3500, 5000, language="en")]
    assert kinds(check(events_)) == [("language_flip", 1)]


def test_a_language_asked_for_is_kept():
    events_ = [final("Hola, buenos días.", 0, 2000, language="es"), final("Hello.", 2500, 3000, language="en")]
    assert kinds(check(events_, language="es-MX")) == [("language_flip", 1)]


def test_a_switch_on_strong_evidence_is_kept():
    """Several utterances in the new language: the caller switched."""
    events_ = [final("Hello, how are you today?", 0, 2000, language="en")] + [
        final(text, 3000 + 2000 * i, 4500 + 2000 * i, language="es") for i, text in enumerate(
            ("Prefiero hablar en español por favor.", "Tengo una pregunta sobre mi cuenta.", "Gracias señora."))]
    assert check(events_) == []


def test_text_in_the_wrong_script():
    """Issue 42: an English caller's words in Thai script; Cyrillic in Spanish."""
    assert kinds(check([final("สวัสดีครับ", 0, 1000, language="en")])) == [("wrong_script", 0)]
    assert kinds(check([final("Hola привет amigo", 0, 1500, language="es")])) == [("wrong_script", 0)]
    assert kinds(check([final("Hello 你好 world", 0, 1500, language="en")])) == [("wrong_script", 0)]
    assert check([final("こんにちは、OKです。", 0, 1500, language="ja")]) == []  # Latin in Japanese: allowed
    assert check([final("Привет, как дела?", 0, 1500, language="ru")]) == []
    assert check([final("สวัสดีครับ", 0, 1000, language="xx")]) == []  # unknown language: not checked


def test_english_tagged_latin():
    """Issue 42: English finals tagged 'la' on the multilingual model."""
    assert kinds(check([final("Thank you for calling, how can I help you today?", 0, 3000, language="la")])) == [
        ("wrong_language", 0)]
    assert check([final("Gracias por llamar, ¿en qué puedo ayudarle hoy?", 0, 3000, language="es")]) == []
    # words other languages share with English do not count
    assert check([final("Was will er, wir haben die Zeit nicht mehr.", 0, 3000, language="de")]) == []
    assert check([final("Is het waar dat we was hebben?", 0, 3000, language="nl")]) == []
    assert check([final("To jest my do domu.", 0, 3000, language="pl")]) == []


def test_speech_no_final_covers_is_lost():
    events_ = [final("Hi.", 0, 600), final("Thanks for calling the store.", 3000, 5000)]
    violations = check(events_, speech={0: [(0, 600), (1000, 1480), (3000, 5000)]})
    assert kinds(violations) == [("lost_speech", -1)]
    assert "1000-1480" in violations[0].detail
    # half covered is covered (spans carry the VAD's margins)
    assert check(events_, speech={0: [(0, 1000)]}) == []


def test_bad_events_are_refused():
    with pytest.raises(ValueError, match="partial or a final"):
        Event(kind="interim", text="", start_ms=0, end_ms=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ends before it starts"):
        Event(kind="final", text="", start_ms=10, end_ms=0)


# -- the doors' messages, rendered by the real doors -----------------------------------------------

def core_events(session_id: str = "s", channel: int = 0, text2: str = "Ask what you can do for your country.",
                start2: int = 3000, end2: int = 5800) -> list[events.Transcript]:
    common = dict(channel=channel, session_id=session_id, language="en")
    return [
        events.Partial(utterance_id="u0", text="Ask not", start_ms=0, end_ms=900, **common),
        events.Final(utterance_id="u0", text="Ask not what your country can do for you.", start_ms=0, end_ms=3000,
                     speech_final=False, **common),
        events.Partial(utterance_id="u1", text="Ask what", start_ms=3000, end_ms=3800, **common),
        events.Final(utterance_id="u1", text=text2, start_ms=start2, end_ms=end2, speech_final=True, **common),
    ]


BAD = dict(text2="what your country can do for you", start2=3000, end2=3100)  # 160 ms repeating the last


def rendered(door, items) -> list[dict]:
    return [json.loads(m) for item in items for m in door.render(item) if isinstance(m, str)]


def native_door() -> NativeDoor:
    door = NativeDoor(Handshake("/ws/asr"))
    door.receive('{"type": "config", "sample_rate": 16000, "encoding": "pcm16"}')
    door.render(events.Opened("s", ("s",)))
    return door


def test_native_messages():
    got = contract.from_native(rendered(native_door(), core_events()))
    assert [(e.kind, e.utterance_id, e.start_ms, e.end_ms, e.speech_final) for e in got] == [
        ("partial", "u0", 0, 900, True), ("final", "u0", 0, 3000, False), ("partial", "u1", 3000, 3800, True),
        ("final", "u1", 3000, 5800, True)]
    assert got[1].text == "Ask not what your country can do for you." and got[1].language == "en"
    assert check(got) == []
    assert ("repeated_text", 3) in kinds(check(contract.from_native(rendered(native_door(), core_events(**BAD)))))


def test_native_flags():
    door = native_door()
    flagged = events.Final(channel=0, session_id="s", utterance_id="u", text="", start_ms=0, end_ms=900,
                           language="en", speech_final=True, no_words=True)
    (event,) = contract.from_native(rendered(door, [flagged]))
    assert event.flags == frozenset({"no_words"})


def test_twilio_messages():
    door = TwilioDoor(Handshake("/twilio", headers=Headers({"Host": "example.com"}), target="/twilio"))
    door.receive(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    door.receive(twilio_start())
    got = contract.from_twilio(rendered(door, core_events(channel=1)))
    assert [(e.kind, e.channel, e.start_ms) for e in got] == [("partial", 1, 0), ("final", 1, 0), ("partial", 1, 3000),
                                                              ("final", 1, 3000)]
    assert check(got) == []
    assert ("repeated_text", 3) in kinds(check(contract.from_twilio(rendered(door, core_events(**BAD)))))


def deepgram_door() -> DeepgramDoor:
    return DeepgramDoor(Handshake.from_target(
        "/v1/listen?encoding=linear16&sample_rate=16000&interim_results=true&language=multi", {}))


def test_deepgram_results():
    door = deepgram_door()
    door.render(events.Opened("s", ("s",), model="base", languages=frozenset({"en", "es"})))
    got = contract.from_deepgram(rendered(door, core_events()))
    assert [(e.kind, e.start_ms, e.end_ms, e.speech_final, e.utterance_id) for e in got] == [
        ("partial", 0, 900, False, None), ("final", 0, 3000, False, None), ("partial", 3000, 3800, False, None),
        ("final", 3000, 5800, True, None)]
    assert got[3].language == "en"  # detected
    assert check(got) == []
    assert ("repeated_text", 3) in kinds(check(contract.from_deepgram(rendered(deepgram_door(), core_events(**BAD)))))


def test_flux_turns():
    door = FluxDoor(Handshake.from_target(
        "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000&eager_eot_threshold=0.5", {}))
    messages = rendered(door, core_events())
    assert [m["event"] for m in messages if m["type"] == "TurnInfo"] == [
        "StartOfTurn", "EagerEndOfTurn", "TurnResumed", "EagerEndOfTurn", "EndOfTurn"]
    got = contract.from_flux(messages)
    assert [(e.kind, e.utterance_id) for e in got] == [("partial", "turn0")] * 4 + [("final", "turn0")]
    assert (got[-1].start_ms, got[-1].end_ms) == (0, 5800)
    assert check(got) == []
    # a turn after it that says the ended turn's words again, in no time
    later = [events.Final(channel=0, session_id="s", utterance_id="u2", text="Ask what you can do for your country.",
                          start_ms=5800, end_ms=6000, language="en", speech_final=True)]
    got = contract.from_flux(messages + rendered(door, later))
    assert kinds(check(got)) == [("repeated_text", 7), ("repeated_text", 7)]
    # an Update of an ended turn
    stale = {**messages[0], "event": "Update"}
    assert ("partial_after_final", 5) in kinds(check(contract.from_flux([*messages, stale])))


def test_audiohook_entities():
    door = AudioHookDoor(Handshake("/audiohook", headers=Headers({
        "Audiohook-Organization-Id": "d7934305-0972-4844-938e-9060eef73d05",
        "Audiohook-Correlation-Id": "30b0e395-84d3-4570-ac13-9a62d8f514c0", "Audiohook-Session-Id": SESSION_ID,
        "X-API-KEY": "k"}), target="/audiohook"))
    door.receive(AudioHookClient().open())
    door.render(events.Opened(SESSION_ID, ("s0", "s1")))
    got = contract.from_audiohook(rendered(door, core_events(channel=1)))
    assert [(e.kind, e.channel, e.start_ms, e.end_ms, e.language) for e in got] == [
        ("final", 1, 0, 3000, "en"), ("final", 1, 3000, 5800, "en")]  # no partials on AudioHook
    assert got[0].utterance_id != got[1].utterance_id
    assert check(got) == []
    assert kinds(check(contract.from_audiohook(rendered(door, core_events(channel=1, **BAD))))) == [
        ("repeated_text", 1), ("repeated_text", 1)]


def test_finals_stream_entries():
    finals = [e for e in core_events(session_id="abc", channel=1) if isinstance(e, events.Final)]
    entries = [finals_fields(transcript_message("call", e, "agent"), tenant="t", protocol="native", gateway="g")
               for e in finals]
    got = contract.from_finals_stream(entries)
    assert [(e.kind, e.utterance_id, e.channel, e.start_ms, e.end_ms, e.speech_final, e.language) for e in got] == [
        ("final", "u0", 1, 0, 3000, False, "en"), ("final", "u1", 1, 3000, 5800, True, "en")]
    assert check(got) == []


def test_deepgram_sdk_objects_are_read_through_model_dump():
    class Parsed:
        def model_dump(self):
            return {"type": "Results", "channel_index": [0, 1], "start": 1.0, "duration": 0.5, "is_final": True,
                    "speech_final": True, "channel": {"alternatives": [{"transcript": "Hi."}]}}

    (event,) = contract.from_deepgram([Parsed()])
    assert (event.kind, event.text, event.start_ms, event.end_ms) == ("final", "Hi.", 1000, 1500)
    with pytest.raises(TypeError):
        contract.from_deepgram([object()])


def test_describe_shows_the_events_around_a_violation():
    events_ = [final("Hello.", 0, 800, "a"), final("Goodbye.", 900, 1500, "a")]
    report = contract.describe(events_, check(events_))
    assert "duplicate_final" in report and "> [1]" in report and "  [0]" in report


# -- what ss:finals carries: the language asked for, the finals' flags -------------------------------

def test_finals_stream_entries_carry_the_language_asked_and_the_flags():
    flagged = events.Final(channel=0, session_id="s", utterance_id="u0", text="", start_ms=0, end_ms=900,
                           language="es", speech_final=True, no_words=True)
    cut = events.Final(channel=0, session_id="s", utterance_id="u1", text="Hola, buenos días.", start_ms=1000,
                       end_ms=2500, language="es", speech_final=True, truncated=True)
    entries = [finals_fields(transcript_message("call", e, None), tenant="t", protocol="native", gateway="g",
                             language_asked="es") for e in (flagged, cut)]
    assert [(e["language_asked"], e["flags"]) for e in entries] == [("es", "no_words"), ("es", "truncated")]
    got = contract.from_finals_stream(entries)
    assert [e.flags for e in got] == [frozenset({"no_words"}), frozenset({"truncated"})]
    english = [finals_fields(transcript_message("call", events.Final(
        channel=0, session_id="s", utterance_id=f"e{i}", text="Thank you very much.", start_ms=3000 + 2000 * i,
        end_ms=4200 + 2000 * i, language="en", speech_final=True), None), tenant="t", protocol="native",
        gateway="g", language_asked=asked) for i, asked in enumerate(("es", "es"))]
    # Asked for es, English finals are each a flip; detected, English is the session's language.
    assert kinds(check(contract.from_finals_stream(english), language="es")) == [
        ("language_flip", 0), ("language_flip", 1)]
    assert check(contract.from_finals_stream(english)) == []


# -- rules 7 and 8 on a call's log ---------------------------------------------------------------------

def logged(text: str, start_ms: int, end_ms: int, *, words: bool = True, speaker: int | None = None) -> dict:
    said = text.split()
    step = (end_ms - start_ms) // max(1, len(said))
    message = {"type": "final", "text": text, "start_ms": start_ms, "end_ms": end_ms, "language": "en",
               "utterance_id": f"u{start_ms}"}
    if words:
        message["words"] = [{"word": w, "start_ms": start_ms + i * step, "end_ms": start_ms + (i + 1) * step,
                             "confidence": 0.9, **({} if speaker is None else {"speaker": speaker})}
                            for i, w in enumerate(said)]
    return message


ENDED = {"type": "ended", "reason": "session complete", "complete": True}


def call_kinds(violations) -> list[tuple[str, int]]:
    return [(v.kind, v.index) for v in violations]


def test_a_call_that_got_what_it_asked_for_passes():
    asked = {"language": "en", "words": True, "diarize": True, "analytics": True, "sentiment": True,
             "redact": ["pci", "ssn"]}
    log = [logged("My card is [CREDIT_CARD_1].", 0, 2000, speaker=0),
           {"type": "analytics", "event": "utterance", "text": "My card is [CREDIT_CARD_1].", "sentiment": "neutral",
            "sentiment_score": 0.0},
           logged("Thank you, call 555-213-8840.", 2500, 4000, speaker=1),
           {"type": "analytics_summary", "summary": {"alerts": {"dead_air": 0}, "dead_air": {"count": 0}}}, ENDED]
    assert contract.check_call(log, asked=asked) == []
    assert contract.check_call(log, asked={}) == []


@pytest.mark.parametrize("asked, log, expected", [
    # words=true, a final with text and no word timings
    ({"words": True}, [logged("Hello there.", 0, 900, words=False), ENDED], [("option_dropped", 0)]),
    # diarize=true, no final with speakers (one unlabelled past the diarizer's wait is documented)
    ({"diarize": True}, [logged("Hello there.", 0, 900), logged("Hi.", 1000, 1400), ENDED], [("option_dropped", 1)]),
    ({"diarize": True}, [logged("Hello there.", 0, 900, speaker=0), logged("Hi.", 1000, 1400), ENDED], []),
    # redact=pci, a card number left in the text; ssn likewise
    ({"redact": ["pci"]}, [logged("It is 4111 1111 1111 1111.", 0, 4000)], [("option_dropped", 0)]),
    ({"redact": ["ssn"]}, [logged("Mine is 123-45-6789.", 0, 3000)], [("option_dropped", 0)]),
    ({"redact": ["numbers"]}, [logged("It is 4111-1111-1111-1111.", 0, 4000)], [("option_dropped", 0)]),
    # analytics asked, the call ended without a summary
    ({"analytics": True}, [logged("Hello there.", 0, 900), ENDED], [("option_dropped", -1)]),
    # sentiment asked, analysed utterances without one (issue 42's "neutral, 0.0" with no warning)
    ({"analytics": True, "sentiment": True},
     [logged("Hi, I am really unhappy.", 0, 1500), {"type": "analytics", "event": "utterance",
                                                   "text": "Hi, I am really unhappy."},
      {"type": "analytics_summary", "summary": {}}, ENDED], [("option_dropped", -1)]),
])
def test_an_option_asked_for_and_not_honoured_is_dropped(asked, log, expected):
    assert call_kinds(contract.check_call(log, asked=asked)) == expected


def test_an_option_flagged_by_a_warning_is_not_dropped():
    log = [{"type": "warning", "option": "sentiment", "message": "analytics run without sentiment: no extra"},
           logged("Hi, I am really unhappy.", 0, 1500),
           {"type": "analytics", "event": "utterance", "text": "Hi, I am really unhappy."},
           {"type": "analytics_summary", "summary": {}}, ENDED]
    assert contract.check_call(log, asked={"analytics": True, "sentiment": True}) == []
    assert contract.check_call([logged("Hello there.", 0, 900, words=False),
                                {"type": "warning", "option": "words", "message": "no timings"}],
                               asked={"words": True}) == []


def test_nothing_to_judge_is_no_violation():
    """A call without speech honours nothing and drops nothing; an analytics summary is judged only
    once the call has ended."""
    asked = {"words": True, "analytics": True, "sentiment": True}
    assert contract.check_call([ENDED], asked={"words": True}) == []
    assert contract.check_call([logged("", 0, 500, words=False)], asked=asked) == []


def test_an_alert_contradicting_the_summary_is_reported():
    """Issue 42: a dead_air alert "ongoing" for 10 s during speech while the summary says dead air 0."""
    alert = {"type": "analytics", "event": "alert", "alert": "dead_air", "id": 1, "start_ms": 10_600,
             "duration_ms": 10_000, "ongoing": True}
    summary = {"alerts": {"dead_air": 0, "overtalk": 0, "fast": 0, "loud": 0}, "dead_air": {"count": 0, "items": []},
               "overtalk": {"count": 0, "items": []}}
    log = [logged("I would like to check the balance of my account.", 10_600, 14_500), alert,
           {"type": "analytics_summary", "summary": summary}, ENDED]
    found = contract.check_call(log, asked={"analytics": True})
    assert {v.kind for v in found} == {"alert_disagrees"}
    assert any("1 dead_air alert(s) stand; the summary counts 0" in v.detail for v in found)
    assert any("still goes on" in v.detail for v in found)
    agreeing = {**summary, "alerts": {**summary["alerts"], "dead_air": 1},
                "dead_air": {"count": 1, "items": [{"start_ms": 10_600, "end_ms": 20_600}]}}
    ended = {**alert, "ongoing": False, "ended": True}
    assert contract.check_call([*log[:2], ended, {"type": "analytics_summary", "summary": agreeing}, ENDED],
                               asked={"analytics": True}) == []


def test_a_final_message_carries_its_flags_and_speakers():
    final = events.Final(channel=0, session_id="s", utterance_id="u", text="Hi.", start_ms=0, end_ms=500,
                         language="en", speech_final=True, truncated=True, speaker=1,
                         words=(events.Word(text="Hi.", start_ms=0, end_ms=400, confidence=0.9, speaker=1),))
    message = transcript_message("c", final, None)
    assert message["truncated"] is True and "no_words" not in message and message["speaker"] == 1
    assert message["words"][0]["speaker"] == 1
    assert contract.from_native([message])[0].flags == frozenset({"truncated"})


def test_what_a_call_asked_for_as_its_log_records_it():
    from gateway.core.config import SessionConfig

    assert SessionConfig().asked() == {}
    assert SessionConfig(language="es", words=True, analytics={"sentiment": False}).asked() == {
        "language": "es", "words": True, "analytics": True}
    assert SessionConfig(diarize=True, analytics=True, redact=("pci",)).asked() == {
        "diarize": True, "analytics": True, "sentiment": True, "redact": ["pci"]}
    assert "diarize" not in SessionConfig(diarize=True, priority="batch").asked()  # speakers in its response
