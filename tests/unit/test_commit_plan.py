"""What the runner adds to a stage's write: output seqs and the checkpoint (pure, no Redis)."""

from __future__ import annotations

from common.checkpoint import CheckpointPolicy
from common.commits import plan
from common.pipeline_config import PipelineConfig
from common.records import Audio, End, Flush, SpeechEnd, SpeechStart, decode, encode
from common.stage import Session, Write

DUE = CheckpointPolicy(0)  # a checkpoint is due at every write that may carry one
NEVER = CheckpointPolicy(float("inf"))  # only forced ones


def session() -> Session:
    session = Session(session_id="plan", stage="vad", epoch=1, token="w:1", config=PipelineConfig(), next_stage="asr")
    session.input_seq = 10
    return session


def audio(offset: int = 0) -> Audio:
    return Audio(offset=offset, pcm=b"\0\0" * 4)


def test_outputs_are_numbered_across_writes_and_the_counter_is_checkpointed():
    s = session()
    first = plan(Write(s, [SpeechStart(start=0), audio()]), policy=NEVER, snapshot=lambda _: b"")
    second = plan(Write(s, [audio(4)], consumed="5-0"), policy=DUE, snapshot=lambda _: b"state")
    assert (first.first_seq, second.first_seq, s.output_seq) == (0, 2, 3)
    assert first.checkpoint is None
    assert (second.checkpoint.consumed, second.checkpoint.output_seq, second.checkpoint.state) == ("5-0", 3, b"state")
    # The numbering is the bus form's: a record the stage left unnumbered is written with its seq.
    assert decode(encode(audio(4), seq=second.first_seq)) == Audio(seq=2, offset=4, pcm=b"\0\0" * 4)


def test_markers_and_utterance_ends_force_a_checkpoint_the_interval_would_not():
    s = session()
    snapshot = lambda _: b"s"  # noqa: E731
    assert plan(Write(s, [audio()], consumed="1-0"), policy=NEVER, snapshot=snapshot).checkpoint is None
    assert plan(Write(s, [Flush(flush_id=1)], consumed="2-0"), policy=NEVER, snapshot=snapshot).checkpoint
    ended = Write(s, [SpeechEnd(start=0, end=4, reason="silence")], consumed="3-0", boundary=True)
    assert plan(ended, policy=NEVER, snapshot=snapshot).checkpoint


def test_no_checkpoint_without_consumed_mid_utterance_or_at_the_end():
    s = session()
    assert plan(Write(s, [audio()]), policy=DUE, snapshot=lambda _: b"s").checkpoint is None
    assert plan(Write(s, [audio()], consumed="1-0"), policy=DUE, snapshot=lambda _: None).checkpoint is None
    end = plan(Write(s, [audio(), End()], consumed="2-0"), policy=DUE, snapshot=lambda _: b"s")
    assert end.finish and end.checkpoint is None  # the end deletes the session's keys


def test_a_write_with_nothing_to_write_is_none():
    s = session()
    assert plan(Write(s, [], consumed="1-0"), policy=NEVER, snapshot=lambda _: b"s") is None
    assert plan(Write(s, [], consumed="1-0"), policy=DUE, snapshot=lambda _: None) is None
    assert plan(Write(s, [], consumed="1-0"), policy=DUE, snapshot=lambda _: b"s").checkpoint
    assert s.output_seq == 0
