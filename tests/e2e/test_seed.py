"""The seed systems' protocols: the RNN-T server's /ws/transcribe, whisper-streaming's /ws/stream and TCP.

Each door end to end against a real stack with a LibriVox clip; the doors sans I/O are
tested in tests/unit/test_seed.py.
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
from websockets.exceptions import ConnectionClosed

from tests.kit.support import converse, free_port, paced, pcm_chunks, word_errors

TIMEOUT = 120
RATE = 16_000
SPEED = 8.0  # times real time


@pytest.fixture(scope="module")
def seed_stack(redis_server, stacks):
    tcp_port = free_port()
    # A client waiting for "flushed" sends nothing: on a loaded box its finals came more than the
    # default 10 s idle timeout after its last audio (seen at a load average of 20: idle_timeout
    # instead of the finals). Idle calls are test_idle's; here the doors' results are checked.
    stack = stacks(redis_server, extra_env={"STREAMSCRIBE_GATEWAY_TCP_PORT": str(tcp_port),
                                            "STREAMSCRIBE_GATEWAY_IDLE_TIMEOUT": "60"})
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
        assert worker["id"] == seed_stack.workers[stage][0].name and worker["lag_s"] >= 0 and worker["draining"] is False
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
