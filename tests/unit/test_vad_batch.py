"""The VAD stage's batched scoring and framing (real Silero, in process, no Redis)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile
from prometheus_client import CollectorRegistry

from common.endpointing import FRAME, EndpointOptions
from common.metrics import VadMetrics
from common.pipeline_config import PipelineConfig
from common.records import Audio, End, Flush, SpeechEnd
from vad_worker.model import CONTEXT, SEQUENCE_MODEL_FILE, STATE_SHAPE, SileroVad
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


# -- recordings: the sequence model -------------------------------------------------

BATCH = PipelineConfig(priority="batch")


@pytest.fixture(scope="module")
def speech(clips) -> np.ndarray:
    """Every clip, one after the other, as whole frames ``[n, FRAME]`` int16 (real speech, ~25 s)."""
    pcm = np.concatenate([soundfile.read(str(path), dtype="int16")[0] for path, _ in clips])
    return pcm[:len(pcm) // FRAME * FRAME].reshape(-1, FRAME)


def with_context(frames: np.ndarray, context: np.ndarray) -> np.ndarray:
    """``[n, 576]`` float32 model input: each frame after the last CONTEXT samples before it."""
    audio = frames.astype(np.float32) / 32768.0
    before = np.concatenate([context[None], audio[:-1, -CONTEXT:]])
    return np.concatenate([before, audio], axis=1)


def test_sequence_model_state_is_the_per_frame_models(speech):
    """state[0] is h and state[1] is c: a session may go from one model to the other at any frame, either way,
    with the probabilities and state of the per-frame model alone (a checkpoint holds the per-frame layout)."""
    model = SileroVad()
    assert model.has_sequence
    frames = with_context(speech[:300], np.zeros(CONTEXT, np.float32))
    state = np.zeros((STATE_SHAPE[0], 1, STATE_SHAPE[1]), np.float32)
    expected, states = [], []
    for row in frames:
        p, state = model(row[None], state)
        expected.append(p[0])
        states.append(state[:, 0])
    # Per-frame model up to 40, sequence model to 140 (in two calls), per-frame to 200, sequence to the end.
    got = []
    state = states[39]
    for lo, hi in ((40, 100), (100, 140)):
        p, state = model.score_sequence(frames[lo:hi], state)
        got += list(p)
    np.testing.assert_allclose(state, states[139], rtol=0, atol=1e-6)
    state = state[:, None]
    for row in frames[140:200]:
        p, state = model(row[None], np.ascontiguousarray(state))
        got.append(p[0])
    p, state = model.score_sequence(frames[200:], state[:, 0])
    got += list(p)
    np.testing.assert_allclose(got, expected[40:], rtol=0, atol=1e-6)  # identical on x86-64
    np.testing.assert_allclose(state, states[-1], rtol=0, atol=1e-6)
    assert max(expected) > 0.9 and min(expected) < 0.1  # speech and silence


def test_sequence_scoring_matches_rounds(speech):
    """_score_sequences gives what the rounds give, session by session, across calls of the sequence model."""
    stage = make_runner().stage
    assert stage.model.has_sequence
    rng = np.random.default_rng(5)
    assert len(speech) > 2 * 256  # three calls of the sequence model (_SEQUENCE_FRAMES)
    frames = [speech[:1], speech[230:280], speech, speech[100:103], speech[:256]]
    contexts = rng.normal(0, 0.05, (len(frames), CONTEXT)).astype(np.float32)
    states = rng.normal(0, 0.1, (STATE_SHAPE[0], len(frames), STATE_SHAPE[1])).astype(np.float32)
    rounds = stage._score(frames, contexts.copy(), states.copy())
    sequences = stage._score_sequences(frames, contexts.copy(), states.copy())
    for i in range(len(frames)):
        # Rounds of batch > 1 may differ from batch 1 in the last bits; alone they are identical (x86-64).
        np.testing.assert_allclose(sequences[0][i], rounds[0][i], atol=1e-6)
        alone = stage._score([frames[i]], contexts[i:i + 1].copy(), states[:, i:i + 1].copy())
        np.testing.assert_allclose(sequences[0][i], alone[0][0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(sequences[2][:, i], alone[2][:, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(sequences[2], rounds[2], atol=1e-6)
    np.testing.assert_array_equal(sequences[1], rounds[1])


def recording_items(clips) -> list:
    """A recording of real speech in 100 ms records, with a flush, as (id, record)."""
    first, _ = soundfile.read(str(clips[0][0]), dtype="int16")
    second, _ = soundfile.read(str(clips[1][0]), dtype="int16")
    pcm = np.concatenate([np.zeros(4000, np.int16), first, np.zeros(20000, np.int16), second,
                          np.zeros(9000, np.int16), first[:30000]])
    chunk = 1600
    records = [Audio(seq=i, offset=at, pcm=pcm[at:at + chunk].tobytes())
               for i, at in enumerate(range(0, len(pcm), chunk))]
    records.insert(len(records) * 2 // 3, Flush(seq=0, flush_id=3))
    records.append(End(seq=0))
    return [(f"{i + 1}-0", record) for i, record in enumerate(records)]


def runner_with(*, sequence: bool) -> RecordingRunner:
    model = SileroVad(sequence=sequence)
    assert model.has_sequence == sequence
    metrics = VadMetrics(CollectorRegistry())
    return RecordingRunner(lambda runner: VadStage(runner, model, defaults=EndpointOptions(), metrics=metrics,
                                                   min_round_interval=0))


def model_calls(runner) -> tuple[int, int]:
    """(model calls, frames scored) of the runner's stage."""
    histogram = runner.stage.metrics.model_batch
    samples = {sample.name: sample.value for sample in next(iter(histogram.collect())).samples}
    name = "streamscribe_vad_model_batch_size"
    return int(samples[name + "_count"]), int(samples[name + "_sum"])


async def run_items(runner, session, items, per_call):
    for i in range(0, len(items), per_call):
        await runner.stage.process([(session, items[i:i + per_call])])


async def test_recording_segments_as_frame_by_frame(clips):
    """A recording scored with the sequence model gets the records of frame-by-frame scoring, and of a live call."""
    items = recording_items(clips)
    outputs, calls = {}, {}
    for sequence, config in ((False, BATCH), (True, BATCH), (True, PipelineConfig())):
        runner = runner_with(sequence=sequence)
        session = runner.open("rec", config=config, next_stage="asr")
        await run_items(runner, session, items, 16)  # batch_read_count records a round
        await runner.stage.shutdown()
        outputs[sequence, config.batch] = runner.outputs()
        calls[sequence, config.batch] = model_calls(runner)
    reference = outputs[False, True]
    assert sum(isinstance(r, SpeechEnd) for r in reference) >= 3 and isinstance(reference[-1], End)
    assert outputs[True, True] == reference
    assert outputs[True, False] == reference
    frames = calls[False, True][1]
    assert calls[False, True] == calls[True, False] == (frames, frames)  # one call per frame
    assert calls[True, True][1] == frames and calls[True, True][0] < frames / 30  # one per round


async def test_recording_checkpoint_continues_on_either_path(clips):
    """A checkpoint written after sequence scoring, restored by a worker that scores frame by frame (and
    the other way round), continues the session as if one worker had scored it all."""
    items = recording_items(clips)
    whole = runner_with(sequence=False)
    session = whole.open("rec", config=BATCH, next_stage="asr")
    await run_items(whole, session, items, 16)
    await whole.stage.shutdown()
    expected = [dataclasses.replace(r, seq=0) for r in whole.outputs()]
    for first, then in ((True, False), (False, True)):
        before = runner_with(sequence=first)
        session = before.open("rec", config=BATCH, next_stage="asr")
        await run_items(before, session, items[:len(items) * 3 // 4], 16)
        await before.stage.shutdown()
        # The last checkpoint (after a boundary) and what it had consumed.
        at = max(i for i, commit in enumerate(before.commits) if commit[1] is not None and commit[2])
        done = [r for outputs, *_ in before.commits[:at + 1] for r in outputs]
        consumed, state = before.commits[at][1], before.commits[at][2]
        rest = items[[item_id for item_id, _ in items].index(consumed) + 1:]
        assert 0 < len(rest) < len(items) * 0.8  # the checkpoint is mid-recording
        after = runner_with(sequence=then)
        session = after.open("rec", config=BATCH, next_stage="asr", epoch=2, state=state)
        await run_items(after, session, rest, 16)
        await after.stage.shutdown()
        got = [dataclasses.replace(r, seq=0) for r in done + after.outputs()]
        assert got == expected


def test_sequence_model_unused_where_it_scores_otherwise(monkeypatch):
    """A sequence model that does not give the per-frame model's probabilities (other weights: a --vad-model
    of one's own) is not used: recordings are then scored frame by frame."""
    load = SileroVad._load

    class Off:
        def __init__(self, session):
            self.session = session

        def run(self, names, feeds):
            probs, h, c = self.session.run(names, feeds)
            return probs + 1e-3, h, c

    def loaded(self, path):
        session = load(self, path)
        return Off(session) if path.name == SEQUENCE_MODEL_FILE else session

    monkeypatch.setattr(SileroVad, "_load", loaded)
    assert not SileroVad().has_sequence
    monkeypatch.setattr(SileroVad, "_load", load)
    assert SileroVad().has_sequence
