"""The Deepgram-compatible doors at /v1/listen and /v2/listen (Flux), sans I/O.

Query parameters, WAV headers, rendering of core events. tests/e2e/test_deepgram.py
runs the official ``deepgram-sdk`` against a local gateway with real workers.
"""

from __future__ import annotations

import json
import struct

import pytest

from common.errors import ErrorCode, ProtocolError
from gateway.core import events
from gateway.doors import door_for
from gateway.doors.base import CloseFrame, Handshake, HandshakeRefused
from gateway.doors import deepgram as dg
from gateway.doors import flux
from gateway.doors.deepgram import MIN_ENDPOINTING_MS, DeepgramDoor
from gateway.doors.flux import FluxDoor
from gateway.doors.kit import parse_wav_header

from tests.kit.support import ROOT


def door(query: str = "encoding=linear16&sample_rate=16000") -> DeepgramDoor:
    return DeepgramDoor(Handshake.from_target(f"/v1/listen?{query}", {}))


def final(text="Hello, world.", *, channel=0, words=(), confidence=None, **extra) -> events.Final:
    return events.Final(channel=channel, session_id="s", utterance_id="u", text=text, start_ms=500, end_ms=1700,
                        language="en", speech_final=extra.pop("speech_final", True), words=words,
                        confidence=confidence, **extra)


def rendered(d: DeepgramDoor, event: events.Event) -> list[dict]:
    return [json.loads(m) for m in d.render(event)]


# -- sans I/O --------------------------------------------------------------------------------------


def test_route_and_defaults():
    assert door_for("/v1/listen") is DeepgramDoor
    d = door("encoding=mulaw&sample_rate=8000&channels=2&multichannel=true&language=multi"
             "&keywords=Dashwood:2.5&keywords=Norland&keyterm=Barton%20Park&keyterm=Norland&endpointing=false")
    (opened,) = d.opening()
    config = opened.config
    assert (config.encoding, config.sample_rate, config.channels, config.pipelines) == ("mulaw", 8000, 2, 2)
    assert config.language is None and config.words
    assert config.context == "Dashwood, Norland, Barton Park"
    assert config.vad == {"silence_threshold": 10.0}
    assert door().opening()[0].config.language == "en"  # Deepgram's default
    assert door("encoding=linear16&sample_rate=16000&endpointing=10").opening()[0].config.vad == {
        "silence_threshold": MIN_ENDPOINTING_MS / 1000}
    assert door("encoding=alaw&sample_rate=8000&endpointing=1200").opening()[0].config.vad == {
        "silence_threshold": 1.2}
    headers = dict(d.response_headers())
    assert headers["dg-request-id"] == d.request_id
    assert door("model=nova-3&smart_format=true").opening() == []  # a container: opened by its header


@pytest.mark.parametrize("query, text", [
    ("encoding=opus&sample_rate=48000", "invalid value for encoding: 'opus'"),
    ("encoding=linear16", "sample_rate is required"),
    ("encoding=linear16&sample_rate=96000", "sample_rate: 96000"),
    ("encoding=linear16&sample_rate=abc", "expected an integer"),
    ("encoding=linear16&sample_rate=16000&channels=9", "channels: 9"),
    ("encoding=linear16&sample_rate=16000&interim_results=yes", "interim_results: 'yes'"),
    ("encoding=linear16&sample_rate=16000&endpointing=soon", "endpointing: 'soon'"),
    ("encoding=linear16&sample_rate=16000&profanity_filter=1", "profanity_filter"),
    ("encoding=linear16&sample_rate=16000&extra=novalue", "extra"),
    ("keyterm=" + "x" * 5000, "context"),
    ("encoding=%C3%A9%0D%0AX-Evil:%201", "invalid value for encoding: 'é\\r\\nX-Evil: 1'"),
])
def test_invalid_parameters_refuse_the_handshake(query, text):
    with pytest.raises(HandshakeRefused) as info:
        door(query)
    refused = info.value
    body = json.loads(refused.body)
    assert refused.status == 400 and body["err_code"] == "INVALID_QUERY_PARAMETER"
    assert text in body["err_msg"]
    headers = dict(refused.headers)
    assert headers["dg-request-id"] == body["request_id"]
    assert headers["dg-error"].isascii() and headers["dg-error"].isprintable()


def test_ignored_parameters_are_accepted():
    d = door("encoding=linear16&sample_rate=16000&diarize_model=x&tag=a&tag=b&version=latest&redact=pci"
             "&numerals=true&filler_words=false&mip_opt_out=true&callback=http://x&brand_new_param=1")
    assert d.opening()


def test_every_parameter_is_documented():
    page = (ROOT / "docs" / "deepgram.md").read_text().split("## Query parameters", 1)[1].split("\n## ", 1)[0]
    for name in dg.HONOURED + dg.IGNORED + dg.IGNORED_FLAGS:
        assert f"`{name}`" in page and f"``{name}``" in dg.__doc__, name


def wav_header(*, tag=1, bits=16, rate=8000, channels=1) -> bytes:
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"LIST" + struct.pack("<I", 3) + b"abc\x00"
            + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF))


def test_wav_container():
    header = wav_header(tag=7, bits=8, rate=8000, channels=2)
    assert parse_wav_header(header[:20]) is None  # more bytes needed
    assert parse_wav_header(header) == ("mulaw", 8000, 2, len(header))
    with pytest.raises(ProtocolError, match="does not start with a WAV header"):
        parse_wav_header(b"OggS\x00\x02")
    with pytest.raises(ProtocolError, match="WAV format 85"):
        parse_wav_header(wav_header(tag=85, bits=0))
    d = door("punctuate=true")
    assert d.receive(json.dumps({"type": "KeepAlive"})) == []
    assert d.receive(header[:10]) == []
    opened, audio = d.receive(header[10:] + b"\xff\xff")
    assert opened.config.encoding == "mulaw" and opened.config.channels == 2 and opened.config.language == "en"
    assert audio == events.Audio(b"\xff\xff")
    assert d.receive(b"\x01\x02") == [events.Audio(b"\x01\x02")]
    # CloseStream before any audio: an empty call that closes normally
    assert [type(op) for op in door().receive(json.dumps({"type": "CloseStream"}))] == [events.Close]
    assert [type(op) for op in door("model=x").receive(json.dumps({"type": "CloseStream"}))] == [
        events.Open, events.Close]


def test_control_messages():
    d = door()
    assert d.receive('{"type": "KeepAlive"}') == [events.KeepAlive()]
    assert d.receive('{"type": "Finalize"}') == [events.Finalize()]
    assert d.receive('{"type": "CloseStream"}') == [events.Close()]
    assert d.receive(b"") == [events.Close()]  # Deepgram's deprecated empty frame
    with pytest.raises(ProtocolError, match="unsupported message type 'Configure'") as info:
        d.receive('{"type": "Configure", "keyterms": []}')
    assert info.value.code == ErrorCode.UNKNOWN_TYPE
    with pytest.raises(ProtocolError) as info:
        d.receive("{nope")
    assert info.value.code == ErrorCode.BAD_JSON


def test_results_rendering():
    d = door("encoding=linear16&sample_rate=16000&punctuate=true&extra=team:blue")
    partial = events.Partial(channel=0, session_id="s", utterance_id="u", text="Hello", start_ms=500, end_ms=900,
                             language="en")
    assert d.render(partial) == []  # interim_results defaults to false
    words = (events.Word(text="Hello,", start_ms=520, end_ms=900, confidence=0.8),
             events.Word(text="world.", start_ms=950, end_ms=1600, confidence=0.6))
    (message,) = rendered(d, final(words=words))
    assert message["type"] == "Results" and message["channel_index"] == [0, 1]
    assert (message["start"], message["duration"]) == (0.5, 1.2)
    assert (message["is_final"], message["speech_final"], message["from_finalize"]) == (True, True, False)
    alternative = message["channel"]["alternatives"][0]
    assert alternative["transcript"] == "Hello, world."
    assert alternative["confidence"] == 0.7  # no engine figure: the mean of the words'
    assert alternative["words"][0] == {"word": "hello", "punctuated_word": "Hello,", "start": 0.52, "end": 0.9,
                                       "confidence": 0.8}
    assert message["metadata"]["request_id"] == d.request_id
    assert message["metadata"]["model_info"]["name"] == "base" and message["metadata"]["extra"] == {"team": "blue"}
    # without punctuate or smart_format: Deepgram's plain transcript
    plain = door()
    (message,) = rendered(plain, final("Mr. Dashwood's  power, too.", confidence=0.93))
    alternative = message["channel"]["alternatives"][0]
    assert alternative["transcript"] == "mr dashwood's power too" and alternative["confidence"] == 0.93
    assert alternative["words"] == []


def test_interim_vad_and_utterance_end_events():
    d = door("encoding=linear16&sample_rate=16000&interim_results=true&vad_events=true&utterance_end_ms=1000"
             "&channels=2&multichannel=true")
    (message,) = rendered(d, events.Partial(channel=1, session_id="s", utterance_id="u", text="hi", start_ms=0,
                                            end_ms=300, language="en"))
    assert message["is_final"] is False and message["speech_final"] is False and message["channel_index"] == [1, 2]
    assert rendered(d, events.SpeechStarted(1, 250)) == [
        {"type": "SpeechStarted", "channel": [1, 2], "timestamp": 0.25, "request_id": d.request_id}]
    assert rendered(d, events.UtteranceEnd(0, 1700)) == [
        {"type": "UtteranceEnd", "channel": [0, 2], "last_word_end": 1.7, "request_id": d.request_id}]
    quiet = door()
    assert quiet.render(events.SpeechStarted(0, 250)) == [] and quiet.render(events.UtteranceEnd(0, 1)) == []


def test_finalize_always_answers_with_a_from_finalize_final():
    d = door("encoding=linear16&sample_rate=16000&channels=2&multichannel=true")
    d.receive('{"type": "Finalize"}')
    (message,) = rendered(d, final(channel=0, from_finalize=True))
    assert message["from_finalize"] is True
    (empty,) = rendered(d, events.Flushed(1))  # channel 1 had nothing pending: an empty final for it
    assert empty["channel_index"] == [1, 2] and empty["from_finalize"] and empty["is_final"]
    assert empty["channel"]["alternatives"][0]["transcript"] == ""
    assert rendered(d, events.Flushed(1)) == []


def test_ending():
    d = door("encoding=linear16&sample_rate=16000")
    d.receive(b"\x00\x01")
    metadata, close = d.render(events.Ended(1000, "session complete", True, audio_ms=1500))
    metadata = json.loads(metadata)
    assert metadata["type"] == "Metadata" and metadata["request_id"] == d.request_id
    assert metadata["duration"] == 1.5 and metadata["channels"] == 1 and len(metadata["sha256"]) == 64
    assert close == CloseFrame(1000, "")
    idle = door()
    (error,) = rendered(idle, events.Error(ErrorCode.IDLE_TIMEOUT, "no audio for 10 s", fatal=True))
    assert error["type"] == "Error" and error["request_id"] == idle.request_id
    (close,) = idle.render(events.Ended(1011, "no audio for 10 s", False))
    assert close.code == 1011 and close.reason.startswith("NET-0001")
    bad = door()
    bad.render(events.Error(ErrorCode.BAD_AUDIO, "not WAV", fatal=True))
    assert bad.render(events.Ended(1008, "not WAV", False))[0].reason.startswith("DATA-0000")
    failed = door()
    failed.render(events.Error(ErrorCode.TIMEOUT, "late", fatal=True))
    assert failed.render(events.Ended(1011, "late", False)) == [CloseFrame(1011, "NET-0000: late")]


# -- Flux (/v2/listen), sans I/O --------------------------------------------------------------------

def flux_door(query: str = "model=flux-general-en&encoding=linear16&sample_rate=16000") -> FluxDoor:
    return FluxDoor(Handshake.from_target(f"/v2/listen?{query}", {}))


def partial(text: str, start_ms: int = 500, end_ms: int = 900) -> events.Partial:
    return events.Partial(channel=0, session_id="s", utterance_id="u", text=text, start_ms=start_ms, end_ms=end_ms,
                          language="en")


def turn(d: FluxDoor, event: events.Event) -> list[tuple[str, str]]:
    """(event, transcript) of the TurnInfo messages ``event`` renders."""
    return [(m["event"], m["transcript"]) for m in rendered(d, event)]


def test_flux_route_and_parameters():
    assert door_for("/v2/listen") is FluxDoor
    (opened,) = flux_door("model=flux-general-en&encoding=mulaw&sample_rate=8000&eot_timeout_ms=1200"
                          "&keyterm=Dashwood&keyterm=Norland&eot_threshold=0.8&tag=x&numerals=true").opening()
    config = opened.config
    assert (config.encoding, config.sample_rate, config.channels, config.language) == ("mulaw", 8000, 1, "en")
    assert config.vad == {"silence_threshold": 1.2} and config.context == "Dashwood, Norland"
    assert not config.eager_finals and config.words
    assert flux_door("model=flux-general-en&encoding=linear16&sample_rate=16000&eager_eot_threshold=0.5"
                     ).opening()[0].config.eager_finals
    multi = "model=flux-general-multi&encoding=linear16&sample_rate=16000"
    assert flux_door(multi).opening()[0].config.language is None
    assert flux_door(multi + "&language_hint=de").opening()[0].config.language == "de"
    assert flux_door("model=flux-general-en").opening() == []  # a WAV stream: opened by its header
    page = (ROOT / "docs" / "flux.md").read_text().split("## Parameters", 1)[1].split("\n## ", 1)[0]
    for name in flux.HONOURED + flux.IGNORED + flux.IGNORED_FLAGS:  # documented here and in docs/flux.md
        assert f"``{name}``" in flux.__doc__ and f"`{name}`" in page, name


@pytest.mark.parametrize("query, text", [
    ("eager_eot_threshold=0.95", "eager_eot_threshold: 0.95 (expected 0.3 to 0.9)"),
    ("eot_threshold=0.2", "eot_threshold: 0.2"),
    ("eot_timeout_ms=20000", "eot_timeout_ms: 20000 (expected 500 to 10000)"),
    ("eot_timeout_ms=soon", "expected an integer"),
    ("eager_eot_threshold=high", "expected a number"),
    ("encoding=opus", "invalid value for encoding: 'opus'"),
    ("numerals=maybe", "numerals"),
])
def test_flux_invalid_parameters_refuse_the_handshake(query, text):
    with pytest.raises(HandshakeRefused) as info:
        flux_door(f"model=flux-general-en&sample_rate=16000&{query}")
    body = json.loads(info.value.body)
    assert info.value.status == 400 and body["err_code"] == "INVALID_QUERY_PARAMETER"
    assert text in body["err_msg"], body


def test_flux_control_messages():
    d = flux_door()
    assert d.receive('{"type": "ForceEndTurn"}') == [events.Finalize()]
    assert d.receive('{"type": "CloseStream"}') == [events.Close()]
    assert d.receive('{"type": "KeepAlive"}') == [events.KeepAlive()]
    (reply,) = d.receive('{"type": "Configure", "thresholds": {"eot_threshold": 0.8}}')
    (failure,) = rendered(d, reply)
    assert failure["type"] == "ConfigureFailure" and failure["description"] and failure["sequence_id"] == 0
    with pytest.raises(ProtocolError, match="unsupported message type 'Finalize'") as info:
        d.receive('{"type": "Finalize"}')  # v1's name
    assert info.value.code == ErrorCode.UNKNOWN_TYPE
    with pytest.raises(ProtocolError) as info:
        d.receive("{nope")
    assert info.value.code == ErrorCode.BAD_JSON
    (warning,) = rendered(d, events.Error(ErrorCode.BAD_JSON, "message is not valid JSON"))
    assert (warning["type"], warning["code"], warning["sequence_id"]) == ("Warning", "BAD_JSON", 1)
    (error,) = rendered(d, events.Error(ErrorCode.TIMEOUT, "late", fatal=True))
    assert error["type"] == "Error" and error["description"] == "late"
    assert d.render(events.Ended(1011, "late", False)) == [CloseFrame(1011, "NET-0000: late")]
    assert flux_door().render(events.Ended(1000, "session complete", True)) == [CloseFrame(1000, "")]


def test_flux_turns_without_eager_finals():
    d = flux_door()
    (connected,) = rendered(d, events.Opened("call", ("s",)))
    assert connected == {"type": "Connected", "request_id": d.request_id, "sequence_id": 0}
    assert rendered(d, events.SpeechStarted(0, 400)) == []  # a turn begins with words
    assert turn(d, partial("")) == []
    assert turn(d, partial("Hello")) == [("StartOfTurn", "Hello")]
    assert turn(d, partial("Hello world", end_ms=1300)) == [("Update", "Hello world")]
    words = (events.Word(text="Hello", start_ms=520, end_ms=900, confidence=0.8),
             events.Word(text="world.", start_ms=950, end_ms=1600, confidence=0.6))
    (split,) = rendered(d, final("Hello world.", words=words, speech_final=False))  # long speech split
    assert (split["event"], split["transcript"]) == ("Update", "Hello world.")
    (update,) = rendered(d, partial("How are", start_ms=1700, end_ms=2200))
    assert update["transcript"] == "Hello world. How are"
    assert [w["word"] for w in update["words"]] == ["Hello", "world.", "How", "are"]
    assert update["words"][1] == {"word": "world.", "confidence": 0.6, "start": 0.95, "end": 1.6}
    (end,) = rendered(d, final("How are you?", speech_final=True))
    assert (end["event"], end["transcript"], end["trigger"]) == ("EndOfTurn", "Hello world. How are you?", "model")
    # The end's window ends where its finals' words do (1.7 s), not where a partial decoded to.
    assert (end["turn_index"], end["audio_window_start"], end["audio_window_end"]) == (0, 0.5, 1.7)
    assert end["end_of_turn_confidence"] == 1.0
    assert [m["sequence_id"] for m in rendered(d, partial("Next"))] == [6]
    (start,) = rendered(d, partial("Next"))
    assert (start["event"], start["turn_index"]) == ("Update", 1)


def test_flux_eager_end_of_turn_resumed_and_forced():
    d = flux_door("model=flux-general-en&encoding=linear16&sample_rate=16000&eager_eot_threshold=0.4")
    assert turn(d, partial("And Mr.")) == [("StartOfTurn", "And Mr.")]
    (eager,) = rendered(d, final("And Mr. John", speech_final=False))
    assert (eager["event"], eager["transcript"], eager["end_of_turn_confidence"]) == ("EagerEndOfTurn",
                                                                                     "And Mr. John", 0.4)
    assert turn(d, final("", speech_final=True)) == [("EndOfTurn", "And Mr. John")]  # confirmed: same transcript
    # speech resumes after an eager end: TurnResumed, then the turn goes on and ends with all of it
    assert turn(d, final("Dashwood had", speech_final=False)) == [("StartOfTurn", "Dashwood had"),
                                                                  ("EagerEndOfTurn", "Dashwood had")]
    assert turn(d, partial("then")) == [("TurnResumed", "Dashwood had then")]
    assert turn(d, partial("then leisure")) == [("Update", "Dashwood had then leisure")]
    assert turn(d, final("then leisure.", speech_final=False)) == [("EagerEndOfTurn", "Dashwood had then leisure.")]
    assert turn(d, final("To consider.", speech_final=True)) == [
        ("TurnResumed", "Dashwood had then leisure. To consider."),
        ("EagerEndOfTurn", "Dashwood had then leisure. To consider."),  # EndOfTurn comes from AwaitingEnd only
        ("EndOfTurn", "Dashwood had then leisure. To consider.")]
    # an endpoint with no pause before it (the sentence endpoint) passes through EagerEndOfTurn too
    assert turn(d, partial("Norland")) == [("StartOfTurn", "Norland")]
    assert turn(d, final("Norland Park.", speech_final=True)) == [("EagerEndOfTurn", "Norland Park."),
                                                                  ("EndOfTurn", "Norland Park.")]
    # ForceEndTurn: the from_finalize final ends the turn (manual); with none pending, Flushed does
    assert turn(d, partial("how much")) == [("StartOfTurn", "how much")]
    (forced,) = rendered(d, final("how much", speech_final=True, from_finalize=True))
    assert (forced["event"], forced["trigger"], forced["turn_index"]) == ("EndOfTurn", "manual", 3)
    assert rendered(d, events.Flushed(1)) == []  # no turn open: nothing to end
    assert turn(d, partial("there")) == [("StartOfTurn", "there")]
    (forced,) = rendered(d, events.Flushed(2))  # the partial's utterance had no words after all
    assert (forced["event"], forced["transcript"], forced["trigger"]) == ("EndOfTurn", "", "manual")


@pytest.mark.extra("diarize")
def test_a_diarized_live_final_has_deepgrams_speaker_on_each_word():
    d = door("encoding=linear16&sample_rate=16000&diarize=true")
    assert d.opening() and d.settings.diarize
    words = (events.Word(text="Hi", start_ms=500, end_ms=800, confidence=0.9, speaker=0, speaker_confidence=1.0),
             events.Word(text="there.", start_ms=900, end_ms=1600, confidence=0.8, speaker=1, speaker_confidence=0.6))
    (result,) = [m for m in rendered(d, final("Hi there.", words=words, speaker=0)) if m["type"] == "Results"]
    said = result["channel"]["alternatives"][0]["words"]
    assert [(w["speaker"], w["speaker_confidence"]) for w in said] == [(0, 1.0), (1, 0.6)]
    unlabelled = (events.Word(text="Hi.", start_ms=500, end_ms=800, confidence=0.9),)
    (plain,) = [m for m in rendered(d, final("Hi.", words=unlabelled)) if m["type"] == "Results"]
    assert "speaker" not in plain["channel"]["alternatives"][0]["words"][0]  # unlabelled (the wait ran out)


def test_live_diarize_with_several_channels_is_refused():
    with pytest.raises(HandshakeRefused) as info:
        door("encoding=linear16&sample_rate=16000&channels=2&multichannel=true&diarize=true")
    assert info.value.status == 400 and "diarize=true needs one channel" in json.loads(info.value.body)["err_msg"]
