"""The seed systems' protocols: the RNN-T server's /ws/transcribe, whisper-streaming's /ws/stream and TCP.

Sans I/O first (each door's parsing and rendering), then each door end to end
against a real stack with a LibriVox clip.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import soundfile
import soxr
from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed

from common.errors import ErrorCode, ProtocolError
from gateway.core import events
from gateway.doors import door_for
from gateway.doors.base import CloseFrame, Handshake, HandshakeRefused
from gateway.doors.rnnt import RnntDoor
from gateway.doors.whisper_stream import TcpDoor, WhisperStreamDoor
from gateway.tcp import TcpListener, TcpOptions, parse_networks

from tests.kit.support import converse, free_port, paced, pcm_chunks, word_errors

TIMEOUT = 120
RATE = 16_000
SPEED = 8.0  # times real time


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
    door = TcpDoor(handshake("tcp"))
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


# -- end to end --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_stack(redis_server, stacks):
    tcp_port = free_port()
    stack = stacks(redis_server, extra_env={"STREAMSCRIBE_GATEWAY_TCP_PORT": str(tcp_port)})
    stack.tcp_port = tcp_port
    return stack


@pytest.fixture(scope="module")
def clip(clips):
    path, reference = clips[0]
    samples, rate = soundfile.read(str(path), dtype="float32")
    if rate != RATE:
        samples = soxr.resample(samples, rate, RATE).astype(np.float32)
    silence = np.zeros(RATE, np.float32)
    pcm = np.clip(np.concatenate([silence, samples, silence]) * 32768, -32768, 32767).astype("<i2").tobytes()
    return pcm, reference


def paced_chunks(pcm: bytes):
    return paced(pcm_chunks(pcm), 100, speed=SPEED)


def check_text(reference: str, text: str) -> None:
    errors, words = word_errors(reference, text)
    assert errors / words < 0.35, (reference, text)


@pytest.mark.e2e
async def test_rnnt_client_transcribes_a_clip(seed_stack, clip):
    pcm, reference = clip
    received = []
    async with connect(f"ws://127.0.0.1:{seed_stack.port}/ws/transcribe?client_id=test-client") as ws:
        greeting = json.loads(await ws.recv())
        assert greeting["type"] == "connection" and greeting["client_id"] == "test-client"
        await ws.send(json.dumps({"type": "start_recording", "config": {"sample_rate": 16000, "encoding": "pcm16"}}))

        async def send():
            async for chunk in paced_chunks(pcm):
                await ws.send(chunk)
            await ws.send(json.dumps({"type": "stop_recording"}))

        await converse(ws, send, lambda text: received.append(json.loads(text)), timeout=TIMEOUT)
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason, received, seed_stack.logs())
    kinds = [m["type"] for m in received]
    assert kinds[0] == "recording_started" and kinds[-1] == "recording_stopped" and "error" not in kinds
    results = [m for m in received if m["type"] == "transcription"]
    assert results and [m["segment_id"] for m in results] == sorted(m["segment_id"] for m in results)
    text = " ".join(m["text"] for m in results)
    check_text(reference, text)
    words = [w for m in results for w in m["words"]]
    assert words and all(0.5 <= w["start"] <= w["end"] <= len(pcm) / 2 / RATE for w in words)
    assert received[-1]["final_transcript"] == " ".join(m["text"] for m in results if m["text"])


@pytest.mark.e2e
async def test_whisper_stream_websocket(seed_stack, clip):
    pcm, reference = clip
    finals = []
    async with connect(f"ws://127.0.0.1:{seed_stack.port}/ws/stream") as ws:
        assert json.loads(await ws.recv()) == {"type": "ready", "sample_rate": 16000}
        async for chunk in paced_chunks(pcm):
            await ws.send(chunk)
        await ws.send("flush")
        async with asyncio.timeout(TIMEOUT):
            while (message := json.loads(await ws.recv()))["type"] != "flushed":
                assert message["type"] == "final", message
                finals.append(message)
            await ws.send("close")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        assert ws.close_code == 1000, (ws.close_code, ws.close_reason, seed_stack.logs())
    check_text(reference, " ".join(m["text"] for m in finals))
    assert all(500 <= m["beg_ms"] < m["end_ms"] <= len(pcm) // 32 for m in finals)


@pytest.mark.e2e
async def test_whisper_stream_tcp(seed_stack, clip):
    pcm, reference = clip
    reader, writer = await asyncio.open_connection("127.0.0.1", seed_stack.tcp_port)
    try:
        async for chunk in paced_chunks(pcm):
            writer.write(chunk)
            await writer.drain()
        writer.write_eof()  # no more audio: every remaining line, then the server closes
        async with asyncio.timeout(TIMEOUT):
            output = (await reader.read()).decode()
    finally:
        writer.close()
    lines = output.splitlines()
    assert lines and not [line for line in lines if line.startswith("error")], (output, seed_stack.logs())
    parsed = [line.split(" ", 2) for line in lines]
    assert all(int(beg) < int(end) for beg, end, _ in parsed)
    check_text(reference, " ".join(text for _, _, text in parsed))


# -- seed status endpoints --------------------------------------------------------------------------


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.e2e
async def test_health_endpoints(seed_stack):
    status, health = await asyncio.to_thread(get_json, seed_stack.http + "/health")
    assert status == 200 and health["status"] in ("healthy", "degraded") and health["gateway_id"]
    status, extended = await asyncio.to_thread(get_json, seed_stack.http + "/health/extended")
    assert status == 200 and extended["redis"]["ok"] and extended["redis"]["latency_ms"] >= 0
    assert set(extended["stages"]) >= {"vad", "asr"}
    for stage in ("vad", "asr"):
        report = extended["stages"][stage]
        assert report["live_workers"] == 1 and report["capacity"] >= 1
        (worker,) = report["workers"]
        assert worker["id"] == f"{stage}0" and worker["lag_s"] >= 0 and worker["draining"] is False
    assert {"rnnt", "whisper_stream", "tcp", "native"} <= set(extended["sessions_by_protocol"])


@pytest.mark.e2e
async def test_ws_status_counts_open_sessions_per_protocol(seed_stack):
    async with connect(f"ws://127.0.0.1:{seed_stack.port}/ws/status") as watcher:
        async with asyncio.timeout(TIMEOUT):
            first = json.loads(await watcher.recv())
            assert first["type"] == "status" and first["sessions"]["whisper_stream"] == 0
            assert first["stages"]["asr"]["live_workers"] == 1
            async with connect(f"ws://127.0.0.1:{seed_stack.port}/ws/stream") as ws:
                assert json.loads(await ws.recv())["type"] == "ready"
                await watcher.send('{"type": "get_status"}')
                while json.loads(await watcher.recv())["sessions"]["whisper_stream"] != 1:
                    pass  # pushed every second: the next ones see the session
                await ws.send("close")
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
            while json.loads(await watcher.recv())["sessions"]["whisper_stream"] != 0:
                pass
