"""The telephony doors, Twilio Media Streams and Genesys AudioHook, end to end.

One call through each door with real gateway, VAD and ASR processes: the two parties of
a call speak different LibriVox passages on their own tracks, and each party's words come
back on its own channel only. Then the doors' options through a real server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
import uuid

import numpy as np
import pytest
import soundfile
import soxr
from prometheus_client import CollectorRegistry
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common import bus
from gateway.doors.audiohook import AudioHookOptions
from gateway.doors.telephony import parse_duration
from gateway.doors.twilio import TwilioOptions, signature
from gateway.server import Gateway, ListenOptions

from tests.kit.faults import metric, scrape
from tests.kit.support import audiohook_signature, converse, normalise, paced, word_errors
from tests.kit.telephony import CALL_SID, STREAM_SID, AudioHookClient, mulaw_encode, twilio_media, twilio_start
from tests.kit.testdata import synthetic_voice

RATE = 8000
TIMEOUT = 120
SPEED = 8.0  # times real time
LEAD_MS, GAP_MS = 500, 1000

AGENT_LINES = ("thank you for calling the billing department how can i help you today",
               "sure i will look at your last payment right now")


@pytest.fixture(scope="module")
def stack(redis_server, stacks):
    """The module's stack, its ASR decoding in float32. The Transcript Connector's call is split
    after "store." by the sentence endpoint, which needs the decode at the pause to end in a
    full stop; with int8 weights one CPU (AMD EPYC, 2026-11-23) heard "And for contacting the
    store," every run, where float32 there and int8 on the earlier boxes heard "Thanks for
    contacting the store." (CTranslate2's int8 kernels differ by CPU, as in test_whisper_engine)."""
    return stacks(redis_server, extra_env={"STREAMSCRIBE_ASR_COMPUTE_TYPE": "float32"})


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
                finals.append({"channel": data["channelId"], "party": data["party"], "start_ms": start_ms,
                               "end_ms": end_ms,
                               "text": data["alternatives"][0]["interpretations"][0]["transcript"]})
    check_parties(finals, turns, "channel", ("external", "internal"))
    assert sessions_created(stack, "audiohook") == created + 2


# A call as the Transcript Connector's reference recording has it: a short complete sentence,
# a short pause, more sentences (Genesys' audiohook-reference-implementation, test/test-data.ts:
# five transcripts, the first "Hi." 0.4 s long and the next 0.6 s after it). Pauses after it.
CONNECTOR_LINES = (("Hi.", 0.6), ("Thanks for contacting the store.", 0.8), ("How can I help you today?", 1.0),
                   ("I would like to return a jacket.", 0.8), ("Sure, do you have the receipt with you?", 1.0))


def connector_call() -> tuple[np.ndarray, list[tuple[int, int]]]:
    """One 8 kHz track of CONNECTOR_LINES in an espeak-ng voice, and each line's (start_ms, end_ms)."""
    parts, spans, cursor = [np.zeros(RATE // 10, np.float32)], [], RATE // 10
    for line, pause in CONNECTOR_LINES:
        voice, _ = synthetic_voice(line)
        voice = soxr.resample(voice, 16000, RATE, quality="HQ").astype(np.float32)
        voiced = np.flatnonzero(np.abs(voice) > 0.01)
        voice = voice[voiced[0]:voiced[-1] + 1]  # the pause is the silence after the words only
        spans.append((cursor * 1000 // RATE, (cursor + len(voice)) * 1000 // RATE))
        parts += [voice, np.zeros(round(pause * RATE), np.float32)]
        cursor += len(voice) + round(pause * RATE)
    return np.concatenate(parts), spans


@pytest.mark.e2e
async def test_audiohook_transcript_connector_call(stack):
    """The Transcript Connector's checks on a one-channel call streamed faster than real time
    (where a slow decode used to lose to the speech after "Hi." and merge the two): one final
    per sentence, "Hi." its own; entities with channelId, a confidence and word tokens; opened
    lists the supported languages the open asked for; a ping followed at once by another
    message gets a pong with the ping's seq (the module's stack decodes in float32: see there)."""
    audio, spans = connector_call()
    frame = RATE // 10
    frames = [mulaw_encode(audio[i:i + frame]) for i in range(0, len(audio) - frame + 1, frame)]
    # Pings and updates in the pauses after the first and the third line: an update ends the
    # utterance in progress, and one within a line would split it (its first words a final of
    # their own, decoded with the speech before them: the suite's count would then be off).
    breaks = {(end_ms + 300) // 100 for _, end_ms in (spans[0], spans[2])}
    client = AudioHookClient(str(uuid.uuid4()))
    headers = {"Audiohook-Session-Id": client.id, "Audiohook-Organization-Id": str(uuid.uuid4()),
               "Audiohook-Correlation-Id": str(uuid.uuid4()), "X-API-KEY": "test-key"}
    received, pings = [], []
    async with connect(f"ws://127.0.0.1:{stack.port}/audiohook", additional_headers=headers) as ws:
        await ws.send(client.open(media=[{"type": "audio", "format": "PCMU", "channels": ["external"], "rate": RATE}],
                                  supported_languages=True))
        async with asyncio.timeout(30):
            opened = client.seen(await ws.recv())
        # The languages of the stack's model, tiny.en, in their regions.
        assert opened["type"] == "opened" and opened["parameters"]["supportedLanguages"] == [
            "en-US", "en-GB", "en-AU"], opened

        async def send():
            async for index, data in paced_frames(list(enumerate(frames)), 100):
                await ws.send(data)
                client.position = (index + 1) * frame / RATE
                if index in breaks:
                    await ws.send(client.message("ping"))
                    pings.append(client.seq)
                    await ws.send(client.message("update", {"language": "en-US"}))
            await ws.send(client.message("close", {"reason": "end"}))

        await converse(ws, send, lambda text: received.append(client.seen(text)), timeout=TIMEOUT)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason, received, stack.logs())
    kinds = [m["type"] for m in received]
    assert kinds[-1] == "closed" and "disconnect" not in kinds, kinds
    assert [m["clientseq"] for m in received if m["type"] == "pong"] == pings
    clientseqs = [m["clientseq"] for m in received]
    assert clientseqs == sorted(clientseqs) and received[-1]["clientseq"] == client.seq
    entities = [entity["data"] for m in received if m["type"] == "event" for entity in m["parameters"]["entities"]]
    texts = [data["alternatives"][0]["interpretations"][0]["transcript"] for data in entities]
    assert len(entities) == len(CONNECTOR_LINES) and normalise(texts[0]) == ["hi"], texts
    for data, (start_ms, end_ms) in zip(entities, spans):
        assert (data["channelId"], data["party"], data["isFinal"]) == (0, "external", True)
        offset = round(parse_duration(data["offset"], "offset") * 1000)
        duration = round(parse_duration(data["duration"], "duration") * 1000)
        # The entity spans the words as whisper timed them, not the VAD's margins after them: it
        # ends near the line's end. Whisper starts the first word where its audio starts, which is
        # the utterance's start (up to 0.3 s of pre-roll, or at a sentence split where the pause
        # before the line was confirmed: up to the pause's length before the words).
        assert start_ms - 800 <= offset <= start_ms + 250, (data, start_ms)  # + whisper timing error
        assert abs(offset + duration - end_ms) <= 300, (data, end_ms)
        [alternative] = data["alternatives"]
        assert 0 < alternative["confidence"] <= 1
        [interpretation] = alternative["interpretations"]
        tokens = interpretation["tokens"]
        assert [token["value"] for token in tokens] == interpretation["transcript"].split(), interpretation
        starts = [round(parse_duration(token["offset"], "offset") * 1000) for token in tokens]
        assert starts == sorted(set(starts)) and offset <= starts[0], tokens  # distinct, in order, in the entity
        for token, start in zip(tokens, starts):
            assert token["type"] == "word" and 0 <= token["confidence"] <= 1
            assert start + round(parse_duration(token["duration"], "duration") * 1000) <= offset + duration + 1


@pytest.mark.e2e
async def test_handshakes_are_refused_with_http_status(stack):
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{stack.port}/audiohook"):
            pass
    assert info.value.response.status_code == 400


@contextlib.asynccontextmanager
async def gateway_with(redis_server, doors: list):
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
    async with asyncio.timeout(90), gateway_with(redis_server, [AudioHookOptions(client_secret=secret)]) as gateway:
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


async def raw_handshake(port: int, request: bytes) -> tuple[int, dict]:
    """Send a WebSocket handshake byte for byte (as a replay would) and read the response's status
    and JSON body (empty for 101)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        status = int(head.split(b" ", 2)[1])
        if status == 101:
            return status, {}
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
        return status, json.loads(await asyncio.wait_for(reader.readexactly(length), 30))
    finally:
        writer.close()


async def test_a_signed_audiohook_handshake_is_taken_once_over_all_gateways(redis_server):
    """A copy of a signed handshake, sent again within the signature's window, is refused with 401
    by the gateway that took it and by another one on the same Redis; a newly signed one passes."""
    secret = base64.b64decode("TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU=")
    options = [AudioHookOptions(client_secret=secret)]
    async with (asyncio.timeout(90), gateway_with(redis_server, options) as first,
                gateway_with(redis_server, options) as second):
        target = "/audiohook"
        headers = {"Host": f"127.0.0.1:{first.port}", "Audiohook-Organization-Id": str(uuid.uuid4()),
                   "Audiohook-Correlation-Id": str(uuid.uuid4()), "Audiohook-Session-Id": str(uuid.uuid4()),
                   "X-API-KEY": "SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh"}

        def request() -> bytes:
            signed = {**headers, "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                      "Sec-WebSocket-Key": base64.b64encode(uuid.uuid4().bytes).decode(),
                      **audiohook_signature(secret, target=target, headers=headers, created=int(time.time()))}
            lines = "".join(f"{name}: {value}\r\n" for name, value in signed.items())
            return f"GET {target} HTTP/1.1\r\n{lines}\r\n".encode()

        captured = request()
        assert (await raw_handshake(first.port, captured))[0] == 101
        for gateway in (second, first):
            status, body = await raw_handshake(gateway.port, captured)
            assert status == 401 and body["error"] == "unauthorized" and "replay" in body["message"], body
        assert (await raw_handshake(second.port, request()))[0] == 101  # a new nonce
        assert second.registry.get_sample_value("streamscribe_gateway_sessions_refused_total",
                                                {"reason": "replayed"}) == 1


async def test_twilio_signature_through_the_server(redis_server):
    """--twilio-auth-token reaches the door: a wrong signature, or one of the URL the client
    connected to rather than --twilio-public-url, gets 403; the public URL's a stream."""
    token = "0123456789abcdef0123456789abcdef"
    options = TwilioOptions(auth_token=token, public_url="wss://voice.example.com/twilio")
    # A hang fails at the timeout, with its traceback.
    async with asyncio.timeout(90), gateway_with(redis_server, [options]) as gateway:
        url = f"ws://127.0.0.1:{gateway.port}/twilio?token=abc"
        for wrong in (signature("wrong", "wss://voice.example.com/twilio?token=abc"), signature(token, url)):
            with pytest.raises(InvalidStatus) as info:
                async with connect(url, additional_headers={"X-Twilio-Signature": wrong}):
                    pass
            assert info.value.response.status_code == 403
        signed = signature(token, "wss://voice.example.com/twilio?token=abc")
        async with connect(url, additional_headers={"X-Twilio-Signature": signed}) as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(json.dumps({"event": "media"}))  # before start: refused, and the socket closes
            async with asyncio.timeout(30):
                error = json.loads(await ws.recv())
                assert (error["event"], error["code"]) == ("error", "config_required")
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
            assert ws.close_code == 1008
