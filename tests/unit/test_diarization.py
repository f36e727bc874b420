"""gateway.diarization: windows, clustering and labels on synthetic embeddings; speakers in a response."""

import numpy as np
import pytest

from gateway.diarization import cluster, online, parties, sound, words
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


@pytest.mark.extra("diarize")  # scipy clusters
@pytest.mark.parametrize("speakers", [1, 2, 3, 5])
def test_cluster_estimates_the_number_of_speakers(speakers):
    rng = np.random.default_rng(speakers)
    truth = np.repeat(np.arange(speakers), 20)
    embeddings = np.concatenate([_noisy(v, 20, rng) for v in _voices(speakers)])
    found = cluster.cluster(embeddings)
    assert len(set(found.tolist())) == speakers
    for k in range(speakers):  # each true speaker is one cluster
        assert len(set(found[truth == k].tolist())) == 1


@pytest.mark.extra("diarize")  # scipy clusters
def test_cluster_respects_max_speakers_and_subsamples_long_inputs():
    rng = np.random.default_rng(1)
    embeddings = np.concatenate([_noisy(v, 30, rng) for v in _voices(4)])
    assert len(set(cluster.cluster(embeddings, max_speakers=2).tolist())) == 2
    truth = np.repeat(np.arange(4), 30)
    found = cluster.cluster(embeddings, max_linked=20)  # 20 clustered, 100 joined to the nearest centre
    assert len(set(found.tolist())) == 4
    assert all(len(set(found[truth == k].tolist())) == 1 for k in range(4))


@pytest.mark.extra("diarize")  # scipy clusters
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
    # each part runs over its speaker's labelled frames around its words (0-1.5 s, 2.0-3.0 s), not its words' bounds
    assert (first["speaker"], first["transcript"], first["start"], first["end"]) == (
        1, "Hello, thanks for calling.", 0.0, 1.5)
    assert (second["speaker"], second["transcript"], second["start"], second["end"]) == (0, "Hi there.", 2.0, 3.0)
    assert first["id"] != second["id"] and {"speaker_confidence"} <= set(first["words"][0])
    assert first["sentiment"] == second["sentiment"] == "positive"  # the final's other fields stay with its parts
    assert body["results"]["agent"] == {"speaker": 1, "rule": "greeting"}


def _utterance(start: float, end: float, speaker: int, said: list[dict]) -> dict:
    return {"start": start, "end": end, "confidence": 0.9, "channel": 0, "transcript": "", "words": said,
            "speaker": speaker, "id": f"u{start}"}


def test_utterances_are_bounded_by_their_speakers_labelled_speech_not_past_their_neighbours():
    labels = _labels([(0, 50, 200), (1, 240, 400), (0, 400, 450)])
    early = _utterance(0.3, 2.1, 0, [_word("hi", 0.3, 1.0), _word("there", 1.0, 2.1)])  # words run into the pause
    late = _utterance(2.6, 3.9, 1, [_word("yes", 2.6, 3.9)])  # its first word starts late
    bare = _utterance(4.6, 5.0, 0, [])  # no words: as it came
    out = words._bounded([early, late, bare], labels)
    assert [(u["start"], u["end"]) for u in out] == [(0.5, 2.0), (2.4, 4.0), (4.6, 5.0)]  # not into the next
    nowhere = _utterance(5.0, 5.5, 1, [_word("hm", 5.0, 5.5)])  # no frame of its speaker: its words' bounds
    assert words._bounded([nowhere], labels)[0] is nowhere


def test_agent_without_a_greeting_is_who_speaks_first():
    said = [{**_word("yes", 0, 1), "speaker": 0}, {**_word("no", 1, 2), "speaker": 1}]
    assert words.agent_of(said) == {"speaker": 0, "rule": "first_speaker"}
    assert words.agent_of([_word("yes", 0, 1)]) is None


def test_warn_keeps_the_transcript_and_says_why():
    body = {"metadata": {}, "results": {"channels": []}}
    words.warn(body, "diarization failed")
    assert body["metadata"]["warnings"] == [{"parameter": "diarize", "type": "partial_support",
                                             "message": "diarization failed"}]


def _close_pair(distance: float, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Two unit directions ``distance`` apart in cosine distance (closer than the cut: one cluster)."""
    a, orth = _voices(2, seed=seed)
    orth = orth - (orth @ a) * a
    orth /= np.linalg.norm(orth)
    cos = 1.0 - distance
    return a, cos * a + np.sqrt(1 - cos * cos) * orth


@pytest.mark.extra("diarize")  # scipy clusters
def test_two_close_voices_taking_turns_are_split_in_two():
    """Two voices 0.2 apart (two male voices' distance on the bench) are one cluster at the 0.4 cut; their
    turns (runs of consecutive windows) split it."""
    rng = np.random.default_rng(6)
    a, b = _close_pair(0.2)
    runs = [(a, 0), (b, 1), (a, 0), (b, 1)]
    embeddings = np.concatenate([_noisy(v, 20, rng) for v, _ in runs])
    truth = np.repeat([k for _, k in runs], 20)
    found = cluster.cluster(embeddings)
    assert len(set(found.tolist())) == 2
    assert all(len(set(found[truth == k].tolist())) == 1 for k in (0, 1))
    assert len(set(cluster.cluster(embeddings, max_speakers=1).tolist())) == 1  # the cap holds


@pytest.mark.extra("diarize")  # scipy clusters
@pytest.mark.parametrize("case", ["scattered", "one voice", "a short second voice", "too close"])
def test_a_cluster_is_not_split_without_two_voices_taking_turns(case):
    rng = np.random.default_rng(7)
    a, b = _close_pair(0.1 if case == "too close" else 0.2)
    if case == "scattered":  # the two halves' windows interleave: not turns
        embeddings = np.stack([_noisy(a if i % 2 else b, 1, rng)[0] for i in range(80)])
    elif case == "one voice":
        embeddings = _noisy(a, 80, rng, spread=0.05)
    elif case == "a short second voice":  # under SPLIT_MIN_WINDOWS windows
        embeddings = np.concatenate([_noisy(a, 60, rng), _noisy(b, cluster.SPLIT_MIN_WINDOWS - 1, rng)])
    else:
        embeddings = np.concatenate([_noisy(a, 40, rng), _noisy(b, 40, rng)])
    assert len(set(cluster.cluster(embeddings).tolist())) == 1


@pytest.mark.extra("diarize")  # scipy clusters
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
    from gateway.doors.deepgram_prerecorded import PrerecordedSettings

    assert PrerecordedSettings.from_query([("diarize", "true")]).diarize
    assert not PrerecordedSettings.from_query([]).diarize
    with pytest.raises(ConfigError, match="diarize"):
        PrerecordedSettings.from_query([("diarize", "maybe")])


# -- regions and analytics by speaker ----------------------------------------------------------


def test_the_regions_are_the_speech_the_words_hold():
    assert words.spoken(1000, 5000, [(1300, 1600), (2000, 4200)]) == (1300, 4200)  # no VAD padding
    assert words.spoken(1000, 5000, [(800, 1200), (4900, 5300)]) == (1000, 5000)  # inside the final's span
    assert words.spoken(1000, 5000, []) == (1000, 5000)  # no word timings: the final's span


def _said(utterance_id: str, spoken: list[tuple[str, int, int]]) -> parties.Said:
    return parties.Said(utterance_id=utterance_id, text=" ".join(w for w, _, _ in spoken),
                        start_ms=spoken[0][1] - 300, end_ms=spoken[-1][2] + 300,
                        words=tuple((w, a, b, 0.8) for w, a, b in spoken))


def test_a_final_is_cut_into_runs_of_one_speaker():
    labels = _labels([(1, 0, 200), (0, 250, 500)])
    said = _said("u1", [("thanks", 100, 600), ("for", 600, 900), ("calling", 900, 1900), ("hi", 2600, 3000),
                        ("there", 3000, 3500)])
    (first, agent), (second, customer) = parties.runs(said, labels)
    assert (first, agent.text, agent.start_ms, agent.end_ms) == (1, "thanks for calling", 100, 1900)
    assert (second, customer.text, customer.start_ms, customer.end_ms) == (0, "hi there", 2600, 3500)
    assert agent.utterance_id != customer.utterance_id != "u1"
    alone = _said("u2", [("hi", 2600, 3000)])
    assert parties.runs(alone, labels) == [(0, alone)]  # one speaker: the final as it is
    bare = parties.Said(utterance_id="u3", text="hello", start_ms=100, end_ms=1500)
    assert parties.runs(bare, labels) == [(1, bare)]  # no word timings: the speaker of its span


def test_names_say_the_agent_and_on_two_speakers_the_customer():
    assert parties.names(2, 1) == ("customer", "agent")
    assert parties.names(3, 0) == ("agent", None, None)
    assert parties.names(2, None) == (None, None)


@pytest.mark.extra("analytics")  # the parties' sentiment
def test_a_diarized_summary_counts_speakers_as_parties():
    from gateway.policy.analytics import AnalyticsSettings
    from gateway.analytics.sentiment import sentiment

    # Speaker 1 greets (0-2 s), speaker 0 answers in the same final (2.6-4.5 s), then a final each.
    labels = _labels([(1, 0, 200), (0, 250, 460), (1, 520, 700), (0, 760, 900)], frames=1000)
    finals = [_said("u1", [("thank", 100, 500), ("you", 500, 800), ("for", 800, 1100), ("calling", 1100, 1900),
                           ("this", 2600, 3000), ("is", 3000, 3400), ("terrible", 3400, 4500)]),
              _said("u2", [("happy", 5300, 5800), ("to", 5800, 6100), ("help", 6100, 6900)]),
              _said("u3", [("awful", 7700, 8200), ("service", 8200, 8900)])]
    summary = parties.summary(finals, labels, settings=AnalyticsSettings(), scorer=sentiment(), duration_ms=10_000, agent=1,
                              level=lambda start, end: -20.0 if start < 5000 else -30.0)
    assert summary["parties_by"] == "speaker"
    customer, agent = summary["parties"]
    assert (customer["speaker"], customer["party"], agent["speaker"], agent["party"]) == (0, "customer", 1, "agent")
    assert (agent["talk_ms"], customer["talk_ms"]) == (1800 + 1600, 1900 + 1200)
    assert (agent["utterances"], customer["utterances"], agent["words"], customer["words"]) == (2, 2, 7, 5)
    assert summary["talk_ms"] == 3400 + 3100 and summary["overtalk_ms"] == 0
    assert customer["response_ms"] == {"count": 2, "mean": (700 + 800) // 2, "max": 800}  # 1.9->2.6 s, 6.9->7.7 s
    assert agent["response_ms"] == {"count": 1, "mean": 800, "max": 800}  # 4.5->5.3 s
    assert customer["sentiment"]["sentiment"] == "negative" and agent["sentiment"]["sentiment"] == "positive"
    assert agent["level_dbfs"] == pytest.approx((-20 * 1800 - 30 * 1600) / 3400, abs=0.01)
    assert "channel" not in agent


# -- live calls: gateway/diarization/online.py ------------------------------------------------------------


def _final(history: online.History, embeddings: np.ndarray) -> online.Labelled:
    """A final whose windows are ``embeddings``, one word per window (hop 0.4 s, 1.6 s windows, in samples)."""
    spans = [(i * 6400, i * 6400 + 25600) for i in range(len(embeddings))]
    level = np.full(-(-spans[-1][1] // 160), -20.0)  # steady sound: nothing to snap
    return online.label(history, embeddings, spans, [(a + 9600, a + 16000) for a, _ in spans], level)


@pytest.mark.extra("diarize")  # scipy clusters
def test_online_finals_keep_their_speakers_across_re_clustering() -> None:
    rng = np.random.default_rng(2)
    a, b = _voices(2)
    history = online.History.empty()
    said = []
    for voice in (a, b, a, b, a):
        labelled = _final(history, _noisy(voice, 8, rng))
        history = labelled.history
        said.append(set(labelled.speakers))
    assert said == [{0}, {1}, {0}, {1}, {0}]
    assert history.speakers == 2 and len(history.delivered) == 40
    assert all(c == 1.0 for c in labelled.confidences)


@pytest.mark.extra("diarize")  # scipy clusters
def test_online_a_new_speaker_is_numbered_next_and_the_first_keeps_zero() -> None:
    rng = np.random.default_rng(3)
    a, b, c = _voices(3)
    history = online.History.empty()
    for voice, expected in ((a, 0), (b, 1), (c, 2), (a, 0)):
        labelled = _final(history, _noisy(voice, 8, rng))
        history = labelled.history
        assert set(labelled.speakers) == {expected}


@pytest.mark.extra("diarize")  # scipy clusters
def test_online_assign_maps_clusters_onto_delivered_speakers() -> None:
    # The re-clustering numbered the clusters the other way round: the delivered speakers win.
    labels, speakers = online.assign(np.array([1, 1, 0, 0, 1, 0, 2]), np.array([0, 0, 1, 1]), 2)
    assert labels.tolist() == [0, 0, 1, 1, 0, 1, 2] and speakers == 3
    # A cluster that merged two delivered speakers keeps the one most of its windows had.
    labels, speakers = online.assign(np.array([0, 0, 0, 0]), np.array([0, 0, 1]), 2)
    assert labels.tolist() == [0, 0, 0, 0] and speakers == 2


def test_online_a_word_takes_the_speaker_most_of_its_frames_carry() -> None:
    spans = [(0, 16000), (8000, 24000), (16000, 32000)]  # in samples: frames 0-100, 50-150, 100-200
    level = np.full(200, -20.0)  # steady sound: the windows' votes stand
    speakers, confidences = online.word_speakers(spans, np.array([0, 0, 1]), [(0, 6400), (14400, 24000)], level)
    assert speakers == [0, 0]
    assert confidences[0] == 1.0  # frames 0-40: one window, speaker 0
    # Frames 90-150: 60 of speaker 0, the 50 from frame 100 of them shared half with speaker 1.
    assert confidences[1] == pytest.approx((10 * 1.0 + 50 * 0.5) / 60, abs=1e-3)


def test_online_a_change_moves_into_the_pause_and_the_words_beside_it_follow() -> None:
    # Windows of 1.6 s every 0.4 s over 6 s: the first five say speaker 3, the rest speaker 1, so the
    # frames' votes change at 2.4 s; the sound's pause is 2.8-3.2 s.
    spans = [(i * 6400, i * 6400 + 25600) for i in range(12)]
    labels = np.array([3] * 5 + [1] * 7)
    level = np.full(600, -20.0)
    level[280:320] = -80.0
    before, starts_in_pause, after = (40000, 44000), (45600, 52800), (56000, 64000)  # 2.5-2.75, 2.85-3.3, 3.5-4 s
    speakers, _ = online.word_speakers(spans, labels, [before, starts_in_pause, after], level)
    assert speakers == [3, 1, 1]  # the call's speaker numbers, not renumbered by first speech
    unsnapped, _ = online.word_speakers(spans, labels, [before], np.full(600, -20.0))
    assert unsnapped == [1]  # the windows alone gave the earlier speaker's last word to the later one


@pytest.mark.extra("diarize")  # scipy clusters
def test_online_history_is_capped_by_thinning_evenly() -> None:
    history = online.History(np.eye(10, dtype=np.float32), np.arange(10), 10)
    kept = online.capped(history, max_windows=4)
    assert kept.delivered.tolist() == [0, 4, 8] and kept.embeddings.shape == (3, 10) and kept.speakers == 10
    rng = np.random.default_rng(4)
    a, b = _voices(2)
    state = online.History.empty()
    for voice in (a, b) * 3:
        labelled = online.label(state, _noisy(voice, 10, rng), [(0, 1)] * 10, [(0, 1)], np.zeros(1), max_windows=30)
        state = labelled.history
        assert len(state.delivered) <= 30
    assert labelled.speakers == [1] and state.speakers == 2


def test_online_a_final_without_windows_changes_nothing() -> None:
    history = online.History.empty()
    assert online.label(history, np.zeros((0, 0), np.float32), [], [], np.zeros(0)) == online.Labelled([], [], history)


# -- labels snapped to the sound -----------------------------------------------------------------


def _audio(spec: list[tuple[int, int, float]], frames: int = 600, noise_db: float | None = None) -> np.ndarray:
    """Frames of a 200 Hz tone at ``level`` dB where ``spec`` says (start frame, end frame, level), else silence
    (or white noise at ``noise_db``)."""
    rng = np.random.default_rng(0)
    out = np.zeros(frames * cluster.FRAME, np.float32)
    if noise_db is not None:
        out += rng.normal(scale=10 ** (noise_db / 20), size=len(out)).astype(np.float32)
    t = np.arange(len(out)) / cluster.RATE
    for a, b, level in spec:
        span = slice(a * cluster.FRAME, b * cluster.FRAME)
        out[span] += (10 ** (level / 20) * np.sqrt(2) * np.sin(2 * np.pi * 200 * t[span])).astype(np.float32)
    return out


def test_levels_are_each_frames_power_in_db():
    level = sound.levels(_audio([(0, 10, -20.0)], frames=20)[:-80])  # a half frame at the end: padded
    assert level[:10] == pytest.approx(-20.0, abs=0.1)
    assert (level[10:] < -100).all() and len(level) == 20


def test_a_speaker_change_moves_into_the_pause_near_it_and_the_pause_is_nobodys():
    level = sound.levels(_audio([(0, 300, -20.0), (360, 600, -25.0)]))
    labels = _labels([(0, 0, 400), (1, 400, 600)])  # the windows put the change 0.4 s into the second turn
    snapped = sound.snapped(labels, level).speaker
    assert (snapped[:300] == 0).all() and (snapped[300:360] == -1).all() and (snapped[360:] == 1).all()
    early = sound.snapped(_labels([(0, 0, 250), (1, 250, 600)]), level).speaker  # or before the pause
    assert (early[:300] == 0).all() and (early[300:360] == -1).all() and (early[360:] == 1).all()


def test_a_pause_inside_one_speakers_turn_stays_speech():
    level = sound.levels(_audio([(0, 300, -20.0), (340, 600, -20.0)]))
    assert (sound.snapped(_labels([(0, 0, 600)]), level).speaker == 0).all()


def test_a_change_without_a_pause_near_it_stays_where_the_windows_put_it():
    level = sound.levels(_audio([(0, 300, -20.0), (310, 500, -20.0)]))  # 0.1 s: shorter than MIN_PAUSE
    snapped = sound.snapped(_labels([(0, 0, 320), (1, 320, 600)]), level).speaker
    assert (snapped[:320] == 0).all() and (snapped[320:500] == 1).all() and (snapped[500:] == -1).all()


def test_without_a_floor_below_the_speech_the_labels_stay_as_voted():
    level = sound.levels(_audio([(0, 600, -20.0)], noise_db=-30.0))  # noise 10 dB under the speech everywhere
    labels = _labels([(0, 0, 400), (1, 400, 600)])
    assert (sound.snapped(labels, level).speaker == labels.speaker).all()


def test_edges_lose_their_silence_and_grow_into_the_sound_beside_them():
    level = sound.levels(_audio([(80, 250, -20.0), (400, 560, -20.0)]))
    labels = _labels([(0, 100, 300), (1, 380, 540)])  # starts late and ends in silence; starts early, ends early
    snapped = sound.snapped(labels, level)
    assert (snapped.speaker[80:250] == 0).all() and (snapped.speaker[400:560] == 1).all()
    assert (snapped.speaker[:80] == -1).all() and (snapped.speaker[250:400] == -1).all()
    assert (snapped.speaker[560:] == -1).all()
    assert snapped.confidence[85] == pytest.approx(0.9) and snapped.confidence[270] == 0


def test_an_edge_does_not_grow_into_sound_that_runs_on():
    level = sound.levels(_audio([(0, 600, -20.0)]))  # speech (or a noise above the silence) past GROW
    assert (sound.snapped(_labels([(0, 100, 400)]), level).speaker[100:400] == 0).all()
    assert (sound.snapped(_labels([(0, 100, 400)]), level).speaker[:100] == -1).all()


def test_silence_is_measured_above_a_noise_floor():
    level = sound.levels(_audio([(0, 300, -20.0), (360, 600, -20.0)], noise_db=-45.0))  # 25 dB: within 35
    snapped = sound.snapped(_labels([(0, 0, 400), (1, 400, 600)]), level).speaker
    assert (snapped[:300] == 0).all() and (snapped[300:360] == -1).all() and (snapped[360:] == 1).all()


def test_snapping_renumbers_by_first_speech_and_keeps_unlabelled_audio_unlabelled():
    level = sound.levels(_audio([(0, 100, -20.0), (100, 300, -20.0)]))
    snapped = sound.snapped(_labels([(1, 0, 100), (0, 100, 300)]), level)
    assert snapped.speaker[0] == 0 and snapped.speaker[200] == 1 and (snapped.speaker[300:] == -1).all()
    assert (sound.snapped(_labels([]), level).speaker == -1).all()
