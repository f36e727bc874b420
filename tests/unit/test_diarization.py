"""gateway.diarization: windows, clustering and labels on synthetic embeddings; speakers in a response."""

import numpy as np
import pytest

from gateway.diarization import cluster, words
from gateway.diarization.cluster import Labels


def _voices(count: int, seed: int = 0, dim: int = 64) -> np.ndarray:
    """``count`` random unit directions, far apart in 64 dimensions."""
    v = np.random.default_rng(seed).normal(size=(count, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _noisy(voice: np.ndarray, n: int, rng: np.random.Generator, spread: float = 0.03) -> np.ndarray:
    e = voice + rng.normal(scale=spread, size=(n, len(voice)))
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def test_windows_slide_inside_regions_and_cover_their_tails():
    spans = cluster.windows([(0, 10), (100, 135)], window=16, hop=4)
    assert spans[0] == (0, 10)  # shorter than a window: one window of its own length
    assert spans[1:] == [(100, 116), (104, 120), (108, 124), (112, 128), (116, 132), (119, 135)]
    assert cluster.windows([(5, 5)]) == []


@pytest.mark.parametrize("speakers", [1, 2, 3, 5])
def test_cluster_estimates_the_number_of_speakers(speakers):
    rng = np.random.default_rng(speakers)
    truth = np.repeat(np.arange(speakers), 20)
    embeddings = np.concatenate([_noisy(v, 20, rng) for v in _voices(speakers)])
    found = cluster.cluster(embeddings)
    assert len(set(found.tolist())) == speakers
    for k in range(speakers):  # each true speaker is one cluster
        assert len(set(found[truth == k].tolist())) == 1


def test_cluster_respects_max_speakers_and_subsamples_long_inputs():
    rng = np.random.default_rng(1)
    embeddings = np.concatenate([_noisy(v, 30, rng) for v in _voices(4)])
    assert len(set(cluster.cluster(embeddings, max_speakers=2).tolist())) == 2
    truth = np.repeat(np.arange(4), 30)
    found = cluster.cluster(embeddings, max_linked=20)  # 20 clustered, 100 joined to the nearest centre
    assert len(set(found.tolist())) == 4
    assert all(len(set(found[truth == k].tolist())) == 1 for k in range(4))


def test_cluster_of_nothing_or_one():
    assert cluster.cluster(np.zeros((0, 8))).tolist() == []
    assert cluster.cluster(_voices(1)).tolist() == [0]


def test_frame_labels_vote_and_number_speakers_by_first_speech():
    frame = cluster.FRAME
    regions = [(0, 40 * frame), (60 * frame, 100 * frame)]
    spans = [(0, 20 * frame), (20 * frame, 40 * frame), (10 * frame, 30 * frame), (60 * frame, 100 * frame)]
    labels = cluster.frame_labels(spans, np.array([1, 0, 1, 0]), regions, 110 * frame)  # cluster 1 speaks first
    assert labels.speaker[0] == 0 and labels.speaker[35] == 1 and labels.speaker[80] == 1
    assert (labels.speaker[40:60] == -1).all() and (labels.speaker[100:] == -1).all()
    assert labels.confidence[25] == pytest.approx(0.5)  # one window of each
    assert labels.confidence[5] == 1.0 and labels.speakers == 2


def _labels(spec: list[tuple[int, int, int]], frames: int = 600) -> Labels:
    speaker = -np.ones(frames, int)
    for k, a, b in spec:
        speaker[a:b] = k
    return Labels(speaker, np.where(speaker >= 0, 0.9, 0).astype(np.float32))


def _word(text: str, start: float, end: float) -> dict:
    return {"word": text.lower().strip(",.?"), "start": start, "end": end, "confidence": 0.9,
            "punctuated_word": text}


def test_word_speaker_by_majority_and_nearest_when_outside_speech():
    labels = _labels([(0, 0, 100), (1, 100, 200)])
    assert words.word_speaker(labels, 0.9, 1.3) == (1, pytest.approx(0.9 * 0.75))
    assert words.word_speaker(labels, 3.0, 3.2)[0] == 1  # after all speech: the nearest frame's
    assert words.word_speaker(_labels([]), 0.0, 1.0) is None


def test_apply_labels_words_splits_utterances_and_finds_the_agent():
    said = [_word("Hello,", 0.1, 0.4), _word("thanks", 0.5, 0.8), _word("for", 0.8, 0.9),
            _word("calling.", 0.9, 1.3), _word("Hi", 2.1, 2.4), _word("there.", 2.4, 2.8)]
    labels = _labels([(1, 0, 150), (0, 200, 300)])  # renumbering is cluster's job: any numbers work here
    body = {"metadata": {}, "results": {
        "channels": [{"alternatives": [{"transcript": "", "confidence": 0.9, "words": [dict(w) for w in said]}]}],
        "utterances": [{"start": 0.1, "end": 2.8, "confidence": 0.9, "channel": 0, "transcript": "...",
                        "words": [dict(w) for w in said], "speaker": 0, "id": "u1", "sentiment": "positive"}]}}
    words.apply(body, labels)
    speakers = [w["speaker"] for w in body["results"]["channels"][0]["alternatives"][0]["words"]]
    assert speakers == [1, 1, 1, 1, 0, 0]
    first, second = body["results"]["utterances"]
    assert (first["speaker"], first["transcript"], first["end"]) == (1, "Hello, thanks for calling.", 1.3)
    assert (second["speaker"], second["transcript"], second["start"]) == (0, "Hi there.", 2.1)
    assert first["id"] != second["id"] and {"speaker_confidence"} <= set(first["words"][0])
    assert first["sentiment"] == second["sentiment"] == "positive"  # the final's other fields stay with its parts
    assert body["results"]["agent"] == {"speaker": 1, "rule": "greeting"}


def test_agent_without_a_greeting_is_who_speaks_first():
    said = [{**_word("yes", 0, 1), "speaker": 0}, {**_word("no", 1, 2), "speaker": 1}]
    assert words.agent_of(said) == {"speaker": 0, "rule": "first_speaker"}
    assert words.agent_of([_word("yes", 0, 1)]) is None


def test_warn_keeps_the_transcript_and_says_why():
    body = {"metadata": {}, "results": {"channels": []}}
    words.warn(body, "diarization failed")
    assert body["metadata"]["warnings"] == [{"parameter": "diarize", "type": "partial_support",
                                             "message": "diarization failed"}]


def test_a_stray_cluster_of_few_windows_joins_its_nearest():
    rng = np.random.default_rng(3)
    a, b = _voices(2, seed=4)
    stray = a + 0.9 * b  # between the two, nearer to neither's cluster than the threshold
    embeddings = np.concatenate([_noisy(a, 20, rng), _noisy(b, 20, rng), _noisy(stray, 2, rng)])
    found = cluster.cluster(embeddings)
    assert len(set(found.tolist())) == 2
    assert found[-1] in (found[0], found[20])


def test_the_query_asks_for_diarize_with_a_boolean():
    from common.errors import ConfigError
    from gateway.doors.deepgram_prerecorded import Settings

    assert Settings.from_query([("diarize", "true")]).diarize
    assert not Settings.from_query([]).diarize
    with pytest.raises(ConfigError, match="diarize"):
        Settings.from_query([("diarize", "maybe")])
