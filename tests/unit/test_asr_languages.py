"""The ASR stage and languages: a worker whose model lacks a session's language refuses the session
(never decodes it as another), and with auto-detect a session's language settles on its first
--settle-sec of finals. In process, on the qwen3-vllm engine over the FAKE vLLM of tests/kit/fakes (the GPU
boundary), told to say which languages its model decodes."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from asr_worker.engines import qwen3_vllm
from asr_worker.engines.qwen3_vllm import Qwen3VllmOptions
from asr_worker.stage import AsrStage, StreamingOptions
from common.metrics import AsrMetrics
from common.pipeline_config import AsrConfig, PipelineConfig
from common.records import End, SpeechEnd, SpeechStart, Transcript
from common.redaction.names import MISSING

from tests.kit.fakes import fake_vllm
from tests.kit.fakes.fake_tokenizer import FakeTokenizer
from tests.kit.support import RecordingRunner
from tests.unit.test_speculative import audio_records, until

SR = 16_000


class ReportingRunner(RecordingRunner):
    """The recording runner, keeping the errors the stage reports to the client."""

    def __init__(self, build_stage) -> None:
        self.reports: list[tuple[str, str, bool]] = []
        super().__init__(build_stage)

    async def report(self, session, code, message, *, fatal=False):
        self.reports.append((str(code), message, fatal))


@pytest.fixture
async def engine(tmp_path):
    eng = qwen3_vllm.load(Qwen3VllmOptions(model=str(tmp_path)), api=fake_vllm, tokenizer=FakeTokenizer())
    await eng.start()
    yield eng
    await eng.close()


def stage(engine, config: AsrConfig) -> tuple[ReportingRunner, object, CollectorRegistry]:
    registry = CollectorRegistry()
    runner = ReportingRunner(lambda r: AsrStage(r, engine, defaults=StreamingOptions(chunk_size_sec=30),
                                                metrics=AsrMetrics(registry)))
    session = runner.open("lang", config=PipelineConfig(asr=config))
    return runner, session, registry


def utterance(first_seq: int, start: int, seconds: float = 1.0) -> list:
    records = [SpeechStart(seq=first_seq, start=start)]
    records += audio_records(first_seq + 1, start, seconds)
    records.append(SpeechEnd(seq=first_seq + len(records), start=start, end=start + int(seconds * SR),
                             reason="silence"))
    return records


async def test_a_worker_whose_model_lacks_the_language_refuses_the_session(engine):
    engine.model_name, engine.languages = "tiny.en", ("en",)  # as whisper tiny.en says
    runner, session, _ = stage(engine, AsrConfig(language="es-MX"))
    await until(lambda: runner.reports, "the refusal")
    assert runner.reports == [("bad_config", "language 'es-MX' is not one the loaded model (tiny.en) recognises (en); "
                                             "run an ASR model that does, e.g. --model base (the whisper-base extra)",
                               True)]
    await runner.stage.process([(session, [("1-0", r) for r in utterance(0, SR)])])
    await asyncio.sleep(0)  # let a task that should not exist run, if there were one
    assert engine._llm.requests == [] and not [r for r in runner.outputs() if isinstance(r, Transcript)]
    assert runner.stage.describe() == {"model": "tiny.en", "languages": ["en"], "names": False}  # no name model given
    await runner.stage.close(session, "test over")


async def test_a_worker_without_the_name_model_refuses_pii(engine):
    engine.model_name, engine.languages = "tiny.en", ("en",)
    runner, session, _ = stage(engine, AsrConfig(language="en", redact=("pci", "pii")))
    await until(lambda: runner.reports, "the refusal")
    assert runner.reports == [("bad_config", MISSING, True)]
    await runner.stage.process([(session, [("1-0", r) for r in utterance(0, SR)])])
    await asyncio.sleep(0)
    assert engine._llm.requests == [] and not [r for r in runner.outputs() if isinstance(r, Transcript)]
    await runner.stage.close(session, "test over")


async def test_auto_detect_settles_the_sessions_language_on_its_first_seconds_of_finals(engine, monkeypatch):
    # Each utterance's answer (by its start in the request id); the third is what a short utterance
    # alone is detected as, unless its language is given (the prompt then pre-fills it).
    answers = {f"-{SR}-": "language Spanish<asr_text>sí", f"-{3 * SR}-": "language Spanish<asr_text>quiero pagar "
               "la factura", f"-{5 * SR}-": "language English<asr_text>por favor"}

    def answer(request) -> str:
        text = next(a for key, a in answers.items() if key in request.request_id)
        return text.split("<asr_text>")[1] if "<asr_text>" in request.assistant else text

    engine._llm.responder = answer
    asked: dict[str, str | None] = {}  # utterance start -> the language its final was asked in
    transcribe = engine.transcribe

    async def recording(request):
        if request.final:
            asked[request.request_id.split("-")[1]] = request.language
        return await transcribe(request)

    monkeypatch.setattr(engine, "transcribe", recording)
    runner, session, registry = stage(engine, AsrConfig())  # language null: detect
    first, second, third = utterance(0, SR), utterance(100, 3 * SR), utterance(200, 5 * SR)
    entries = [(f"{i + 1}-0", r) for i, r in enumerate([*first, *second, *third, End(seq=300)])]
    await runner.stage.process([(session, entries)])
    await asyncio.wait_for(runner.finished.wait(), 10)
    finals = [(r.text, r.language) for r in runner.outputs() if isinstance(r, Transcript) and r.final]
    # "sí" (1 s) settles nothing; with "quiero pagar la factura" the finals hold --settle-sec (2 s) of
    # speech detected as Spanish: the third decodes in Spanish.
    assert finals == [("sí", "es"), ("quiero pagar la factura", "es"), ("por favor", "es")]
    assert asked == {str(SR): None, str(3 * SR): None, str(5 * SR): "es"}, asked
    assert session.state.language == "es"
    assert registry.get_sample_value("streamscribe_asr_finals_total", {"language": "es"}) == len(finals)
    await runner.stage.close(session, "test over")
