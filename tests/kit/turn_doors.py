"""The turn-taking set (:mod:`tests.kit.turns`) through the gateway's doors: each client streams an item
at real time and returns the finals it got, as :class:`~tests.kit.turns.Final`.

``native`` and ``deepgram`` take mono 16 kHz; ``twilio`` mono μ-law, or each party on its own
track (``twilio-stereo``); ``audiohook`` each party on its own channel (PCMU). Issue 47's test
(tests/e2e/test_turns.py) and ``bench.turns`` both stream through here.
"""

from __future__ import annotations

import json
import uuid

import numpy as np

from .stack import Stack
from .support import converse, paced
from .turns import CROSSTALK, PHONE_RATE, RATE, Final, Item, render

DOORS = ("native", "deepgram", "twilio", "twilio-stereo", "audiohook")
STEREO = ("twilio-stereo", "audiohook")  # doors given each party on its own channel
TIMEOUT = 120.0  # s a session may take past its audio


def parse_duration(value: str) -> float:
    """Seconds of an AudioHook ISO 8601 duration as the gateway writes them (``PT1.25S``)."""
    if not (value.startswith("PT") and value.endswith("S")):
        raise ValueError(f"not a duration in seconds: {value!r}")
    return float(value[2:-1])


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


async def native(url: str, item: Item) -> list[Final]:
    from streamscribe_client import file_frames, stream

    assert isinstance(item.audio, np.ndarray)
    messages = await stream(url, file_frames(item.audio, item.rate, chunk_ms=100, speed=1.0),
                            sample_rate=item.rate, config={"language": "en"}, timeout=TIMEOUT)
    return [Final(m.get("channel", 0), m["start_ms"] / 1000, m["end_ms"] / 1000, m["text"])
            for m in messages if m["type"] == "final"]


async def deepgram(port: int, item: Item) -> list[Final]:
    from websockets.asyncio.client import connect

    assert isinstance(item.audio, np.ndarray)
    step = item.rate // 10
    chunks = [pcm16(item.audio[i:i + step]) for i in range(0, len(item.audio), step)]
    finals: list[Final] = []
    url = f"ws://127.0.0.1:{port}/v1/listen?encoding=linear16&sample_rate={item.rate}&channels=1&language=en"
    async with connect(url) as websocket:
        async def send() -> None:
            async for chunk in paced(chunks, 100):
                await websocket.send(chunk)
            await websocket.send(json.dumps({"type": "CloseStream"}))

        def on_text(text: str) -> None:
            message = json.loads(text)
            if message.get("type") == "Results" and message.get("is_final"):
                start = float(message["start"])
                final = Final(message.get("channel_index", [0])[0], start, start + float(message["duration"]),
                              message["channel"]["alternatives"][0]["transcript"])
                finals.append(final)

        await converse(websocket, send, on_text, timeout=len(chunks) / 10 + TIMEOUT)
    return finals


async def twilio(port: int, item: Item) -> list[Final]:
    """Mono ``item``: the ``inbound`` track; stereo: party ``k`` as track ``k`` (inbound, outbound)."""
    from websockets.asyncio.client import connect

    from .telephony import CALL_SID, STREAM_SID, mulaw_encode, twilio_media, twilio_start

    assert isinstance(item.audio, np.ndarray) and item.rate == PHONE_RATE
    tracks = ("inbound", "outbound") if item.audio.ndim == 2 else ("inbound",)
    channels = item.audio.reshape(len(item.audio), -1)
    encoded = [mulaw_encode(channels[:, k]) for k in range(len(tracks))]
    frame = PHONE_RATE // 50  # 20 ms, as Twilio sends
    finals: list[Final] = []
    async with connect(f"ws://127.0.0.1:{port}/twilio") as websocket:
        async def send() -> None:
            await websocket.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await websocket.send(twilio_start(tracks=tracks, language="en"))
            sequence = 3
            async for index in paced(range(len(encoded[0]) // frame), 20):
                for track, payload in zip(tracks, encoded):
                    await websocket.send(twilio_media(track, index + 1, index * 20,
                                                      payload[index * frame:(index + 1) * frame], sequence))
                    sequence += 1
            await websocket.send(json.dumps({"event": "stop", "sequenceNumber": str(sequence), "streamSid": STREAM_SID,
                                             "stop": {"accountSid": "AC0123456789abcdef0123456789abcdef",
                                                      "callSid": CALL_SID}}))

        def on_text(text: str) -> None:
            message = json.loads(text)
            if message.get("event") == "final":
                finals.append(Final(message.get("channel", 0), message["start_ms"] / 1000, message["end_ms"] / 1000,
                                    message["text"]))
            elif message.get("event") == "error":
                raise RuntimeError(f"twilio error: {message}")

        await converse(websocket, send, on_text, timeout=len(encoded[0]) / PHONE_RATE + TIMEOUT)
    return finals


async def audiohook(port: int, item: Item) -> list[Final]:
    """Stereo ``item`` as an AudioHook call: party 0 ``external``, party 1 ``internal``, PCMU."""
    from websockets.asyncio.client import connect

    from .telephony import AudioHookClient, mulaw_encode

    assert isinstance(item.audio, np.ndarray) and item.audio.ndim == 2 and item.rate == PHONE_RATE
    frame = PHONE_RATE // 50
    frames = [mulaw_encode(item.audio[i:i + frame].reshape(-1)) for i in range(0, len(item.audio) - frame + 1, frame)]
    client = AudioHookClient(str(uuid.uuid4()))
    headers = {"Audiohook-Organization-Id": str(uuid.uuid4()), "Audiohook-Correlation-Id": str(uuid.uuid4()),
               "Audiohook-Session-Id": client.id}
    finals: list[Final] = []
    async with connect(f"ws://127.0.0.1:{port}/audiohook", additional_headers=headers) as websocket:
        media = [{"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}]
        await websocket.send(client.open(media=media))
        opened = client.seen(await websocket.recv())
        if opened.get("type") != "opened":
            raise RuntimeError(f"audiohook open answered by {opened}")

        async def send() -> None:
            async for index, data in paced(list(enumerate(frames)), 20):
                await websocket.send(data)
                client.position = (index + 1) * frame / PHONE_RATE
            await websocket.send(client.message("close", {"reason": "end"}))

        def on_text(text: str) -> None:
            message = client.seen(text)
            if message.get("type") == "disconnect":
                raise RuntimeError(f"audiohook disconnect: {message.get('parameters')}")
            for entity in message.get("parameters", {}).get("entities", []):
                data = entity.get("data", {})
                if entity.get("type") == "transcript" and data.get("isFinal"):
                    start = parse_duration(data["offset"])
                    finals.append(Final(int(data.get("channelId", 0)), start, start + parse_duration(data["duration"]),
                                        data["alternatives"][0]["interpretations"][0]["transcript"]))

        await converse(websocket, send, on_text, timeout=len(frames) / 50 + TIMEOUT)
    return finals


def rendering(door: str, item: Item, *, crosstalk: float = CROSSTALK) -> Item:
    """``item`` as ``door`` takes it (``crosstalk``: the stereo doors' leak of the other party)."""
    if door in ("native", "deepgram"):
        return render(item.seed, form="mono", rate=RATE)
    if door == "twilio":
        return render(item.seed, form="mono", rate=PHONE_RATE)
    return render(item.seed, form="stereo", rate=PHONE_RATE, crosstalk=crosstalk)


async def session(door: str, stack: Stack, item: Item) -> list[Final]:
    """``item`` through ``door`` of ``stack`` (a benchmark's own, or a test's)."""
    if door == "native":
        return await native(stack.url, item)
    if door == "deepgram":
        return await deepgram(stack.port, item)
    if door in ("twilio", "twilio-stereo"):
        return await twilio(stack.port, item)
    return await audiohook(stack.port, item)
