"""The endpointing state machine on synthetic probability sequences (no model)."""

import numpy as np
import pytest

from common.errors import ConfigError
from common.endpointing import FRAME, EndpointOptions, with_overrides
from vad_worker.segmenter import Segmenter, SpeechAudio, SpeechEnded, SpeechStarted


def run(probs, options=EndpointOptions(), flush=None):
    segmenter = Segmenter(options)
    events = []
    for i, p in enumerate(probs):
        frame = np.full(FRAME, i, dtype=np.int16)  # frame i carries value i: audio is traceable
        events += segmenter.push(i * FRAME, frame, p)
    if flush:
        events += segmenter.flush(flush)
    return segmenter, events


def frames(seconds):
    return int(round(seconds * 16000 / FRAME))


def speech_audio(events):
    return np.concatenate([e.pcm for e in events if isinstance(e, SpeechAudio)])


def test_one_utterance_with_pre_roll_and_trailing_padding():
    probs = [0.0] * 30 + [0.9] * 40 + [0.0] * 40
    _, events = run(probs)
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(starts) == 1 and len(ends) == 1
    pre_roll = EndpointOptions().frames(0.3)
    assert starts[0].start == (30 - pre_roll) * FRAME
    audio = speech_audio(events)
    # Pre-roll, speech and trailing padding, contiguous and in order.
    padding = EndpointOptions().frames(0.2)
    expected = np.repeat(np.arange(30 - pre_roll, 70 + padding), FRAME)
    assert np.array_equal(audio, expected)
    assert ends[0].end == (70 + padding) * FRAME and ends[0].reason == "silence"


def test_silence_never_reaches_the_asr():
    _, events = run([0.0] * 200)
    assert events == []


def test_short_blip_is_not_speech():
    probs = [0.0] * 20 + [0.9] * 3 + [0.0] * 40  # 96 ms < min_speech_duration
    _, events = run(probs)
    assert events == []


def test_pause_shorter_than_silence_threshold_keeps_one_utterance_and_its_audio():
    probs = [0.0] * 10 + [0.9] * 20 + [0.0] * 15 + [0.9] * 20 + [0.0] * 40  # 0.48 s pause < 0.8 s
    _, events = run(probs)
    assert sum(isinstance(e, SpeechStarted) for e in events) == 1
    audio = speech_audio(events)
    assert np.array_equal(np.unique(audio), np.arange(audio.min(), audio.max() + 1))  # nothing skipped


def test_long_pause_splits_utterances():
    probs = [0.0] * 10 + [0.9] * 20 + [0.0] * 30 + [0.9] * 20 + [0.0] * 40  # 0.96 s pause
    _, events = run(probs)
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert [e.reason for e in ends] == ["silence", "silence"]
    assert ends[0].end <= ends[1].start


def test_silence_threshold_is_configurable():
    probs = [0.0] * 10 + [0.9] * 20 + [0.0] * 30 + [0.9] * 20 + [0.0] * 60
    _, events = run(probs, EndpointOptions(silence_threshold=1.5))
    assert sum(isinstance(e, SpeechEnded) for e in events) == 1


def test_hysteresis_keeps_speech_through_middling_probabilities():
    probs = [0.0] * 10 + [0.9] * 20 + [0.4] * 40 + [0.0] * 40  # 0.4 >= 0.35 (threshold - 0.15)
    _, events = run(probs)
    (end,) = [e for e in events if isinstance(e, SpeechEnded)]
    assert end.end >= 70 * FRAME


def test_flush_ends_the_utterance_in_progress():
    segmenter, events = run([0.0] * 10 + [0.9] * 30, flush="flush")
    (end,) = [e for e in events if isinstance(e, SpeechEnded)]
    assert end.reason == "flush" and end.end == 40 * FRAME
    assert segmenter.at_boundary


def test_max_length_splits_at_the_quietest_frame_and_resends_the_tail():
    options = EndpointOptions(max_utterance_sec=4.0, split_search=1.0)
    probs = [0.9] * 200
    probs[100] = 0.36  # quietest frame inside the last second before 4 s (frame 125)
    _, events = run(probs, options)
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert ends and ends[0].reason == "max_length" and ends[0].end == 100 * FRAME
    following = events[events.index(ends[0]) + 1]
    assert isinstance(following, SpeechStarted) and following.start == 100 * FRAME
    tail = events[events.index(ends[0]) + 2]
    assert isinstance(tail, SpeechAudio) and tail.offset == 100 * FRAME


def test_snapshot_restores_pre_roll():
    segmenter, _ = run([0.0] * 20)
    restored = Segmenter(EndpointOptions())
    restored.restore(segmenter.snapshot())
    events_a = segmenter.push(20 * FRAME, np.zeros(FRAME, np.int16), 0.9)
    events_b = restored.push(20 * FRAME, np.zeros(FRAME, np.int16), 0.9)
    for _ in range(12):
        events_a += segmenter.push(0, np.zeros(FRAME, np.int16), 0.9)
        events_b += restored.push(0, np.zeros(FRAME, np.int16), 0.9)
    assert [type(e) for e in events_a] == [type(e) for e in events_b]
    assert events_a[0] == events_b[0]


def test_session_overrides_accept_seed_names_and_reject_unknown_ones():
    options = with_overrides(EndpointOptions(), {"vad_threshold": 0.7, "silence_threshold": 0.5})
    assert options.threshold == 0.7 and options.silence_threshold == 0.5
    with pytest.raises(ConfigError, match="unknown vad option"):
        with_overrides(EndpointOptions(), {"silence": 1})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        with_overrides(EndpointOptions(), {"threshold": 2})
