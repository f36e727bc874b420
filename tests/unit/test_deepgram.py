"""The Deepgram-compatible doors at /v1/listen and /v2/listen (Flux).

Sans I/O first (query parameters, WAV headers, rendering of core events), then
end to end with the official ``deepgram-sdk`` pointed at a local gateway with
real workers.
"""

from __future__ import annotations

import asyncio
import audioop
import json
import struct
import time

import numpy as np
import pytest
import soundfile
import soxr
from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from deepgram.core.api_error import ApiError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common.errors import ErrorCode, ProtocolError
from gateway.core import events
from gateway.doors import door_for
from gateway.doors.base import CloseFrame, Handshake, HandshakeRefused
from gateway.doors import deepgram as dg
from gateway.doors import flux
from gateway.doors.deepgram import MIN_ENDPOINTING_MS, DeepgramDoor, parse_wav_header
from gateway.doors.flux import FluxDoor

from tests.kit.faults import five_utterances_with_bounds
from tests.kit.support import ROOT, free_port, normalise, service, wait_for_workers, word_errors
from tests.kit.testdata import synthetic_voice

TIMEOUT = 120
SPEED = 4.0  # times real time


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
    d = door("encoding=linear16&sample_rate=16000&diarize=true&tag=a&tag=b&version=latest&redact=pci"
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


# -- end to end with the official SDK ----------------------------------------------------------------

def sdk_client(port: int, api_key: str = "test-key") -> AsyncDeepgramClient:
    """The SDK with its base URLs pointed at a local gateway."""
    environment = DeepgramClientEnvironment(base=f"http://127.0.0.1:{port}", production=f"ws://127.0.0.1:{port}",
                                            agent=f"ws://127.0.0.1:{port}", agent_rest=f"http://127.0.0.1:{port}")
    return AsyncDeepgramClient(api_key=api_key, environment=environment)


class Listener:
    """Collects what the SDK parses from one stream; waits on conditions with a deadline."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.messages: list = []
        self.closed: tuple[int | None, str] | None = None
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for message in self.socket:
                async with self._changed:
                    self.messages.append(message)
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            websocket = self.socket._websocket  # the SDK keeps the close code on its connection only
            async with self._changed:
                self.closed = (websocket.close_code, websocket.close_reason)
                self._changed.notify_all()

    async def wait(self, predicate, timeout: float = TIMEOUT):
        """The first message (from the start) for which ``predicate`` holds."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while True:
                    found = next((m for m in self.messages if predicate(m)), None)
                    if found is not None:
                        return found
                    assert self.closed is None, f"closed {self.closed} before the expected message"
                    await self._changed.wait()

    async def wait_closed(self, timeout: float = TIMEOUT) -> tuple[int | None, str]:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: self.closed is not None)
        return self.closed

    def results(self, **match) -> list:
        return [m for m in self.messages if getattr(m, "type", None) == "Results"
                and all(getattr(m, k) == v for k, v in match.items())]

    def request_id(self) -> str:
        return self.socket._websocket.response_headers["dg-request-id"]


def load(path, rate: int = 16000) -> np.ndarray:
    samples, file_rate = soundfile.read(str(path), dtype="float32")
    assert file_rate == rate
    return samples


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


async def send_paced(socket, data: bytes, *, bytes_per_second: float, chunk_ms: int = 100) -> None:
    step = int(bytes_per_second * chunk_ms / 1000)
    for i in range(0, len(data), step):
        await socket.send_media(data[i:i + step])
        await asyncio.sleep(chunk_ms / 1000 / SPEED)  # pacing: a live source, faster than real time


def transcript(results) -> str:
    return " ".join(r.channel.alternatives[0].transcript for r in results)


@pytest.fixture(scope="module")
def live(stack):
    """The module's stack once both workers are registered."""
    wait_for_workers(stack.http, ("vad", "asr"))
    return stack


@pytest.mark.e2e
async def test_sdk_streams_a_clip(live, clips):
    stack = live
    path, reference = clips[0]
    audio = pcm16(load(path))
    async with sdk_client(stack.port).listen.v1.connect(
            model="nova-3", encoding="linear16", sample_rate=16000, interim_results="true",
            punctuate="true", vad_events="true", utterance_end_ms=1000, tag="test") as socket:
        listener = Listener(socket)
        await send_paced(socket, audio, bytes_per_second=32000)
        await socket.send_close_stream()
        code, reason = await listener.wait_closed()
    assert code == 1000, (code, reason, listener.messages)
    request_id = listener.request_id()
    assert listener.messages[-1].type == "Metadata" and listener.messages[-1].request_id == request_id
    assert listener.messages[-1].duration == pytest.approx(len(audio) / 32000, abs=0.1)
    interims, finals = listener.results(is_final=False), listener.results(is_final=True)
    assert interims and finals
    for message in interims + finals:
        assert message.metadata.request_id == request_id
        assert isinstance(message.channel.alternatives[0].words, list)
        assert message.channel_index == [0, 1]
        assert 0 <= message.start and message.start + message.duration <= len(audio) / 32000 + 0.1
    assert finals[-1].speech_final
    assert any(getattr(m, "type", None) == "SpeechStarted" for m in listener.messages)
    for message in finals:  # finals carry timed words from the engine, in order, inside the result
        alternative = message.channel.alternatives[0]
        timed = alternative.words
        assert [w.punctuated_word for w in timed] == alternative.transcript.split()
        assert all(message.start - 0.05 <= w.start <= w.end <= message.start + message.duration + 0.05
                   for w in timed)
        assert [w.start for w in timed] == sorted(w.start for w in timed)
        assert 0 < alternative.confidence <= 1
    errors, words = word_errors(reference, transcript(finals))
    assert errors / words <= 0.25, transcript(finals)


@pytest.mark.e2e
async def test_finalize_returns_from_finalize_and_the_stream_goes_on(live, clips):
    stack = live
    path, reference = clips[0]
    audio = pcm16(load(path))
    async with sdk_client(stack.port).listen.v1.connect(model="nova-3", encoding="linear16",
                                                       sample_rate=16000) as socket:
        listener = Listener(socket)
        await send_paced(socket, audio[: 32000 * 3], bytes_per_second=32000)  # 3 s, mid-sentence
        await socket.send_finalize()
        sent = time.monotonic()
        finalized = await listener.wait(lambda m: getattr(m, "from_finalize", False), timeout=60)
        print(f"Finalize to its final: {(time.monotonic() - sent) * 1000:.0f} ms")
        assert finalized.is_final and finalized.channel.alternatives[0].transcript
        assert finalized.start + finalized.duration <= 3.05
        await send_paced(socket, audio[32000 * 3:], bytes_per_second=32000)  # the stream stays open
        await socket.send_finalize()
        await listener.wait(lambda m: getattr(m, "from_finalize", False) and m is not finalized, timeout=60)
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000 and listener.messages[-1].type == "Metadata"
    errors, words = word_errors(reference, transcript(listener.results(is_final=True)))
    assert errors / words <= 0.35


@pytest.mark.e2e
async def test_wav_container_and_close_stream_without_audio(live, clips):
    stack = live
    path, reference = clips[1]
    wav = path.read_bytes()  # RIFF header and PCM16 samples, no encoding parameter
    async with sdk_client(stack.port).listen.v1.connect(model="nova-3", smart_format="true") as socket:
        listener = Listener(socket)
        await send_paced(socket, wav, bytes_per_second=32000)
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000
    errors, words = word_errors(reference, transcript(listener.results(is_final=True)))
    assert errors / words <= 0.25
    async with sdk_client(stack.port).listen.v1.connect(model="nova-3", encoding="mulaw",
                                                       sample_rate=8000) as socket:
        listener = Listener(socket)
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000
    (metadata,) = listener.messages
    assert metadata.type == "Metadata" and metadata.duration == 0


@pytest.mark.e2e
async def test_bad_encoding_is_refused_with_400(live):
    stack = live
    with pytest.raises(ApiError) as info:
        async with sdk_client(stack.port).listen.v1.connect(model="nova-3", encoding="opus", sample_rate=48000):
            pass
    assert info.value.status_code == 400
    with pytest.raises(InvalidStatus) as info:  # the body, which the SDK does not show
        async with connect(f"ws://127.0.0.1:{stack.port}/v1/listen?encoding=opus&sample_rate=48000"):
            pass
    response = info.value.response
    body = json.loads(response.body)
    assert response.status_code == 400 and body["err_code"] == "INVALID_QUERY_PARAMETER"
    assert "opus" in body["err_msg"] and body["request_id"] == response.headers["dg-request-id"]


@pytest.fixture
def idle_gateway(live):
    """A second gateway on the same Redis and workers, with short idle limits."""
    stack = live
    port = free_port()
    gateway = service("gateway-idle", "gateway", "--host", "127.0.0.1", "--port", str(port),
                      "--idle-timeout", "2", "--max-keepalive-idle", "8", env=stack.env)
    try:
        gateway.wait_for_line(r"\bready\b", 60)
        yield port
    finally:
        gateway.stop()


@pytest.fixture
def keyed_gateway(live):
    """A second gateway on the same Redis and workers that requires an API key."""
    port = free_port()
    gateway = service("gateway-keyed", "gateway", "--host", "127.0.0.1", "--port", str(port),
                      "--api-key", "the-right-key", env=live.env)
    try:
        gateway.wait_for_line(r"\bready\b", 60)
        yield port
    finally:
        gateway.stop()


@pytest.mark.e2e
@pytest.mark.parametrize("api, model, last", [("v1", "nova-3", "Metadata"), ("v2", "flux-general-en", "Connected")])
async def test_the_sdk_key_is_checked(keyed_gateway, api, model, last):
    """The SDK sends 'Authorization: Token KEY': no key or a wrong one is refused at the handshake with 401,
    on /v1/listen and on Flux's /v2/listen alike."""
    with pytest.raises(InvalidStatus, match="HTTP 401"):
        async with connect(f"ws://127.0.0.1:{keyed_gateway}/{api}/listen?model={model}"):
            pass
    with pytest.raises(Exception, match="401"):
        async with getattr(sdk_client(keyed_gateway, api_key="a-wrong-key").listen, api).connect(model=model):
            pass
    async with getattr(sdk_client(keyed_gateway, api_key="the-right-key").listen, api).connect(model=model) as socket:
        listener = Listener(socket)
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000 and listener.messages[-1].type == last


@pytest.mark.e2e
async def test_keepalive_holds_an_idle_stream(idle_gateway):
    client = sdk_client(idle_gateway)
    # Without audio or KeepAlive: closed after the idle timeout, as Deepgram does.
    async with client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=16000) as socket:
        listener = Listener(socket)
        code, reason = await listener.wait_closed(timeout=30)
    assert (code, reason[:8]) == (1011, "NET-0001")
    # KeepAlive every 0.5 s holds it for 2.5 idle timeouts; CloseStream then ends it normally.
    async with client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=16000) as socket:
        listener = Listener(socket)
        for _ in range(10):
            await socket.send_keep_alive()
            await asyncio.sleep(0.5)  # the client's keep-alive period, not synchronisation
        assert listener.closed is None
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000 and listener.messages[-1].type == "Metadata"
    # KeepAlive alone holds a stream without audio only up to --max-keepalive-idle.
    async with client.listen.v1.connect(model="nova-3", encoding="linear16", sample_rate=16000) as socket:
        listener = Listener(socket)
        async with asyncio.timeout(30):
            while listener.closed is None:
                try:
                    await socket.send_keep_alive()
                except ConnectionClosed:
                    break
                await asyncio.sleep(0.5)  # the client's keep-alive period, not synchronisation
        code, reason = await listener.wait_closed()
    assert code == 1011 and "only keep-alives" in reason
    # The idle timeout is the core's: the native protocol gets it too, as error idle_timeout.
    async with connect(f"ws://127.0.0.1:{idle_gateway}/ws/asr") as ws:
        await ws.send(json.dumps({"type": "config", "encoding": "pcm16"}))
        messages = []
        with pytest.raises(ConnectionClosed) as info:
            async with asyncio.timeout(30):
                while True:
                    messages.append(json.loads(await ws.recv()))
        assert info.value.rcvd.code == 1011
    assert messages[0]["type"] == "session_created" and messages[-1]["code"] == "idle_timeout"


def two_party_call(first: np.ndarray, second: np.ndarray) -> bytes:
    """Interleaved two-channel mu-law at 8 kHz: the first party speaks, then the second, on its own channel."""
    a = soxr.resample(first, 16000, 8000)
    b = soxr.resample(second, 16000, 8000)
    gap = np.zeros(4000, np.float32)  # 0.5 s between turns
    left = np.concatenate([a, gap, np.zeros_like(b), gap])
    right = np.concatenate([np.zeros_like(a), gap, b, gap])
    stereo = np.stack([left, right], axis=1).reshape(-1)
    return audioop.lin2ulaw(pcm16(stereo), 2)


@pytest.mark.e2e
async def test_two_channel_mulaw_call(live, clips):
    """A customer (a LibriVox reader) and an agent (espeak-ng): each one's words on its own channel only."""
    stack = live
    path_a, ref_a = clips[0]
    agent, ref_b = synthetic_voice()
    call = two_party_call(load(path_a), agent)
    async with sdk_client(stack.port).listen.v1.connect(model="nova-3", encoding="mulaw", sample_rate=8000,
                                                       channels=2, multichannel="true") as socket:
        listener = Listener(socket)
        await send_paced(socket, call, bytes_per_second=16000)
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000
    finals = listener.results(is_final=True)
    assert {tuple(m.channel_index) for m in finals} <= {(0, 2), (1, 2)}
    text = [transcript([m for m in finals if m.channel_index[0] == channel]) for channel in (0, 1)]
    print(f"channel 0: {text[0]!r}\nchannel 1: {text[1]!r}")
    for own, reference in ((text[0], ref_a), (text[1], ref_b)):
        errors, words = word_errors(reference, own)
        assert errors / words <= 0.35, (own, reference)
    only_a = set(normalise(ref_a)) - set(normalise(ref_b))
    only_b = set(normalise(ref_b)) - set(normalise(ref_a))
    assert not only_a & set(normalise(text[1])), text  # no crosstalk either way
    assert not only_b & set(normalise(text[0])), text


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
    assert (end["turn_index"], end["audio_window_start"], end["audio_window_end"]) == (0, 0.5, 2.2)
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
        ("EndOfTurn", "Dashwood had then leisure. To consider.")]
    # ForceEndTurn: the from_finalize final ends the turn (manual); with none pending, Flushed does
    assert turn(d, partial("how much")) == [("StartOfTurn", "how much")]
    (forced,) = rendered(d, final("how much", speech_final=True, from_finalize=True))
    assert (forced["event"], forced["trigger"], forced["turn_index"]) == ("EndOfTurn", "manual", 2)
    assert rendered(d, events.Flushed(1)) == []  # no turn open: nothing to end
    assert turn(d, partial("there")) == [("StartOfTurn", "there")]
    (forced,) = rendered(d, events.Flushed(2))  # the partial's utterance had no words after all
    assert (forced["event"], forced["transcript"], forced["trigger"]) == ("EndOfTurn", "", "manual")


# -- Flux (/v2/listen), end to end with the official SDK ---------------------------------------------

def turn_infos(listener: Listener, *kinds: str) -> list:
    return [m for m in listener.messages if getattr(m, "type", None) == "TurnInfo" and (not kinds or m.event in kinds)]


def flux_connect(port: int, **params):
    return sdk_client(port).listen.v2.connect(model="flux-general-en", encoding="linear16", sample_rate=16000,
                                              **params)


@pytest.mark.e2e
async def test_flux_sdk_streams_turns(live, clips):
    """Two clips with a pause between: each turn is StartOfTurn, Updates, one EndOfTurn with its words."""
    audio, _ = five_utterances_with_bounds(clips[:2])
    async with flux_connect(live.port) as socket:
        listener = Listener(socket)
        await send_paced(socket, pcm16(audio), bytes_per_second=32000)
        await socket.send_close_stream()
        code, reason = await listener.wait_closed()
    assert code == 1000, (code, reason, listener.messages)
    request_id = listener.request_id()
    assert listener.messages[0].type == "Connected" and listener.messages[0].request_id == request_id
    assert [m.sequence_id for m in listener.messages] == list(range(len(listener.messages)))
    infos = turn_infos(listener)
    assert len(infos) == len(listener.messages) - 1 and all(m.request_id == request_id for m in infos)
    turns = {}
    for message in infos:
        turns.setdefault(message.turn_index, []).append(message)
    assert sorted(turns) == list(range(len(turns))) and len(turns) >= 2, [(m.turn_index, m.event) for m in infos]
    for messages in turns.values():
        kinds = [m.event for m in messages]
        assert kinds[0] == "StartOfTurn" and kinds[-1] == "EndOfTurn", kinds
        assert set(kinds[1:-1]) <= {"Update"}, kinds  # no eager events without eager_eot_threshold
        end = messages[-1]
        assert end.trigger == "model" and end.transcript and end.end_of_turn_confidence == 1.0
        assert 0 <= end.audio_window_start < end.audio_window_end <= len(audio) / 16000 + 0.1
        assert [w.word for w in end.words] == end.transcript.split()
    assert turn_infos(listener, "Update")
    text = " ".join(m.transcript for m in turn_infos(listener, "EndOfTurn"))
    errors, words = word_errors(" ".join(reference for _, reference in clips[:2]), text)
    assert errors / words <= 0.25, text


@pytest.mark.e2e
async def test_flux_eager_end_of_turn_confirmed_then_resumed(live, clips):
    """A pause mid-sentence (the first 3 s of a clip, whose decode ends without a full stop) gets an
    EagerEndOfTurn. The client sends nothing more until it comes, so no timing decides the outcome.
    Then silence confirms it (EndOfTurn, same transcript); in the next turn the rest of the
    sentence resumes it (TurnResumed) and the EndOfTurn has the whole sentence."""
    path, reference = clips[0]
    samples = load(path)
    head, rest = pcm16(samples[: 16000 * 3]), pcm16(samples[16000 * 3:])
    pause, silence = bytes(int(0.6 * 32000)), bytes(int(2.5 * 32000))
    async with flux_connect(live.port, eager_eot_threshold="0.5", eot_timeout_ms="2000") as socket:
        listener = Listener(socket)
        for index in (0, 1):
            await send_paced(socket, head + pause, bytes_per_second=32000)
            eager = await listener.wait(lambda m: getattr(m, "turn_index", None) == index
                                        and m.event in ("EagerEndOfTurn", "EndOfTurn"))
            assert eager.event == "EagerEndOfTurn" and eager.transcript, eager
            assert eager.end_of_turn_confidence == 0.5
            await send_paced(socket, (rest if index else b"") + silence, bytes_per_second=32000)
            end = await listener.wait(lambda m: getattr(m, "turn_index", None) == index and m.event == "EndOfTurn")
            kinds = [m.event for m in turn_infos(listener) if m.turn_index == index]
            print(f"turn {index}: {kinds} {end.transcript!r}")
            if index == 0:
                assert kinds[0] == "StartOfTurn" and kinds[-2:] == ["EagerEndOfTurn", "EndOfTurn"], kinds
                assert end.transcript == eager.transcript
            else:
                assert kinds.index("TurnResumed") == kinds.index("EagerEndOfTurn") + 1, kinds
                assert end.transcript.startswith(eager.transcript)
                errors, words = word_errors(reference, end.transcript)
                assert errors / words <= 0.25, end.transcript
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000 and len(turn_infos(listener, "EndOfTurn")) == 2


@pytest.mark.e2e
async def test_flux_force_end_turn(live, clips):
    path, _ = clips[0]
    audio = pcm16(load(path))
    async with flux_connect(live.port) as socket:
        listener = Listener(socket)
        await send_paced(socket, audio[: 32000 * 3], bytes_per_second=32000)  # 3 s, mid-sentence
        await socket.send_force_end_turn()
        sent = time.monotonic()
        end = await listener.wait(lambda m: getattr(m, "event", None) == "EndOfTurn", timeout=60)
        print(f"ForceEndTurn to its EndOfTurn: {(time.monotonic() - sent) * 1000:.0f} ms")
        assert end.trigger == "manual" and end.transcript and end.turn_index == 0
        assert end.audio_window_end <= 3.05
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000


@pytest.mark.e2e
async def test_flux_bad_messages_are_answered_and_the_stream_goes_on(live):
    async with flux_connect(live.port) as socket:
        listener = Listener(socket)
        await socket._websocket.send("{nope")
        await socket.send_configure({"type": "Finalize"})  # v1's message: unknown here
        await socket.send_configure({"type": "Configure", "thresholds": {"eot_threshold": 0.8}})
        failure = await listener.wait(lambda m: getattr(m, "type", None) == "ConfigureFailure")
        await socket.send_close_stream()
        code, _ = await listener.wait_closed()
    assert code == 1000 and failure.description
    warnings = [m for m in listener.messages if getattr(m, "type", None) == "Warning"]
    assert [w.code for w in warnings] == ["BAD_JSON", "UNKNOWN_TYPE"], listener.messages
    assert "not valid JSON" in warnings[0].description and "'Finalize'" in warnings[1].description
