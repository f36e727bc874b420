"""The telephony doors, Twilio Media Streams and Genesys AudioHook, sans I/O: parsing and rendering.

Calls through each door with real processes are in tests/e2e/test_telephony.py.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
import uuid

import pytest
from websockets.datastructures import Headers

from common.config import from_args
from common.errors import ConfigError, ErrorCode, ProtocolError
from gateway import __main__ as gateway_main
from gateway.core import events
from gateway.core.audio import decode_frame
from gateway.doors import door_for
from gateway.doors.audiohook import AudioHookDoor, AudioHookOptions
from gateway.doors.base import CloseFrame, Handshake, HandshakeRefused
from gateway.doors.telephony import MAX_GAP_MS, format_duration, language_of, parse_duration
from gateway.doors.twilio import TwilioDoor, TwilioOptions, public_url, signature, signed_urls

from tests.kit.support import audiohook_signature
from tests.kit.telephony import (CALL_SID, SESSION_ID, STREAM_SID, AudioHookClient, mulaw_encode, twilio_media,
                                 twilio_start)


# -- audio as telephony platforms send it ----------------------------------------------


def test_mulaw_encoder_inverts_the_gateway_decoder():
    codes = bytes(range(256))
    decoded = decode_frame(codes, "mulaw")[:, 0]
    assert mulaw_encode(decoded) == codes.replace(b"\x7f", b"\xff")  # -0 and +0 decode alike


# -- Twilio, sans I/O ----------------------------------------------------------------


def twilio_door(**options) -> TwilioDoor:
    return TwilioDoor(Handshake("/twilio", headers=Headers({"Host": "example.com"}), target="/twilio?token=k"),
                      options=TwilioOptions(**options))


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


def test_twilio_signature_is_checked_against_the_public_url_when_a_token_is_set():
    token = "12345"
    url = "wss://voice.example.com/twilio?token=k"
    expected = base64.b64encode(hmac.new(token.encode(), url.encode(), hashlib.sha1).digest()).decode()
    assert signature(token, url) == expected

    def handshake(signed: str | None, host: str = "gateway.internal:8000") -> Handshake:
        headers = Headers({"Host": host})  # what a proxy in front sends: not the URL Twilio signed
        if signed is not None:
            headers["X-Twilio-Signature"] = signed
        return Handshake("/twilio", headers=headers, target="/twilio?token=k")

    options = TwilioOptions(auth_token=token, public_url="wss://voice.example.com/twilio")
    TwilioDoor(handshake(expected), options=options)
    TwilioDoor(handshake(signature(token, "wss://voice.example.com:443/twilio?token=k")), options=options)
    TwilioDoor(handshake(None))  # no token configured: no check
    # A signature made for the Host the client sends (another host of the same account, say) is not taken.
    forged = signature(token, "wss://attacker.example/twilio?token=k")
    for signed in (None, "", "é" * 28, signature("other", url), signature(token, "wss://voice.example.com/twilio"),
                   forged):
        with pytest.raises(HandshakeRefused) as info:
            TwilioDoor(handshake(signed, host="attacker.example"), options=options)
        assert info.value.status == 403
        assert json.loads(info.value.body)["error"] == "forbidden"


@pytest.mark.parametrize("public, target, signed", [
    ("wss://voice.example.com/twilio", "/twilio", ["wss://voice.example.com/twilio",
                                                  "wss://voice.example.com:443/twilio"]),
    ("wss://voice.example.com:443/in/twilio", "/twilio?token=k&a=b", ["wss://voice.example.com:443/in/twilio?token=k&a=b",
                                                                      "wss://voice.example.com/in/twilio?token=k&a=b"]),
    ("ws://127.0.0.1:8000/twilio", "/twilio?token=k", ["ws://127.0.0.1:8000/twilio?token=k"]),
])
def test_twilio_signed_urls_are_the_public_url_with_the_requests_query(public, target, signed):
    assert signed_urls(public_url(public), target) == signed


def test_twilio_options_need_a_public_url_with_a_token(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="--twilio-auth-token needs --twilio-public-url"):
        TwilioOptions(auth_token="12345")
    for bad in ("https://voice.example.com/twilio", "wss://voice.example.com/twilio?token=k", "voice.example.com",
                "wss://voice.example.com:port/twilio"):
        with pytest.raises(ValueError):
            public_url(bad)
    token_file = tmp_path / "token"
    token_file.write_text("12345\n")
    parser = gateway_main.build_parser()
    options = from_args(TwilioOptions, parser.parse_args(
        ["--twilio-auth-token-file", str(token_file), "--twilio-public-url", "wss://voice.example.com/twilio"]))
    assert options == TwilioOptions(auth_token="12345", public_url="wss://voice.example.com/twilio")
    with pytest.raises(ConfigError, match="--twilio-auth-token on the command line holds a secret"):
        parser.parse_args(["--twilio-auth-token", "12345", "--twilio-public-url", "wss://voice.example.com/twilio"])


# -- AudioHook, sans I/O ---------------------------------------------------------------


def audiohook_door(session_id: str | None = SESSION_ID) -> AudioHookDoor:
    headers = Headers({"Audiohook-Organization-Id": "d7934305-0972-4844-938e-9060eef73d05",
                       "Audiohook-Correlation-Id": "30b0e395-84d3-4570-ac13-9a62d8f514c0",
                       "X-API-KEY": "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh"})
    if session_id is not None:
        headers["Audiohook-Session-Id"] = session_id
    return AudioHookDoor(Handshake("/audiohook", headers=headers, target="/audiohook"))


def test_audiohook_signature_is_checked_when_a_client_secret_is_set():
    secret = b"client secret"
    options = AudioHookOptions(client_secret=secret)
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
    def client_secret(argv):
        return from_args(AudioHookOptions, parser.parse_args(argv)).client_secret

    parser = gateway_main.build_parser()
    assert client_secret([]) == b"MySuperSecretKeyTellNo-1!2@3#4$5"
    assert "MySuperSecret" not in parser.format_help() and "TXlTdXBl" not in parser.format_help()
    monkeypatch.delenv("STREAMSCRIBE_GATEWAY_AUDIOHOOK_CLIENT_SECRET")
    parser = gateway_main.build_parser()
    assert client_secret([]) is None
    secret_file = tmp_path / "secret"
    secret_file.write_text("c2VjcmV0\n")
    assert client_secret(["--audiohook-client-secret-file", str(secret_file)]) == b"secret"
    for argv, why in ((["--audiohook-client-secret", "not base64!"], "non-empty base64"),
                      (["--audiohook-client-secret", ""], "non-empty base64"),
                      (["--audiohook-client-secret-file", str(tmp_path / "absent")], "cannot read"),
                      (["--audiohook-client-secret", "c2VjcmV0", "--audiohook-client-secret-file", str(secret_file),
                        "--allow-secrets-in-args"], "not both"),
                      (["--audiohook-client-secret", "c2VjcmV0"], "on the command line holds a secret")):
        with pytest.raises(ConfigError, match=why):
            client_secret(argv)


def handled(door: AudioHookDoor, operations: list) -> tuple[list, list[str]]:
    """The operations of a client message, with its Reply rendered as the connection would queue it:
    (the other operations, what the Reply rendered)."""
    replies = [operation for operation in operations if isinstance(operation, events.Reply)]
    assert len(replies) == 1, operations  # each client message is marked once
    return [operation for operation in operations if operation not in replies], door.render(replies[0])


def opened_audiohook() -> tuple[AudioHookDoor, AudioHookClient]:
    door, client = audiohook_door(), AudioHookClient()
    [opening], answer = handled(door, door.receive(client.open()))
    assert isinstance(opening, events.Open) and answer == []
    client.seen(door.render(events.Opened(SESSION_ID, ("s0", "s1")))[0])
    return door, client


def test_audiohook_open_and_opened():
    door, client = audiohook_door(), AudioHookClient()
    [opening], _ = handled(door, door.receive(client.open()))
    assert opening.call_id == SESSION_ID
    config = opening.config
    assert (config.encoding, config.sample_rate, config.channels, config.multichannel, config.language,
            config.words) == ("mulaw", 8000, 2, True, "en", True)  # words: the transcripts' tokens
    [text] = door.render(events.Opened(SESSION_ID, ("s0", "s1")))
    assert json.loads(text) == {
        "version": "2", "type": "opened", "seq": 1, "clientseq": 1, "id": SESSION_ID,
        "parameters": {"media": [{"type": "audio", "format": "PCMU", "channels": ["external", "internal"],
                                  "rate": 8000}], "startPaused": False}}


def test_audiohook_opened_lists_the_supported_languages_when_the_open_asks():
    """``supportedLanguages: true`` in the open: opened lists the languages the ASR workers' model
    decodes (narrowed to ``--audiohook-language``); not asked, opened has none, as in Genesys'
    reference server."""
    def opened(asked, model=None, **options) -> dict:
        door = AudioHookDoor(audiohook_door().handshake, options=AudioHookOptions(**options))
        door.receive(AudioHookClient().open(supported_languages=asked))
        return json.loads(door.render(events.Opened(SESSION_ID, ("s0", "s1"), model="m",
                                                    languages=model))[0])["parameters"]

    english, many = frozenset({"en"}), frozenset({"en", "de", "es", "xx"})
    assert opened(True, languages=("en-US", "de-DE"))["supportedLanguages"] == ["en-US", "de-DE"]  # model unknown
    assert opened(True, english, languages=("en-US", "de-DE"))["supportedLanguages"] == ["en-US"]  # tiny.en
    assert opened(True, english)["supportedLanguages"] == ["en-US", "en-GB", "en-AU"]
    # A multilingual model: its languages in their common regions (one without a region is not offered).
    assert opened(True, many)["supportedLanguages"] == ["de-DE", "en-US", "en-GB", "en-AU", "es-US", "es-ES", "es-MX"]
    assert opened(True)["supportedLanguages"] == ["en-US"]  # no worker said: English, as before
    assert "supportedLanguages" not in opened(False, languages=("en-US", "de-DE"))
    assert "supportedLanguages" not in opened(None)
    with pytest.raises(ProtocolError, match="supportedLanguages must be true or false") as info:
        audiohook_door().receive(AudioHookClient().open(supported_languages="yes"))
    assert info.value.code == ErrorCode.BAD_CONFIG


def test_audiohook_language_options(monkeypatch):
    def languages(argv):
        return from_args(AudioHookOptions, gateway_main.build_parser().parse_args(argv)).languages

    assert languages([]) == ()  # the model's
    assert languages(["--audiohook-language", "en-GB", "--audiohook-language", "fr-CA"]) == ("en-GB", "fr-CA")
    with pytest.raises(ConfigError, match="'english' is not a language tag like 'en-US'"):
        languages(["--audiohook-language", "english"])
    monkeypatch.setenv("STREAMSCRIBE_GATEWAY_AUDIOHOOK_LANGUAGE", "es-US, pt-BR")
    assert languages([]) == ("es-US", "pt-BR")
    monkeypatch.setenv("STREAMSCRIBE_GATEWAY_AUDIOHOOK_LANGUAGE", "es-US,es")
    with pytest.raises(ConfigError, match="--audiohook-language: 'es' is not a language tag"):
        languages([])


def test_audiohook_media_selection():
    door, client = audiohook_door(), AudioHookClient()
    [opening], _ = handled(door, door.receive(client.open(media=[
        {"type": "audio", "format": "L16", "channels": ["external", "internal"], "rate": 8000},
        {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000}])))
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
    [keepalive], [pong] = handled(door, door.receive(client.message("ping", {"rtt": "PT0.05S"})))
    assert keepalive == events.KeepAlive()
    pong = client.seen(pong)
    assert (pong["type"], pong["seq"], pong["clientseq"], pong["parameters"]) == ("pong", 2, 2, {})
    # A pause closes each channel's utterance; a position that counts 1 s of audio this server
    # never got (discarded while paused) is made up with silence.
    assert handled(door, door.receive(client.message("paused"))) == ([events.Finalize()], [])
    client.position = 1.1
    assert handled(door, door.receive(client.message("resumed", {"start": "PT0.1S", "discarded": "PT1S"}))) == (
        [events.Audio(b"\xff" * 16000)], [])
    # An update closes each channel's utterance too, as Genesys' reference server does (its
    # conformance suite expects an utterance split where the update came).
    assert handled(door, door.receive(client.message("update", {"language": "fr-FR"}))) == ([events.Finalize()], [])
    assert handled(door, door.receive(client.message("error", {"code": 429, "message": "slow down"}))) == ([], [])
    operations = door.receive(client.message("close", {"reason": "end"}))
    assert isinstance(operations[0], events.Reply) and operations[1:] == [events.Close()]  # handled, then closed
    assert door.render(operations[0]) == []
    closed, close = door.render(events.Ended(1000, "session complete", True))
    closed = client.seen(closed)
    assert (closed["type"], closed["seq"], closed["clientseq"]) == ("closed", 3, 7)
    assert close == CloseFrame(1000, "session complete")


def test_audiohook_each_answer_carries_the_seq_of_the_message_it_answers():
    """A ping at once followed by other client messages: its pong, rendered after they came in,
    still carries the ping's seq (Genesys' client errors with 400 "The clientseq of the 'pong'
    message must match seq of the 'ping' message" otherwise). Server messages carry the seq of
    the last client message handled before them, never going back."""
    def reply(operations: list) -> events.Reply:
        [marker] = [operation for operation in operations if isinstance(operation, events.Reply)]
        return marker

    door, client = opened_audiohook()
    ping = reply(door.receive(client.message("ping")))  # seq 2
    paused = reply(door.receive(client.message("paused")))  # seq 3, in before the pong went out
    final = events.Final(channel=0, session_id="s0", utterance_id="s0-0", text="Hello.", start_ms=0, end_ms=500,
                         language="en", speech_final=True)
    out = [client.seen(text) for event in (ping, final, paused, final) for text in door.render(event)]
    assert [(m["type"], m["seq"], m["clientseq"]) for m in out] == [("pong", 2, 2), ("event", 3, 2), ("event", 4, 3)]
    ping, close = reply(door.receive(client.message("ping"))), reply(door.receive(client.message("close")))
    [pong] = door.render(ping)
    assert json.loads(pong)["clientseq"] == 4 and door.render(close) == []
    closed = json.loads(door.render(events.Ended(1000, "session complete", True))[0])
    assert (closed["type"], closed["clientseq"]) == ("closed", 5)


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
    assert handled(door, door.receive(client.message("close", {"reason": "error"}))) == ([events.Close()], [])
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
    """The transcript entity of Genesys' current protocol: ``channelId`` (the channel's index in the
    selected medium), a ``confidence`` on every alternative, the words as ``tokens``."""
    door, client = opened_audiohook()
    words = (events.Word(text="How", start_ms=1000, end_ms=1200, confidence=0.9),
             events.Word(text=" help?", start_ms=1800, end_ms=2250, confidence=0.7))
    # The entity spans the final, which the ASR narrows to where its words were said
    # (asr_worker/span.py), not whisper's word timings (those of a one-word reply can miss it).
    final = events.Final(channel=1, session_id="s1", utterance_id="s1-16000", text="How can I help?",
                         start_ms=1000, end_ms=2250, language="en", speech_final=True, confidence=0.91, words=words)
    body = client.seen(door.render(final)[0])
    assert (body["type"], body["seq"]) == ("event", 2)
    [entity] = body["parameters"]["entities"]
    assert entity["type"] == "transcript"
    data = entity["data"]
    assert data["id"] == str(uuid.UUID(data["id"]))  # a UUID, the same for the same utterance
    assert data["id"] == json.loads(door.render(final)[0])["parameters"]["entities"][0]["data"]["id"]
    assert (data["channelId"], data["party"], data["isFinal"]) == (1, "internal", True)
    assert "channel" not in data and "channelIndex" not in data
    assert (data["offset"], data["duration"]) == ("PT1S", "PT1.25S")
    [alternative] = data["alternatives"]
    assert alternative["confidence"] == 0.91 and alternative["languages"] == ["en"]
    [interpretation] = alternative["interpretations"]
    assert interpretation["type"] == "display" and interpretation["transcript"] == "How can I help?"
    assert interpretation["tokens"] == [
        {"type": "word", "value": "How", "confidence": 0.9, "offset": "PT1S", "duration": "PT0.2S"},
        {"type": "word", "value": "help?", "confidence": 0.7, "offset": "PT1.8S", "duration": "PT0.45S"}]

    # No figure from the engine: the mean of the words' (whisper always gives one; the rule is the
    # Deepgram door's); no words either (qwen3 times none): 1.0, and no tokens.
    def alternative_of(**changes) -> dict:
        text = door.render(dataclasses.replace(final, **changes))[0]
        return json.loads(text)["parameters"]["entities"][0]["data"]["alternatives"][0]

    assert alternative_of(confidence=None)["confidence"] == 0.8
    bare = alternative_of(confidence=None, words=())
    assert bare["confidence"] == 1.0 and bare["interpretations"][0]["tokens"] == []

    def span_of(**changes) -> tuple[str, str]:
        data = json.loads(door.render(dataclasses.replace(final, **changes))[0])["parameters"]["entities"][0]["data"]
        return data["offset"], data["duration"]

    # Two words aligned to one start (whisper gives a word of no length) get distinct offsets.
    same = (events.Word(text="couple", start_ms=1000, end_ms=1000, confidence=0.9),
            events.Word(text=" of", start_ms=1000, end_ms=1200, confidence=0.9))
    tokens = json.loads(door.render(dataclasses.replace(final, words=same))[0])[
        "parameters"]["entities"][0]["data"]["alternatives"][0]["interpretations"][0]["tokens"]
    assert [(t["offset"], t["duration"]) for t in tokens] == [("PT1S", "PT0S"), ("PT1.001S", "PT0.199S")]
    assert span_of(words=()) == span_of() == ("PT1S", "PT1.25S")  # the final's span, words timed or not
    # The span is the final's, whatever its words say.
    assert span_of(start_ms=1100, end_ms=2000) == ("PT1.1S", "PT0.9S")
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
