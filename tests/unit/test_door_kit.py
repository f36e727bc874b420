"""The door kit (gateway.doors.kit): JSON messages, field and query checks, WAV sniffing, refusals. Pure."""

from __future__ import annotations

import json
import struct

import pytest

from common.errors import ConfigError, ErrorCode, ProtocolError
from gateway.doors import kit


def test_parse_json():
    assert kit.parse_json('{"type": "x"}') == {"type": "x"}
    for text, why in [("{nope", "not valid JSON"), ("[1]", "must be a JSON object"),
                      ("[" * 100_000, "limit"),
                      ('{"a":' * 10_000 + "1" + "}" * 10_000, "nested too deeply")]:
        with pytest.raises(ProtocolError, match=why) as info:
            kit.parse_json(text)
        assert info.value.code == ErrorCode.BAD_JSON


def test_parse_json_bounds_numbers_before_converting_them():
    assert kit.parse_json('{"a": -12, "b": 0.25, "c": 1e300, "d": %s}' % ("9" * kit.MAX_NUMBER_CHARS)) == {
        "a": -12, "b": 0.25, "c": 1e300, "d": int("9" * kit.MAX_NUMBER_CHARS)}
    for number, why in [("9" * 5000, "5000 characters"), ("1" * 41, "41 characters"), ("0." + "1" * 39, "41"),
                        ("1e309", "out of range"), ("NaN", "not a JSON value"), ("Infinity", "not a JSON value")]:
        with pytest.raises(ProtocolError, match=why) as info:
            kit.parse_json('{"type": "x", "n": [%s]}' % number)
        assert info.value.code == ErrorCode.BAD_JSON and len(str(info.value)) < 200


@pytest.mark.parametrize("text, kind, value", [
    ("16000", int, 16000), ("-5", int, -5), ("+5", int, 5), ("0.5", float, 0.5), ("1e3", float, 1000.0),
    (".5", float, 0.5), ("5.", float, 5.0),
    ("1.5", int, None), ("1e3", int, None), ("", int, None), (" 1", int, None), ("1_000", int, None),
    ("\u00b2", int, None), ("\u0661", int, None), ("9" * 41, int, None),
    ("nan", float, None), ("inf", float, None), ("1e999", float, None), ("0x10", float, None), ("1e", float, None),
])
def test_decimal_takes_plain_numbers_only(text, kind, value):
    found = kit.decimal(text, kind=kind)
    assert found == value and (value is None or type(found) is kind)


@pytest.mark.parametrize("check, value, message", [
    (lambda v: kit.integer(v, "config.sample_rate"), True, "config.sample_rate must be an integer"),
    (lambda v: kit.integer(v, "rate"), 16000.0, "rate must be an integer"),
    (lambda v: kit.integer(v, "rate", whole_floats=True), 1.5, "rate must be an integer"),
    (lambda v: kit.integer(v, "rate"), "16000", "rate must be an integer"),
    (lambda v: kit.number(v, "chunk_size_sec"), "1", "chunk_size_sec must be a number"),
    (lambda v: kit.number(v, "silence", expected="a number of seconds"), False, "silence must be a number of seconds"),
    (lambda v: kit.flag(v, "resumable"), 1, "resumable must be true or false"),
    (lambda v: kit.string(v, "language"), 5, "language must be a string"),
    (lambda v: kit.string(v, "start.streamSid", nonempty=True), "", "start.streamSid must be a string"),
    (lambda v: kit.mapping(v, "vad"), [1], "vad must be an object"),
    (lambda v: kit.choice(v, "encoding", ("pcm16", "float32")), "opus",
     "encoding must be one of pcm16, float32, not 'opus'"),
    (lambda v: kit.choice(v, "channels", (1, 2), expected="1 or 2"), True, "channels must be 1 or 2"),
])
def test_field_checks_name_the_field(check, value, message):
    with pytest.raises(ProtocolError) as info:
        check(value)
    assert str(info.value) == message and info.value.code == ErrorCode.BAD_CONFIG


def test_field_checks_pass_good_values():
    assert kit.integer(8000, "x") == 8000 and type(kit.integer(16000.0, "x", whole_floats=True)) is int
    assert kit.number(1, "x") == 1.0 and type(kit.number(1, "x")) is float
    assert kit.flag(False, "x") is False and kit.string("", "x") == "" and kit.mapping({}, "x") == {}
    assert kit.choice(2, "x", (1, 2)) == 2
    with pytest.raises(ProtocolError) as info:
        kit.mapping(None, "open.parameters", code=ErrorCode.PROTOCOL)
    assert info.value.code == ErrorCode.PROTOCOL


def test_session_config_errors_are_the_clients():
    assert kit.session_config(sample_rate=8000).sample_rate == 8000
    with pytest.raises(ProtocolError) as info:
        kit.session_config(channels=99)
    assert info.value.code == ErrorCode.BAD_CONFIG and "channels" in str(info.value)


def test_query():
    query = kit.Query([("keyterm", "a"), ("keyterm", "b"), ("rate", "8000"), ("on", "TRUE"), ("x", "")])
    assert query.names() == {"keyterm", "rate", "on", "x"}
    assert query.all("keyterm") == ["a", "b"] and query.all("none") == [] and query.last("keyterm") == "b"
    assert query.last("none") is None and query.last("x") == ""
    assert query.flag("on") is True and query.flag("off") is False and query.flag("off", True) is True
    assert query.integer("rate", 8000, 48000) == 8000 and query.integer("none", 0, 1) is None
    assert query.number("rate", 0, 1e6) == 8000.0
    for pairs, call, message in [
        ([("on", "yes")], lambda q: q.flag("on"), "invalid value for on: 'yes' (expected true or false)"),
        ([("rate", "fast")], lambda q: q.integer("rate", 1, 2), "invalid value for rate: 'fast' (expected an integer)"),
        ([("rate", "9")], lambda q: q.integer("rate", 1, 2), "invalid value for rate: 9 (expected 1 to 2)"),
        ([("t", "x")], lambda q: q.number("t", 0.3, 0.9), "invalid value for t: 'x' (expected a number)"),
        ([("t", "0.95")], lambda q: q.number("t", 0.3, 0.9), "invalid value for t: 0.95 (expected 0.3 to 0.9)"),
    ]:
        with pytest.raises(ConfigError) as info:
            call(kit.Query(pairs))
        assert str(info.value) == message


def wav(*, tag=1, bits=16, rate=16000, channels=1, riff=b"RIFF", extensible_tag=None, before=b"") -> bytes:
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    if extensible_tag is not None:
        fmt += struct.pack("<HHIH", 22, bits, 0, extensible_tag) + bytes(14)  # cbSize, bits, mask, sub-format GUID
    return riff + struct.pack("<I", 0) + b"WAVE" + before + b"fmt " + struct.pack("<I", len(fmt)) + fmt + \
        b"data" + struct.pack("<I", 0)


def test_wav_sniffing():
    header = wav(before=b"LIST" + struct.pack("<I", 3) + b"abc\x00")  # an odd chunk, padded
    for end in range(len(header)):
        assert kit.parse_wav_header(header[:end]) is None, end  # more bytes needed
    assert kit.parse_wav_header(header) == ("pcm16", 16000, 1, len(header))
    found = kit.parse_wav_header(wav(tag=0xFFFE, bits=32, rate=48000, channels=2, riff=b"RF64", extensible_tag=3))
    assert (found.encoding, found.sample_rate, found.channels) == ("float32", 48000, 2)
    assert kit.parse_wav_header(wav(tag=7, bits=8, rate=8000)).encoding == "mulaw"
    assert kit.parse_wav_header(wav(tag=6, bits=8, rate=8000)).encoding == "alaw"
    for data, why in [(b"OggS", kit.NOT_WAV), (b"RIFF\x00\x00\x00\x00AVI LIST", kit.NOT_WAV),
                      (wav(tag=85, bits=0), "WAV format 85 with 0-bit samples"),
                      (wav(rate=96000), "at 96000 Hz is not supported"),
                      (wav(channels=9), "WAV of 9 channels"),
                      (b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00", "data comes before its fmt chunk"),
                      (b"RIFF\x00\x00\x00\x00WAVEjunk" + struct.pack("<I", 1 << 20) + bytes(kit.MAX_WAV_HEADER),
                       "no WAV data chunk")]:
        with pytest.raises(ProtocolError, match=why) as info:
            kit.parse_wav_header(data)
        assert info.value.code == ErrorCode.BAD_AUDIO
    with pytest.raises(ProtocolError, match="^send WAV$"):
        kit.parse_wav_header(b"ID3", not_wav="send WAV")


def test_wav_reader_holds_the_header_and_passes_the_samples():
    reader = kit.WavReader(not_wav="no WAV here")
    header = wav(tag=7, bits=8, rate=8000, channels=2)
    assert reader.feed(header[:5]) is None and reader.feed(header[5:-1]) is None
    found, samples = reader.feed(header[-1:] + b"\x01\x02")
    assert found == ("mulaw", 8000, 2, len(header)) and samples == b"\x01\x02"
    with pytest.raises(ProtocolError, match="no WAV here"):
        kit.WavReader(not_wav="no WAV here").feed(b"fLaC")


def test_refusals():
    refused = kit.refusal(400, {"error": "bad_config", "message": "né"}, headers=[("x-id", "1")])
    assert refused.status == 400 and refused.content_type == "application/json" and refused.headers == [("x-id", "1")]
    assert json.loads(refused.body) == {"error": "bad_config", "message": "né"}
    assert kit.header_text("é\r\nX-Evil: 1" + "x" * 300) == "???X-Evil: 1" + "x" * 188


def test_call_states_are_distinct():
    assert len({state.value for state in kit.CallState}) == len(kit.CallState) == 4
