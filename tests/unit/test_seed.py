"""The seed systems' protocols: the RNN-T server's /ws/transcribe, whisper-streaming's /ws/stream and TCP.

Each door's parsing and rendering, sans I/O. tests/e2e/test_seed.py runs each door
end to end against a real stack with a LibriVox clip.
"""

from __future__ import annotations

import json

import pytest
from websockets.datastructures import Headers

from common.errors import ErrorCode, ProtocolError
from gateway.core import events
from gateway.doors import door_for
from gateway.doors.base import CloseFrame, Handshake, HandshakeRefused
from gateway.doors.rnnt import RnntDoor
from gateway.doors.whisper_stream import TcpDoor, WhisperStreamDoor
from gateway.tcp import TcpListener, TcpOptions, parse_networks


def handshake(target: str) -> Handshake:
    return Handshake.from_target(target, Headers())


def word(text, start, end):
    return events.Word(text=text, start_ms=start, end_ms=end, confidence=0.9)


def final(text="Hello world.", *, utterance="u1", start=500, end=1700, words=()) -> events.Final:
    return events.Final(channel=0, session_id="s", utterance_id=utterance, text=text, start_ms=start, end_ms=end,
                        language="en", speech_final=True, words=words)


def partial(text="Hello", *, utterance="u1") -> events.Partial:
    return events.Partial(channel=0, session_id="s", utterance_id=utterance, text=text, start_ms=500, end_ms=900,
                          language="en")


def rendered(door, event) -> list:
    return [json.loads(m) if isinstance(m, str) else m for m in door.render(event)]


# -- /ws/transcribe, sans I/O ------------------------------------------------------------------


def test_rnnt_greets_then_opens_on_start_recording():
    assert door_for("/ws/transcribe") is RnntDoor
    door = RnntDoor(handshake("/ws/transcribe?client_id=client_1_abc"))
    (greeting,) = door.opening()
    assert greeting.message["type"] == "connection" and greeting.message["client_id"] == "client_1_abc"
    assert door.receive(b"\x00\x01" * 100) == []  # audio before start_recording is ignored, as the seed did
    (pong,) = door.receive('{"type": "ping"}')
    assert pong.message == {"type": "pong"}
    (configured,) = door.receive('{"type": "configure", "silence_duration": 0.5, "vad_threshold": 0.01}')
    assert configured.message == {"type": "configured", "config": {"silence_duration": 0.5}}
    (opened,) = door.receive(json.dumps({"type": "start_recording",
                                         "config": {"sample_rate": 16000, "encoding": "pcm16", "language": "en",
                                                    "something_new": 1}}))
    config = opened.config
    assert (config.sample_rate, config.encoding, config.language, config.words) == (16000, "pcm16", "en", True)
    assert config.vad == {"silence_threshold": 0.5} and opened.call_id == "client_1_abc"
    assert door.receive(b"\x00\x01") == [events.Audio(b"\x00\x01")]
    (started,) = rendered(door, events.Opened("client_1_abc", ("s",)))
    assert started["type"] == "recording_started" and started["config"]["language"] == "en"
    assert door.receive('{"type": "stop_recording"}') == [events.Close()]
    assert door.receive(b"\x00\x01") == []  # after stop_recording


def test_rnnt_client_id_is_made_when_absent_and_checked_when_given():
    door = RnntDoor(handshake("/ws/transcribe"))
    assert door.client_id.startswith("client_")
    with pytest.raises(HandshakeRefused) as info:
        RnntDoor(handshake("/ws/transcribe?client_id=a%0Db"))
    assert info.value.status == 400 and "client_id" in json.loads(info.value.body)["error"]


@pytest.mark.parametrize("message, code, text", [
    ('{"type": "start_recording", "config": {"sample_rate": 96000}}', ErrorCode.BAD_CONFIG, "sample_rate"),
    ('{"type": "start_recording", "config": {"encoding": "opus"}}', ErrorCode.BAD_CONFIG, "encoding"),
    ('{"type": "start_recording", "config": {"channels": 3}}', ErrorCode.BAD_CONFIG, "channels"),
    ('{"type": "start_recording", "config": [1]}', ErrorCode.BAD_CONFIG, "object"),
    ('{"type": "stop_recording"}', ErrorCode.PROTOCOL, "before start_recording"),
    ('{"type": "configure", "silence_duration": "long"}', ErrorCode.BAD_CONFIG, "silence_duration"),
    ('{"type": "configure", "silence_duration": 99}', ErrorCode.BAD_CONFIG, "silence_threshold"),
    ('{"type": "dance"}', ErrorCode.UNKNOWN_TYPE, "start_recording"),
    ("not json", ErrorCode.BAD_JSON, "JSON"),
])
def test_rnnt_bad_messages(message, code, text):
    door = RnntDoor(handshake("/ws/transcribe"))
    with pytest.raises(ProtocolError) as info:
        door.receive(message)
    assert info.value.code == code and text in str(info.value)


def test_rnnt_renders_segments_words_and_the_summary():
    door = RnntDoor(handshake("/ws/transcribe"))
    door.receive('{"type": "start_recording"}')
    with pytest.raises(ProtocolError, match="already started"):
        door.receive('{"type": "start_recording"}')
    (first,) = rendered(door, partial("Hello", utterance="u1"))
    assert (first["type"], first["segment_id"], first["is_final"]) == ("partial", 0, False)
    (second,) = rendered(door, partial("And", utterance="u2"))
    assert second["segment_id"] == 1
    (result,) = rendered(door, final("Hello world.", utterance="u1", words=(word("Hello", 500, 900),
                                                                             word("world.", 950, 1700))))
    assert result["type"] == "transcription" and result["segment_id"] == 0 and result["is_final"] is True
    assert result["words"] == [{"word": "Hello", "start": 0.5, "end": 0.9, "confidence": 0.9},
                               {"word": "world.", "start": 0.95, "end": 1.7, "confidence": 0.9}]
    assert (result["duration"], result["start"], result["end"]) == (1.2, 0.5, 1.7)
    (other,) = rendered(door, final("And more.", utterance="u2", start=2000, end=2600))
    assert other["segment_id"] == 1
    (error,) = rendered(door, events.Error(ErrorCode.ASR_FAILED, "one utterance failed"))
    assert error["type"] == "error" and error["error"] == "one utterance failed" and error["code"] == "asr_failed"
    assert rendered(door, events.SpeechStarted(0, 10)) == []
    summary, close = rendered(door, events.Ended(1000, "session complete", complete=True, audio_ms=3250))
    assert summary["type"] == "recording_stopped" and summary["final_transcript"] == "Hello world. And more."
    assert (summary["total_duration"], summary["total_segments"]) == (3.25, 2)
    assert close == CloseFrame(1000, "session complete")
    assert rendered(door, events.Ended(1011, "boom", complete=False)) == [CloseFrame(1011, "boom")]


# -- /ws/stream and TCP, sans I/O ------------------------------------------------------------------


def test_whisper_stream_door():
    assert door_for("/ws/stream") is WhisperStreamDoor
    door = WhisperStreamDoor(handshake("/ws/stream?language=en"))
    (opened,) = door.opening()
    assert (opened.config.encoding, opened.config.sample_rate, opened.config.language) == ("pcm16", 16000, "en")
    assert rendered(door, events.Opened("c", ("s",))) == [{"type": "ready", "sample_rate": 16000}]
    assert door.receive(b"\x01\x02") == [events.Audio(b"\x01\x02")]
    assert door.receive("flush") == [events.Finalize()] and door.receive("close\n") == [events.Close()]
    with pytest.raises(ProtocolError, match="'flush' or 'close'") as info:
        door.receive('{"type": "flush"}')
    assert info.value.code == ErrorCode.UNKNOWN_TYPE
    assert rendered(door, final("Hi there.", start=1200, end=3400)) == [
        {"type": "final", "beg_ms": 1200, "end_ms": 3400, "text": "Hi there."}]
    assert rendered(door, final("")) == [] and rendered(door, partial()) == []
    assert rendered(door, events.Flushed(1)) == [{"type": "flushed"}]
    assert rendered(door, events.Ended(1000, "done", complete=True)) == [CloseFrame(1000, "done")]
    with pytest.raises(HandshakeRefused, match="unknown query parameter"):
        WhisperStreamDoor(handshake("/ws/stream?model=large"))


def test_tcp_door_carries_odd_bytes_and_ends_at_eof():
    door = TcpDoor(Handshake("tcp"))  # the TCP listener has no request target
    assert door.opening()[0].config.encoding == "pcm16"
    assert door.receive(b"\x01\x02\x03") == [events.Audio(b"\x01\x02")]
    assert door.receive(b"\x04") == [events.Audio(b"\x03\x04")]
    assert door.receive(b"\x05") == []
    assert door.receive(b"") == [events.Close()] and door.receive(b"") == []
    assert door.render(final("Two\nlines.", start=1200, end=3400)) == ["1200 3400 Two lines.\n"]
    assert door.render(events.Error(ErrorCode.IDLE_TIMEOUT, "no audio")) == ["error idle_timeout no audio\n"]
    assert door.render(partial()) == [] and door.render(final("")) == []


def test_tcp_allowed_networks():
    listener = TcpListener.__new__(TcpListener)
    listener.options = TcpOptions(allowed_networks=parse_networks("10.0.0.0/8, 127.0.0.1"))
    assert listener.allowed(("10.2.3.4", 5)) and listener.allowed(("127.0.0.1", 5))
    assert listener.allowed(("::ffff:10.0.0.1", 5, 0, 0))
    assert not listener.allowed(("192.168.1.1", 5)) and not listener.allowed(("::1", 5, 0, 0))
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/33")
