"""Reconnect with resume: a dropped TCP connection end to end.

The test streams two LibriVox clips through a TCP proxy that it cuts (both
sockets reset) in the middle of the second utterance; the client reconnects,
resumes, and must end with the finals of an unbroken run. The native door's
acks and replay sans I/O are tested in tests/unit/test_resume.py.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import soundfile
from websockets.asyncio.client import connect

from streamscribe_client import StreamClosed, StreamscribeClient

from tests.kit.support import paced, pcm_chunks

TIMEOUT = 120
RATE = 16_000
SPEED = 3.0  # below the gateway's pacing limit: its reading keeps up with the sending


class Proxy:
    """A TCP relay to the gateway whose connections the test can reset at once."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.links: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.cuts = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader, writer) -> None:
        upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.links |= {writer, upstream}

        async def pipe(source, sink) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream), pipe(upstream_reader, writer))
        self.links -= {writer, upstream}

    def cut(self) -> None:
        """Reset every relayed connection, both ways, as a network failure would."""
        self.cuts += 1
        for writer in list(self.links):
            writer.transport.abort()

    async def close(self) -> None:
        for writer in list(self.links):
            writer.transport.abort()
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture(scope="module")
def two_utterances(clips):
    """PCM16 of two clips with a second of silence around each, and the clips' lengths in samples."""
    parts, lengths = [np.zeros(RATE, np.float32)], []
    for path, _ in clips[:2]:
        samples, rate = soundfile.read(str(path), dtype="float32")
        assert rate == RATE
        parts += [samples, np.zeros(RATE, np.float32)]
        lengths.append(len(samples))
    return (np.clip(np.concatenate(parts) * 32768, -32768, 32767).astype("<i2")).tobytes(), lengths


def paced_pcm(pcm: bytes):
    return paced(pcm_chunks(pcm), 100, speed=SPEED)


def finals_of(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["type"] == "final"]


@pytest.mark.e2e
async def test_resume_after_a_dropped_connection_gives_the_finals_of_an_unbroken_run(stack, two_utterances):
    pcm, lengths = two_utterances
    async with asyncio.timeout(TIMEOUT):
        unbroken = StreamscribeClient(stack.url, sample_rate=RATE, encoding="pcm16", timeout=TIMEOUT)
        expected = finals_of(await unbroken.run(paced_pcm(pcm)))
        assert len(expected) >= 2 and unbroken.reconnects == 0

        proxy = Proxy(stack.port)
        await proxy.start()
        middle = (RATE + lengths[0] + RATE + lengths[1] // 2) * 2  # bytes: mid second utterance

        async def cut_mid_utterance(frames):
            sent = 0
            async for frame in frames:
                if sent >= middle and not proxy.cuts:
                    proxy.cut()  # the network fails here; this frame goes out after the resume
                sent += len(frame)
                yield frame

        client = StreamscribeClient(f"ws://127.0.0.1:{proxy.port}/ws/asr", sample_rate=RATE, encoding="pcm16",
                                    timeout=TIMEOUT)
        try:
            messages = await client.run(cut_mid_utterance(paced_pcm(pcm)))
        except StreamClosed as exc:
            raise AssertionError(f"{exc}\n{stack.logs()}") from None
        finally:
            await proxy.close()
    assert proxy.cuts == 1 and client.reconnects == 1, messages
    resumed = next(m for m in messages if m["type"] == "session_resumed")
    assert resumed["session_id"] == client.session_id and resumed["complete"] and resumed["offset"] > 0
    finals = finals_of(messages)
    assert {m["session_id"] for m in finals} == {client.session_id}  # the same session went on
    assert len({m["utterance_id"] for m in finals}) == len(finals)  # no final twice
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(set(seqs))
    assert [(m["text"], m["start_ms"], m["end_ms"]) for m in finals] == \
        [(m["text"], m["start_ms"], m["end_ms"]) for m in expected]


@pytest.mark.e2e
async def test_resuming_an_unknown_session_is_refused(stack):
    async with connect(stack.url) as ws:
        await ws.send(json.dumps({"type": "config", "resume": {"session_id": "f" * 32, "last_seq": 3}}))
        error = json.loads(await ws.recv())
        assert error["type"] == "error" and error["code"] == "session_lost" and "resume" in error["message"]
        async with asyncio.timeout(TIMEOUT):
            await ws.wait_closed()
        assert ws.close_code == 1008
    client = StreamscribeClient(stack.url, sample_rate=RATE, encoding="pcm16", timeout=TIMEOUT)
    client.session_id = "f" * 32  # as if a drop had happened: the reconnect finds nothing to resume
    with pytest.raises(StreamClosed) as info:
        await client.run(paced_pcm(b"\x00\x00" * RATE))
    assert info.value.code == 1008
