"""The qwen3-transformers engine on transformers' real Qwen3-ASR code: a tiny random-weight model.

No fake here: transformers' ``Qwen3ASRProcessor`` (its feature extractor and Qwen's real BPE
tokenizer) prepares the audio and prompt, ``Qwen3ASRForConditionalGeneration.generate`` runs,
and the engine parses what it wrote. The weights are random (tests/kit/qwen3_tiny.py), so the
text is noise: these tests check the pipe (placeholder expansion, prompts, batching, prefixes,
token ids and log-probabilities), not recognition. Skipped without the ``qwen3-tiny`` extra.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.kit import qwen3_tiny

missing = qwen3_tiny.available()
pytestmark = pytest.mark.skipif(missing is not None, reason=str(missing))

from asr_worker.engines import qwen3_transformers  # noqa: E402
from asr_worker.engines.base import DecodeRequest  # noqa: E402
from asr_worker.engines.qwen3_common import MIN_AUDIO_SAMPLES  # noqa: E402
from asr_worker.engines.qwen3_prompt import ASR_TEXT_TAG, PromptBuilder  # noqa: E402
from asr_worker.engines.qwen3_transformers import Qwen3TransformersOptions, TransformersBackend  # noqa: E402

BUDGET = 12  # tokens of a final; partials get fewer


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(qwen3_tiny.build(tmp_path_factory.mktemp("qwen3-tiny")))


def options(model_dir):
    return Qwen3TransformersOptions(model=model_dir, cpu_threads=1, max_new_tokens=BUDGET,
                                    max_new_tokens_partial=BUDGET // 2)


@pytest.fixture(scope="module")
def loaded(model_dir):
    """The processor and model, loaded once as the engine loads them (the engine's own loader)."""
    return qwen3_transformers._load_transformers(options(model_dir), model_dir)


@pytest.fixture
async def engine(model_dir, loaded):
    """An engine per test (its batcher lives in the test's event loop) on the module's model."""
    backend, tokenizer = loaded
    engine = qwen3_transformers.load(options(model_dir), backend=backend, tokenizer=tokenizer)
    yield engine
    await engine.close()


@pytest.fixture(scope="module")
def speech(clip_samples):
    samples, _ = clip_samples[0]
    return samples[: 16000 * 4]


def request(rid, audio, **kw):
    return DecodeRequest(request_id=rid, audio=audio, final=kw.pop("final", True), **kw)


def test_the_models_template_renders_the_built_in_prompt(engine):
    """The directory's chat template is used, and renders what the built-in prompt documents."""
    assert engine._prompts.uses_template
    built_in = PromptBuilder()
    for context in ("", "Dashwood, Norland"):
        assert engine._prompts.build(context=context) == built_in.build(context=context)
        assert (engine._prompts.build(context=context, language="English", prefix="Mrs")
                == built_in.build(context=context, language="English", prefix="Mrs"))


def test_the_processor_expands_one_placeholder_to_13_audio_tokens_a_second(loaded, speech):
    backend, _ = loaded
    assert isinstance(backend, TransformersBackend)
    processor = backend._processor
    prompt = PromptBuilder().build()
    inputs = processor(text=[prompt], audio=[speech], sampling_rate=16000, return_tensors="pt", padding=True)
    audio_id = processor.tokenizer.convert_tokens_to_ids("<|audio_pad|>")
    assert int((inputs["input_ids"] == audio_id).sum()) == 4 * 13
    assert inputs["input_features"].shape[1] == 128  # log-mel bins
    text = processor.tokenizer.decode(inputs["input_ids"][0])
    assert text.startswith("<|im_start|>system\n<|im_end|>\n<|im_start|>user\n<|audio_start|><|audio_pad|>")
    assert text.endswith("<|audio_pad|><|audio_end|><|im_end|>\n<|im_start|>assistant\n")


async def test_a_decode_runs_the_real_model_and_parses_its_answer(engine, speech):
    partial = await engine.transcribe(request("p", speech, final=False, context="Dashwood"))
    final = await engine.transcribe(request("f", speech, context="Dashwood"))
    for hypothesis in (partial, final):
        assert hypothesis.text and not hypothesis.no_speech  # noise, but something (see qwen3_tiny)
        assert ASR_TEXT_TAG not in hypothesis.text and "<|" not in hypothesis.text
        assert hypothesis.token_ids and engine.detokenize(list(hypothesis.token_ids)) == hypothesis.text
        assert hypothesis.confidence is not None and 0.0 < hypothesis.confidence <= 1.0
    assert engine.batch_sizes == [1, 1]


def test_generate_returns_each_answers_tokens_with_their_log_probabilities(loaded, speech):
    backend, tokenizer = loaded
    (answer,) = backend.generate([PromptBuilder().build()], [speech], BUDGET)
    assert 0 < len(answer.token_ids) <= BUDGET
    assert len(answer.logprobs) == len(answer.token_ids)
    assert all(lp <= 0.0 for lp in answer.logprobs)
    assert answer.text == tokenizer.decode(list(answer.token_ids), skip_special_tokens=True)


async def test_waiting_decodes_of_different_lengths_run_as_one_padded_batch(engine, speech):
    """Left padding and padded features leave each answer as the same audio decoded alone."""
    audios = [speech[: 16000 * n] for n in (1, 2, 3)]
    alone = [await engine.transcribe(request(f"a{i}", audio)) for i, audio in enumerate(audios)]
    together = await asyncio.gather(*(engine.transcribe(request(f"b{i}", audio)) for i, audio in enumerate(audios)))
    assert engine.batch_sizes[len(audios):] == [len(audios)]
    assert [h.text for h in together] == [h.text for h in alone]


async def test_a_forced_language_and_prefix_are_continued(engine, speech):
    hypothesis = await engine.transcribe(request("x", speech, language="en", prefix="Mrs Dashwood"))
    assert hypothesis.text.startswith("Mrs Dashwood") and len(hypothesis.text) > len("Mrs Dashwood")
    assert hypothesis.language == "en"


async def test_audio_shorter_than_half_a_second_is_padded_not_refused(engine):
    hypothesis = await engine.transcribe(request("s", np.zeros(MIN_AUDIO_SAMPLES // 4, dtype=np.float32)))
    assert hypothesis.text or hypothesis.no_speech
