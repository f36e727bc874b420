"""``Segmenter.push_frames`` (the VAD stage's batch path) against one ``push`` per frame.

The batch path skips the per-frame state logic on steady silence and steady
speech; whatever the probabilities, the chunking and the options, it must give
exactly the events of the frame-by-frame path, with the audio that follows on
directly within one call merged (``coalesced``), and leave the same state.
"""

import numpy as np
import pytest

from common.endpointing import FRAME, EndpointOptions
from vad_worker.segmenter import Segmenter, SpeechAudio, SpeechEnded, SpeechPaused, SpeechStarted, coalesced


def described(events):
    """Events as comparable tuples (the audio by value)."""
    return [(type(e).__name__, *((e.offset, e.pcm.tobytes()) if isinstance(e, SpeechAudio) else vars_of(e)))
            for e in events]


def vars_of(event):
    return tuple(getattr(event, name) for name in event.__slots__)


def state_of(segmenter):
    def frames(items):
        return [(item[0], item[1].tobytes(), *item[2:]) for item in items]
    return (segmenter.state, segmenter.start, frames(segmenter.preroll), frames(segmenter.pending),
            segmenter.quiet_from, frames(segmenter.held), segmenter.released, frames(segmenter.recent))


def probabilities(rng, count):
    """Runs of speech, silence and middling values, with single-frame flips."""
    probs = []
    while len(probs) < count:
        level = rng.choice([0.02, 0.2, 0.4, 0.45, 0.6, 0.95])
        probs += [float(np.clip(level + rng.normal(0, 0.05), 0, 1))] * int(rng.integers(1, 40))
    return probs[:count]


OPTIONS = [
    EndpointOptions(),
    EndpointOptions(min_speech_duration=0.0, pre_roll=0.0, trailing_padding=0.0, pause_threshold=0.0,
                    silence_threshold=0.1),
    EndpointOptions(max_utterance_sec=2.0, split_search=0.5, silence_threshold=2.0),
    EndpointOptions(threshold=0.3, neg_threshold=0.3, pre_roll=1.0),
]


@pytest.mark.parametrize("options", OPTIONS, ids=range(len(OPTIONS)))
@pytest.mark.parametrize("seed", range(6))
def test_push_frames_gives_the_events_of_push(options, seed):
    rng = np.random.default_rng(seed)
    count = 1500
    probs = probabilities(rng, count)
    audio = rng.integers(-3000, 3000, count * FRAME).astype(np.int16).reshape(count, FRAME)
    one, many = Segmenter(options), Segmenter(options)
    expected, got, k = [], [], 0
    while k < count:
        n = int(rng.integers(1, 12))
        expected += coalesced([e for i in range(k, min(k + n, count)) for e in one.push(i * FRAME, audio[i], probs[i])])
        got += many.push_frames(k * FRAME, audio[k:k + n], probs[k:k + n])
        k += n
    assert described(got) == described(expected)
    assert state_of(many) == state_of(one)
    assert described(many.flush("end")) == described(one.flush("end"))


def test_push_frames_splits_long_speech_where_push_does():
    options = EndpointOptions(max_utterance_sec=2.0, split_search=0.5)
    probs = [0.9] * 300
    probs[50] = 0.4  # quietest frame of the search window before 2 s
    audio = np.zeros((300, FRAME), np.int16)
    one, many = Segmenter(options), Segmenter(options)
    expected = coalesced([e for k in range(300) for e in one.push(k * FRAME, audio[k], probs[k])])
    got = many.push_frames(0, audio, probs)  # one call across several split points
    assert described(got) == described(expected)
    assert sum(type(e).__name__ == "SpeechEnded" for e in got) >= 4


def test_coalesced_merges_only_audio_that_follows_on_directly():
    a = np.arange(FRAME, dtype=np.int16)
    events = [SpeechStarted(0), SpeechAudio(0, a), SpeechAudio(FRAME, a), SpeechAudio(2 * FRAME, a[:10]),
              SpeechPaused(0, 2 * FRAME + 10), SpeechAudio(2 * FRAME + 10, a),  # not across another event
              SpeechAudio(5 * FRAME, a),  # a gap
              SpeechEnded(0, 6 * FRAME, "max_length"), SpeechStarted(5 * FRAME),
              SpeechAudio(5 * FRAME, a)]  # re-sent tail after a split: starts before the audio sent
    assert described(coalesced(events)) == described([
        SpeechStarted(0), SpeechAudio(0, np.concatenate([a, a, a[:10]])), SpeechPaused(0, 2 * FRAME + 10),
        SpeechAudio(2 * FRAME + 10, a), SpeechAudio(5 * FRAME, a), SpeechEnded(0, 6 * FRAME, "max_length"),
        SpeechStarted(5 * FRAME), SpeechAudio(5 * FRAME, a)])


def test_push_frames_sends_one_audio_event_per_run_of_speech():
    options = EndpointOptions(min_speech_duration=0.0, pre_roll=0.0)
    segmenter = Segmenter(options)
    audio = np.ones((10, FRAME), np.int16)
    events = segmenter.push_frames(0, audio, [0.9] * 10)
    assert described(events) == described([SpeechStarted(0), SpeechAudio(0, audio.reshape(-1))])
