"""Call analytics end to end: a two-party native call with known overlaps, its follower, and a recording
through the official deepgram-sdk with ``sentiment=true`` and ``search``.

Real processes (gateway, Silero VAD, whisper tiny.en) and real speech (the LibriVox clips).
The analytics' arithmetic is tested sans I/O in tests/unit/test_analytics.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from websockets.asyncio.client import connect

from common.contract import alert_problems
from gateway.analytics.talk import TALK_GAP_MS
from tests.e2e.test_prerecorded import encoded
from tests.kit.deepgram import sdk_client
from tests.kit.faults import five_utterances_with_bounds
from tests.kit.support import converse, paced, pcm_chunks

pytestmark = pytest.mark.slow

RATE = 16_000
TIMEOUT = 180
SPEED = 4.0  # times real time: the gateway's default limit; the analytics run on the audio clock
GAP_MS = TALK_GAP_MS  # gaps shorter than this are talk (the definition of talk time: docs/analytics.md)
# (channel, clip index, start second): 1 cuts in on 0 for about 3 s, then each speaks alone.
LAYOUT = [(0, 0, 0.5), (1, 1, 4.5), (1, 2, 9.5), (0, 4, 16.5)]
CALL_SECONDS = 21.0


def speech_segments(samples: np.ndarray, offset_ms: int) -> list[tuple[int, int]]:
    """Where a clip speaks (10 ms frames within 35 dB of its loudest), gaps under GAP_MS joined."""
    frame = RATE // 100
    frames = samples[:len(samples) // frame * frame].reshape(-1, frame)
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    voiced = np.flatnonzero(level > level.max() - 35)
    segments: list[list[int]] = []
    for index in voiced:
        start = offset_ms + int(index) * 10
        if segments and start - segments[-1][1] < GAP_MS:
            segments[-1][1] = start + 10
        else:
            segments.append([start, start + 10])
    return [(start, end) for start, end in segments]


@pytest.fixture(scope="module")
def two_party(clips):
    """The call (float32, 2 channels interleaved) and each channel's reference talk time (ms)."""
    tracks = np.zeros((int(CALL_SECONDS * RATE), 2), np.float32)
    talk = [0, 0]
    for channel, clip, start in LAYOUT:
        samples, rate = soundfile.read(str(clips[clip][0]), dtype="float32")
        assert rate == RATE
        offset = int(start * RATE)
        tracks[offset:offset + len(samples), channel] = samples
        talk[channel] += sum(end - begin for begin, end in speech_segments(samples, int(start * 1000)))
    return tracks, talk


@pytest.mark.e2e
async def test_two_party_call_talk_overtalk_interruption_and_follower(live, two_party):
    tracks, reference = two_party
    data = tracks.astype("<f4").tobytes()
    messages: list[dict] = []
    config = {"type": "config", "sample_rate": RATE, "channels": 2, "encoding": "float32",
              "analytics": {"phrases": ["ill disposed young man", "rather selfish", "cancel my account"],
                            "alerts": {"overtalk_sec": 1.0, "dead_air_sec": 1.0}}}
    async with connect(f"ws://127.0.0.1:{live.port}/ws/asr", max_size=None) as ws:
        await ws.send(json.dumps(config))

        async def send():
            async for chunk in paced(pcm_chunks(data, 100, rate=RATE * 4), 100, speed=SPEED):  # 4 bytes a frame-pair
                await ws.send(chunk)
            await ws.send(json.dumps({"type": "close"}))

        await converse(ws, send, lambda text: messages.append(json.loads(text)), timeout=TIMEOUT)
    errors = [m for m in messages if m["type"] == "error"]
    assert not errors, errors
    call_id = messages[0]["session_id"]
    events = [m for m in messages if m["type"] == "analytics"]
    summary, = [m["summary"] for m in messages if m["type"] == "analytics_summary"]
    assert messages.index(next(m for m in messages if m["type"] == "analytics_summary")) > \
        max(i for i, m in enumerate(messages) if m["type"] == "final")

    # Talk time per party within 5 % of the clips' known speech.
    for party, expected in zip(summary["parties"], reference):
        assert party["talk_ms"] == pytest.approx(expected, rel=0.05), (party, reference)
    # Channel 1 cut in on channel 0 (about 3 s of overlap), and the overtalk alert went off.
    interruptions = summary["interruptions"]["items"]
    assert [(i["by"], i["of"]) for i in interruptions] == [(1, 0)], interruptions
    assert 2000 <= interruptions[0]["duration_ms"] <= 3500 and 2000 <= summary["overtalk_ms"] <= 3500, summary
    assert any(e["event"] == "interruption" and (e["by"], e["of"]) == (1, 0) for e in events), events
    alerts = {e["alert"] for e in events if e["event"] == "alert"}
    assert {"overtalk", "dead_air"} <= alerts, (events, summary)
    assert summary["alerts"]["overtalk"] >= 1 and summary["non_talk_ms"] > 0
    assert alert_problems(events, summary) == [], (events, summary)  # the alerts say what the summary says
    # The phrases said on channel 1 were spotted there; the one nobody said was not.
    spotted = {(e["phrase"], e["channel"]) for e in events if e["event"] == "phrase"}
    assert spotted <= {("ill disposed young man", 1), ("rather selfish", 1)} and spotted, spotted
    utterances = [e for e in events if e["event"] == "utterance"]
    assert utterances and all(e["level_dbfs"] is not None and -60 < e["level_dbfs"] < 0 for e in utterances)
    assert all(e["sentiment"] in ("positive", "neutral", "negative") for e in utterances)

    # A follower of the ended call (its log is kept) reads the same events and summary.
    followed = []
    async with connect(f"ws://127.0.0.1:{live.port}/ws/follow/{call_id}") as follower:
        assert json.loads(await follower.recv())["type"] == "following"
        async for text in follower:
            followed.append(json.loads(text))
    logged, = [m["summary"] for m in followed if m["type"] == "analytics_summary"]
    assert logged == summary
    assert len([m for m in followed if m["type"] == "analytics"]) == len(events)
    assert followed[-1]["type"] == "ended"


@pytest.mark.e2e
async def test_sdk_sentiment_and_search_on_a_recording(live, clips):
    audio, bounds = five_utterances_with_bounds(clips, gap_seconds=1.0)
    present = {"john dashwood": 0, "ill disposed young man": 1, "rather selfish": 2,
               "more respectable": 3, "made amiable himself": 4}
    absent = ["cancel my account", "speak to a manager", "competitor"]
    response = await sdk_client(live.port).listen.v1.media.transcribe_file(
        request=encoded(audio, "WAV", "PCM_16"), model="nova-3", punctuate=True, utterances=True, sentiment=True,
        search=[*present, *absent],
        request_options={"timeout": TIMEOUT, "additional_query_parameters": {"analytics": "true"}})
    results = response.results
    channel = results.channels[0]
    words = channel.alternatives[0].words
    # sentiment=true: a segment per final over the channel's words, their average, each utterance's.
    sentiments = results.sentiments
    assert sentiments.segments and sentiments.average.sentiment in ("positive", "neutral", "negative")
    assert sentiments.segments[0].start_word == 0 and sentiments.segments[-1].end_word == len(words) - 1
    assert all(-1 <= s.sentiment_score <= 1 and s.sentiment in ("positive", "neutral", "negative")
               for s in sentiments.segments)
    assert all(u.sentiment in ("positive", "neutral", "negative") for u in results.utterances)
    # search: one entry per term; recall over the labelled set, and no false hits.
    assert [s.query for s in channel.search] == [*present, *absent]
    hits = {s.query: s.hits for s in channel.search}
    found = [term for term in present if hits[term]]
    assert len(found) >= 4, hits  # recall 80 % at least (whisper tiny.en may mishear one)
    for term in found:
        start, end = bounds[present[term]]
        assert all(start / 1000 - 0.5 <= h.start <= h.end <= end / 1000 + 0.5 and 0 < h.confidence <= 1
                   for h in hits[term]), (term, hits[term], bounds)
    assert not any(hits[term] for term in absent), hits
    # This server's own summary next to Deepgram's fields.
    summary = results.model_extra["analytics"]  # the SDK keeps fields it does not model
    assert summary["parties"][0]["talk_ms"] > 0 and summary["parties"][0]["words"] == len(words)


@pytest.mark.e2e
@pytest.mark.parametrize("query, message", [
    ("?search=" + "&search=".join(f"t{i}" for i in range(51)), "at most 50"),
    ("?search=%3F%21", "has no word"),
])
async def test_bad_search_is_a_clear_400(live, query, message):
    from tests.e2e.test_prerecorded import post
    status, body, _ = post(live.port, encoded(np.zeros(RATE, np.float32), "WAV", "PCM_16"), query)
    assert status == 400 and message in body["err_msg"], body


@pytest.mark.e2e
async def test_bad_analytics_config_is_refused(live):
    async with connect(f"ws://127.0.0.1:{live.port}/ws/asr") as ws:
        await ws.send(json.dumps({"type": "config", "analytics": {"alerts": {"dead_air_sec": 0}}}))
        error = json.loads(await ws.recv())
    assert error["type"] == "error" and error["code"] == "bad_config"
    assert "alerts.dead_air_sec=0 is out of range 1..3600" in error["message"]
