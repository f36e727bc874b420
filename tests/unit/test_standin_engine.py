"""The ``standin-sleep`` engine (benchmarks only): refused without the opt-in; with it, the
known text of the clip the audio covers after the configured sleep (a fake one here)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from asr_worker.__main__ import build_parser
from asr_worker.engines import DecodeRequest, load_engine, options_class
from asr_worker.engines.standin import StandinEngine, StandinOptions
from common.config import from_args
from common.errors import ConfigError
from common.records import SAMPLE_RATE

TEXTS = ("the first clip has these seven words", "a second clip of six words")


def clips() -> list[tuple[np.ndarray, str]]:
    """Two clips of noise standing in for speech, 2 s and 1.5 s, with their transcripts."""
    rng = np.random.default_rng(7)
    return [(rng.integers(-3000, 3000, int(seconds * SAMPLE_RATE)).astype(np.int16), text)
            for seconds, text in zip((2.0, 1.5), TEXTS)]


def utterance(pcm: np.ndarray, *, lead: float = 0.3) -> np.ndarray:
    """``pcm`` as the ASR stage hands it to an engine: float32, after ``lead`` s of digital silence."""
    return np.concatenate([np.zeros(int(lead * SAMPLE_RATE), np.int16), pcm]).astype(np.float32) / 32768.0


class FakeSleep:
    """Records each sleep; returns at once, or when ``gate`` is set."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.gate: asyncio.Event | None = None

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.gate is not None:
            await self.gate.wait()


OPTED_IN = StandinOptions(allow_standin_engine=True, standin_final_sec=0.4, standin_partial_sec=0.1,
                          standin_sec_per_audio_sec=0.05)


def request(audio: np.ndarray, *, final: bool, request_id: str = "r") -> DecodeRequest:
    return DecodeRequest(request_id=request_id, audio=audio, final=final)


def test_it_is_refused_without_the_opt_in():
    with pytest.raises(ConfigError, match="--allow-standin-engine"):
        load_engine("standin-sleep", StandinOptions(standin_clips="/nonexistent"))
    with pytest.raises(ConfigError, match="--allow-standin-engine"):
        StandinEngine(StandinOptions(), clips())


def test_the_worker_flags_opt_in_and_the_default_engine_is_not_the_stand_in():
    parser = build_parser()
    assert parser.parse_args([]).engine == "whisper"
    args = parser.parse_args(["--engine", "standin-sleep"])
    assert not from_args(options_class("standin-sleep"), args).allow_standin_engine
    args = parser.parse_args(["--engine", "standin-sleep", "--allow-standin-engine", "--standin-final-sec", "0.5"])
    options = from_args(options_class("standin-sleep"), args)
    assert options.allow_standin_engine and options.standin_final_sec == 0.5


def test_it_needs_its_clips():
    with pytest.raises(ConfigError, match="--standin-clips"):
        load_engine("standin-sleep", StandinOptions(allow_standin_engine=True))


async def test_a_final_is_the_clips_known_text_after_the_configured_sleep():
    sleep = FakeSleep()
    engine = StandinEngine(OPTED_IN, clips(), sleep=sleep)
    (first, _), (second, _) = clips()
    audio = utterance(first)  # the clip whole, with the VAD's pre-roll of silence and some padding
    audio = np.concatenate([audio, np.zeros(3200, np.float32)])
    hypothesis = await engine.transcribe(request(audio, final=True))
    assert hypothesis.text == TEXTS[0] and not hypothesis.no_speech
    assert sleep.slept == [pytest.approx(0.4 + 0.05 * len(audio) / SAMPLE_RATE)]
    assert engine.detokenize(list(hypothesis.token_ids)) == TEXTS[0]
    assert (await engine.transcribe(request(utterance(second, lead=0.0), final=True))).text == TEXTS[1]


async def test_a_partial_gets_the_share_of_words_its_audio_covers():
    sleep = FakeSleep()
    engine = StandinEngine(OPTED_IN, clips(), sleep=sleep)
    first = clips()[0][0]
    half = utterance(first[:SAMPLE_RATE])  # 1 s of the 2 s clip
    hypothesis = await engine.transcribe(request(half, final=False))
    assert hypothesis.text == "the first clip has"  # round(7 * 1/2) words
    assert sleep.slept == [pytest.approx(0.1 + 0.05 * len(half) / SAMPLE_RATE)]
    # Audio that starts inside the clip (the VAD split an utterance): the words of that part.
    tail = (await engine.transcribe(request(utterance(first[SAMPLE_RATE:], lead=0.0), final=True))).text
    assert tail == "these seven words"


async def test_audio_from_no_clip_or_silence_has_no_words():
    engine = StandinEngine(OPTED_IN, clips(), sleep=FakeSleep())
    noise = np.random.default_rng(1).integers(-3000, 3000, SAMPLE_RATE).astype(np.float32) / 32768.0
    for audio in (noise, np.zeros(SAMPLE_RATE, np.float32)):
        hypothesis = await engine.transcribe(request(audio, final=True))
        assert hypothesis.no_speech and hypothesis.text == ""


async def test_abort_ends_a_sleeping_decode():
    sleep = FakeSleep()
    sleep.gate = asyncio.Event()  # never set: the decode sleeps until aborted
    engine = StandinEngine(OPTED_IN, clips(), sleep=sleep)

    async def caller() -> str:
        try:
            await engine.transcribe(request(utterance(clips()[0][0]), final=True, request_id="x"))
        except asyncio.CancelledError:
            return "aborted"  # the decode's CancelledError; the caller's own task goes on
        return "decoded"

    decode = asyncio.create_task(caller())
    while not sleep.slept:
        await asyncio.sleep(0)
    await engine.abort("x")
    assert await decode == "aborted"
