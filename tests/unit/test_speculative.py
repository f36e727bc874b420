"""The speculative final in the ASR stage: decoded at the pause, used at the end, dropped on resume;
sent at once as an early final (eager, or when its text ends a sentence), with the rest of the
VAD's utterance split off as an utterance of its own, the same way after a takeover.

The stage runs in process with the recording stand-in for the Redis runner; the
engine is the real qwen3-vllm engine on the FAKE vLLM of tests/kit/fakes (the GPU
boundary), whose ``gate`` holds every decode until the test releases it, so a
decode can be caught "in flight" without timing. The fake answers with the
length of the audio it heard, so each final shows which audio it decoded.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from asr_worker.engines import qwen3_vllm
from asr_worker.engines.qwen3_vllm import Qwen3VllmOptions
from asr_worker.engines.whisper import WhisperOptions
from asr_worker.core import Head, ends_sentence
from asr_worker.stage import AsrStage, StreamingOptions
from common.metrics import AsrMetrics
from common.pipeline_config import AsrConfig, PipelineConfig
from common.records import Audio, End, Record, SpeechEnd, SpeechPause, SpeechStart, Transcript, utterance_id

from tests.kit.fakes import fake_vllm
from tests.kit.fakes.fake_tokenizer import FakeTokenizer
from tests.kit.support import RecordingRunner

SR = 16_000
START = SR  # the utterance begins 1 s into the session
CHUNK = 1600
TIMEOUT = 10.0


def heard(request: fake_vllm.FakeRequest) -> str:
    """The fake's "transcript": how many samples of audio the decode was given."""
    return f"language English<asr_text>heard {len(request.audio)} and"


@pytest.fixture
async def engine(tmp_path):
    eng = qwen3_vllm.load(Qwen3VllmOptions(model=str(tmp_path)), api=fake_vllm, tokenizer=FakeTokenizer())
    await eng.start()
    eng._llm.responder = heard
    eng._llm.gate = asyncio.Event()  # every decode waits in the "GPU" until released
    yield eng
    await eng.close()


def fake(engine) -> fake_vllm.AsyncLLM:
    return engine._llm


def finals_requested(engine) -> list[fake_vllm.FakeRequest]:
    return [r for r in fake(engine).requests if r.sampling_params.max_tokens == Qwen3VllmOptions().max_new_tokens]


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

    def __init__(self, engine, *, epoch: int, config: AsrConfig = AsrConfig(), state: bytes | None = None,
                 chunk_size_sec: float = 30, priority: str = "live", sentence_confidence: float = 0.0) -> None:
        self.registry = CollectorRegistry()
        defaults = StreamingOptions(chunk_size_sec=chunk_size_sec, sentence_confidence=sentence_confidence,
                                    sentence_confidence_skip=())  # the gate in every language
        self.runner = RecordingRunner(lambda r: AsrStage(r, engine, defaults=defaults, metrics=AsrMetrics(self.registry)))
        self.stage = self.runner.stage
        self.session = self.runner.open("spec", config=PipelineConfig(asr=config, priority=priority), epoch=epoch,
                                        state=state)

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

    async def run(self, records: list[Record], engine) -> None:
        """Feed all of ``records`` with the engine's decodes let through, until the session ends; then close."""
        try:
            await self.feed(records, wait=False)
            fake(engine).gate.set()
            assert await asyncio.wait_for(self.runner.finished.wait(), TIMEOUT)
        finally:
            await self.close()


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
    assert final.text == f"heard {int(1.2 * SR)} and" and final.speech_final
    assert final.utterance_id == utterance_id("spec", START) and final.end == START + int(1.2 * SR)
    assert len(finals_requested(engine)) == 1  # no second decode at the end
    # Committed as the normal final path does: with the checkpoint past the speech end.
    (commit,) = [c for c in worker.runner.commits if final in c[0]]
    assert commit[1] == f"{pause + 2}-0"
    assert worker.speculative("used") == 1 and worker.speculative("wasted") == 0
    # The VAD's end goes on after the final (the gateway's analytics time speech by it).
    assert [(r.start, r.end, r.reason) for r in commit[0] if isinstance(r, SpeechEnd)] == [
        (START, START + int(1.2 * SR), "silence")]


async def test_speech_resuming_after_the_pause_drops_the_speculative_result(engine):
    # Without the sentence endpoint: with it, the decode decides (see the early finals below).
    worker = Worker(engine, epoch=1, config=AsrConfig(sentence_endpoint=False))
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
    assert final.text == f"heard {2 * SR} and" and final.end == START + 2 * SR
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
    await second.run(records, engine)
    finals = [t for t in first.transcripts() + second.transcripts() if t.final]
    assert [(t.utterance_id, t.text) for t in finals] == [(utterance_id("spec", START), f"heard {int(1.2 * SR)} and")]
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
    assert final.text == f"heard {SR} and" and not final.speech_final
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


async def test_a_partial_decodes_the_audio_there_when_it_was_asked_for(engine):
    """The session goes on appending audio before a partial's task runs; the partial decodes what
    was there when it was started, so its span never reaches into speech taken after it (after
    a pause: speech that an early final may yet give to the next utterance)."""
    fake(engine).gate.set()
    worker = Worker(engine, epoch=1)  # chunk_size_sec=30: only the first partial is due
    try:
        await worker.feed([SpeechStart(seq=0, start=START), *audio_records(1, START, 1.2)])  # taken at once
        await until(lambda: any(not t.final for t in worker.transcripts()), "first partial")
    finally:
        await worker.close()
    (partial,) = [t for t in worker.transcripts() if not t.final]
    assert partial.end - partial.start < 0.25 * SR + CHUNK  # not the 1.2 s taken meanwhile


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
    runner = RecordingRunner(lambda r: VadStage(r, SileroVad(), defaults=EndpointOptions(),
                                                metrics=VadMetrics(CollectorRegistry())))
    stage = runner.stage
    session = runner.open("vad-pause", next_stage="asr")
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


@pytest.mark.extra("whisper")
async def test_whisper_abort_drops_a_queued_decode_and_lets_a_running_one_finish(clips):
    """CTranslate2 cannot stop a running decode; a queued one must not take a thread at all."""
    import soundfile

    from asr_worker.engines import load_engine
    from asr_worker.engines.base import DecodeRequest

    # One thread taking one request at a time: "b" waits in the queue while "a" runs.
    engine = load_engine("whisper", WhisperOptions(cpu_threads=1, num_workers=1, max_batch=1))
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


# -- early finals --------------------------------------------------------------------------------

PAUSE_END = START + int(1.2 * SR)
RESUMED_END = PAUSE_END + int(0.8 * SR)


def sentence(request: fake_vllm.FakeRequest) -> str:
    return f"language English<asr_text>Heard {len(request.audio)}."


def long_sentence(request: fake_vllm.FakeRequest) -> str:
    return f"language English<asr_text>I have heard {len(request.audio)} samples."


def recorded_requests(engine, monkeypatch) -> list:
    """The decode requests the engine gets from here on, in order."""
    requests = []
    transcribe = engine.transcribe

    async def recording(request):
        requests.append(request)
        return await transcribe(request)

    monkeypatch.setattr(engine, "transcribe", recording)
    return requests


async def test_partials_ask_to_go_first_until_the_utterance_has_words(engine, monkeypatch):
    requests = recorded_requests(engine, monkeypatch)
    fake(engine).gate.set()
    worker = Worker(engine, epoch=1, chunk_size_sec=0.5)
    records = utterance(resume=False)
    pause = next(i for i, r in enumerate(records) if isinstance(r, SpeechPause))
    try:
        await worker.feed(records[:4])  # the start and 0.3 s: the first partial's window
        await until(lambda: any(t.text for t in worker.transcripts()), "a first partial with words")
        await worker.feed(records[4:pause], first=4)  # 0.9 s more: the next partial
        await until(lambda: len(requests) >= 2, "a second partial requested")
    finally:
        await worker.close()
    assert [(r.final, r.first_words) for r in requests[:2]] == [(False, True), (False, False)]


def finals(worker: Worker) -> list[tuple[str, str, bool, int, int]]:
    return [(t.utterance_id, t.text, t.speech_final, t.start, t.end) for t in worker.transcripts() if t.final]


async def run_through(engine, config: AsrConfig, *, resume: bool, early: bool = True,
                      sentence_confidence: float = 0.0) -> tuple[Worker, int]:
    """One utterance: feed the records up to the pause, let the speculative decode end and its
    early final go out (``early``; else check that none did once its outcome was applied),
    then feed the rest. Returns the worker and the pause's index."""
    worker = Worker(engine, epoch=1, config=config, sentence_confidence=sentence_confidence)
    records = utterance(resume=resume)
    pause = next(i for i, r in enumerate(records) if isinstance(r, SpeechPause))
    try:
        await worker.feed(records[:pause + 1])
        await until(lambda: len(finals_requested(engine)) == 1, "speculative final requested")
        fake(engine).gate.set()
        if early:
            await until(lambda: any(t.final for t in worker.transcripts()), "early final sent")
        else:
            speculation = worker.session.state.speculation
            await until(lambda: speculation.task.done(), "speculative decode ended")
            await asyncio.sleep(0)  # a yield: its done callbacks (its outcome, if wanted) go before more input
            await until(lambda: worker.session.state.queue.empty(), "its outcome applied")
            assert not any(t.final for t in worker.transcripts())
        await worker.feed(records[pause + 1:], first=pause + 1, wait=False)
        assert await asyncio.wait_for(worker.runner.finished.wait(), TIMEOUT)
    finally:
        await worker.close()
    return worker, pause


def test_ends_sentence():
    assert ends_sentence("How can I help you?") and ends_sentence("That's it.") and ends_sentence('He said "no!"')
    assert not ends_sentence("and then") and not ends_sentence("He was...") and not ends_sentence("Well…")
    assert not ends_sentence("") and not ends_sentence("   ")


async def test_an_eager_final_comes_at_the_pause_and_the_end_confirms_it_with_an_empty_final(engine):
    worker, pause = await run_through(engine, AsrConfig(eager_finals=True), resume=False)
    assert finals(worker) == [
        (utterance_id("spec", START), f"heard {int(1.2 * SR)} and", False, START, PAUSE_END),  # eager: the turn may go on
        (utterance_id("spec", PAUSE_END), "", True, PAUSE_END, PAUSE_END),  # the endpoint: the turn is over
    ]
    (early,) = [c for c in worker.runner.commits if any(isinstance(r, Transcript) and r.final and r.text
                                                        for r in c[0])]
    assert early[1] == f"{pause + 1}-0" and Head.decode(early[2]) == Head(START, PAUSE_END, False)
    assert len(finals_requested(engine)) == 1


async def test_speech_resuming_after_an_eager_final_is_an_utterance_of_its_own(engine):
    worker, _ = await run_through(engine, AsrConfig(eager_finals=True), resume=True)
    assert finals(worker) == [
        (utterance_id("spec", START), f"heard {int(1.2 * SR)} and", False, START, PAUSE_END),
        (utterance_id("spec", PAUSE_END), f"heard {int(0.8 * SR)} and", True, PAUSE_END, RESUMED_END),
    ]
    # One VAD utterance, one end passed on: the early final did not end it.
    assert [(r.start, r.end) for r in worker.runner.outputs() if isinstance(r, SpeechEnd)] == [(START, RESUMED_END)]


async def test_a_pause_after_a_complete_sentence_ends_the_utterance(engine):
    fake(engine).responder = sentence
    worker, _ = await run_through(engine, AsrConfig(sentence_endpoint=True), resume=False)
    # One final, at the pause, that ends the turn; the VAD's endpoint adds nothing.
    assert finals(worker) == [(utterance_id("spec", START), f"Heard {int(1.2 * SR)}.", True, START, PAUSE_END)]
    assert worker.registry.get_sample_value("streamscribe_asr_early_finals_total", {"kind": "sentence"}) == 1


@pytest.mark.parametrize("responder, config", [
    (heard, AsrConfig(sentence_endpoint=True)),  # "heard N": no full stop
    (sentence, AsrConfig(sentence_endpoint=False)),  # a sentence, but the session turned the option off
])
async def test_an_unfinished_sentence_or_the_option_off_waits_for_the_endpoint(engine, responder, config):
    fake(engine).responder = responder
    worker, _ = await run_through(engine, config, resume=False, early=False)
    (final,) = finals(worker)
    assert final[0] == utterance_id("spec", START) and final[2:] == (True, START, PAUSE_END)
    assert len(finals_requested(engine)) == 1  # the endpoint used the speculative decode
    assert worker.registry.get_sample_value("streamscribe_asr_early_finals_total", {"kind": "sentence"}) is None


@pytest.mark.parametrize("certainty, early, responder", [
    (0.5, False, long_sentence), (0.9, True, long_sentence),
    (0.5, True, sentence),  # "Heard N.": two words, a short reply, ends at its pause however unsure
])
async def test_a_long_sentence_the_recogniser_is_unsure_of_waits_for_the_endpoint(engine, certainty, early, responder):
    """``sentence_confidence`` 0.7: a sentence of more than ``sentence_short_words`` words decoded
    with every token at probability 0.5 is not ended at the pause (the speech after it may be the
    context that fixes it); at 0.9 it is. A short one is whatever its confidence: whisper is rarely
    sure of "Hi.", and short replies are the turns a call is made of."""
    fake(engine).responder = responder
    fake(engine).token_logprob = lambda token: math.log(certainty)
    worker, _ = await run_through(engine, AsrConfig(sentence_endpoint=True), resume=True, early=early,
                                  sentence_confidence=0.7)
    text = responder.__name__ == "sentence" and "Heard {}." or "I have heard {} samples."
    if early:
        assert [f[1] for f in finals(worker)] == [text.format(int(1.2 * SR)), text.format(int(0.8 * SR))]
    else:  # one final for the whole utterance, at the VAD's end
        assert [f[1:] for f in finals(worker)] == [(text.format(int(2.0 * SR)), True, START, RESUMED_END)]
    assert worker.registry.get_sample_value("streamscribe_asr_early_finals_total", {"kind": "sentence"}) == (
        1 if early else None)


@pytest.mark.parametrize("responder", [sentence, heard])
async def test_speech_resuming_during_the_decode_lets_the_decode_decide(engine, responder):
    """Speech resumes while the pause's decode is still running: with the sentence endpoint the
    decode decides when it ends, and splits the utterance as it would have had it ended first (a
    sentence: an early final at the pause, the rest an utterance of its own), whichever came
    first. Not a sentence: dropped, one final for all of it."""
    fake(engine).responder = responder
    worker = Worker(engine, epoch=1, config=AsrConfig(sentence_endpoint=True))
    records = utterance(resume=True)
    pause = next(i for i, r in enumerate(records) if isinstance(r, SpeechPause))
    try:
        await worker.feed(records[:pause + 2])  # the pause, and speech resuming before the decode ends
        await until(lambda: len(finals_requested(engine)) == 1, "speculative final requested")
        speculative = finals_requested(engine)[0].request_id
        assert speculative not in fake(engine).aborted and not worker.transcripts()
        await worker.feed(records[pause + 2:], first=pause + 2, wait=False)
        fake(engine).gate.set()
        assert await asyncio.wait_for(worker.runner.finished.wait(), TIMEOUT)
    finally:
        await worker.close()
    if responder is sentence:
        assert finals(worker) == [
            (utterance_id("spec", START), f"Heard {int(1.2 * SR)}.", True, START, PAUSE_END),
            (utterance_id("spec", PAUSE_END), f"Heard {int(0.8 * SR)}.", True, PAUSE_END, RESUMED_END),
        ]
        assert worker.speculative("used") == 1
        # The early final's checkpoint is before the resumed speech: a replay splits the same way.
        (early,) = [c for c in worker.runner.commits if any(isinstance(r, Transcript) and r.final for r in c[0])
                    and Head.decode(c[2])]
        assert early[1] == f"{pause + 1}-0" and Head.decode(early[2]) == Head(START, PAUSE_END, True)
    else:
        assert finals(worker) == [(utterance_id("spec", START), f"heard {2 * SR} and", True, START, RESUMED_END)]
        assert worker.speculative("wasted") == 1


@pytest.mark.parametrize("responder", [sentence, heard])
async def test_speech_resuming_during_the_decode_is_taken_while_it_runs(engine, responder):
    """The pause's decode is not waited for when speech resumes: the input goes on being taken
    (at 8 calls a wait there held each session's input behind the decode queue), and the decode
    still decides whenever it ends: the resumed speech is carried over to the rest (a sentence)
    or stays in the utterance (not one), the checkpoint of the early final before it."""
    fake(engine).responder = responder
    worker = Worker(engine, epoch=1, config=AsrConfig(sentence_endpoint=True))
    records = utterance(resume=True)
    pause = next(i for i, r in enumerate(records) if isinstance(r, SpeechPause))
    end = next(i for i, r in enumerate(records) if isinstance(r, SpeechEnd))
    try:
        await worker.feed(records[:pause + 1])
        await until(lambda: len(finals_requested(engine)) == 1, "speculative final requested")
        await worker.feed(records[pause + 1:end], first=pause + 1)  # all the resumed speech is taken
        assert not worker.transcripts() and len(finals_requested(engine)) == 1  # no partial meanwhile
        fake(engine).gate.set()
        if responder is sentence:
            await until(lambda: any(t.final for t in worker.transcripts()), "early final sent")
        await worker.feed(records[end:], first=end, wait=False)
        assert await asyncio.wait_for(worker.runner.finished.wait(), TIMEOUT)
    finally:
        await worker.close()
    if responder is sentence:
        assert finals(worker) == [
            (utterance_id("spec", START), f"Heard {int(1.2 * SR)}.", True, START, PAUSE_END),
            (utterance_id("spec", PAUSE_END), f"Heard {int(0.8 * SR)}.", True, PAUSE_END, RESUMED_END),
        ]
        (early,) = [c for c in worker.runner.commits if any(isinstance(r, Transcript) and r.final for r in c[0])
                    and Head.decode(c[2])]
        assert early[1] == f"{pause + 1}-0" and Head.decode(early[2]) == Head(START, PAUSE_END, True)
    else:
        assert finals(worker) == [(utterance_id("spec", START), f"heard {2 * SR} and", True, START, RESUMED_END)]
        assert worker.speculative("wasted") == 1


async def test_a_takeover_after_an_early_final_splits_the_replay_the_same_way(engine):
    """The next owner restores the head from the checkpoint written with the early final:
    the replayed speech after it is the same second utterance, whatever its decodes' timing."""
    records = utterance(resume=True)
    pause = next(i for i, r in enumerate(records) if isinstance(r, SpeechPause))
    first = Worker(engine, epoch=1, config=AsrConfig(eager_finals=True))
    await first.feed(records[:pause + 1])
    await until(lambda: len(finals_requested(engine)) == 1, "speculative final requested")
    fake(engine).gate.set()
    await until(lambda: any(t.final for t in first.transcripts()), "early final sent")
    await first.close()
    consumed, state = [(c[1], c[2]) for c in first.runner.commits if c[1]][-1]
    replay_from = int(consumed.split("-")[0])  # entry ids are 1-based: replay after the checkpoint
    second = Worker(engine, epoch=2, config=AsrConfig(eager_finals=True), state=state)
    try:
        await second.feed(records[replay_from:], first=replay_from, wait=False)
        assert await asyncio.wait_for(second.runner.finished.wait(), TIMEOUT)
    finally:
        await second.close()
    assert finals(first) + finals(second) == [
        (utterance_id("spec", START), f"heard {int(1.2 * SR)} and", False, START, PAUSE_END),
        (utterance_id("spec", PAUSE_END), f"heard {int(0.8 * SR)} and", True, PAUSE_END, RESUMED_END),
    ]


async def test_partials_keep_the_short_first_window_until_a_decode_finds_words(engine):
    """A first decode of too little speech finds no words; the next one must not wait for a
    whole chunk (30 s here), or the first partial comes seconds late."""
    fake(engine).responder = lambda r: ("language English<asr_text>" +
                                        (f"heard {len(r.audio)} and" if len(r.audio) > int(0.5 * SR) else ""))  # padded to 0.5 s
    fake(engine).gate.set()
    worker = Worker(engine, epoch=1)
    records = [SpeechStart(seq=0, start=START)] + audio_records(1, START, 1.0)
    try:
        await worker.feed(records[:4])  # 0.3 s: decoded, no words
        await until(lambda: len(fake(engine).requests) == 1 and not fake(engine).in_flight, "first decode")
        assert not worker.transcripts()[1:]  # only the SpeechStart
        await worker.feed(records[4:], first=4)
        await until(lambda: any(not t.final and t.text for t in worker.transcripts()), "a partial with words")
    finally:
        await worker.close()
    assert len(fake(engine).requests) >= 2


async def test_a_batch_session_gets_no_partials_and_splits_at_a_pause_as_with_instant_decodes(engine, monkeypatch):
    """A recording's records all wait at once: the session waits for the decode at the pause
    before it applies what follows, so the speech after a complete sentence is an utterance of
    its own, as in a live session whose decode ended before speech resumed."""
    requests = recorded_requests(engine, monkeypatch)
    fake(engine).responder = sentence
    worker = Worker(engine, epoch=1, config=AsrConfig(sentence_endpoint=True), chunk_size_sec=0.5, priority="batch")
    records = utterance(resume=True)
    pause = next(i for i, r in enumerate(records) if isinstance(r, SpeechPause))
    try:
        await worker.feed(records, wait=False)
        await until(lambda: len(finals_requested(engine)) == 1, "speculative final requested")
        assert worker.session.state.queue.qsize() == len(records) - pause - 1  # nothing after the pause applied
        fake(engine).gate.set()
        assert await asyncio.wait_for(worker.runner.finished.wait(), TIMEOUT)
    finally:
        await worker.close()
    assert finals(worker) == [
        (utterance_id("spec", START), f"Heard {int(1.2 * SR)}.", True, START, PAUSE_END),
        (utterance_id("spec", PAUSE_END), f"Heard {int(0.8 * SR)}.", True, PAUSE_END, RESUMED_END),
    ]
    assert not [t for t in worker.transcripts() if not t.final]
    assert requests and all(r.final and r.batch for r in requests)


async def test_the_rest_after_an_early_final_is_decoded_alone_with_the_text_before_it_as_its_prompt(engine, monkeypatch):
    """The final of the speech that resumed after an early final decodes that speech's audio only
    (each moment of audio in one final's decode: the cost stays linear), with the early final's
    text as the prompt (the context a question gives its answer)."""
    requests = recorded_requests(engine, monkeypatch)
    fake(engine).responder = sentence
    worker, _ = await run_through(engine, AsrConfig(sentence_endpoint=True, language="en", context="Acme"),
                                  resume=True)
    assert [f[1] for f in finals(worker)] == [f"Heard {int(1.2 * SR)}.", f"Heard {int(0.8 * SR)}."]
    first, rest = [r for r in requests if r.final]
    assert first.context == "Acme" and len(first.audio) == int(1.2 * SR)
    assert rest.prefix == "" and len(rest.audio) == int(0.8 * SR)
    assert rest.context == f"Acme Heard {int(1.2 * SR)}."


async def test_a_short_reply_without_a_stop_is_a_sentence_in_the_context_of_the_rest(engine, monkeypatch):
    """A short reply whisper wrote without a stop ("or be too") ended its turn: the rest hears it
    as a sentence, so that it is not continued unpunctuated (and no sentence ends after it); the
    client still gets the reply as it was written."""
    requests = recorded_requests(engine, monkeypatch)
    fake(engine).responder = lambda r: f"language English<asr_text>heard {len(r.audio)}"
    worker, _ = await run_through(engine, AsrConfig(sentence_endpoint=True, language="en"), resume=True)
    assert [f[1] for f in finals(worker)][0] == f"heard {int(1.2 * SR)}"
    _, rest = [r for r in requests if r.final]
    assert rest.context == f"heard {int(1.2 * SR)}."


def echoing(request: fake_vllm.FakeRequest) -> str:
    """A model that, given a prompt, writes its last sentence again (whisper on a rest with little speech)."""
    said = [line for line in request.prompt.split("\n") if "Heard" in line and "<asr_text>" not in line]
    return f"language English<asr_text>{said[-1].split('. ')[-1].strip()}" if said else sentence(request)


async def test_a_rest_whose_decode_echoes_the_final_before_it_is_decoded_again_without_it(engine, monkeypatch):
    """"Ask what you can do for your country." and then, for 160 ms of audio, "What you can do for
    your country.": text that came from the prompt, not from the rest's audio. The rest is decoded
    again without the prompt, and that decode is its final."""
    requests = recorded_requests(engine, monkeypatch)
    fake(engine).responder = echoing
    worker, _ = await run_through(engine, AsrConfig(sentence_endpoint=True, language="en"), resume=True)
    assert [f[1] for f in finals(worker)] == [f"Heard {int(1.2 * SR)}.", f"Heard {int(0.8 * SR)}."]
    rest = [r for r in requests if r.final][1:]
    assert [r.context for r in rest] == [f"Heard {int(1.2 * SR)}.", ""]
    assert worker.registry.get_sample_value("streamscribe_asr_echoes_total") == 1


async def test_an_utterance_sent_again_from_inside_a_final_starts_where_the_final_ended(engine):
    """After a VAD takeover the replay may cut a frame elsewhere: an utterance that starts inside
    audio a final already holds (10.5 s against the final's 10.6-14.5 s) is decoded from that
    final's end, so no moment of speech is in two finals, whatever its id."""
    fake(engine).responder = sentence
    fake(engine).gate.set()
    worker = Worker(engine, epoch=1, config=AsrConfig(sentence_endpoint=False, language="en"))
    first = [SpeechStart(seq=0, start=START), *audio_records(1, START, 1.2)]
    first.append(SpeechEnd(seq=len(first), start=START, end=PAUSE_END, reason="silence"))
    again = START - 1024  # two frames before the first: the replay's cut
    replay = [SpeechStart(seq=len(first), start=again), *audio_records(len(first) + 1, again, 2.0)]
    replay.append(SpeechEnd(seq=len(first) + len(replay), start=again, end=again + 2 * SR, reason="silence"))
    records = [*first, *replay, End(seq=len(first) + len(replay) + 1)]
    try:
        await worker.feed(records, wait=False)
        assert await asyncio.wait_for(worker.runner.finished.wait(), TIMEOUT)
    finally:
        await worker.close()
    assert finals(worker) == [
        (utterance_id("spec", START), f"Heard {int(1.2 * SR)}.", True, START, PAUSE_END),
        (utterance_id("spec", PAUSE_END), f"Heard {again + 2 * SR - PAUSE_END}.", True, PAUSE_END, again + 2 * SR),
    ]


def filler(request: fake_vllm.FakeRequest) -> str:
    """Whisper's filler on a short noise: more words than the audio can hold."""
    return "language English<asr_text>I'm not going to be able to do that, I'm sorry, not today."


async def test_a_final_with_more_words_than_its_audio_can_hold_is_no_speech(engine):
    """A 0.3 s tail after a sentence came out as "I'm not going to be able to do that." (the
    contract soak): a final decode with more words than its sound holds is no speech, as a rest's
    is, so the utterance has no final (1.2 s here: 13 words against at most 10)."""
    fake(engine).responder = filler
    worker, _ = await run_through(engine, AsrConfig(sentence_endpoint=True, language="en"), resume=False, early=False)
    assert finals(worker) == []
    assert worker.registry.get_sample_value("streamscribe_asr_no_speech_total") == 1


async def test_a_cut_loop_on_no_speech_is_flagged_without_its_words(engine, monkeypatch):
    """A looping filler on a breath: the loop guard cut its repeats (``lost``) and the rest is more
    words than the audio can hold. The final is flagged ``truncated`` (words may be missing) but
    carries none of the filler's words."""
    transcribe = engine.transcribe

    async def looping(request):
        hypothesis = await transcribe(request)
        if request.final and hypothesis is not None:
            return replace(hypothesis, text="I'm not going to be able to do that, I'm sorry, not today.",
                           lost=((0.6, 1.2),))
        return hypothesis

    monkeypatch.setattr(engine, "transcribe", looping)
    worker, _ = await run_through(engine, AsrConfig(sentence_endpoint=True, language="en"), resume=False, early=False)
    [final] = [t for t in worker.transcripts() if t.final]
    assert final.text == "" and final.truncated and not final.words


def reply_then_question(request: fake_vllm.FakeRequest) -> str:
    return "language English<asr_text>Forty two. Could you tell me how many items are in the order?"


def reply_records() -> tuple[list[Record], int]:
    """"Forty two." (0.6 s), 0.32 s of silence (no VAD pause: the other party answers sooner), a
    2 s question, the end; and the sample the silence ends at."""
    records: list[Record] = [SpeechStart(seq=0, start=START)]
    reply = audio_records(1, START, 0.6)
    records += reply
    gap_at = START + int(0.6 * SR)
    silence = np.zeros(int(0.32 * SR), np.int16)
    records.append(Audio(seq=len(records), offset=gap_at, pcm=silence.tobytes()))
    question_at = gap_at + len(silence)
    records += audio_records(len(records), question_at, 2.0)
    end = question_at + 2 * SR
    records += [SpeechEnd(seq=len(records), start=START, end=end, reason="silence"), End(seq=len(records) + 1)]
    return records, question_at


@pytest.mark.parametrize("sentence_endpoint", [True, False])
async def test_a_reply_answered_within_the_pause_is_a_final_of_its_own(engine, sentence_endpoint):
    """Issue 47: a one-word reply the other party answers 0.32 s later makes no VAD pause; the final's
    decode holds both turns, and is sent as two finals parted in the silence between them."""
    fake(engine).responder = reply_then_question
    worker = Worker(engine, epoch=1, config=AsrConfig(sentence_endpoint=sentence_endpoint, language="en"))
    records, question_at = reply_records()
    await worker.run(records, engine)
    got = finals(worker)
    if not sentence_endpoint:  # the session keeps each VAD utterance whole
        assert [text for _, text, *_ in got] == ["Forty two. Could you tell me how many items are in the order?"]
        return
    (reply_id, reply, reply_final, reply_start, reply_end), (next_id, question, next_final, next_start, next_end) = got
    assert (reply, question) == ("Forty two.", "Could you tell me how many items are in the order?")
    assert reply_final and next_final
    assert reply_id == utterance_id("spec", START) and next_id != reply_id
    assert START <= reply_start < reply_end <= next_start < next_end <= question_at + 2 * SR
    assert START + int(0.6 * SR) <= reply_end <= question_at + int(0.1 * SR)  # the reply's span, not the question's
    assert worker.registry.get_sample_value("streamscribe_asr_reply_splits_total") == 1
