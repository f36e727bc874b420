"""The batch lane's pure parts: admission's batch slots, the bound on a recording's lead over the
next stage, and the VAD writing live sessions' records before it scores a recording."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from common.lead import BatchLead
from common.pipeline_config import PipelineConfig
from common.records import Audio
from common.stage import Session
from gateway.core.stages import batch_slots

from tests.kit.support import RecordingRunner

BATCH = PipelineConfig(priority="batch")


@pytest.mark.parametrize("capacity, batch_share, expected", [
    (50, 0.5, 25),
    (3, 0.5, 1),
    (1, 0.25, 1),  # a small fleet still takes a recording
    (50, 0.0, 0),  # the lane closed
    (0, 0.5, 0),  # no live worker
    (10, 1.0, 10),
])
def test_batch_slots_are_a_share_of_the_capacity(capacity, batch_share, expected):
    assert batch_slots(capacity, batch_share) == expected


class Reads:
    """A Redis stand-in that answers HGET of a checkpoint's ``read`` from a dict and records each
    pipeline's keys."""

    def __init__(self) -> None:
        self.read: dict[str, int] = {}
        self.lookups: list[list[str]] = []

    def pipeline(self, transaction: bool = False):
        return _Pipeline(self)


class _Pipeline:
    def __init__(self, redis: Reads) -> None:
        self.redis = redis
        self.keys: list[str] = []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        pass

    def hget(self, key: str, field: str) -> None:
        assert field == "read"
        self.keys.append(key)

    async def execute(self) -> list[bytes | None]:
        self.redis.lookups.append(self.keys)
        return [str(self.redis.read[key]).encode() if key in self.redis.read else None for key in self.keys]


def session(session_id: str, *, next_stage: str | None = "asr") -> Session:
    return Session(session_id=session_id, stage="vad", epoch=1, token="w:1", config=BATCH, next_stage=next_stage)


async def test_a_recording_is_read_while_the_next_stage_keeps_up():
    redis = Reads()
    lead = BatchLead(redis, max_records=100)
    ahead, last = session("ahead"), session("last", next_stage=None)
    checkpoint = ahead.keys.checkpoint("asr")
    assert await lead.ready([ahead, last]) == [ahead, last]
    assert redis.lookups == []  # nothing written yet: no need to look
    ahead.output_seq = 99
    assert await lead.ready([ahead]) == [ahead] and redis.lookups == []
    # 100 written, none read yet: the estimate reaches the bound, so the next stage's position is looked up ...
    ahead.output_seq = 100
    assert await lead.ready([ahead, last]) == [last]
    assert redis.lookups == [[checkpoint]]
    # ... and again while it stays there; once the next stage has read some, it is read again.
    redis.read[checkpoint] = 60
    assert await lead.ready([ahead]) == [ahead]
    ahead.output_seq = 159  # 40 unread + 59 written since: still under the bound, no lookup
    assert await lead.ready([ahead]) == [ahead] and len(redis.lookups) == 2
    ahead.output_seq = 160
    assert await lead.ready([ahead]) == [] and len(redis.lookups) == 3


async def test_a_taken_over_recording_looks_at_the_next_stage_first():
    redis = Reads()
    taken_over = session("taken-over")
    taken_over.output_seq = 5000  # restored from the checkpoint
    redis.read[taken_over.keys.checkpoint("asr")] = 4990
    assert await BatchLead(redis, max_records=100).ready([taken_over]) == [taken_over]
    assert len(redis.lookups) == 1


async def test_the_vad_writes_live_sessions_records_before_it_scores_a_recording():
    from common.endpointing import EndpointOptions
    from common.metrics import VadMetrics
    from vad_worker.model import SileroVad
    from vad_worker.stage import VadStage

    scored = []

    class Model(SileroVad):
        def __call__(self, batch, state):
            scored.append(len(runner.commits))  # writes made before this model call
            return super().__call__(batch, state)

        def score_sequence(self, frames, state):
            scored.append(len(runner.commits))
            return super().score_sequence(frames, state)

    runner = RecordingRunner(lambda r: VadStage(r, Model(), defaults=EndpointOptions(),
                                                metrics=VadMetrics(CollectorRegistry()), min_round_interval=0))
    stage = runner.stage
    recording = runner.open("recording", config=BATCH, next_stage="asr")
    live = runner.open("live", next_stage="asr")
    noise = (3000 * np.random.default_rng(1).standard_normal(16_000)).astype(np.int16)
    records = [("1-0", Audio(seq=0, offset=0, pcm=noise.tobytes()))]
    try:
        await stage.process([(recording, records), (live, [("1-0", Audio(seq=0, offset=0, pcm=noise[:1600].tobytes()))])])
    finally:
        await stage.shutdown()
    # The live session's 3 frames are scored first and committed before the recording's 31 are scored
    # (in one call of the sequence model).
    assert scored == [0, 0, 0, 1]
