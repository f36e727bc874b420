"""The speculative final in the ASR stage: decoded at the pause, used at the end, dropped on resume.

The stage runs in process with the recording stand-in for the Redis runner; the
engine is the real qwen3-vllm engine on the FAKE vLLM of tests/fakes (the GPU
boundary), whose ``gate`` holds every decode until the test releases it, so a
decode can be caught "in flight" without timing. The fake answers with the
length of the audio it heard, so each final shows which audio it decoded.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from asr_worker.engines import EngineOptions, qwen3_vllm
from asr_worker.stage import AsrStage, StreamingOptions
from common.metrics import AsrMetrics
from common.records import Audio, End, Record, SpeechEnd, SpeechPause, SpeechStart, Transcript, utterance_id
from common.stage import Session

from .fakes import fake_vllm
from .fakes.fake_tokenizer import FakeTokenizer
from .support import RecordingRunner

SR = 16_000
START = SR  # the utterance begins 1 s into the session
CHUNK = 1600
TIMEOUT = 10.0


def heard(request: fake_vllm.FakeRequest) -> str:
    """The fake's "transcript": how many samples of audio the decode was given."""
    return f"language English<asr_text>heard {len(request.audio)}"


@pytest.fixture
async def engine(tmp_path):
    eng = qwen3_vllm.load(EngineOptions(model=str(tmp_path)), api=fake_vllm, tokenizer=FakeTokenizer())
    await eng.start()
    eng._llm.responder = heard
    eng._llm.gate = asyncio.Event()  # every decode waits in the "GPU" until released
    yield eng
    await eng.close()


def fake(engine) -> fake_vllm.AsyncLLM:
    return engine._llm


def finals_requested(engine) -> list[fake_vllm.FakeRequest]:
    return [r for r in fake(engine).requests if r.sampling_params.max_tokens == EngineOptions().max_new_tokens]


async def until(predicate, what: str, timeout: float = TIMEOUT) -> None:
    """Yield to the event loop until ``predicate()`` holds (no wall-clock sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"not reached: {what}")
        await asyncio.sleep(0)


def audio_records(first_seq: int, offset: int, seconds: float) -> list[Audio]:
    rng = np.random.default_rng(offset)
    pcm = (3000 * rng.standard_normal(int(seconds * SR))).astype(np.int16)
    return [Audio(seq=first_seq + i, offset=offset + at, pcm=pcm[at:at + CHUNK].tobytes())
            for i, at in enumerate(range(0, len(pcm), CHUNK))]


def utterance(*, resume: bool) -> list[Record]:
    """SpeechStart, 1.2 s of audio, a pause at its end; then either the end, or more speech and a later end."""
    records: list[Record] = [SpeechStart(seq=0, start=START)]
    records += audio_records(1, START, 1.2)
    pause_end = START + int(1.2 * SR)
    records.append(SpeechPause(seq=len(records), start=START, end=pause_end))
    end = pause_end
    if resume:
        records += audio_records(len(records), pause_end, 0.8)
        end = pause_end + int(0.8 * SR)
    records.append(SpeechEnd(seq=len(records), start=START, end=end, reason="silence"))
    records.append(End(seq=len(records)))
    return records


class Worker:
    """One ASR stage owning the session (one epoch), fed records by entry id."""

    def __init__(self, engine, *, epoch: int) -> None:
        self.runner = RecordingRunner()
        self.registry = CollectorRegistry()
        self.stage = AsrStage(self.runner, engine, defaults=StreamingOptions(chunk_size_sec=30),
                              metrics=AsrMetrics(self.registry))
        self.session = Session(session_id="spec", stage="asr", epoch=epoch, token=f"w{epoch}:{epoch}", config={},
                               next_stage=None)
        self.session.state = self.stage.open(self.session, None)

    async def feed(self, records: list[Record], *, first: int = 0, wait: bool = True) -> None:
        """Hand over ``records`` as input entries ``first + 1``, ``first + 2`` ... (and let them be taken)."""
        await self.stage.process([(self.session, [(f"{first + i + 1}-0", r) for i, r in enumerate(records)])])
        queue = self.session.state.queue
        if wait:
            await until(lambda: queue.empty(), "input taken")

    def transcripts(self) -> list[Transcript]:
        return [r for r in self.runner.outputs() if isinstance(r, Transcript)]

    def speculative(self, outcome: str) -> float:
        return self.registry.get_sample_value("streamscribe_asr_speculative_decodes_total", {"outcome": outcome}) or 0

    async def close(self) -> None:
        await self.stage.close(self.session, "test over")


async def test_a_pause_starts_the_final_and_the_end_uses_it(engine):
    worker = Worker(engine, epoch=1)
    records = utterance(resume=False)
    pause = next(i for i, r in enumerate(records) if isinstance(r, SpeechPause))
    try:
        await worker.feed(records[:pause])
        await until(lambda: len(fake(engine).in_flight) == 1, "a partial in flight")
        (partial,) = fake(engine).in_flight
        await worker.feed(records[pause:pause + 1], first=pause)
        # The final decode is in flight at the pause; the partial before it was aborted, not awaited.
        await until(lambda: len(finals_requested(engine)) == 1 and finals_requested(engine)[0].request_id
                    in fake(engine).in_flight, "speculative final in flight")
        assert partial in fake(engine).aborted and partial not in fake(engine).in_flight
        assert not worker.transcripts()
        await worker.feed(records[pause + 1:], first=pause + 1, wait=False)
        fake(engine).gate.set()
        assert await asyncio.wait_for(worker.runner.finished.wait(), TIMEOUT)
    finally:
        await worker.close()
    (final,) = [t for t in worker.transcripts() if t.final]
    assert final.text == f"heard {int(1.2 * SR)}" and final.speech_final
    assert final.utterance_id == utterance_id("spec", START) and final.end == START + int(1.2 * SR)
    assert len(finals_requested(engine)) == 1  # no second decode at the end
    # Committed as the normal final path does: with the checkpoint past the speech end.
    (commit,) = [c for c in worker.runner.commits if final in c[0]]
    assert commit[1] == f"{pause + 2}-0"
    assert worker.speculative("used") == 1 and worker.speculative("wasted") == 0


async def test_speech_resuming_after_the_pause_drops_the_speculative_result(engine):
    worker = Worker(engine, epoch=1)
    records = utterance(resume=True)
    pause = next(i for i, r in enumerate(records) if isinstance(r, SpeechPause))
    try:
        await worker.feed(records[:pause + 1])
        await until(lambda: len(finals_requested(engine)) == 1, "speculative final requested")
        speculative = finals_requested(engine)[0].request_id
        await worker.feed(records[pause + 1:pause + 2], first=pause + 1)  # speech resumes
        assert speculative in fake(engine).aborted
        assert worker.speculative("wasted") == 1
        await worker.feed(records[pause + 2:], first=pause + 2, wait=False)
        fake(engine).gate.set()
        assert await asyncio.wait_for(worker.runner.finished.wait(), TIMEOUT)
    finally:
        await worker.close()
    (final,) = [t for t in worker.transcripts() if t.final]
    # The final covers the resumed speech too: 2 s, not the 1.2 s heard at the pause.
    assert final.text == f"heard {2 * SR}" and final.end == START + 2 * SR
    assert worker.speculative("used") == 0 and worker.speculative("wasted") == 1


async def test_a_takeover_mid_speculation_replays_and_yields_exactly_one_final(engine):
    records = utterance(resume=False)
    pause = next(i for i, r in enumerate(records) if isinstance(r, SpeechPause))
    first = Worker(engine, epoch=1)
    await first.feed(records[:pause + 1])
    await until(lambda: len(finals_requested(engine)) == 1, "speculative final requested")
    # The worker loses the session while its speculative final decodes.
    await first.close()
    await until(lambda: not fake(engine).in_flight, "the old worker's decodes aborted")
    assert finals_requested(engine)[0].request_id in fake(engine).aborted
    # The next owner replays from the last checkpoint (none yet: from the start) and gets the rest.
    consumed = [c[1] for c in first.runner.commits if c[1]]
    assert consumed == []
    second = Worker(engine, epoch=2)
    try:
        await second.feed(records, wait=False)
        fake(engine).gate.set()
        assert await asyncio.wait_for(second.runner.finished.wait(), TIMEOUT)
    finally:
        await second.close()
    finals = [t for t in first.transcripts() + second.transcripts() if t.final]
    assert [(t.utterance_id, t.text) for t in finals] == [(utterance_id("spec", START), f"heard {int(1.2 * SR)}")]
    assert second.speculative("used") == 1
    # Same record, same seq as an uninterrupted worker writes.
    reference = Worker(engine, epoch=3)
    try:
        await reference.feed(records)
        assert await asyncio.wait_for(reference.runner.finished.wait(), TIMEOUT)
    finally:
        await reference.close()
    assert [t for t in reference.transcripts() if t.final] == finals


async def test_an_end_elsewhere_than_the_pause_decodes_afresh(engine):
    """A forced split (or any end that differs from the pause's) never takes the speculative result."""
    worker = Worker(engine, epoch=1)
    records = utterance(resume=False)
    pause = next(i for i, r in enumerate(records) if isinstance(r, SpeechPause))
    cut = START + SR
    records[pause + 1] = SpeechEnd(seq=pause + 1, start=START, end=cut, reason="max_length")
    try:
        await worker.feed(records, wait=False)
        fake(engine).gate.set()
        assert await asyncio.wait_for(worker.runner.finished.wait(), TIMEOUT)
    finally:
        await worker.close()
    (final,) = [t for t in worker.transcripts() if t.final]
    assert final.text == f"heard {SR}" and not final.speech_final
    assert worker.speculative("wasted") == 1 and worker.speculative("used") == 0


async def test_the_first_partial_decodes_a_short_window(engine):
    """The first partial starts as soon as ``first_partial_sec`` of audio is in, not a whole chunk."""
    fake(engine).gate.set()
    worker = Worker(engine, epoch=1)  # chunk_size_sec=30: only the first partial is due
    try:
        await worker.feed([SpeechStart(seq=0, start=START), *audio_records(1, START, 0.3)])
        await until(lambda: any(not t.final for t in worker.transcripts()), "first partial")
    finally:
        await worker.close()
    (partial,) = [t for t in worker.transcripts() if not t.final]
    assert partial.end - partial.start < 0.3 * SR + CHUNK


async def test_the_vad_stage_pauses_before_each_silence_end_with_the_same_end(clips):
    """Real Silero on a real clip: a pause, then nothing but the end, which says the pause's end."""
    import soundfile

    from common.endpointing import EndpointOptions
    from common.metrics import VadMetrics
    from vad_worker.model import SileroVad
    from vad_worker.stage import VadStage

    speech, _ = soundfile.read(str(clips[1][0]), dtype="int16")
    pcm = np.concatenate([np.zeros(8000, np.int16), speech, np.zeros(SR, np.int16), speech, np.zeros(SR, np.int16)])
    records = [Audio(seq=i, offset=at, pcm=pcm[at:at + CHUNK].tobytes()) for i, at in enumerate(range(0, len(pcm), CHUNK))]
    records.append(End(seq=len(records)))
    runner = RecordingRunner()
    stage = VadStage(runner, SileroVad(), defaults=EndpointOptions(), metrics=VadMetrics(CollectorRegistry()))
    session = Session(session_id="vad-pause", stage="vad", epoch=1, token="w:1", config={}, next_stage="asr")
    session.state = stage.open(session, None)
    items = [(f"{i + 1}-0", r) for i, r in enumerate(records)]
    try:
        for i in range(0, len(items), 5):
            await stage.process([(session, items[i:i + 5])])
    finally:
        await stage.shutdown()
    out = runner.outputs()
    ends = [i for i, r in enumerate(out) if isinstance(r, SpeechEnd) and r.reason == "silence"]
    assert len(ends) >= 2
    for i in ends:
        pause = out[i - 1]
        assert isinstance(pause, SpeechPause) and (pause.start, pause.end) == (out[i].start, out[i].end)
    assert [r.seq for r in out] == list(range(len(out)))


async def test_whisper_abort_drops_a_queued_decode_and_lets_a_running_one_finish(clips):
    """CTranslate2 cannot stop a running decode; a queued one must not take a thread at all."""
    import soundfile

    from asr_worker.engines import load_engine
    from asr_worker.engines.base import DecodeRequest

    engine = load_engine("whisper", EngineOptions(cpu_threads=1, num_workers=1))
    try:
        audio, _ = soundfile.read(str(clips[1][0]), dtype="float32")
        first = asyncio.create_task(engine.transcribe(DecodeRequest(request_id="a", audio=audio, final=True)))
        second = asyncio.create_task(engine.transcribe(DecodeRequest(request_id="b", audio=audio, final=False)))
        await until(lambda: "b" in engine._queued and engine._queued["a"].running(), "a running, b queued")
        await engine.abort("b")  # queued behind "a" on the one thread
        await engine.abort("a")  # running: it finishes all the same
        with pytest.raises(asyncio.CancelledError):
            await second
        assert (await asyncio.wait_for(first, 60)).text
        assert not engine._queued
    finally:
        await engine.close()
