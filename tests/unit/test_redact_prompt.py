"""The ASR worker's --redact-prompt: given to the decodes of sessions with redaction only, before the
session's own context. In process, on the qwen3-vllm engine over the fake vLLM of tests/kit/fakes
(the GPU boundary), whose requests show the prompt each decode was given."""

from __future__ import annotations

import pytest

from asr_worker.stage import StreamingOptions
from common.pipeline_config import AsrConfig
from common.records import Transcript

from tests.unit.test_asr_languages import ReportingRunner, engine, utterance  # noqa: F401 (a fixture)
from tests.unit.test_speculative import until

SR = 16_000
PROMPT = "Card 4929 3851 7602 2948."


def test_the_prompt_goes_before_the_context_and_only_with_redaction():
    options = StreamingOptions(redact_prompt=PROMPT)
    assert options.context(AsrConfig(context="Okafor")) == "Okafor"
    assert options.context(AsrConfig(context="Okafor", redact=("pci",))) == f"{PROMPT} Okafor"
    assert options.context(AsrConfig(redact=("ssn",))) == PROMPT
    assert StreamingOptions().context(AsrConfig(context="Okafor", redact=("pci",))) == "Okafor"


@pytest.mark.parametrize("redact, prompted", [(("pci",), True), ((), False)])
async def test_decodes_of_sessions_with_redaction_carry_the_prompt(engine, redact, prompted):  # noqa: F811
    from asr_worker.stage import AsrStage
    from common.metrics import AsrMetrics
    from common.pipeline_config import PipelineConfig
    from prometheus_client import CollectorRegistry

    engine.model_name, engine.languages = "tiny.en", ("en",)
    runner = ReportingRunner(lambda r: AsrStage(
        r, engine, defaults=StreamingOptions(chunk_size_sec=30, redact_prompt=PROMPT),
        metrics=AsrMetrics(CollectorRegistry())))
    session = runner.open("p", config=PipelineConfig(asr=AsrConfig(language="en", context="Okafor", redact=redact)))
    await runner.stage.process([(session, [("1-0", r) for r in utterance(0, SR)])])
    await until(lambda: [r for r in runner.outputs() if isinstance(r, Transcript) and r.final], "the final")
    assert engine._llm.requests
    for request in engine._llm.requests:
        assert ("Okafor" in request.prompt) and ((PROMPT in request.prompt) == prompted)
    await runner.stage.close(session, "test over")
