"""End to end: gateway, VAD and ASR workers as real processes, real models, real Redis."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.request

import numpy as np
import pytest
import soundfile
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamscribe_client import file_frames, stream

from common.aio import wait_event
from common.contract import from_native
from tests.kit.contract import assert_contract
from tests.kit.faults import five_utterances_with_bounds, held_frames
from tests.kit.support import word_errors

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPEED = 4.0  # times real time: keeps CI short; pacing still exercises streaming
TIMEOUT = 120


def load(path):
    samples, rate = soundfile.read(str(path), dtype="float32")
    return samples, rate


def finals(messages):
    return [m for m in messages if m["type"] == "final"]


def check_event_order(messages):
    """The transcript contract on the client's messages (partials precede their final, one final per
    utterance, finals disjoint and in order, each said once), every final at an endpoint, seqs in order."""
    assert_contract(from_native(messages))
    for message in finals(messages):
        assert message["is_speech_final"] is True
        assert 0 <= message["start_ms"] < message["end_ms"]
    seqs = [m["seq"] for m in messages]
    assert seqs == list(range(len(seqs)))


async def run_session(stack, samples, rate, **config):
    frames = file_frames(samples, rate, chunk_ms=100, speed=SPEED)
    return await stream(stack.url, frames, sample_rate=rate, config=config, timeout=TIMEOUT)


async def test_each_clip(stack, clips):
    """One session per clip, side by side (one after another they took the sum of the clips'
    streaming time; test_cluster runs such sessions at once too)."""
    loaded = [load(path) for path, _ in clips]
    sessions = await asyncio.gather(*(run_session(stack, samples, rate) for samples, rate in loaded))
    errors = words = 0
    for (path, reference), (samples, rate), messages in zip(clips, loaded, sessions):
        assert messages[0]["type"] == "session_created"
        check_event_order(messages)
        got = finals(messages)
        assert len(got) == 1, f"{path.name}: {messages}"
        assert got[0]["end_ms"] <= len(samples) * 1000 // rate + 50
        e, n = word_errors(reference, got[0]["text"])
        errors, words = errors + e, words + n
    wer = errors / words
    print(f"WER over {len(clips)} clips, one session each: {wer:.3%} ({errors}/{words})")
    assert wer <= 0.20


def check_one_session_of_clips(messages, bounds, clips, logs: str = "") -> float:
    """Assert one final per clip, in order and around its clip in audio time, no clip lost nor said
    twice (the transcript contract, knowing where speech was and what was said); return the WER."""
    check_event_order(messages)
    assert_contract(from_native(messages), speech={0: bounds}, reference={0: " ".join(text for _, text in clips)})
    got = finals(messages)
    assert len(got) == len(clips), ([m["text"] for m in got], logs)
    errors = words = 0
    for final, (start_ms, end_ms), (_, reference) in zip(got, bounds, clips):
        # Audio time: each final lies around its clip (pre-roll and padding allowed).
        assert start_ms - 600 <= final["start_ms"] <= start_ms + 600
        assert end_ms - 600 <= final["end_ms"] <= end_ms + 600
        e, n = word_errors(reference, final["text"])
        errors, words = errors + e, words + n
    assert {m["utterance_id"] for m in messages if m["type"] == "partial"}, "no partials at all"
    return errors / words


async def test_all_clips_in_one_session(stack, clips):
    audio, bounds = five_utterances_with_bounds(clips)
    messages = await run_session(stack, audio, 16000)
    wer = check_one_session_of_clips(messages, bounds, clips)
    print(f"WER over one 5-utterance session: {wer:.3%}")
    assert wer <= 0.20


async def test_eager_finals_come_before_the_endpoint_and_the_turn_end_follows(stack, clips):
    """Each clip's words come once, and each clip's turn ends with exactly one final with
    is_speech_final true. Eager finals keep to what came first: a turn whose decode, started
    at the pause, ended before the endpoint has its words in eager finals (is_speech_final
    false; a pause inside a clip may split it) and then an empty final; where the last decode
    was still running at the endpoint (a busy machine), its words are in the endpoint's final.
    The call is held 1.5 s into the first clip's pause (before its 3 s endpoint) until a final
    comes, so the first turn shows an eager final however slow the box's decodes are; the
    second turn is streamed through and may show either."""
    audio, bounds = five_utterances_with_bounds(clips[:2], gap_seconds=3.5)
    step = 16000 // 10
    hold_at = (bounds[0][1] + 1500) * 16 // step * step
    eager_seen = asyncio.Event()

    def on_message(message):
        if message["type"] == "final":
            eager_seen.set()

    frames = held_frames(audio, 16000, chunk_ms=100, speed=1.0, hold_at=hold_at, resume=eager_seen)
    call = asyncio.create_task(stream(stack.url, frames, sample_rate=16000, timeout=TIMEOUT, on_message=on_message,
                                      config={"eager_finals": True, "sentence_endpoint": False,
                                              "vad": {"silence_threshold": 3.0}}))
    if not await wait_event(eager_seen, TIMEOUT):
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        raise AssertionError(f"no final while the call was held 1.5 s into a 3 s endpoint\n{stack.logs()}")
    messages = await call
    got = [(m["text"], m["is_speech_final"]) for m in finals(messages)]
    turns, turn = [], []
    for text, speech_final in got:
        turn.append(text)
        if speech_final:
            turns.append(turn)
            turn = []
    assert len(turns) == 2 and not turn, got  # one turn end per clip, and nothing after the last
    for *eager, end in turns:
        assert all(eager), got  # an eager final always has words
        assert end or eager, got  # an empty endpoint final only after an eager final
    assert any(len(turn) > 1 for turn in turns), f"no eager final in either turn: {got}"
    errors, words = word_errors(" ".join(reference for _, reference in clips[:2]),
                                " ".join(text for text, _ in got))
    assert errors / words <= 0.2, got
    assert len({m["utterance_id"] for m in finals(messages)}) == len(got)


async def test_finalize_flushes_the_current_utterance(stack, clips):
    path, _ = clips[0]
    samples, rate = load(path)
    async with connect(stack.url) as ws:
        await ws.send(json.dumps({"type": "config", "sample_rate": rate, "encoding": "pcm16"}))
        created = json.loads(await ws.recv())
        assert created["type"] == "session_created"
        pcm = (samples[: rate * 3] * 32767).astype("<i2").tobytes()  # 3 s, mid-sentence
        for i in range(0, len(pcm), 3200):
            await ws.send(pcm[i:i + 3200])
        await ws.send(json.dumps({"type": "finalize"}))
        messages = []
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = json.loads(await ws.recv())
                messages.append(message)
                if message["type"] == "flushed":
                    break
        got = finals(messages)
        assert len(got) == 1 and got[0]["text"]
        assert got[0]["end_ms"] <= 3000 + 50


async def expect_error(ws, code):
    async with asyncio.timeout(30):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "error":
                assert message["code"] == code, message
                assert message["message"]
                return message


async def test_bad_input_gets_clear_errors_and_service_continues(stack, clips):
    # Non-JSON first message: error, then close 1008.
    async with connect(stack.url) as ws:
        await ws.send("hello")
        await expect_error(ws, "bad_json")
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd.code == 1008
    # Audio before config.
    async with connect(stack.url) as ws:
        await ws.send(b"\x00\x00" * 160)
        await expect_error(ws, "config_required")
    # Within a session: odd PCM16 byte count, NaN floats, unknown type: errors, session goes on.
    async with connect(stack.url) as ws:
        await ws.send(json.dumps({"type": "config", "encoding": "pcm16"}))
        assert json.loads(await ws.recv())["type"] == "session_created"
        await ws.send(b"\x00" * 321)
        await expect_error(ws, "bad_audio")
        await ws.send(json.dumps({"type": "pause"}))
        await expect_error(ws, "unknown_type")
        await ws.send("{not json")
        await expect_error(ws, "bad_json")
        await ws.send(b"\x00\x00" * 1600)  # still accepted
        await ws.send(json.dumps({"type": "finalize"}))
        async with asyncio.timeout(30):
            while json.loads(await ws.recv())["type"] != "flushed":
                pass
    async with connect(stack.url) as ws:
        await ws.send(json.dumps({"type": "config"}))
        await ws.recv()
        await ws.send(np.array([0.0, np.nan] * 100, np.float32).tobytes())
        error = await expect_error(ws, "bad_audio")
        assert "NaN" in error["message"]
    # Oversized frame: the WebSocket layer closes with 1009 (message too big).
    async with connect(stack.url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "config"}))
        await ws.recv()
        await ws.send(b"\x00" * (2 << 20))
        with pytest.raises(ConnectionClosed) as info:
            async with asyncio.timeout(30):
                while True:
                    await ws.recv()
        assert info.value.rcvd.code == 1009
    # Everything still serves: a real session transcribes.
    path, reference = clips[-1]
    samples, rate = load(path)
    messages = await run_session(stack, samples, rate)
    (final,) = finals(messages)
    e, n = word_errors(reference, final["text"])
    assert e / n <= 0.2
    for process in stack.processes:
        assert process.proc.poll() is None, f"{process.name} died:\n{process.tail()}"


def test_http_endpoints(stack):
    with urllib.request.urlopen(stack.http + "/healthz", timeout=10) as response:
        assert json.load(response) == {"status": "alive"}
    with urllib.request.urlopen(stack.http + "/readyz", timeout=10) as response:
        body = json.load(response)
        assert body["ready"] is True and body["workers"]["vad"] == 1 and body["workers"]["asr"] == 1
    with urllib.request.urlopen(stack.http + "/", timeout=10) as response:
        assert b"/ws/asr" in response.read()
    with urllib.request.urlopen(stack.http + "/metrics", timeout=10) as response:
        assert b"streamscribe_gateway_sessions_total" in response.read()



async def test_asr_worker_stops_without_destroying_pending_tasks(redis_server, stacks, clips):
    """Seen: "Task was destroyed but it is pending!" (tasks asr-<sid>) in ASR worker logs."""
    own = stacks(redis_server)  # its own stack: this test stops the ASR worker
    # Three sessions side by side (one after another took their sum of streaming time).
    sessions = [run_session(own, *load(path)) for path, _ in clips[:3]]
    for messages in await asyncio.gather(*sessions):
        assert finals(messages), messages
    (worker,) = own.workers["asr"]
    worker.signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.proc.wait, 30) == 0
    worker.wait_for_line(r"\bstopped\b", 10)
    log = "\n".join(worker.lines)
    assert "Task was destroyed" not in log and "Traceback" not in log, log
