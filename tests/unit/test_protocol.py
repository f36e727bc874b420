"""The native door, sans I/O: config parsing, control messages, rendering of core events."""

import json
import re
from pathlib import Path

import pytest

from common.errors import ErrorCode, ProtocolError
from common.pipeline_config import VadConfig
from gateway.core import events
from gateway.doors import ROUTES, door_for
from gateway.doors.base import CloseFrame, Handshake
from gateway.doors.native import NativeDoor, parse_config, parse_control

NATIVE_DOCS = Path(__file__).resolve().parents[2] / "docs" / "native.md"


def test_defaults_and_pipeline():
    config = parse_config('{"type": "config"}')
    assert config.sample_rate == 16000 and config.encoding == "float32" and config.language is None
    assert config.pipeline(denoise_default=False).stages == ("vad", "asr")
    assert config.pipeline(denoise_default=True).stages == ("denoise", "vad", "asr")
    assert parse_config('{"denoise": false}').pipeline(denoise_default=True).stages == ("vad", "asr")


def test_full_config():
    config = parse_config('{"type":"config","sample_rate":8000,"encoding":"alaw","language":"English",'
                          '"context":"Dashwood, Norland","chunk_size_sec":0.5,"unfixed_chunk_num":1,'
                          '"unfixed_token_num":3,"vad":{"vad_threshold":0.6,"silence_threshold":0.5},'
                          '"channels":2,"words":true}')
    assert (config.sample_rate, config.encoding, config.language) == (8000, "alaw", "English")
    pipeline = config.pipeline(denoise_default=False)
    assert pipeline.vad == VadConfig(threshold=0.6, silence_threshold=0.5)
    assert (pipeline.asr.context, pipeline.asr.chunk_size_sec, pipeline.asr.unfixed_token_num) == ("Dashwood, Norland",
                                                                                                   0.5, 3)
    assert config.pipelines == 2 and config.words
    assert parse_config('{"channels": 2, "multichannel": false}').pipelines == 1


def test_early_final_options_reach_the_pipeline():
    pipeline = parse_config('{"eager_finals": true, "sentence_endpoint": false}').pipeline(denoise_default=False)
    assert pipeline.asr.eager_finals is True and pipeline.asr.sentence_endpoint is False
    defaults = parse_config('{"sentence_endpoint": null}').pipeline(denoise_default=False)
    assert defaults.asr.eager_finals is False and defaults.asr.sentence_endpoint is None  # the worker decides


@pytest.mark.parametrize("message, code, text", [
    ("hello", "bad_json", "not valid JSON"),
    (b"\x00\x01", "config_required", "not binary audio"),
    ('["config"]', "bad_json", "JSON object"),
    ("[" * 100_000 + "]" * 100_000, "bad_json", "over the 65536-character limit"),
    ("[" * 30_000 + "]" * 30_000, "bad_json", "nested too deeply"),
    ('{"type": "finalize"}', "config_required", "must be a config"),
    ('{"samplerate": 8000}', "bad_config", r"unknown config field\(s\): samplerate"),
    ('{"sample_rate": 96000}', "bad_config", "out of range"),
    ('{"sample_rate": 16000.5}', "bad_config", "integer"),
    ('{"channels": 9}', "bad_config", "channels=9 is out of range"),
    ('{"encoding": "opus"}', "bad_config", "encoding must be one of"),
    ('{"chunk_size_sec": "1"}', "bad_config", "must be a number"),
    ('{"language": 5}', "bad_config", "language must be a string"),
    ('{"vad": {"silence_threshold": -1}}', "bad_config", "silence_threshold"),
    ('{"vad": {"nope": 1}}', "bad_config", "unknown vad option"),
    ('{"vad": [1]}', "bad_config", "vad must be an object"),
    ('{"denoise": "yes"}', "bad_config", "denoise must be"),
    ('{"words": 1}', "bad_config", "words must be true, false"),
    ('{"eager_finals": "yes"}', "bad_config", "eager_finals must be true, false$"),
    ('{"sentence_endpoint": 1}', "bad_config", "sentence_endpoint must be true, false or null"),
    ('{"asr_audio": "both"}', "bad_config", "asr_audio"),
    ('{"context": "Norland \\ud83d"}', "bad_config", "context must be valid Unicode text: it holds a lone surrogate"),
])
def test_bad_configs(message, code, text):
    with pytest.raises(ProtocolError, match=text) as info:
        parse_config(message)
    assert info.value.code == code


def test_control_messages():
    assert parse_control('{"type": "finalize"}') == events.Finalize()
    assert parse_control('{"type": "keepalive"}') == events.KeepAlive()
    assert parse_control('{"type": "close"}') == events.Close()
    with pytest.raises(ProtocolError, match="unknown message type 'pause'") as info:
        parse_control('{"type": "pause"}')
    assert info.value.code == "unknown_type"
    with pytest.raises(ProtocolError, match="already received"):
        parse_control('{"type": "config"}')
    with pytest.raises(ProtocolError, match="nested too deeply") as info:
        parse_control("[" * 30_000 + "]" * 30_000)
    assert info.value.code == "bad_json"


def _door() -> NativeDoor:
    return NativeDoor(Handshake("/ws/asr"))


def test_a_session_through_the_door():
    door = _door()
    (opened,) = door.receive('{"type": "config", "sample_rate": 8000, "encoding": "pcm16", "words": true}')
    assert isinstance(opened, events.Open) and opened.config.sample_rate == 8000
    assert door.receive(b"\x00\x00") == [events.Audio(b"\x00\x00")]
    assert door.receive('{"type": "close"}') == [events.Close()]
    rendered = [json.loads(m) for e in (
        events.Opened("abc", ("abc",)),
        events.Partial(channel=0, session_id="abc", utterance_id="abc-0", text="and", start_ms=0, end_ms=500,
                       language="en"),
        events.Final(channel=0, session_id="abc", utterance_id="abc-0", text="And so.", start_ms=0,
                     end_ms=900, language="en", speech_final=True, confidence=0.91234,
                     words=(events.Word(text="And", start_ms=10, end_ms=200, confidence=0.9),)),
        events.UtteranceEnd(0, 900),
        events.Flushed(1),
        events.Error(ErrorCode.BAD_AUDIO, "odd", False),
    ) for m in door.render(e)]
    assert [m["type"] for m in rendered] == ["session_created", "partial", "final", "flushed", "error"]
    assert [m["seq"] for m in rendered] == [0, 1, 2, 3, 4]
    final = rendered[2]
    assert final["is_speech_final"] is True and final["confidence"] == 0.9123 and "channel" not in final
    assert final["words"] == [{"word": "And", "start_ms": 10, "end_ms": 200, "confidence": 0.9}]
    assert "words" not in rendered[1]
    assert rendered[4] == {"type": "error", "code": "bad_audio", "message": "odd", "fatal": False, "seq": 4}
    assert door.render(events.Ended(1000, "session complete", True)) == [CloseFrame(1000, "session complete")]


def test_channels_are_labelled_only_on_multichannel_calls():
    door = _door()
    door.receive('{"channels": 2}')
    (created,) = door.render(events.Opened("call", ("a", "b")))
    assert json.loads(created)["channel_session_ids"] == ["a", "b"]
    (partial,) = door.render(events.Partial(channel=1, session_id="b", utterance_id="b-0", text="hi",
                                            start_ms=0, end_ms=1, language="en"))
    assert json.loads(partial)["channel"] == 1


def test_routes():
    assert door_for("/ws/asr") is NativeDoor and door_for("/ws/asr/") is NativeDoor
    assert door_for("/ws/nope") is None
    assert all(door.name for door in ROUTES.values())


def test_docs_list_every_error_code():
    section = NATIVE_DOCS.read_text().split("## Errors and close codes", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))
    assert listed == {code.value for code in ErrorCode}


@pytest.mark.parametrize("flag, text", [
    ("truncated", "4 1"),  # the engine cut a repetition loop out: words may be missing
    ("no_words", ""),  # a recording's utterance in which speech was found and nothing recognised
])
def test_a_final_says_what_it_lacks_only_when_it_does(flag, text):
    door = _door()
    door.receive('{"type": "config"}')
    common = dict(channel=0, session_id="abc", start_ms=0, end_ms=900, language="en", speech_final=True)
    flagged, plain = (json.loads(m) for e in (events.Final(utterance_id="abc-0", text=text, **{flag: True}, **common),
                                              events.Final(utterance_id="abc-1", text="4 1", **common))
                      for m in door.render(e))
    assert (flagged["text"], flagged[flag]) == (text, True) and flag not in plain


@pytest.mark.extra("diarize")
def test_a_diarized_final_says_its_speaker_and_its_words_theirs():
    door = _door()
    (opened,) = door.receive('{"type": "config", "diarize": true}')
    assert opened.config.diarize
    word = events.Word(text="Hi", start_ms=10, end_ms=200, confidence=0.9, speaker=1, speaker_confidence=0.75)
    (message,) = door.render(events.Final(channel=0, session_id="abc", utterance_id="abc-0", text="Hi", start_ms=0,
                                          end_ms=300, language="en", speech_final=True, words=(word,), speaker=1))
    final = json.loads(message)
    assert final["speaker"] == 1  # words come with diarize even without "words": true
    assert final["words"] == [{"word": "Hi", "start_ms": 10, "end_ms": 200, "confidence": 0.9, "speaker": 1,
                               "speaker_confidence": 0.75}]
