"""gateway/features/speakers.py: a live call's kept audio, and a final's bounded wait for its speakers.

The diarizer is a stand-in here (its process and model are tested in tests/e2e/test_diarization.py):
what is checked is what the call does with its answer, its failure, or its silence.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from common.errors import ConfigError
from common.metrics import GatewayMetrics
from gateway.features.speakers import LiveSpeakers
from gateway.core import events
from gateway.core.config import SessionConfig
from gateway.diarization import online, pool


class StandIn:
    """Answers each request with ``speakers`` (one per word), or never (``hold``), or fails."""

    def __init__(self, *, hold: bool = False, fail: bool = False, loading: bool = False,
                 load_fails: bool = False) -> None:
        self.hold, self.fail, self.load_fails = hold, fail, load_fails
        self.requests: list[tuple[online.History, np.ndarray, list]] = []
        self.warmed = 0
        self.load = asyncio.Event()  # set: the model is loaded
        if not loading:
            self.load.set()
        self.load_waits: list[float] = []
        self.asked = asyncio.Event()  # a final waits for the load

    def warm(self) -> None:
        self.warmed += 1

    async def loaded(self, timeout: float) -> None:
        self.load_waits.append(timeout)
        self.asked.set()
        await asyncio.wait_for(self.load.wait(), timeout)
        if self.load_fails:
            raise pool.DiarizationFailed("the diarizer's process could not load its model")

    async def live(self, history, audio, words, *, deadline: float) -> online.Labelled:
        self.requests.append((history, audio, words))
        if self.hold:
            await asyncio.Event().wait()
        if self.fail:
            raise pool.DiarizationFailed("the diarizer's process died")
        after = online.History(np.zeros((1, 2), np.float32), np.zeros(1, int), 1)
        return online.Labelled([0] * len(words), [1.0] * len(words), after)


def _final(*words: tuple[int, int]) -> events.Final:
    return events.Final(channel=0, session_id="s", utterance_id="u", text="x", start_ms=0, end_ms=words[-1][1] + 300,
                        language="en", words=tuple(events.Word(text="w", start_ms=a, end_ms=b, confidence=0.9) for a, b in words), speech_final=True)


def _speakers(diarizer, **options) -> tuple[LiveSpeakers, GatewayMetrics]:
    metrics = GatewayMetrics(CollectorRegistry())
    return LiveSpeakers(diarizer, metrics=metrics, **{"wait": 0.2, "load_wait": 0.2, **options}), metrics


def test_the_ring_keeps_the_last_seconds_and_refuses_what_it_no_longer_has() -> None:
    speakers, _ = _speakers(StandIn(), keep_sec=1)
    audio = np.arange(40_000, dtype=np.int16)
    speakers.audio(0, [(0, audio[:10_000]), (10_000, audio[10_000:30_000]), (30_000, audio[30_000:])])
    assert speakers.clip(30_000, 40_000).tolist() == audio[30_000:].tolist()
    assert speakers.clip(24_000, 40_000).tolist() == audio[24_000:].tolist()  # wraps around the ring
    assert speakers.clip(23_999, 24_100) is None  # older than the 16 000 samples kept
    assert speakers.clip(39_000, 40_001) is None  # not received yet


async def test_a_final_gets_its_words_speakers_and_the_history_moves_on() -> None:
    diarizer = StandIn()
    speakers, metrics = _speakers(diarizer)
    assert diarizer.warmed == 1  # the process starts as the call opens
    speakers.audio(0, [(0, np.ones(48_000, np.int16))])
    labelled = await speakers.final(_final((500, 900), (1000, 1500)))
    assert labelled.speaker == 0 and [(w.speaker, w.speaker_confidence) for w in labelled.words] == [(0, 1.0)] * 2
    history, audio, words = diarizer.requests[0]
    assert len(audio) == 16_000 and words == [(0, 6400), (8000, 16_000)]  # the speech its words hold
    assert speakers.history.speakers == 1
    assert metrics.diarize_wait._sum.get() > 0


@pytest.mark.parametrize("diarizer, reason", [(StandIn(hold=True), "timeout"), (StandIn(fail=True), "failed"),
                                              (StandIn(), "audio_gone"), (StandIn(loading=True), "loading"),
                                              (StandIn(load_fails=True), "failed")])
async def test_a_final_that_cannot_have_speakers_in_time_goes_without_and_is_counted(diarizer, reason) -> None:
    speakers, metrics = _speakers(diarizer)
    if reason != "audio_gone":
        speakers.audio(0, [(0, np.ones(48_000, np.int16))])
    final = _final((500, 900), (1000, 1500))
    assert await asyncio.wait_for(speakers.final(final), 5) == final
    assert metrics.diarize_unlabelled.labels(reason=reason)._value.get() == 1
    assert speakers.history.speakers == 0  # a final without speakers adds nothing


async def test_a_final_waits_for_the_model_to_load_then_its_own_wait_begins() -> None:
    """The first diarized call after a gateway starts: its first final comes while the diarizer's process
    still loads its model. It waits for the load (bounded apart, load_wait), not within the 0.2 s wait of
    the diarizer's work, and gets its speakers."""
    diarizer = StandIn(loading=True)
    speakers, metrics = _speakers(diarizer, load_wait=600)
    speakers.audio(0, [(0, np.ones(48_000, np.int16))])
    labelling = asyncio.create_task(speakers.final(_final((500, 900), (1000, 1500))))
    await asyncio.wait_for(diarizer.asked.wait(), 5)  # the final is waiting for the load
    assert diarizer.requests == [] and not labelling.done()
    diarizer.load.set()  # loaded: now the final's request goes to the diarizer
    labelled = await asyncio.wait_for(labelling, 5)
    assert diarizer.load_waits == [600]
    assert [w.speaker for w in labelled.words] == [0, 0]
    assert sum(metrics.diarize_unlabelled.labels(reason=r)._value.get() for r in ("timeout", "loading")) == 0


def test_diarize_with_several_channels_is_refused() -> None:
    with pytest.raises(ConfigError, match="diarize=true needs one channel"):
        SessionConfig(channels=2, multichannel=True, diarize=True)


@pytest.mark.extra("diarize")
def test_diarizing_a_mix_of_channels_needs_words() -> None:
    mixed = SessionConfig(channels=2, multichannel=False, diarize=True)
    assert mixed.pipeline(denoise_default=False).asr.words


def test_the_diarizer_skips_a_request_past_its_deadline() -> None:
    # Run where the process would run it: no encoder needed, the deadline is checked first.
    assert pool.label_live(online.History.empty(), np.ones(16_000, np.int16), [(0, 100)], deadline=0.0) is None

