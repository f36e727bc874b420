"""The whisper engine on the bundled tiny.en: fitted encoder windows and batched decodes."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from asr_worker.engines import DecodeRequest
from asr_worker.engines.fallback import STEP as FALLBACK
from asr_worker.engines.fallback import FallbackPolicy
from asr_worker.engines.whisper import FULL_WINDOW, WhisperEngine, WhisperOptions, encoder_frames

pytestmark = pytest.mark.slow

SR = 16_000


def test_encoder_frames_leave_the_margin_in_steps_up_to_30_s():
    assert encoder_frames(100, margin=1000) == 1500  # 1 s of audio + 10 s -> 15 s
    assert encoder_frames(500, margin=1000) == 1500
    assert encoder_frames(501, margin=1000) == 2000
    assert encoder_frames(2900, margin=1000) == FULL_WINDOW
    assert encoder_frames(0, margin=0) == 500


@pytest.fixture(scope="module")
def engine():
    # float32: with int8 weights, CTranslate2's kernels on some CPUs (AVX-512 VNNI, seen on an AMD EPYC)
    # round a row of a batched encoder GEMM differently from the same row alone, and an ambiguous word
    # can flip ("old-sposed" / "old-spose"); what these tests check is the engine's batching, not that.
    eng = WhisperEngine(WhisperOptions(num_workers=1, max_batch=8, compute_type="float32"))
    yield eng
    asyncio.run(eng.close())


def requests(clips, seconds: float) -> list[DecodeRequest]:
    return [DecodeRequest(request_id=str(i), audio=audio[:int(seconds * SR)], final=True, language="en")
            for i, (audio, _) in enumerate(clips)]


def test_a_batch_decodes_each_request_as_it_would_alone(engine, clip_samples):
    batch = requests(clip_samples, 4.0)  # one window size for all: 4 s + the margin
    batch[1] = DecodeRequest(request_id="prefixed", audio=batch[1].audio, final=False, prefix="He was",
                             language="en")
    batch[2] = DecodeRequest(request_id="words", audio=batch[2].audio, final=True, word_timestamps=True,
                             language="en")
    together = engine.decoder.decode(batch)
    alone = [engine.decoder.decode([request])[0] for request in batch]
    assert [h.text for h in together] == [h.text for h in alone]
    assert all(h.text and not h.no_speech for h in together)
    assert together[1].text.startswith("He was")
    assert together[2].words and not together[0].words  # words only where asked


def test_the_full_window_path_and_long_audio_still_decode(engine, clip_samples):
    audio = np.concatenate([audio for audio, _ in clip_samples] * 2)[:35 * SR]
    long_audio = DecodeRequest(request_id="long", audio=audio, final=True, language="en")
    (hypothesis,) = engine.decoder.decode([long_audio])  # over 30 s: faster-whisper's own windows
    assert len(hypothesis.text.split()) > 60


def test_partials_take_the_narrower_window(engine, clip_samples, monkeypatch):
    """A final gets 10 s of padding after its audio, a partial 5 s (the default margins)."""
    widths = []
    encode = engine.decoder.model.encode

    def recording(features):
        widths.append(features.shape[-1])
        return encode(features)

    monkeypatch.setattr(engine.decoder.model, "encode", recording)
    audio = clip_samples[0][0][:SR]  # 1 s
    for final in (True, False):
        (hypothesis,) = engine.decoder.decode([DecodeRequest(request_id=str(final), audio=audio, final=final,
                                                            language="en")])
        assert hypothesis.text
    assert widths == [1500, 1000]  # 15 s and 10 s windows of 10 ms mel frames


async def test_a_recordings_decode_runs_in_a_child_at_the_lowest_cpu_priority(clip_samples):
    import os

    engine = WhisperEngine(WhisperOptions(num_workers=1))
    try:
        audio = clip_samples[1][0][:4 * SR]
        live = await engine.transcribe(DecodeRequest(request_id="live", audio=audio, final=True, language="en"))
        recording = await engine.transcribe(DecodeRequest(request_id="recording", audio=audio, final=True,
                                                          language="en", batch=True))
        assert recording.text == live.text and recording.text
        (child,) = engine._batch_child._processes
        assert os.getpriority(os.PRIO_PROCESS, child) == 19 and os.getpriority(os.PRIO_PROCESS, 0) < 19
        if os.path.exists("/proc/self/autogroup"):  # a scheduling group of its own, at the lowest priority
            with open(f"/proc/{child}/autogroup") as autogroup:
                assert autogroup.read().split()[-1] == "19"
    finally:
        await engine.close()
    assert not engine._batch_child._processes  # stopped with the engine


async def test_a_child_started_with_the_worker_loads_first_then_takes_the_lowest_priority(clip_samples):
    """Issue 45: a child started with the worker loads its model at the worker's priority (at nice 19 the
    load waited for the host's other work: ``bench.service_start --busy``), then takes nice 19 all the same."""
    import os

    engine = WhisperEngine(WhisperOptions(num_workers=1))
    try:
        await engine.start()
        (child,) = engine._batch_child._processes
        assert os.getpriority(os.PRIO_PROCESS, child) == 19
        if os.path.exists("/proc/self/autogroup"):
            with open(f"/proc/{child}/autogroup") as autogroup:
                assert autogroup.read().split()[-1] == "19"
        audio = clip_samples[1][0][:4 * SR]
        recording = await engine.transcribe(DecodeRequest(request_id="recording", audio=audio, final=True,
                                                          language="en", batch=True))
        assert recording.text
    finally:
        await engine.close()


def test_a_poor_final_is_decoded_again_with_beams_on_the_same_encoding(engine, clip_samples, monkeypatch):
    """The beam fallback (asr_worker/engines/fallback.py) on the real model: a live final it finds poor
    is decoded again with beams, over the encoder output of its greedy decode; partials and
    recordings' decodes stay greedy."""
    encodes = []
    encode = engine.decoder.model.encode

    def counting(features):
        encodes.append(features.shape[0])
        return encode(features)

    audio = clip_samples[1][0][:4 * SR]
    final, partial, batch = (DecodeRequest(request_id=kind, audio=audio, final=kind != "partial",
                                           batch=kind == "batch", language="en")
                             for kind in ("final", "partial", "batch"))
    (greedy, greedy_scores), = engine.decoder.decode_scored([final])
    (beam, beam_scores), = engine.decoder.decode_scored([final], beam_size=5)
    monkeypatch.setattr(engine.decoder.model, "encode", counting)
    # Under the greedy decode's score: decoded again, the better scored decode kept.
    monkeypatch.setattr(engine.decoder, "fallback", FallbackPolicy(logprob=greedy_scores.avg_logprob + 0.01))
    got = engine.decoder.decode([final, partial, batch])
    assert encodes == [3]  # one encode of the three windows, none for the second decode
    kept = "greedy" if greedy_scores.avg_logprob > beam_scores.avg_logprob else "beam"
    assert got[0].step(FALLBACK) == kept and got[0].text == (greedy if kept == "greedy" else beam).text
    assert [h.step(FALLBACK) for h in got[1:]] == ["", ""] and got[1].text == got[2].text == greedy.text
    # Above it, or with one beam: greedy only.
    for policy in (FallbackPolicy(logprob=greedy_scores.avg_logprob - 0.01), FallbackPolicy(beam_size=1, logprob=0.0)):
        monkeypatch.setattr(engine.decoder, "fallback", policy)
        (alone,) = engine.decoder.decode([final])
        assert alone.step(FALLBACK) == "" and alone.text == greedy.text
    # Every final: beams alone.
    monkeypatch.setattr(engine.decoder, "fallback", FallbackPolicy(logprob=0.0))
    (every,) = engine.decoder.decode([final])
    assert every.step(FALLBACK) == "beam" and every.text == beam.text
