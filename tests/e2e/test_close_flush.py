"""A close decodes everything sent and returns its final before the door's closing message (issue 47).

A one-word reply said alone, then silence (or nothing) and the client's close, through each door:
the native close, Deepgram's CloseStream (/v1/listen and Flux's /v2/listen), Twilio's ``stop`` and
AudioHook's ``close``. Its final must come before what closes the call: Deepgram's ``Metadata``,
AudioHook's ``closed``, else the close frame (1000). The reply is espeak-ng's en-gb "Okay." after
0.1 s of silence, whose "k" closure (3 frames under the VAD's low threshold) once made the VAD
drop it as a click: no door returned it (bench/vad_short_words.py).
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
import soxr
from websockets.asyncio.client import connect

from gateway.core.audio import to_pcm16
from tests.kit.support import converse, normalise, paced, pcm_chunks
from tests.kit.telephony import STREAM_SID, AudioHookClient, mulaw_encode, twilio_media, twilio_start
from tests.kit.testdata import espeak

TIMEOUT = 120
SPEED = 4.0  # times real time
RATE = 16000
LEAD = 0.1  # s of silence before the word


@pytest.fixture(scope="module")
def word() -> np.ndarray:
    return espeak("Okay.", voice="en-gb")


def call_audio(word: np.ndarray, tail: float) -> np.ndarray:
    """The call's audio at 16 kHz: the lead, the word, ``tail`` s of silence."""
    return np.concatenate([np.zeros(round(LEAD * RATE), np.float32), word,
                           np.zeros(round(tail * RATE), np.float32)])


def narrowband(audio: np.ndarray) -> bytes:
    """``audio`` as a telephone platform sends it: 8 kHz μ-law."""
    return mulaw_encode(soxr.resample(audio, RATE, 8000).astype(np.float32))


# -- each door: stream the audio, close, and return what came back in order ------------------------
#
# ("final", text) for each final, ("closing", None) for a door's closing message, then
# ("close", code) for the close frame.


async def native(port: int, audio: np.ndarray) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def on_text(text) -> None:
        body = json.loads(text)
        if body["type"] == "final":
            seen.append(("final", body["text"]))

    async with connect(f"ws://127.0.0.1:{port}/ws/asr") as ws:
        async def send():
            await ws.send(json.dumps({"type": "config", "sample_rate": RATE, "encoding": "pcm16", "language": "en"}))
            async for chunk in paced(pcm_chunks(to_pcm16(audio).tobytes()), 100, speed=SPEED):
                await ws.send(chunk)
            await ws.send(json.dumps({"type": "close"}))

        await converse(ws, send, on_text, timeout=TIMEOUT)
    return [*seen, ("close", ws.close_code)]


async def deepgram(port: int, audio: np.ndarray, *, flux: bool = False) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def on_text(text) -> None:
        body = json.loads(text)
        if body.get("type") == "Results" and body["is_final"]:
            seen.append(("final", body["channel"]["alternatives"][0]["transcript"]))
        elif body.get("type") == "TurnInfo" and body["event"] == "EndOfTurn":
            seen.append(("final", body["transcript"]))
        elif body.get("type") == "Metadata":
            seen.append(("closing", None))

    path = "v2/listen?model=flux-general-en&" if flux else "v1/listen?"
    async with connect(f"ws://127.0.0.1:{port}/{path}encoding=linear16&sample_rate={RATE}") as ws:
        async def send():
            async for chunk in paced(pcm_chunks(to_pcm16(audio).tobytes()), 100, speed=SPEED):
                await ws.send(chunk)
            await ws.send(json.dumps({"type": "CloseStream"}))

        await converse(ws, send, on_text, timeout=TIMEOUT)
    return [*seen, ("close", ws.close_code)]


async def flux(port: int, audio: np.ndarray) -> list[tuple[str, object]]:
    return await deepgram(port, audio, flux=True)


async def twilio(port: int, audio: np.ndarray) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def on_text(text) -> None:
        body = json.loads(text)
        if body["event"] == "final":
            seen.append(("final", body["text"]))

    mulaw = narrowband(audio)
    frame = 160  # 20 ms, as Twilio sends
    async with connect(f"ws://127.0.0.1:{port}/twilio") as ws:
        async def send():
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(twilio_start(tracks=("inbound",)))
            chunks = [mulaw[i:i + frame] for i in range(0, len(mulaw), frame)]
            async for i, chunk in paced(list(enumerate(chunks)), 20, speed=SPEED):
                await ws.send(twilio_media("inbound", i + 1, i * 20, chunk, sequence=i + 3))
            await ws.send(json.dumps({"event": "stop", "sequenceNumber": str(len(chunks) + 3), "streamSid": STREAM_SID,
                                      "stop": {}}))

        await converse(ws, send, on_text, timeout=TIMEOUT)
    return [*seen, ("close", ws.close_code)]


async def audiohook(port: int, audio: np.ndarray) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []
    client = AudioHookClient(str(uuid.uuid4()))

    def on_text(text) -> None:
        body = client.seen(text)
        if body["type"] == "event":
            for entity in body["parameters"]["entities"]:
                seen.append(("final", entity["data"]["alternatives"][0]["interpretations"][0]["transcript"]))
        elif body["type"] == "closed":
            seen.append(("closing", None))

    headers = {"Audiohook-Session-Id": client.id, "Audiohook-Organization-Id": str(uuid.uuid4()),
               "Audiohook-Correlation-Id": str(uuid.uuid4()), "X-API-KEY": "test-key"}
    mulaw = narrowband(audio)
    frame = 800  # 100 ms
    async with connect(f"ws://127.0.0.1:{port}/audiohook", additional_headers=headers) as ws:
        await ws.send(client.open(media=[{"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}]))
        opened = client.seen(await ws.recv())
        assert opened["type"] == "opened", opened

        async def send():
            async for i, chunk in paced(list(enumerate(mulaw[i:i + frame] for i in range(0, len(mulaw), frame))),
                                        100, speed=SPEED):
                await ws.send(chunk)
                client.position = (i + 1) * frame / 8000
            await ws.send(client.message("close", {"reason": "end"}))

        await converse(ws, send, on_text, timeout=TIMEOUT)
    return [*seen, ("close", ws.close_code)]


DOORS = {"native": native, "deepgram": deepgram, "flux": flux, "twilio": twilio, "audiohook": audiohook}


@pytest.mark.e2e
@pytest.mark.parametrize("tail", [3.0, 0.0], ids=["silence-then-close", "close-at-once"])
@pytest.mark.parametrize("door", list(DOORS))
async def test_a_lone_reply_gets_its_final_before_the_close(live, word, door, tail):
    """3 s of silence after the word (the VAD must find it while it streams), or none (the close's
    flush ends it: the ASR stage's first records come with the End)."""
    seen = await DOORS[door](live.port, call_audio(word, tail))
    finals = [text for kind, text in seen if kind == "final" and text]
    assert [normalise(text) for text in finals] in ([["okay"]], [["ok"]]), (seen, live.logs())
    last_final = max(i for i, (kind, text) in enumerate(seen) if kind == "final" and text)
    closing = [kind for kind, _ in seen[last_final + 1:]]
    assert closing == (["closing", "close"] if door in ("deepgram", "audiohook") else ["close"]), seen
    assert seen[-1] == ("close", 1000), seen
