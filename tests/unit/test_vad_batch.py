"""The VAD stage's batched scoring and framing (real Silero, in process, no Redis)."""

from __future__ import annotations

import numpy as np
import soundfile
from prometheus_client import CollectorRegistry

from common.endpointing import FRAME, EndpointOptions
from common.metrics import VadMetrics
from common.records import Audio, End, Flush
from vad_worker.model import CONTEXT, STATE_SHAPE, SileroVad
from vad_worker.stage import VadStage

from tests.kit.support import RecordingRunner


def make_runner() -> RecordingRunner:
    return RecordingRunner(lambda runner: VadStage(runner, SileroVad(), defaults=EndpointOptions(),
                                                   metrics=VadMetrics(CollectorRegistry()), min_round_interval=0))


def test_rounds_score_each_session_as_if_alone():
    """Sessions with different numbers of new frames share rounds; each gets what the model gives it alone."""
    stage = make_runner().stage
    model = SileroVad()
    rng = np.random.default_rng(3)
    counts = [3, 1, 5, 2, 12, 4]  # 12: more than one chunk of rounds
    frames = [rng.integers(-8000, 8000, (n, FRAME)).astype(np.int16) for n in counts]
    contexts = rng.normal(0, 0.05, (len(counts), CONTEXT)).astype(np.float32)
    states = rng.normal(0, 0.1, (STATE_SHAPE[0], len(counts), STATE_SHAPE[1])).astype(np.float32)
    probs, new_contexts, new_states = stage._score(frames, contexts.copy(), states.copy())
    for i, session_frames in enumerate(frames):
        context, state, expected = contexts[i], states[:, i:i + 1], []
        for frame in session_frames:
            audio = frame.astype(np.float32) / 32768.0
            p, state = model(np.concatenate([context, audio])[None], np.ascontiguousarray(state))
            expected.append(float(p[0]))
            context = audio[-CONTEXT:]
        np.testing.assert_allclose(probs[i], expected, atol=1e-5)
        np.testing.assert_allclose(new_states[:, i], state[:, 0], atol=1e-5)
        np.testing.assert_array_equal(new_contexts[i], context)


async def outputs_of(items, per_call):
    runner = make_runner()
    stage = runner.stage
    session = runner.open("vad-batch", next_stage="asr")
    for i in range(0, len(items), per_call):
        await stage.process([(session, items[i:i + per_call])])
    await stage.shutdown()
    return runner.outputs()


async def test_records_do_not_depend_on_how_input_is_batched(clips):
    """A replay after a takeover may batch the input differently: it must cut the same records."""
    speech, _ = soundfile.read(str(clips[1][0]), dtype="int16")
    pcm = np.concatenate([np.zeros(8000, np.int16), speech, np.zeros(16000, np.int16), speech[:20000]])
    chunk = 1000  # not a multiple of the frame: frames straddle records
    records = [Audio(seq=i, offset=at, pcm=pcm[at:at + chunk].tobytes())
               for i, at in enumerate(range(0, len(pcm), chunk))]
    records.insert(len(records) // 2, Flush(seq=0, flush_id=7))
    records.append(End(seq=0))
    items = [(f"{i + 1}-0", record) for i, record in enumerate(records)]
    one = await outputs_of(items, 1)
    assert any(isinstance(r, Flush) for r in one) and isinstance(one[-1], End)
    assert sum(isinstance(r, Audio) for r in one) > 20  # speech was found
    for per_call in (3, 7, len(items)):
        assert await outputs_of(items, per_call) == one
