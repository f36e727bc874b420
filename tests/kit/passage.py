"""A passage of continuous read speech through the Deepgram doors, live and pre-recorded.

Issue 47's check of Flux's turns: the LibriVox clips joined without added silence (continuous
speech with its own pauses) streamed through ``/v1/listen`` (finals) or ``/v2/listen`` (Flux's
turns, eager end of turn) in 10 ms frames at ``speed`` times real time, as LiveKit's own STT test
streams, against the pre-recorded API (``POST /v1/listen``) on the same audio. Shared by
tests/e2e/test_turns.py and bench/passage.py.
"""

from __future__ import annotations

import io
import json
import urllib.request
import wave

import numpy as np

from gateway.core.audio import to_pcm16

from .support import converse, paced, pcm_chunks
from .testdata import librivox_samples

TIMEOUT = 120.0  # s a stream may take past its audio
FRAME_MS = 10


def passage() -> tuple[np.ndarray, str]:
    """The LibriVox clips joined without added silence, and their text."""
    clips = librivox_samples()
    return (np.concatenate([audio for audio, _ in clips]).astype(np.float32),
            " ".join(text for _, text in clips))


async def _stream(url: str, audio: np.ndarray, speed: float, on_message) -> None:
    from websockets.asyncio.client import connect

    chunks = pcm_chunks(to_pcm16(audio).tobytes(), FRAME_MS)
    async with connect(url) as ws:
        async def send() -> None:
            async for chunk in paced(chunks, FRAME_MS, speed=speed):
                await ws.send(chunk)
            await ws.send(json.dumps({"type": "CloseStream"}))

        await converse(ws, send, lambda text: on_message(json.loads(text)),
                       timeout=len(audio) / 16_000 / speed + TIMEOUT)


async def flux_turns(port: int, audio: np.ndarray, speed: float) -> list[dict]:
    """Flux's TurnInfo messages for ``audio`` (16 kHz)."""
    messages: list[dict] = []
    query = "model=flux-general-en&encoding=linear16&sample_rate=16000&eager_eot_threshold=0.5"
    await _stream(f"ws://127.0.0.1:{port}/v2/listen?{query}", audio, speed,
                  lambda body: messages.append(body) if body.get("type") == "TurnInfo" else None)
    return messages


def flux_text(messages: list[dict]) -> str:
    return " ".join(m["transcript"] for m in messages if m["event"] == "EndOfTurn")


async def live_finals(port: int, audio: np.ndarray, speed: float) -> list[dict]:
    """``/v1/listen``'s final Results for ``audio`` (16 kHz)."""
    results: list[dict] = []
    query = "model=nova-3&encoding=linear16&sample_rate=16000&channels=1&language=en&interim_results=false"
    await _stream(f"ws://127.0.0.1:{port}/v1/listen?{query}", audio, speed,
                  lambda body: results.append(body) if body.get("type") == "Results" and body.get("is_final") else None)
    return results


def live_text(results: list[dict]) -> str:
    return " ".join(r["channel"]["alternatives"][0]["transcript"] for r in results).strip()


def prerecorded(http: str, audio: np.ndarray) -> str:
    """The pre-recorded API's transcript of ``audio`` (16 kHz)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(to_pcm16(audio).tobytes())
    request = urllib.request.Request(f"{http}/v1/listen?model=nova-3&language=en", data=buffer.getvalue(),
                                     headers={"Content-Type": "audio/wav"}, method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        body = json.loads(response.read())
    return body["results"]["channels"][0]["alternatives"][0]["transcript"]
