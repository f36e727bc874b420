"""The endpointing state machine on synthetic probability sequences (no model)."""

import numpy as np
import pytest

from common.errors import ConfigError
from common.endpointing import FRAME, EndpointOptions
from common.pipeline_config import VadConfig
from vad_worker.segmenter import Segmenter, SpeechAudio, SpeechEnded, SpeechPaused, SpeechStarted


def with_overrides(defaults: EndpointOptions, values: dict) -> EndpointOptions:
    """``defaults`` with a session's vad options, given as a client would."""
    return VadConfig.parse(values).apply(defaults)


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
    padding = EndpointOptions().frames(EndpointOptions().trailing_padding)
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


# -- pauses: the speculative final's trigger ------------------------------------


def test_pause_sends_the_padding_at_once_and_says_where_the_utterance_would_end():
    options = EndpointOptions()
    probs = [0.0] * 10 + [0.9] * 20 + [0.0] * 40
    segmenter = Segmenter(options)
    pause_at = 30 + options.frames(options.pause_threshold) - 1  # the frame that completes the pause
    events_by_frame = [segmenter.push(i * FRAME, np.full(FRAME, i, np.int16), p) for i, p in enumerate(probs)]
    paused = [(i, e) for i, events in enumerate(events_by_frame) for e in events if isinstance(e, SpeechPaused)]
    assert [i for i, _ in paused] == [pause_at]  # once per silence run
    padding = options.frames(options.trailing_padding)
    # The padding goes out with the pause, before it: the ASR has the audio up to the pause's end.
    at_pause = events_by_frame[pause_at]
    assert isinstance(at_pause[0], SpeechAudio) and at_pause[0].offset == 30 * FRAME
    assert isinstance(at_pause[-1], SpeechPaused)
    (end,) = [e for events in events_by_frame for e in events if isinstance(e, SpeechEnded)]
    assert paused[0][1] == SpeechPaused(start=end.start, end=end.end)
    # Nothing else is sent between the pause and the end: the audio is the same as without pauses.
    _, plain = run(probs, EndpointOptions(pause_threshold=0.8))
    assert not any(isinstance(e, SpeechPaused) for e in plain)
    ours = [e for events in events_by_frame for e in events]
    assert np.array_equal(speech_audio(ours), speech_audio(plain))
    assert [e for e in ours if isinstance(e, SpeechEnded)] == [e for e in plain if isinstance(e, SpeechEnded)]
    assert np.array_equal(speech_audio(ours), np.repeat(np.arange(10 - options.frames(0.3), 30 + padding), FRAME))


def test_speech_resuming_after_a_pause_sends_the_rest_of_the_silence_and_can_pause_again():
    probs = [0.0] * 10 + [0.9] * 20 + [0.0] * 15 + [0.9] * 20 + [0.0] * 40  # 0.48 s pause < 0.8 s
    _, events = run(probs)
    paused = [e for e in events if isinstance(e, SpeechPaused)]
    (end,) = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(paused) == 2  # one per silence run
    padding = EndpointOptions().frames(EndpointOptions().trailing_padding)
    assert paused[0].end == (30 + padding) * FRAME and paused[1] == SpeechPaused(end.start, end.end)
    audio = speech_audio(events)
    # Every frame once, in order, from the pre-roll to the padding after the second run.
    assert np.array_equal(audio, np.repeat(np.arange(10 - EndpointOptions().frames(0.3), 65 + padding), FRAME))
    # Audio after the first pause belongs to the utterance: the pause came before it.
    first_pause = events.index(paused[0])
    assert any(isinstance(e, SpeechAudio) for e in events[first_pause:events.index(paused[1])])


def test_flush_after_a_pause_ends_where_the_pause_said():
    probs = [0.0] * 10 + [0.9] * 20 + [0.0] * 12
    segmenter, events = run(probs, flush="flush")
    (paused,) = [e for e in events if isinstance(e, SpeechPaused)]
    (end,) = [e for e in events if isinstance(e, SpeechEnded)]
    assert (end.start, end.end, end.reason) == (paused.start, paused.end, "flush")
    assert not isinstance(events[events.index(end) - 1], SpeechAudio)  # the padding went out at the pause
    assert segmenter.at_boundary


def test_flush_before_a_pause_still_sends_the_padding():
    probs = [0.0] * 10 + [0.9] * 20 + [0.0] * 3
    _, events = run(probs, flush="flush")
    assert not any(isinstance(e, SpeechPaused) for e in events)
    (end,) = [e for e in events if isinstance(e, SpeechEnded)]
    assert end.end == 33 * FRAME


def test_pause_threshold_is_validated_and_follows_session_overrides():
    with pytest.raises(ConfigError, match="pause_threshold"):
        EndpointOptions(pause_threshold=0.1)  # below trailing_padding
    with pytest.raises(ConfigError, match="pause_threshold"):
        EndpointOptions(pause_threshold=0.9)  # above silence_threshold
    with pytest.raises(ConfigError, match="pause_threshold"):
        with_overrides(EndpointOptions(), {"pause_threshold": 1.0})
    # A session's short silence threshold brings the default pause down with it (no pause then).
    options = with_overrides(EndpointOptions(), {"silence_threshold": 0.2, "trailing_padding": 0.1})
    assert options.pause_threshold == 0.2
    _, events = run([0.0] * 10 + [0.9] * 20 + [0.0] * 20, options)
    assert not any(isinstance(e, SpeechPaused) for e in events)
    assert with_overrides(EndpointOptions(), {"trailing_padding": 0.3}).pause_threshold == 0.3
    assert with_overrides(EndpointOptions(), {"pause_threshold": 0.5}).pause_threshold == 0.5


def test_best_pause_is_the_longest_quiet_run_cut_in_its_middle():
    from vad_worker.segmenter import best_pause

    probs = [0.9] * 30
    probs[5] = 0.01  # the quietest frame, alone
    probs[12:18] = [0.2] * 6  # the longest run under low (0.35)
    probs[22:25] = [0.05] * 3
    assert best_pause(probs, low=0.35) == 15
    probs[22:28] = [0.05] * 6  # as long and quieter
    assert best_pause(probs, low=0.35) == 25
    assert best_pause([0.9, 0.6, 0.5, 0.7], low=0.35) == 2  # no pause: the quietest frame


def test_default_splits_long_speech_at_its_pauses_into_contiguous_utterances():
    """40 s of speech with a 0.3 s pause every 2.2 s (shorter than the silence that ends an
    utterance), by default: utterances of at most 15 s, each split inside a pause, each starting
    where the one before ended (word times, counted from an utterance's start, follow on), and
    every frame of the speech sent once."""
    options = EndpointOptions()
    assert options.max_utterance_sec == 15.0
    pause, period = frames(0.3), frames(2.2)
    speech = frames(40)
    probs = [0.0] * 10 + [0.05 if i % period >= period - pause else 0.9 for i in range(speech)] + [0.0] * 40
    _, events = run(probs, options)
    starts = [e.start for e in events if isinstance(e, SpeechStarted)]
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert [e.reason for e in ends] == ["max_length"] * (len(ends) - 1) + ["silence"] and len(ends) >= 3
    assert all(end.end - end.start <= 15 * 16000 for end in ends)
    assert [e.start for e in ends[1:]] == [e.end for e in ends[:-1]] == starts[1:]
    for end in ends[:-1]:  # the cut is inside a pause
        frame = end.end // FRAME - 10
        assert frame % period >= period - pause
    # No frame lost: each utterance's audio runs from its start past its end without a gap (what went
    # out before the split, after the cut, is re-sent as the next one's start; the ASR cuts it off).
    utterance, covered = -1, []
    for event in events:
        if isinstance(event, SpeechStarted):
            utterance += 1
            covered.append([])
        elif isinstance(event, SpeechAudio):
            covered[utterance].append((event.offset, event.offset + len(event.pcm)))
    for spans, end in zip(covered, ends):
        assert spans[0][0] == end.start and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        assert spans[-1][1] >= end.end


def test_split_search_follows_a_short_max_utterance():
    """A session's short max_utterance_sec needs no split_search of its own: half of it is searched."""
    options = with_overrides(EndpointOptions(), {"max_utterance_sec": 4})
    assert options.split_search == 5.0
    probs = [0.9] * 200
    probs[70:74] = [0.1] * 4  # a pause 2.2 s in: inside the last 2 s before 4 s
    _, events = run(probs, options)
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert ends[0].reason == "max_length" and ends[0].end == 72 * FRAME


# -- short words: what Silero's get_speech_timestamps counts as speech (min speech 250 ms, min silence 100 ms)


def starts(probs, options=EndpointOptions()):
    return [e.start for e in run(probs, options)[1] if isinstance(e, SpeechStarted)]


def test_a_stop_closure_inside_a_short_word_does_not_end_it():
    """"Okay." in espeak-ng's en-gb voice: 4 frames of "o", 3 of the "k" closure under the low
    threshold, 9 of "kay" (bench/vad_short_words.py). The closure is no silence that ends a click."""
    probs = [0.0] * 20 + [0.9] * 4 + [0.05] * 3 + [0.9] * 9 + [0.0] * 40
    _, events = run(probs)
    pre_roll = EndpointOptions().frames(0.3)
    assert [e.start for e in events if isinstance(e, SpeechStarted)] == [(20 - pre_roll) * FRAME]
    (end,) = [e for e in events if isinstance(e, SpeechEnded)]
    # The whole word goes out, the closure too, from the pre-roll to the padding.
    padding = EndpointOptions().frames(EndpointOptions().trailing_padding)
    assert np.array_equal(speech_audio(events), np.repeat(np.arange(20 - pre_roll, 36 + padding), FRAME))
    assert end.end == (36 + padding) * FRAME


def test_a_gap_of_up_to_100_ms_is_bridged_and_one_longer_is_not():
    # Silero ends a segment when its silence is over 100 ms past its first quiet frame: 4 quiet frames
    # are bridged, a 5th ends it. Neither part alone is 250 ms of speech.
    assert starts([0.0] * 20 + [0.9] * 4 + [0.05] * 4 + [0.9] * 4 + [0.0] * 40)
    assert not starts([0.0] * 20 + [0.9] * 4 + [0.05] * 5 + [0.9] * 4 + [0.0] * 40)


def test_a_word_of_250_ms_is_speech_and_one_shorter_is_not():
    # "No." at 200 words a minute: 8 frames over the threshold (256 ms); Silero counts more than 250 ms.
    assert starts([0.0] * 20 + [0.9] * 8 + [0.0] * 40)
    assert not starts([0.0] * 20 + [0.9] * 7 + [0.0] * 40)


def test_the_speech_is_counted_over_the_segment_with_its_gaps():
    # "Thanks." at 200 words a minute: 7 frames, one quiet, one more: 9 frames from its start to its end.
    assert starts([0.0] * 20 + [0.9] * 7 + [0.05] + [0.9] + [0.0] * 40)
    # ...but not the quiet frames after its last speech: 6 frames and 4 of silence are no word.
    assert not starts([0.0] * 20 + [0.9] * 6 + [0.05] * 4 + [0.0] * 40)


def test_a_middling_frame_after_a_quiet_one_does_not_restart_the_silence():
    """As in Silero: only a frame over the threshold ends a silence run; one between the thresholds
    after a quiet frame neither counts as speech nor resets the run (6 frames of speech: a click)."""
    assert not starts([0.0] * 20 + [0.9] * 6 + [0.05, 0.4, 0.05, 0.05, 0.05] + [0.0] * 40)
    assert not starts([0.0] * 20 + [0.9] * 6 + [0.05, 0.4, 0.4, 0.4] + [0.0] * 40)
    # Frames between the thresholds right after speech are speech (Silero's neg_threshold).
    assert starts([0.0] * 20 + [0.9] * 6 + [0.4] * 2 + [0.0] * 40)


def test_pending_speech_stays_short_through_steady_middling_noise():
    segmenter = Segmenter(EndpointOptions())
    options = segmenter.options
    events = []
    for i, p in enumerate([0.0] * 10 + [0.9, 0.05] + [0.4] * 1000):
        events += segmenter.push(i * FRAME, np.zeros(FRAME, np.int16), p)
        assert len(segmenter.pending) <= options.frames(options.min_speech_duration) + options.frames(0.1)
    assert events == []


def test_flush_of_pending_speech_counts_it_to_its_last_speech_frame():
    # 3 frames (96 ms) then silence at the close: a click, its quiet frames do not make it 100 ms.
    assert run([0.0] * 10 + [0.9] * 3 + [0.05] * 3, flush="end")[1] == []
    # 4 frames (128 ms) cut off by the close: a short word, sent.
    _, events = run([0.0] * 10 + [0.9] * 4 + [0.05] * 2, flush="end")
    assert [type(e).__name__ for e in events] == ["SpeechStarted", "SpeechAudio", "SpeechEnded"]


def test_a_split_after_a_pause_says_the_pause_again_in_the_new_utterance():
    # The turn set's tune-0009 on the native door (CI, 2026-11-26): a conversation with short gaps kept
    # one VAD utterance for 15 s; the pause after "How can I help you today?" was sent, then speech
    # resumed, the utterance reached max_utterance_sec and was split at an earlier, better pause. The
    # ASR's decode of that pause belonged to the ended utterance and was dropped, and the new one had no
    # pause: "Robert Brown." said 0.42 s later was merged into the sentence's final.
    options = EndpointOptions(max_utterance_sec=4.0, split_search=2.0)
    probs = [0.9] * 200
    probs[80:94] = [0.0] * 14    # a 0.45 s gap: the split's best pause
    probs[118:128] = [0.0] * 10  # a 0.32 s gap: a pause, sent before max_utterance_sec is reached
    _, events = run(probs, options)
    end = next(e for e in events if isinstance(e, SpeechEnded))
    before, after = events[:events.index(end)], events[events.index(end) + 1:]
    late = [e for e in before if isinstance(e, SpeechPaused)][-1]
    assert end.reason == "max_length" and end.end < late.end
    paused = [e for e in after if isinstance(e, SpeechPaused)]
    assert paused and (paused[0].start, paused[0].end) == (end.end, late.end), after
    # The new utterance's audio runs to the pause's end before the pause, and on after it.
    sent = [e for e in after[:after.index(paused[0])] if isinstance(e, SpeechAudio)]
    assert sent[0].offset == end.end and sent[-1].offset + len(sent[-1].pcm) == late.end
    assert any(isinstance(e, SpeechAudio) for e in after[after.index(paused[0]) + 1:])
