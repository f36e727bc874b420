"""The telephony doors: Twilio Media Streams and Genesys AudioHook.

Sans-I/O tests of parsing and rendering, then one call through each door with
real gateway, VAD and ASR processes: the two parties of a call speak different
LibriVox passages on their own tracks, and each party's words come back on its
own channel only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid

import numpy as np
import pytest
import soundfile
import soxr
from prometheus_client import CollectorRegistry
from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common import bus
from common.errors import ConfigError, ErrorCode, ProtocolError
from gateway import __main__ as gateway_main
from gateway.core import events
from gateway.core.audio import decode_frame
from gateway.doors import door_for
from gateway.doors.audiohook import AudioHookDoor
from gateway.doors.base import CloseFrame, DoorOptions, Handshake, HandshakeRefused
from gateway.doors.telephony import MAX_GAP_MS, format_duration, language_of, parse_duration
from gateway.doors.twilio import TwilioDoor, signature
from gateway.server import Gateway, ListenOptions

from tests.kit.faults import metric, scrape
from tests.kit.support import audiohook_signature, converse, paced, word_errors
from tests.kit.testdata import synthetic_voice

STREAM_SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL_SID = "CA0123456789abcdef0123456789abcdef"
SESSION_ID = "e160e428-53e2-487c-977d-96989bf5c99d"

# -- audio as telephony platforms send it ----------------------------------------------


def mulaw_encode(samples: np.ndarray) -> bytes:
    """G.711 μ-law of float samples in [-1, 1] (the inverse of the gateway's decoding table)."""
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def test_mulaw_encoder_inverts_the_gateway_decoder():
    codes = bytes(range(256))
    decoded = decode_frame(codes, "mulaw")[:, 0]
    assert mulaw_encode(decoded) == codes.replace(b"\x7f", b"\xff")  # -0 and +0 decode alike


# -- Twilio, sans I/O ----------------------------------------------------------------


def twilio_door(**options) -> TwilioDoor:
    return TwilioDoor(Handshake("/twilio", headers=Headers({"Host": "example.com"}), target="/twilio?token=k"),
                      options=DoorOptions(**options))


def twilio_start(tracks=("inbound", "outbound"), **parameters) -> str:
    return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": STREAM_SID, "start": {
        "accountSid": "AC0123456789abcdef0123456789abcdef", "streamSid": STREAM_SID, "callSid": CALL_SID,
        "tracks": list(tracks), "customParameters": parameters,
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})


def twilio_media(track: str, chunk: int, timestamp: int, payload: bytes, sequence: int = 2) -> str:
    return json.dumps({"event": "media", "sequenceNumber": str(sequence), "streamSid": STREAM_SID, "media": {
        "track": track, "chunk": str(chunk), "timestamp": str(timestamp),
        "payload": base64.b64encode(payload).decode()}})


def started_twilio(tracks=("inbound", "outbound"), **parameters) -> TwilioDoor:
    door = twilio_door()
    assert door.receive(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})) == []
    [opening] = door.receive(twilio_start(tracks, **parameters))
    assert isinstance(opening, events.Open)
    return door


def test_twilio_start_opens_one_channel_per_track():
    door = twilio_door()
    [opening] = door.receive(twilio_start(language="en-US", context="Dashwood"))
    assert opening.call_id == STREAM_SID
    config = opening.config
    assert (config.encoding, config.sample_rate, config.channels, config.multichannel) == ("mulaw", 8000, 2, True)
    assert (config.language, config.context) == ("en", "Dashwood")
    assert door.tracks == ("inbound", "outbound")
    # One track: one channel, named after it.
    [opening] = twilio_door().receive(twilio_start(["outbound"]))
    assert opening.config.channels == 1


def test_twilio_media_goes_to_its_track_s_channel():
    door = started_twilio()
    frame = bytes(range(160))
    assert door.receive(twilio_media("inbound", 1, 0, frame)) == [events.Audio(frame, 0)]
    assert door.receive(twilio_media("outbound", 1, 0, frame)) == [events.Audio(frame, 1)]
    assert door.receive(twilio_media("inbound", 2, 20, frame)) == [events.Audio(frame, 0)]
    assert door.receive(json.dumps({"event": "dtmf", "streamSid": STREAM_SID,
                                    "dtmf": {"track": "inbound_track", "digit": "1"}})) == [events.KeepAlive()]
    assert door.receive(json.dumps({"event": "mark", "streamSid": STREAM_SID,
                                    "mark": {"name": "greeting"}})) == [events.KeepAlive()]
    assert door.receive(json.dumps({"event": "stop", "streamSid": STREAM_SID,
                                    "stop": {"callSid": CALL_SID}})) == [events.Close()]


def test_twilio_gaps_are_filled_with_silence_and_huge_jumps_are_errors():
    door = started_twilio()
    frame = b"\x10" * 160
    door.receive(twilio_media("inbound", 1, 0, frame))
    # Chunks 2-4 lost: 60 ms of silence, then the frame at 80 ms.
    silence, audio = door.receive(twilio_media("inbound", 5, 80, frame))
    assert silence == events.Audio(b"\xff" * 480, 0) and audio == events.Audio(frame, 0)
    # A few ms of timestamp jitter is not a gap.
    assert door.receive(twilio_media("inbound", 6, 103, frame)) == [events.Audio(frame, 0)]
    # The other track keeps its own time: its first frame at 40 ms follows 40 ms of silence.
    assert door.receive(twilio_media("outbound", 1, 40, frame))[0] == events.Audio(b"\xff" * 320, 1)
    with pytest.raises(ProtocolError, match="repeated or out of order") as info:
        door.receive(twilio_media("inbound", 6, 120, frame))
    assert info.value.code == ErrorCode.BAD_AUDIO
    with pytest.raises(ProtocolError, match=f"jumps {MAX_GAP_MS + 10_000} ms ahead"):
        door.receive(twilio_media("inbound", 7, 120 + MAX_GAP_MS + 10_000, frame))
    # The call goes on from there: the next frame lost nothing new.
    after = 120 + MAX_GAP_MS + 10_000
    assert door.receive(twilio_media("inbound", 8, after, frame)) == [events.Audio(frame, 0)]


@pytest.mark.parametrize("message, code, text", [
    (b"\x00", "protocol", "not binary"),
    ("nope", "bad_json", "not valid JSON"),
    ('{"event": "hello"}', "unknown_type", "unknown event 'hello'"),
    (twilio_start(["inbound", "inbound"]), "bad_config", "start.tracks"),
    (twilio_start(["both_tracks"]), "bad_config", "start.tracks"),
    (twilio_start(language="not a language"), "bad_config", "language tag"),
    (json.dumps({"event": "start", "start": {"tracks": ["inbound"]}}), "protocol", "streamSid"),
    (twilio_start().replace("audio/x-mulaw", "audio/l16"), "bad_config", "audio/x-mulaw"),
    (twilio_media("inbound", 1, 0, b"\xff" * 160), "config_required", "before 'start'"),
])
def test_twilio_bad_messages_before_start(message, code, text):
    with pytest.raises(ProtocolError, match=text) as info:
        twilio_door().receive(message)
    assert info.value.code == code


@pytest.mark.parametrize("message, code, text", [
    (twilio_media("both", 1, 0, b"\xff"), "bad_audio", "not one of this stream's tracks"),
    (twilio_media("inbound", 1, 0, b"").replace('"payload": ""', '"payload": "%%%"'), "bad_audio", "base64"),
    (twilio_media("inbound", "x", 0, b"\xff"), "protocol", "media.chunk must be"),
    (twilio_media("inbound", 1, -5, b"\xff"), "protocol", "media.timestamp must be"),
    (twilio_start(), "protocol", "already started"),
])
def test_twilio_bad_messages_after_start(message, code, text):
    with pytest.raises(ProtocolError, match=text) as info:
        started_twilio().receive(message)
    assert info.value.code == code


def test_twilio_renders_results_with_channel_and_party():
    door = started_twilio()
    final = events.Final(channel=1, session_id="s1", utterance_id="s1-800", text="Hello there.", start_ms=50,
                         end_ms=900, language="en", speech_final=True)
    [text] = door.render(final)
    message = json.loads(text)
    assert message == {"event": "final", "streamSid": STREAM_SID, "callSid": CALL_SID, "channel": 1,
                       "party": "outbound", "session_id": "s1", "utterance_id": "s1-800", "text": "Hello there.",
                       "start_ms": 50, "end_ms": 900, "language": "en", "is_speech_final": True}
    partial = events.Partial(channel=0, session_id="s0", utterance_id="s0-0", text="Hel", start_ms=0, end_ms=300,
                             language="en")
    assert json.loads(door.render(partial)[0])["party"] == "inbound"
    error = json.loads(door.render(events.Error(ErrorCode.BAD_AUDIO, "bad frame"))[0])
    assert error == {"event": "error", "streamSid": STREAM_SID, "code": "bad_audio", "message": "bad frame",
                     "fatal": False}
    assert door.render(events.Ended(1000, "session complete", True)) == [CloseFrame(1000, "session complete")]
    assert door.render(events.Opened(STREAM_SID, ("s0", "s1"))) == []


def test_twilio_signature_is_checked_when_a_token_is_set():
    token = "12345"
    url = "wss://example.com/twilio?token=k"
    expected = base64.b64encode(hmac.new(token.encode(), url.encode(), hashlib.sha1).digest()).decode()
    assert signature(token, url) == expected

    def handshake(signed: str | None, host: str = "example.com") -> Handshake:
        headers = Headers({"Host": host})
        if signed is not None:
            headers["X-Twilio-Signature"] = signed
        return Handshake("/twilio", headers=headers, target="/twilio?token=k")

    options = DoorOptions(twilio_auth_token=token)
    TwilioDoor(handshake(expected), options=options)
    TwilioDoor(handshake(signature(token, "wss://example.com:443/twilio?token=k")), options=options)
    TwilioDoor(handshake(None))  # no token configured: no check
    for signed in (None, "", signature("other", url), signature(token, "wss://example.com/twilio")):
        with pytest.raises(HandshakeRefused) as info:
            TwilioDoor(handshake(signed), options=options)
        assert info.value.status == 403
        assert json.loads(info.value.body)["error"] == "forbidden"


# -- AudioHook, sans I/O ---------------------------------------------------------------


class AudioHookClient:
    """Builds client messages numbered the way Genesys numbers them."""

    def __init__(self, session_id: str = SESSION_ID) -> None:
        self.id = session_id
        self.seq = 0
        self.serverseq = 0
        self.position = 0.0

    def message(self, kind: str, parameters: dict | None = None, **fields) -> str:
        self.seq += 1
        body = {"version": "2", "id": self.id, "type": kind, "seq": self.seq, "serverseq": self.serverseq,
                "position": format_duration(round(self.position * 1000)), "parameters": parameters or {}}
        return json.dumps({**body, **fields})

    def open(self, media=None, language="en-US") -> str:
        media = media if media is not None else [
            {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000},
            {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}]
        return self.message("open", {
            "organizationId": "d7934305-0972-4844-938e-9060eef73d05",
            "conversationId": "090eaa2f-72fa-480a-83e0-8667ff89c0ec",
            "participant": {"id": "883efee8-3d6c-4537-b500-6d7ca4b92fa0", "ani": "+1-555-555-1234",
                            "aniName": "John Doe", "dnis": "+1-800-555-6789"},
            "media": media, "language": language})

    def seen(self, server_message: str) -> dict:
        body = json.loads(server_message)
        self.serverseq = body["seq"]
        return body


def audiohook_door(session_id: str | None = SESSION_ID) -> AudioHookDoor:
    headers = Headers({"Audiohook-Organization-Id": "d7934305-0972-4844-938e-9060eef73d05",
                       "Audiohook-Correlation-Id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
                       "X-API-KEY": "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh"})
    if session_id is not None:
        headers["Audiohook-Session-Id"] = session_id
    return AudioHookDoor(Handshake("/audiohook", headers=headers, target="/audiohook"))


def test_audiohook_signature_is_checked_when_a_client_secret_is_set():
    secret = b"client secret"
    options = DoorOptions(audiohook_client_secret=secret)
    headers = {"Host": "gateway.example.com", "Audiohook-Organization-Id": "d7934305-0972-4844-938e-9060eef73d05",
               "Audiohook-Correlation-Id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
               "Audiohook-Session-Id": SESSION_ID, "X-API-KEY": "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh"}
    target = "/audiohook?region=eu"

    def door(signed_with: bytes, target_signed: str = target, **options_) -> AudioHookDoor:
        signature = audiohook_signature(signed_with, target=target_signed, headers=headers,
                                        created=int(time.time()))
        handshake = Handshake.from_target(target, Headers({**headers, **signature}))
        return AudioHookDoor(handshake, **options_)

    assert door(secret, options=options).session_id == SESSION_ID
    door(b"anything")  # no secret configured: no check
    for signed_with, target_signed in ((b"other secret", target), (secret, "/audiohook")):
        with pytest.raises(HandshakeRefused) as info:
            door(signed_with, target_signed, options=options)
        assert info.value.status == 401
        body = json.loads(info.value.body)
        assert body["error"] == "unauthorized" and "does not match" in body["message"], body
    with pytest.raises(HandshakeRefused, match="no Signature and Signature-Input") as info:
        AudioHookDoor(Handshake.from_target(target, Headers(headers)), options=options)
    assert info.value.status == 401


def test_audiohook_client_secret_options(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMSCRIBE_GATEWAY_AUDIOHOOK_CLIENT_SECRET", "TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU=")
    parser = gateway_main.build_parser()
    assert gateway_main.audiohook_client_secret(parser.parse_args([])) == b"MySuperSecretKeyTellNo-1!2@3#4$5"
    assert "MySuperSecret" not in parser.format_help() and "TXlTdXBl" not in parser.format_help()
    monkeypatch.delenv("STREAMSCRIBE_GATEWAY_AUDIOHOOK_CLIENT_SECRET")
    parser = gateway_main.build_parser()
    assert gateway_main.audiohook_client_secret(parser.parse_args([])) is None
    secret_file = tmp_path / "secret"
    secret_file.write_text("c2VjcmV0\n")
    assert gateway_main.audiohook_client_secret(
        parser.parse_args(["--audiohook-client-secret-file", str(secret_file)])) == b"secret"
    for argv, why in ((["--audiohook-client-secret", "not base64!"], "non-empty base64"),
                      (["--audiohook-client-secret", ""], "non-empty base64"),
                      (["--audiohook-client-secret-file", str(tmp_path / "absent")], "cannot read"),
                      (["--audiohook-client-secret", "c2VjcmV0", "--audiohook-client-secret-file", str(secret_file)],
                       "not both")):
        with pytest.raises(ConfigError, match=why):
            gateway_main.audiohook_client_secret(parser.parse_args(argv))


def opened_audiohook() -> tuple[AudioHookDoor, AudioHookClient]:
    door, client = audiohook_door(), AudioHookClient()
    [opening] = door.receive(client.open())
    assert isinstance(opening, events.Open)
    client.seen(door.render(events.Opened(SESSION_ID, ("s0", "s1")))[0])
    return door, client


def test_audiohook_open_and_opened():
    door, client = audiohook_door(), AudioHookClient()
    [opening] = door.receive(client.open())
    assert opening.call_id == SESSION_ID
    config = opening.config
    assert (config.encoding, config.sample_rate, config.channels, config.multichannel, config.language) == (
        "mulaw", 8000, 2, True, "en")
    [text] = door.render(events.Opened(SESSION_ID, ("s0", "s1")))
    assert json.loads(text) == {
        "version": "2", "type": "opened", "seq": 1, "clientseq": 1, "id": SESSION_ID,
        "parameters": {"media": [{"type": "audio", "format": "PCMU", "channels": ["external", "internal"],
                                  "rate": 8000}], "startPaused": False}}


def test_audiohook_media_selection():
    door, client = audiohook_door(), AudioHookClient()
    [opening] = door.receive(client.open(media=[
        {"type": "audio", "format": "L16", "channels": ["external", "internal"], "rate": 8000},
        {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000}]))
    assert opening.config.channels == 1 and door.parties == ("internal",)
    with pytest.raises(ProtocolError, match="none of the offered media") as info:
        audiohook_door().receive(AudioHookClient().open(media=[
            {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 16000}]))
    assert info.value.code == ErrorCode.BAD_CONFIG


def test_audiohook_handshake_needs_a_session_id():
    for session_id in (None, "not-a-uuid"):
        with pytest.raises(HandshakeRefused, match="Audiohook-Session-Id") as info:
            audiohook_door(session_id)
        assert info.value.status == 400


def test_audiohook_ping_pause_resume_close():
    door, client = opened_audiohook()
    stereo = bytes(range(200)) * 8  # 100 ms of two channels
    assert door.receive(stereo) == [events.Audio(stereo)]
    client.position = 0.1
    keepalive, reply = door.receive(client.message("ping", {"rtt": "PT0.05S"}))
    assert keepalive == events.KeepAlive()
    pong = client.seen(door.render(reply)[0])
    assert (pong["type"], pong["seq"], pong["clientseq"], pong["parameters"]) == ("pong", 2, 2, {})
    # A pause closes each channel's utterance; a position that counts 1 s of audio this server
    # never got (discarded while paused) is made up with silence.
    assert door.receive(client.message("paused")) == [events.Finalize()]
    client.position = 1.1
    assert door.receive(client.message("resumed", {"start": "PT0.1S", "discarded": "PT1S"})) == [
        events.Audio(b"\xff" * 16000)]
    assert door.receive(client.message("update", {"language": "fr-FR"})) == []
    assert door.receive(client.message("error", {"code": 429, "message": "slow down"})) == []
    assert door.receive(client.message("close", {"reason": "end"})) == [events.Close()]
    closed, close = door.render(events.Ended(1000, "session complete", True))
    closed = client.seen(closed)
    assert (closed["type"], closed["seq"], closed["clientseq"]) == ("closed", 3, 7)
    assert close == CloseFrame(1000, "session complete")


def test_audiohook_sequence_and_protocol_errors_disconnect():
    door, client = opened_audiohook()
    client.seq += 1  # a client message went missing
    with pytest.raises(ProtocolError, match="seq 3 after 1") as info:
        door.receive(client.message("ping"))
    assert info.value.code == ErrorCode.PROTOCOL
    [disconnect] = door.render(events.Error(info.value.code, str(info.value)))
    body = json.loads(disconnect)
    assert (body["type"], body["seq"], body["parameters"]["reason"]) == ("disconnect", 2, "error")
    assert "seq 3 after 1" in body["parameters"]["info"]
    assert door.render(events.Error(ErrorCode.BAD_AUDIO, "again")) == []  # one disconnect is enough
    # The client answers with close, numbered on from its own count: taken, and answered by closed.
    assert door.receive(client.message("close", {"reason": "error"})) == [events.Close()]
    closed = json.loads(door.render(events.Ended(1000, "session complete", True))[0])
    assert (closed["type"], closed["clientseq"]) == ("closed", 4)
    # Failures of single utterances are not the client's doing and not AudioHook's to tell.
    assert opened_audiohook()[0].render(events.Error(ErrorCode.ASR_FAILED, "one utterance")) == []


@pytest.mark.parametrize("change, code, text", [
    ({"version": "1"}, "protocol", "version must be '2'"),
    ({"id": str(uuid.uuid4())}, "protocol", "not this session's id"),
    ({"serverseq": 9}, "protocol", "serverseq 9"),
    ({"seq": "2"}, "protocol", "seq '2' after 1"),
    ({"type": "opened"}, "unknown_type", "unknown message type 'opened'"),
    ({"position": "1.5"}, "protocol", "duration like 'PT1.5S'"),
])
def test_audiohook_malformed_messages(change, code, text):
    door, client = opened_audiohook()
    message = {**json.loads(client.message("ping")), **change}
    with pytest.raises(ProtocolError, match=text) as info:
        door.receive(json.dumps(message))
    assert info.value.code == code


def test_audiohook_audio_and_messages_out_of_place():
    door, client = audiohook_door(), AudioHookClient()
    with pytest.raises(ProtocolError, match="before 'open'") as info:
        door.receive(b"\xff\xff")
    assert info.value.code == ErrorCode.CONFIG_REQUIRED
    with pytest.raises(ProtocolError, match="'ping' before 'open'"):
        door.receive(client.message("ping"))
    door, client = opened_audiohook()
    with pytest.raises(ProtocolError, match="not whole samples"):
        door.receive(b"\xff\xff\xff")
    with pytest.raises(ProtocolError, match="already open"):
        door.receive(client.open())


def test_audiohook_renders_finals_as_transcript_events():
    door, client = opened_audiohook()
    final = events.Final(channel=1, session_id="s1", utterance_id="s1-16000", text="How can I help?",
                         start_ms=1000, end_ms=2250, language="en", speech_final=True, confidence=0.91,
                         words=(events.Word(text="How", start_ms=1000, end_ms=1200, confidence=0.9),))
    body = client.seen(door.render(final)[0])
    assert (body["type"], body["seq"]) == ("event", 2)
    [entity] = body["parameters"]["entities"]
    assert entity["type"] == "transcript"
    data = entity["data"]
    assert data["id"] == str(uuid.UUID(data["id"]))  # a UUID, the same for the same utterance
    assert data["id"] == json.loads(door.render(final)[0])["parameters"]["entities"][0]["data"]["id"]
    assert (data["channel"], data["party"], data["channelIndex"], data["isFinal"]) == ("internal", "internal", 1,
                                                                                       True)
    assert (data["offset"], data["duration"]) == ("PT1S", "PT1.25S")
    [alternative] = data["alternatives"]
    assert alternative["confidence"] == 0.91 and alternative["languages"] == ["en"]
    [interpretation] = alternative["interpretations"]
    assert interpretation["type"] == "display" and interpretation["transcript"] == "How can I help?"
    assert interpretation["tokens"] == [{"type": "word", "value": "How", "confidence": 0.9, "offset": "PT1S",
                                         "duration": "PT0.2S"}]
    # Partials and empty finals are not sent; a failure ends with disconnect, then the close.
    partial = events.Partial(channel=0, session_id="s0", utterance_id="s0-0", text="Ho", start_ms=0, end_ms=300,
                             language="en")
    assert door.render(partial) == []
    disconnect, close = door.render(events.Ended(1011, "session lost", False))
    assert json.loads(disconnect)["type"] == "disconnect" and close == CloseFrame(1011, "session lost")


def test_durations_and_language_tags():
    assert [format_duration(ms) for ms in (0, 5, 1000, 1250, 61_010)] == ["PT0S", "PT0.005S", "PT1S", "PT1.25S",
                                                                          "PT61.01S"]
    assert parse_duration("PT1.25S", "position") == 1.25 and parse_duration("PT3S", "position") == 3
    assert [language_of(tag, "x") for tag in ("en-US", "de", "pt_BR", None, "")] == ["en", "de", "pt", None, None]


def test_routes():
    assert door_for("/twilio") is TwilioDoor and door_for("/audiohook/") is AudioHookDoor
    assert TwilioDoor.name == "twilio" and AudioHookDoor.name == "audiohook"


# -- end to end: two parties, each on its own track ----------------------------------------

RATE = 8000
TIMEOUT = 120
SPEED = 8.0  # times real time
LEAD_MS, GAP_MS = 500, 1000


AGENT_LINES = ("thank you for calling the billing department how can i help you today",
               "sure i will look at your last payment right now")


def two_party_call(clips) -> tuple[np.ndarray, list[tuple[int, int, int, str]]]:
    """Two 8 kHz tracks taking turns: party 0 (a LibriVox reader) says clips 0 and 2, party 1 (an
    espeak-ng voice: a second speaker) says the agent lines; the other track is silent meanwhile.

    Returns the tracks ``[n, 2]`` and each turn as (party, start_ms, end_ms, reference).
    """
    voices = []
    for index, (path, reference) in enumerate(clips[:3:2]):
        samples, rate = soundfile.read(str(path), dtype="float32")
        voices.append((0, soxr.resample(samples, rate, RATE, quality="HQ"), reference))
        agent, line = synthetic_voice(AGENT_LINES[index])
        voices.append((1, soxr.resample(agent, 16000, RATE, quality="HQ"), line))
    turns, parts, cursor = [], [], LEAD_MS * RATE // 1000
    for party, samples, reference in voices:
        samples = samples.astype(np.float32)
        turns.append((party, cursor * 1000 // RATE, (cursor + len(samples)) * 1000 // RATE, reference))
        parts.append((party, cursor, samples))
        cursor += len(samples) + GAP_MS * RATE // 1000
    tracks = np.zeros((cursor + GAP_MS * RATE // 1000, 2), np.float32)
    for party, start, samples in parts:
        tracks[start:start + len(samples), party] = samples
    return tracks, turns


def paced_frames(items, frame_ms: int):
    return paced(items, frame_ms, speed=SPEED)


def sessions_created(stack, protocol: str) -> float:
    """The gateway's count of pipeline sessions created through one door."""
    return metric(scrape(stack.port), "streamscribe_gateway_sessions_total", protocol=protocol)


def check_parties(finals: list[dict], turns, party_key: str, parties: tuple[str, str]) -> None:
    """Each party's finals hold its own turns' words, in order and around the turn in audio time."""
    for channel, party in enumerate(parties):
        own = [final for final in finals if final[party_key] == channel]
        assert all(final["party"] == party for final in own)
        expected = [turn for turn in turns if turn[0] == channel]
        assert len(own) == len(expected), ([f["text"] for f in own], expected)
        for final, (_, start_ms, end_ms, reference) in zip(own, expected):
            assert start_ms - 600 <= final["start_ms"] <= start_ms + 600, (final, start_ms)
            assert end_ms - 600 <= final["end_ms"] <= end_ms + 600, (final, end_ms)
            errors, words = word_errors(reference, final["text"])
            assert errors / words <= 0.25, (final["text"], reference)
        # None of the other party's words: its references are far from this party's text.
        other = " ".join(turn[3] for turn in turns if turn[0] != channel)
        heard = " ".join(final["text"] for final in own)
        errors, words = word_errors(other, heard)
        assert errors / words > 0.7, (heard, other)


@pytest.mark.e2e
async def test_twilio_both_tracks_call(stack, clips):
    tracks, turns = two_party_call(clips)
    frame = RATE // 50  # 20 ms, as Twilio sends
    frames = len(tracks) // frame
    payloads = [[mulaw_encode(tracks[i * frame:(i + 1) * frame, party]) for i in range(frames)] for party in (0, 1)]
    # One second of outbound media lost before that party speaks: made up with silence, or every
    # outbound time would be a second early.
    lost = set(range(5, 55))
    messages = [json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}), twilio_start()]
    for i in range(frames):
        for party, track in enumerate(("inbound", "outbound")):
            if party == 1 and i in lost:
                continue
            messages.append(twilio_media(track, i + 1, i * 20, payloads[party][i], sequence=len(messages)))
    messages.append(json.dumps({"event": "stop", "sequenceNumber": str(len(messages)), "streamSid": STREAM_SID,
                                "stop": {"accountSid": "AC0123456789abcdef0123456789abcdef", "callSid": CALL_SID}}))
    url = f"ws://127.0.0.1:{stack.port}/twilio"
    created = sessions_created(stack, "twilio")
    received = []
    async with connect(url) as ws:
        async def send():
            async for message in paced_frames(messages[:2], 0):
                await ws.send(message)
            pairs = [messages[i:i + 2] for i in range(2, len(messages) - 1, 2)]
            async for pair in paced_frames(pairs, 20):
                for message in pair:
                    await ws.send(message)
            await ws.send(messages[-1])

        await converse(ws, send, lambda text: received.append(json.loads(text)), timeout=TIMEOUT)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason, received, stack.logs())
    assert not [m for m in received if m["event"] == "error"], received
    finals = [m for m in received if m["event"] == "final"]
    assert all(m["streamSid"] == STREAM_SID and m["callSid"] == CALL_SID for m in received)
    check_parties(finals, turns, "channel", ("inbound", "outbound"))
    assert sessions_created(stack, "twilio") == created + 2  # one pipeline session per party


@pytest.mark.e2e
async def test_audiohook_stereo_call(stack, clips):
    tracks, turns = two_party_call(clips)
    frame = RATE // 10  # 100 ms of both channels, interleaved
    stereo = [mulaw_encode(tracks[i:i + frame].reshape(-1)) for i in range(0, len(tracks) - frame + 1, frame)]
    client = AudioHookClient(str(uuid.uuid4()))
    headers = {"Audiohook-Session-Id": client.id, "Audiohook-Organization-Id": str(uuid.uuid4()),
               "Audiohook-Correlation-Id": str(uuid.uuid4()), "X-API-KEY": "test-key"}
    url = f"ws://127.0.0.1:{stack.port}/audiohook"
    created = sessions_created(stack, "audiohook")
    received = []
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(client.open())
        async with asyncio.timeout(30):
            opened = client.seen(await ws.recv())
        assert (opened["type"], opened["seq"], opened["clientseq"]) == ("opened", 1, 1), opened
        assert opened["parameters"]["media"][0]["channels"] == ["external", "internal"]

        async def send():
            async for index, data in paced_frames(list(enumerate(stereo)), 100):
                await ws.send(data)
                client.position = (index + 1) * frame / RATE
                if index == 50:
                    await ws.send(client.message("ping"))
            await ws.send(client.message("close", {"reason": "end"}))

        await converse(ws, send, lambda text: received.append(client.seen(text)), timeout=TIMEOUT)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason, received, stack.logs())
    assert [m["seq"] for m in received] == list(range(2, len(received) + 2))
    kinds = [m["type"] for m in received]
    assert kinds.count("pong") == 1 and kinds[-1] == "closed" and "disconnect" not in kinds, kinds
    assert all(m["id"] == client.id for m in received)
    finals = []
    for message in received:
        if message["type"] == "event":
            for entity in message["parameters"]["entities"]:
                data = entity["data"]
                start_ms = round(parse_duration(data["offset"], "offset") * 1000)
                end_ms = start_ms + round(parse_duration(data["duration"], "duration") * 1000)
                finals.append({"channel": data["channelIndex"], "party": data["channel"], "start_ms": start_ms,
                               "end_ms": end_ms,
                               "text": data["alternatives"][0]["interpretations"][0]["transcript"]})
    check_parties(finals, turns, "channel", ("external", "internal"))
    assert sessions_created(stack, "audiohook") == created + 2


@pytest.mark.e2e
async def test_handshakes_are_refused_with_http_status(stack):
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{stack.port}/audiohook"):
            pass
    assert info.value.response.status_code == 400


@contextlib.asynccontextmanager
async def gateway_with(redis_server, doors: DoorOptions):
    """A gateway (no workers: the doors answer before any session starts) with these door options."""
    redis = bus.connect(redis_server.url)
    gateway = Gateway(redis, registry=CollectorRegistry(), listen=ListenOptions(host="127.0.0.1", port=0),
                      doors=doors)
    try:
        await gateway.start()
        yield gateway
    finally:
        await gateway.close()
        await redis.aclose()


async def test_audiohook_signature_through_the_server(redis_server):
    """--audiohook-client-secret reaches the door: a wrong signature gets 401, the right one a session."""
    secret = base64.b64decode("TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU=")
    # A hang fails at the timeout, with its traceback.
    async with asyncio.timeout(90), gateway_with(redis_server, DoorOptions(audiohook_client_secret=secret)) as gateway:
        target = "/audiohook?region=eu"
        client = AudioHookClient(str(uuid.uuid4()))
        headers = {"Host": f"127.0.0.1:{gateway.port}", "Audiohook-Organization-Id": str(uuid.uuid4()),
                   "Audiohook-Correlation-Id": str(uuid.uuid4()), "Audiohook-Session-Id": client.id,
                   "X-API-KEY": "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh"}
        url = f"ws://127.0.0.1:{gateway.port}{target}"
        sent = {name: value for name, value in headers.items() if name != "Host"}  # the client sends its own
        for signed_with in (b"wrong", None):
            signature = {} if signed_with is None else audiohook_signature(
                signed_with, target=target, headers=headers, created=int(time.time()))
            with pytest.raises(InvalidStatus) as info:
                async with connect(url, additional_headers={**sent, **signature}):
                    pass
            assert info.value.response.status_code == 401
            assert json.loads(info.value.response.body)["error"] == "unauthorized"
        signature = audiohook_signature(secret, target=target, headers=headers, created=int(time.time()))
        async with connect(url, additional_headers={**sent, **signature}) as ws:
            await ws.send(client.message("ping"))  # before open: the AudioHook session disconnects
            async with asyncio.timeout(30):
                disconnect = json.loads(await ws.recv())
            assert (disconnect["type"], disconnect["id"], disconnect["clientseq"]) == ("disconnect", client.id, 1)
            assert "before 'open'" in disconnect["parameters"]["info"], disconnect


async def test_twilio_signature_through_the_server(redis_server):
    """--twilio-auth-token reaches the door: a wrong signature gets 403, the right one a stream."""
    token = "0123456789abcdef0123456789abcdef"
    # A hang fails at the timeout, with its traceback.
    async with asyncio.timeout(90), gateway_with(redis_server, DoorOptions(twilio_auth_token=token)) as gateway:
        url = f"ws://127.0.0.1:{gateway.port}/twilio?token=abc"
        with pytest.raises(InvalidStatus) as info:
            async with connect(url, additional_headers={"X-Twilio-Signature": signature("wrong", url)}):
                pass
        assert info.value.response.status_code == 403
        async with connect(url, additional_headers={"X-Twilio-Signature": signature(token, url)}) as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(json.dumps({"event": "media"}))  # before start: refused, and the socket closes
            async with asyncio.timeout(30):
                error = json.loads(await ws.recv())
                assert (error["event"], error["code"]) == ("error", "config_required")
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
            assert ws.close_code == 1008

