"""Word timings and confidence with the real whisper tiny.en (bundled) on LibriVox clips.

The engine and the ASR stage run in process (the stage with a recording stand-in
for the Redis runner); the reference is an offline faster-whisper alignment of
the same clip (``word_timestamps=True``, default decoding options).
"""

from __future__ import annotations

import asyncio
import difflib
import statistics

import numpy as np
import pytest
import soundfile
from prometheus_client import CollectorRegistry

from asr_worker.engines import load_engine
from asr_worker.engines.whisper import WhisperOptions
from asr_worker.engines.base import DecodeRequest
from asr_worker.engines.whisper import words_of
from asr_worker.engines.whisper_models import resolve_model
from asr_worker.stage import AsrStage, StreamingOptions
from common.aio import wait_event
from common.metrics import AsrMetrics
from common.pipeline_config import AsrConfig, PipelineConfig
from common.records import Audio, End, SpeechEnd, SpeechStart, Transcript

from tests.kit.support import RecordingRunner, normalise, word_errors

SR = 16_000
TIMEOUT = 120.0  # tiny.en on a shared CPU


@pytest.fixture(scope="module")
def engine():
    engine = load_engine("whisper", WhisperOptions(cpu_threads=1, num_workers=1))
    yield engine
    asyncio.run(engine.close())


@pytest.fixture(scope="module")
def offline():
    """Offline alignment of a clip: [(word, start s, end s)] from a plain faster-whisper run."""
    from faster_whisper import WhisperModel

    model = WhisperModel(resolve_model("tiny.en").path, device="cpu", compute_type="int8", cpu_threads=1)

    def align(audio: np.ndarray) -> list[tuple[str, float, float]]:
        segments, _ = model.transcribe(audio, language="en", word_timestamps=True)
        return [(w.text, w.start, w.end) for w in words_of(list(segments))]

    return align


def read(path) -> np.ndarray:
    audio, rate = soundfile.read(str(path), dtype="float32")
    assert rate == SR
    return audio


async def test_engine_times_words_only_when_asked(engine, clips):
    # Trailing silence as the VAD leaves it: whisper must not decode it again once words are timed.
    audio = np.concatenate([read(clips[2][0]), np.zeros(int(0.3 * SR), np.float32)])
    timed = await engine.transcribe(DecodeRequest(request_id="w1", audio=audio, final=True, word_timestamps=True))
    plain = await engine.transcribe(DecodeRequest(request_id="w2", audio=audio, final=True))
    assert plain.words == () and timed.words
    # Timestamp mode may spell a word differently ("coldhearted"); decoding the trailing
    # silence again would add a made-up sentence ("We will see you next time.").
    assert word_errors(plain.text, timed.text)[0] <= 2, (plain.text, timed.text)
    assert " ".join(w.text for w in timed.words) == timed.text  # hyphenated words joined back
    starts = [w.start for w in timed.words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= len(audio) / SR + 0.02 for w in timed.words)
    assert all(0.0 < w.probability <= 1.0 for w in timed.words)
    for hypothesis in (timed, plain):
        assert 0.0 < hypothesis.confidence <= 1.0
    assert timed.confidence == pytest.approx(sum(w.probability for w in timed.words) / len(timed.words))


async def test_confidence_follows_the_audio(engine, clips):
    """Not a constant: clean speech scores higher than the same speech buried in noise."""
    audio = read(clips[0][0])
    noisy = audio + np.random.default_rng(3).normal(0, 0.03, len(audio)).astype(np.float32)
    clean = await engine.transcribe(DecodeRequest(request_id="c1", audio=audio, final=True))
    buried = await engine.transcribe(DecodeRequest(request_id="c2", audio=noisy, final=True))
    assert clean.confidence > buried.confidence


async def stream_utterance(engine, audio: np.ndarray, *, start: int, words: bool = False,
                           defaults: StreamingOptions = StreamingOptions()) -> list[Transcript]:
    """One utterance at sample ``start`` of session audio through the ASR stage; its transcripts."""
    runner = RecordingRunner(lambda r: AsrStage(r, engine, defaults=defaults, metrics=AsrMetrics(CollectorRegistry())))
    stage = runner.stage
    session = runner.open("words", config=PipelineConfig(asr=AsrConfig(words=words)))
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    records = [SpeechStart(seq=0, start=start)]
    records += [Audio(seq=len(records) + i, offset=start + at, pcm=pcm[at:at + 1600].tobytes())
                for i, at in enumerate(range(0, len(pcm), 1600))]
    records += [SpeechEnd(seq=len(records), start=start, end=start + len(pcm), reason="silence")]
    records += [End(seq=len(records))]
    try:
        await stage.process([(session, [(f"{i + 1}-0", r) for i, r in enumerate(records)])])
        assert await wait_event(runner.finished, TIMEOUT), "the session did not end"
    finally:
        await stage.close(session, "test over")
    return [r for r in runner.outputs() if isinstance(r, Transcript)]


async def test_final_words_are_in_session_time_and_match_an_offline_alignment(engine, offline, clips):
    speech = read(clips[0][0])
    lead = int(0.3 * SR)  # pre-roll silence inside the utterance, as the VAD sends it
    audio = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(int(0.2 * SR), np.float32)])
    start = 5 * SR  # the utterance begins 5 s into the session
    transcripts = await stream_utterance(engine, audio, start=start, words=True)

    finals = [t for t in transcripts if t.final]
    assert len(finals) == 1
    final = finals[0]
    assert all(t.words == () for t in transcripts if not t.final)  # partials: text only
    assert final.words and 0.0 < final.confidence <= 1.0
    starts = [w.start for w in final.words]
    assert starts == sorted(starts)
    assert all(final.start <= w.start <= w.end <= final.end for w in final.words)

    reference = offline(speech)
    ours = [(w.text, (w.start - start - lead) / SR) for w in final.words]
    # The two decodes see different audio (ours has the pre-roll and the tail) and may differ by a
    # word at an edge (faster-whisper 1.2.1 offline drops the leading "And"): compare the timings
    # of the words both found, in order, and allow two words of difference.
    our_words = [" ".join(normalise(t)) for t, _ in ours]
    their_words = [" ".join(normalise(t)) for t, _, _ in reference]
    matcher = difflib.SequenceMatcher(a=our_words, b=their_words, autojunk=False)
    pairs = [(ours[block.a + k][1], reference[block.b + k][1])
             for block in matcher.get_matching_blocks() for k in range(block.size)]
    assert len(pairs) >= max(len(our_words), len(their_words)) - 2, (our_words, their_words)
    errors = [abs(a - b) for a, b in pairs]
    assert statistics.median(errors) <= 0.1, errors
    assert max(errors) <= 0.5, errors


async def test_without_words_finals_carry_confidence_only(engine, clips):
    transcripts = await stream_utterance(engine, read(clips[1][0]), start=0,
                                       defaults=StreamingOptions(chunk_size_sec=30))
    finals = [t for t in transcripts if t.final]
    assert len(finals) == 1 and finals[0].words == ()
    assert 0.0 < finals[0].confidence <= 1.0
