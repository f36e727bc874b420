"""Malformed values on every door: the door's own, non-fatal error, never an exception it did not mean.

Each door is driven sans I/O. What a door raises on a bad message is a
:class:`ProtocolError` (the session's core answers it with the door's error and goes
on) or, at the handshake, :class:`HandshakeRefused`; anything else would end the
session with 1011 and a traceback. tests/e2e/test_malformed_input.py sends some of
these through a real gateway.
"""

from __future__ import annotations

import json

import pytest
from websockets.datastructures import Headers

from common.errors import ErrorCode, ProtocolError
from gateway.core import events
from gateway.doors.audiohook import AudioHookDoor
from gateway.doors.base import Handshake, HandshakeRefused
from gateway.doors.deepgram import DeepgramDoor
from gateway.doors.flux import FluxDoor
from gateway.doors.native import NativeDoor
from gateway.doors.rnnt import RnntDoor
from gateway.doors.twilio import TwilioDoor

from tests.kit.telephony import SESSION_ID, STREAM_SID, AudioHookClient, twilio_media, twilio_start

HUGE = "9" * 5000  # past Python's 4300-digit limit of int(): a ValueError, not a JSONDecodeError


def native() -> NativeDoor:
    return NativeDoor(Handshake("/ws/asr"))


def twilio() -> TwilioDoor:
    return TwilioDoor(Handshake("/twilio", headers=Headers({"Host": "example.com"})))


def audiohook() -> AudioHookDoor:
    return AudioHookDoor(Handshake("/audiohook", headers=Headers({"Audiohook-Session-Id": SESSION_ID})))


def opened(door, *messages):
    for message in messages:
        door.receive(message)
    return door


# (door before its call opens, door after, a well-formed message of the door with a number in it)
DOORS = {
    "native": (native, lambda: opened(native(), '{"type": "config"}'), '{"type": "keepalive", "n": %s}'),
    "deepgram": (lambda: DeepgramDoor(Handshake.from_target("/v1/listen", Headers())),
                 lambda: DeepgramDoor(Handshake.from_target("/v1/listen?encoding=mulaw&sample_rate=8000", Headers())),
                 '{"type": "KeepAlive", "n": %s}'),
    "flux": (lambda: FluxDoor(Handshake.from_target("/v2/listen", Headers())),
             lambda: FluxDoor(Handshake.from_target("/v2/listen?encoding=mulaw&sample_rate=8000", Headers())),
             '{"type": "KeepAlive", "n": %s}'),
    "twilio": (twilio, lambda: opened(twilio(), twilio_start()),
               '{"event": "mark", "streamSid": "%s", "mark": {"name": %%s}}' % STREAM_SID),
    "rnnt": (lambda: RnntDoor(Handshake("/ws/transcribe")),
             lambda: opened(RnntDoor(Handshake("/ws/transcribe")), '{"type": "start_recording"}'),
             '{"type": "ping", "n": [%s]}'),
}


@pytest.mark.parametrize("number, why", [(HUGE, "5000 characters"), ("-" + HUGE, "5001 characters"),
                                         (HUGE + ".5", "characters"), ("1e400", "out of range"),
                                         ("NaN", "not a JSON value"), ("-Infinity", "not a JSON value")])
@pytest.mark.parametrize("name", DOORS)
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_number_no_door_takes_is_bad_json_before_and_after_the_call_opens(name, when, number, why):
    before, after, message = DOORS[name]
    door = before() if when == "before" else after()
    with pytest.raises(ProtocolError, match=why) as info:
        door.receive(message % number)
    assert info.value.code == ErrorCode.BAD_JSON
    if when == "after":  # the call goes on
        assert events.KeepAlive() in door.receive(message % "12")


@pytest.mark.parametrize("kind", [["KeepAlive"], {"type": "KeepAlive"}])
# (The native door's first message is its config, read by another path.)
@pytest.mark.parametrize("name, when", [("native", "after"), ("deepgram", "before"), ("deepgram", "after"),
                                        ("flux", "before"), ("flux", "after")])
def test_a_message_type_that_is_no_string_is_an_unknown_type(name, when, kind):
    """A list or an object is no key of the control messages: it used to raise TypeError (unhashable)."""
    before, after, _ = DOORS[name]
    door = before() if when == "before" else after()
    with pytest.raises(ProtocolError) as refused:
        door.receive(json.dumps({"type": kind}))
    assert refused.value.code == ErrorCode.UNKNOWN_TYPE


def test_audiohook_numbers_and_positions():
    door, client = audiohook(), AudioHookClient()
    with pytest.raises(ProtocolError, match="5000 characters") as info:  # before open
        door.receive(client.open().replace('"seq": 1', f'"seq": {HUGE}'))
    assert info.value.code == ErrorCode.BAD_JSON
    door.receive(AudioHookClient().open())
    client = AudioHookClient()
    client.seq = 1
    with pytest.raises(ProtocolError, match="5000 characters") as info:  # after
        door.receive(client.message("error", {"code": 1, "message": "x"}).replace('"code": 1', f'"code": {HUGE}'))
    assert info.value.code == ErrorCode.BAD_JSON
    client.seq -= 1
    for position in ("PT" + "9" * 400 + "S", "PT1." + "5" * 400 + "S", "PT\u0661S", "PT1e9S", "PT-1S"):
        message = {**json.loads(client.message("ping")), "position": position}
        client.seq -= 1  # the message is refused: it does not count
        with pytest.raises(ProtocolError, match="duration like 'PT1.5S'") as info:
            door.receive(json.dumps(message))
        assert info.value.code == ErrorCode.PROTOCOL and len(str(info.value)) < 200
        door.clientseq -= 1  # the door counted it before it read the position
    client.position = 0.5
    assert door.receive(client.message("ping"))[0] == events.Audio(b"\xff" * 8000)  # the call went on


@pytest.mark.parametrize("field, value, why", [
    ("chunk", "\u00b2", "media.chunk must be a non-negative integer"),  # "²".isdigit(), int("²") fails
    ("chunk", "\u0661", "media.chunk"),  # an Arabic-Indic one: int() takes it, Twilio never sends it
    ("chunk", " 1", "media.chunk"),
    ("chunk", "1_0", "media.chunk"),
    ("chunk", HUGE, "media.chunk"),
    ("chunk", 10**16, "media.chunk"),
    ("timestamp", HUGE, "media.timestamp"),
    ("timestamp", "-5", "media.timestamp"),
    ("timestamp", 1.5, "media.timestamp"),
])
def test_twilio_counters_are_ascii_digits_checked_before_conversion(field, value, why):
    door = opened(twilio(), twilio_start())
    message = json.loads(twilio_media("inbound", 1, 0, b"\xff" * 160))
    message["media"][field] = value
    with pytest.raises(ProtocolError, match=why) as info:
        door.receive(json.dumps(message))
    assert info.value.code == ErrorCode.PROTOCOL and len(str(info.value)) < 200
    assert door.receive(twilio_media("inbound", 1, 0, b"\xff" * 160)) == [events.Audio(b"\xff" * 160, 0)]


def test_twilio_counters_may_be_numbers_or_strings():
    door = opened(twilio(), twilio_start())
    message = json.loads(twilio_media("inbound", 1, 0, b"\xff" * 160))
    message["media"].update(chunk=1, timestamp=0)
    assert door.receive(json.dumps(message)) == [events.Audio(b"\xff" * 160, 0)]


@pytest.mark.parametrize("query, why", [
    ("encoding=linear16&sample_rate=" + HUGE, "expected an integer"),
    ("encoding=linear16&sample_rate=%D9%A1%D9%A6%D9%A0%D9%A0%D9%A0", "expected an integer"),  # Arabic-Indic
    ("encoding=linear16&sample_rate=16_000", "expected an integer"),
    ("encoding=linear16&sample_rate=16000&endpointing=" + HUGE, "endpointing"),
    ("encoding=linear16&sample_rate=16000&utterance_end_ms=1e3", "expected an integer"),
])
def test_deepgram_query_numbers(query, why):
    with pytest.raises(HandshakeRefused) as info:
        DeepgramDoor(Handshake.from_target(f"/v1/listen?{query}", Headers()))
    assert info.value.status == 400 and why in json.loads(info.value.body)["err_msg"]


@pytest.mark.parametrize("query, why", [
    ("eot_timeout_ms=" + HUGE, "expected an integer"),
    ("eager_eot_threshold=nan", "expected a number"),
    ("eager_eot_threshold=inf", "expected a number"),
    ("eot_threshold=1e999", "expected a number"),
])
def test_flux_query_numbers(query, why):
    with pytest.raises(HandshakeRefused) as info:
        FluxDoor(Handshake.from_target(f"/v2/listen?{query}", Headers()))
    assert info.value.status == 400 and why in json.loads(info.value.body)["err_msg"]


def test_deepgram_keyword_boosts_are_plain_numbers():
    door = DeepgramDoor(Handshake.from_target("/v1/listen?keywords=hello:2&keywords=ratio:nan&keywords=x:1e999",
                                              Headers()))
    assert door.settings.context == "hello, ratio:nan, x:1e999"
