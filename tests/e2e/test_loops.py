"""Issue 30 end to end: a loop-prone call keeps every sentence, live and recorded.

The clip (tests/kit/loop_clips.py, ``card``): espeak-ng reads a card number digit by
digit, an expiry, a security code and a social security number, 17 s with short
pauses. Whisper tiny.en, decoding it greedily in one piece, loops in the card number
("My card number is 4-1-1-1-1-...") and loses every sentence after it. Live through
/ws/asr the session keeps the VAD's old 30 s limit, so that the whole call is one
utterance, as in the issue, and the engine's loop guard must recover it; recorded
through POST /v1/listen its utterances go to the engine as one pack. Asserted: the
content words of the sentences after the card number, and that the ASR worker
counted the loop.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from streamscribe_client import file_frames, stream
from tests.e2e.test_prerecorded import post
from tests.kit.faults import http_port, metric, scrape
from tests.kit.loop_clips import CARD, CONTENT, speech

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TIMEOUT = 180
SPEED = 4.0  # times real time, the gateway's default limit: the utterances and their decodes go by audio time


@pytest.fixture(scope="module")
def call() -> np.ndarray:
    """The card clip with a second of silence before and after it, 16 kHz float32."""
    silence = np.zeros(16000, np.float32)
    return np.concatenate([silence, speech(CARD), silence])


def loops_counted(stack) -> float:
    return sum(metric(scrape(http_port(worker)), "streamscribe_asr_loops_total") for worker in stack.workers["asr"])


async def test_live_call_keeps_every_sentence(live, call):
    stack = live
    before = loops_counted(stack)
    frames = file_frames(call, 16000, chunk_ms=100, speed=SPEED)
    messages = await stream(stack.url, frames, sample_rate=16000, timeout=TIMEOUT,
                            config={"words": True, "vad": {"max_utterance_sec": 30}})
    finals = [m for m in messages if m["type"] == "final"]
    text = " ".join(m["text"] for m in finals).lower()
    assert all(word in text for word in CONTENT[CARD]), f"{text!r}\n{stack.logs()}"
    assert loops_counted(stack) > before, stack.logs()
    # Word times in order across finals, inside each final.
    words = [w for m in finals for w in m["words"]]
    assert all(a["start_ms"] <= b["start_ms"] for a, b in zip(words, words[1:]))
    assert all(m["start_ms"] <= w["start_ms"] <= w["end_ms"] <= m["end_ms"] for m in finals for w in m["words"])


async def test_recording_keeps_every_sentence(live, call):
    stack = live
    buffer = io.BytesIO()
    soundfile.write(buffer, call, 16000, format="WAV", subtype="PCM_16")
    status, body, _ = post(stack.port, buffer.getvalue(), "?utterances=true")
    assert status == 200, body
    transcript = body["results"]["channels"][0]["alternatives"][0]["transcript"].lower()
    assert all(word in transcript for word in CONTENT[CARD]), f"{transcript!r}\n{stack.logs()}"


async def test_a_monologue_is_split_at_pauses_with_continuous_word_times(live, clip_samples):
    """The five LibriVox clips with 0.4 s pauses, from a speaker whose pauses never end an utterance
    (a 3 s silence threshold; no sentence endpoint): the VAD's 15 s limit splits the 26 s of speech
    at pauses, each part has its final (``is_speech_final`` false but the last), each final starts
    at or after the end of the one before (at most the pause's second later), and the words' times
    run on in order across the split."""
    stack = live
    pause = np.zeros(round(0.4 * 16000), np.float32)
    parts = [np.zeros(16000, np.float32)]
    for audio, _ in clip_samples:
        parts += [audio, pause]
    monologue = np.concatenate(parts + [np.zeros(16000, np.float32)])
    frames = file_frames(monologue, 16000, chunk_ms=100, speed=SPEED)
    messages = await stream(stack.url, frames, sample_rate=16000, timeout=TIMEOUT,
                            config={"words": True, "sentence_endpoint": False, "vad": {"silence_threshold": 3.0}})
    finals = [m for m in messages if m["type"] == "final"]
    assert len(finals) >= 2, f"{finals}\n{stack.logs()}"
    assert [m["is_speech_final"] for m in finals] == [False] * (len(finals) - 1) + [True]
    assert all(m["end_ms"] - m["start_ms"] <= 15000 for m in finals)
    # Disjoint and in order; the silence of the pause at the split is in neither (spans are narrowed
    # to speech, asr_worker/span.py), and the second part's id is the cut.
    assert all(b["start_ms"] >= a["end_ms"] for a, b in zip(finals, finals[1:]))
    assert all(b["start_ms"] - a["end_ms"] <= 1000 for a, b in zip(finals, finals[1:]))
    words = [w for m in finals for w in m["words"]]
    assert all(a["start_ms"] <= b["start_ms"] and a["end_ms"] <= b["end_ms"] for a, b in zip(words, words[1:]))
    assert all(m["start_ms"] <= w["start_ms"] <= w["end_ms"] <= m["end_ms"] for m in finals for w in m["words"])
    text = " ".join(m["text"] for m in finals).lower()
    assert all(word in text for word in ("dashwood", "selfish", "amiable", "respectable")), text
