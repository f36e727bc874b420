"""Reconnect with resume: the native door's acks and replay, sans I/O.

A dropped TCP connection end to end is tested in tests/e2e/test_resume.py.
"""

from __future__ import annotations

import json

import pytest
from websockets.datastructures import Headers

from common.errors import ProtocolError
from gateway.core import events
from gateway.doors.base import Handshake
from gateway.doors.native import ACK_EVERY_SEC, NativeDoor

RATE = 16_000


def native() -> NativeDoor:
    return NativeDoor(Handshake("/ws/asr", [], Headers()))


def final(utterance: str, text: str) -> events.Final:
    return events.Final(channel=0, session_id="s", utterance_id=utterance, text=text, start_ms=0, end_ms=500,
                        language="en", speech_final=True)


# -- sans I/O ---------------------------------------------------------------------------------------


def test_resumable_session_acks_audio_and_replays_what_the_client_lacks():
    door = native()
    (opened,) = door.receive(json.dumps({"type": "config", "encoding": "pcm16", "resumable": True}))
    assert isinstance(opened, events.Open) and door.resumable
    frame = b"\x00\x00" * int(RATE * ACK_EVERY_SEC / 2)  # a quarter second
    assert door.receive(frame) == [events.Audio(frame)]
    audio, ack = door.receive(frame)
    assert ack == events.Reply({"type": "audio_ack", "offset": RATE // 2})
    sent = [json.loads(m) for e in (events.Opened("s", ("s",)), ack,
                                     events.Partial(channel=0, session_id="s", utterance_id="u1", text="Hel",
                                                    start_ms=0, end_ms=100, language="en"),
                                     final("u1", "Hello."), final("u2", "Again.")) for m in door.render(e)]
    assert [m["seq"] for m in sent] == [0, 1, 2, 3, 4]
    # The client got up to the partial (seq 2): the two finals come again, then the confirmation.
    replay = [json.loads(m) for m in door.render(events.Resumed("s", door.received_samples, 2))]
    assert [(m["type"], m["seq"]) for m in replay] == [("final", 3), ("final", 4), ("session_resumed", 5)]
    assert replay[-1] == {"type": "session_resumed", "session_id": "s", "offset": RATE // 2, "replayed": 2,
                          "complete": True, "seq": 5}


def test_a_plain_session_is_not_resumable_and_resume_requests_are_checked():
    door = native()
    door.receive('{"type": "config", "encoding": "pcm16"}')
    assert not door.resumable and door.receive(b"\x00\x00" * RATE) == [events.Audio(b"\x00\x00" * RATE)]
    (resume,) = native().receive('{"type": "config", "resume": {"session_id": "abc", "last_seq": 7}}')
    assert resume == events.Resume("abc", 7)
    for body in ({"resume": "abc"}, {"resume": {"session_id": "abc", "last_seq": "7"}}, {"resumable": "yes"}):
        with pytest.raises(ProtocolError):
            native().receive(json.dumps({"type": "config", **body}))
