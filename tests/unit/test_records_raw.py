"""Audio.raw: the undenoised audio that rides along with the denoised audio.

The codec field, and the VAD sending raw audio on to the ASR while it scores
the denoised audio (real Silero, in process)."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
import soundfile
from prometheus_client import CollectorRegistry

from common.errors import RecordError
from common.metrics import VadMetrics
from common.records import SCHEMA_VERSION, Audio, End, decode, encode
from vad_worker.model import SileroVad
from common.endpointing import EndpointOptions
from vad_worker.stage import VadStage
from tests.kit.support import RecordingRunner


def test_raw_round_trips_and_defaults_to_empty():
    record = Audio(seq=1, offset=512, pcm=b"\x01\x00" * 4, raw=b"\x02\x00" * 4)
    assert decode(encode(record)) == record
    assert decode(encode(Audio(seq=1, offset=0, pcm=b"\x01\x00"))).raw == b""
    # A producer that does not know the field (no "raw" key at all).
    legacy = msgpack.packb({"v": SCHEMA_VERSION, "t": "audio", "seq": 0, "offset": 0, "pcm": b"\x00\x00"},
                           use_bin_type=True)
    assert decode(legacy) == Audio(seq=0, offset=0, pcm=b"\x00\x00")


@pytest.mark.parametrize("raw, message", [
    (b"\x00\x00" * 3, "differ in length"),
    ("text", "audio.raw is str"),
])
def test_raw_is_validated(raw, message):
    payload = msgpack.packb({"v": SCHEMA_VERSION, "t": "audio", "seq": 0, "offset": 0, "pcm": b"\x00\x00" * 2,
                             "raw": raw}, use_bin_type=True)
    with pytest.raises(RecordError, match=message):
        decode(payload)


async def run_vad(records: list[Audio]) -> list:
    runner = RecordingRunner(lambda r: VadStage(r, SileroVad(), defaults=EndpointOptions(),
                                                metrics=VadMetrics(CollectorRegistry())))
    stage = runner.stage
    session = runner.open("vad-raw", next_stage="asr")
    items = [(f"{i + 1}-0", r) for i, r in enumerate(records)] + [(f"{len(records) + 1}-0", End(seq=len(records)))]
    for i in range(0, len(items), 7):  # several ticks
        await stage.process([(session, items[i:i + 7])])
    await stage.shutdown()
    return [r for r in runner.outputs() if isinstance(r, Audio)]


@pytest.mark.parametrize("with_raw", [True, False])
async def test_vad_scores_pcm_and_sends_raw(clips, with_raw):
    speech, _ = soundfile.read(str(clips[1][0]), dtype="int16")
    scored = np.concatenate([np.zeros(8000, np.int16), speech, np.zeros(16000, np.int16)])
    # "Raw" audio the VAD must pass on untouched: recognisably different samples.
    raw = (scored // 3 + 7).astype(np.int16)
    records = [Audio(seq=i, offset=start, pcm=scored[start:start + 1600].tobytes(),
                     raw=raw[start:start + 1600].tobytes() if with_raw else b"")
               for i, start in enumerate(range(0, len(scored), 1600))]
    audio = await run_vad(records)
    assert sum(r.samples for r in audio) > len(speech) // 2  # speech was found
    expected = raw if with_raw else scored
    for record in audio:
        assert record.raw == b""
        assert record.pcm == expected[record.offset:record.offset + record.samples].tobytes()
