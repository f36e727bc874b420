"""The memory a gateway's recordings hold at once (gateway/http/memory.py), and the pre-recorded API
within it (gateway/http/prerecorded.py), sans I/O: the pipeline is replaced by a transcription that
waits for the test."""

from __future__ import annotations

import asyncio
import io
import json

import numpy as np
import pytest
import soundfile
from prometheus_client import CollectorRegistry
from websockets.datastructures import Headers
from websockets.http11 import Request

from common.metrics import GatewayMetrics
from gateway.policy.tenant import TenantPolicy
from gateway.doors.base import Handshake
from gateway.http import media, prerecorded
from gateway.http.memory import MemoryBudget, OverBudget
from gateway.http.wire import Body


def test_a_budget_takes_what_fits_and_gets_it_back():
    budget = MemoryBudget(100)
    first = budget.reserve(60)
    with pytest.raises(OverBudget) as refused:
        budget.reserve(50)
    assert (refused.value.wanted, refused.value.free, refused.value.alone) == (50, 40, False)
    with pytest.raises(OverBudget) as refused:
        budget.reserve(101)
    assert refused.value.alone
    first.resize(20)  # decoded: it holds less
    second = budget.reserve(80)
    assert budget.used == 100
    with pytest.raises(OverBudget):
        second.resize(81)
    assert second.nbytes == 80 and budget.used == 100
    first.release()
    first.release()  # (idempotent)
    second.release()
    assert budget.used == 0


def wav(seconds: float, rate: int = 16000, channels: int = 1, subtype: str = "PCM_16") -> bytes:
    out = io.BytesIO()
    soundfile.write(out, np.zeros((round(seconds * rate), channels), np.float32), rate, format="WAV", subtype=subtype)
    return out.getvalue()


@pytest.mark.parametrize("rate, channels, per_sample", [(16000, 1, 6), (8000, 2, 6), (96000, 1, None)])
def test_a_probe_bounds_what_decoding_takes(rate, channels, per_sample):
    body = wav(2.0, rate, channels)
    probed = media.probe(body, encoding=None, sample_rate=16000, channels=1)
    decoded = media.decode(body, encoding=None, sample_rate=16000, channels=1, max_channels=8, probed=probed)
    assert probed.pcm_bytes == decoded.pcm.nbytes
    samples = 2 * rate * channels
    if per_sample is not None:
        assert probed.peak_bytes == per_sample * samples
    else:  # resampled to 16 kHz: its float32 in, float32 out and PCM16 out besides
        assert probed.peak_bytes == 6 * samples + 4 * samples + 3 * decoded.pcm.nbytes
    raw = media.probe(b"\0\0" * 16000, encoding="pcm16", sample_rate=16000, channels=1)
    assert (raw.frames, raw.pcm_bytes, raw.peak_bytes) == (16000, 32000, 32000)


class Connection:
    """What the pre-recorded route uses of its connection: a body already read, a client that stays."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def lift_open_timeout(self) -> None:
        pass

    def read_body(self, *, limit: int) -> Body:
        body = Body(limit)
        body.add(self.body)
        body.done.set()
        return body

    async def wait_closed(self) -> None:
        await asyncio.Event().wait()


def api(limit: int) -> prerecorded.Prerecorded:
    options = prerecorded.PrerecordedOptions(memory_bytes=limit)
    return prerecorded.Prerecorded(None, options=options,
                                   undelivered=GatewayMetrics(CollectorRegistry()).prerecorded_undelivered)


async def post(recordings: prerecorded.Prerecorded, body: bytes, query: str = "") -> tuple[int, Headers, dict]:
    headers = Headers({"Content-Length": str(len(body)), "Content-Type": "audio/wav"})
    request = Request(f"/v1/listen{query}", headers)
    given_back = asyncio.Event()

    async def give_back() -> None:
        given_back.set()

    response = await recordings.serve(Connection(body), request, Handshake.from_target(f"/v1/listen{query}", headers),
                                      policy=TenantPolicy(tenant="acme"), give_back=give_back)
    assert given_back.is_set() or "callback" in query  # (a callback's job gives it back when it is out)
    return response.status_code, response.headers, json.loads(response.body)


async def test_recordings_within_the_gateways_memory(monkeypatch):
    ten_seconds = wav(10.0)  # 320 KB of PCM16, decoded with 960 KB at its peak
    recordings = api(limit=len(ten_seconds) + 6 * 160_000)
    transcribing, finish = asyncio.Event(), asyncio.Event()

    async def transcribe(job):
        transcribing.set()
        await finish.wait()
        return 200, {"results": {}}

    monkeypatch.setattr(recordings, "_transcribe", transcribe)
    first = asyncio.create_task(post(recordings, ten_seconds))
    await asyncio.wait_for(transcribing.wait(), 10)
    assert recordings.memory.used == 320_000  # its PCM16, while it is transcribed
    # A second does not fit beside it: 503 with Retry-After, saying why.
    status, headers, body = await post(recordings, ten_seconds)
    assert status == 503 and headers["Retry-After"] == "1", body
    assert body["err_code"] == "OVERLOADED" and "--prerecorded-memory-bytes" in body["err_msg"]
    # A short one does.
    finish.set()
    assert (await asyncio.wait_for(first, 10))[0] == 200
    assert (await post(recordings, wav(1.0)))[0] == 200
    assert recordings.memory.used == 0
    # One larger than the whole budget: 413, never worth a retry.
    status, headers, body = await post(recordings, wav(20.0))
    assert status == 413 and body["err_code"] == "PAYLOAD_TOO_LARGE" and "Retry-After" not in headers, body
    # A body that is no audio holds nothing.
    assert (await post(recordings, b"RIFF" + b"\0" * 100))[0] == 400
    assert recordings.memory.used == 0


async def test_a_callback_holds_its_recording_until_it_is_out(monkeypatch):
    recordings = prerecorded.Prerecorded(
        None, options=prerecorded.PrerecordedOptions(callback_hosts=frozenset({"hooks.example"})),
        undelivered=GatewayMetrics(CollectorRegistry()).prerecorded_undelivered)
    transcribing, finish = asyncio.Event(), asyncio.Event()
    delivered = []

    async def transcribe(job):
        transcribing.set()
        await finish.wait()
        return 200, {"results": {}}

    class Courier:
        async def first(self, delivery, *, handed) -> None:
            delivered.append((delivery.request_id, recordings.memory.used))

        async def drain(self, *, timeout: float) -> None:
            pass

        async def close(self) -> None:
            pass

    recordings.courier = Courier()  # type: ignore[assignment]
    monkeypatch.setattr(recordings, "_transcribe", transcribe)
    status, _, body = await post(recordings, wav(10.0), "?callback=https://hooks.example/done")
    assert status == 200 and "request_id" in body
    await asyncio.wait_for(transcribing.wait(), 10)
    assert recordings.memory.used == 320_000  # held after the response, while it is transcribed
    finish.set()
    await recordings.drain(timeout=10)
    assert delivered == [(body["request_id"], 0)]  # given back once transcribed, before the callback goes
