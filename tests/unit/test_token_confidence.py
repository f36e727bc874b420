"""Qwen3 engines' confidence from token log-probabilities (FAKE vLLM / FAKE batch backend, no model).

These prove the arithmetic and the plumbing: the engines ask for the sampled
tokens' log-probabilities, average their probabilities over the answer text,
and never report word timings. They say nothing about how well calibrated the
real model's figure is.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from asr_worker.engines import qwen3_transformers, qwen3_vllm
from asr_worker.engines.base import DecodeRequest
from asr_worker.engines.qwen3_transformers import Qwen3TransformersOptions
from asr_worker.engines.qwen3_vllm import Qwen3VllmOptions
from asr_worker.engines.token_confidence import (Generated, answer_confidence, marker_id,
                                                 sampled_logprobs)
from tests.kit.fakes import fake_vllm
from tests.kit.fakes.fake_tokenizer import FakeTokenizer

MARKER = 9999


class MarkerTokenizer(FakeTokenizer):
    """FAKE tokenizer that, like Qwen3-ASR's, has ``<asr_text>`` as one special token."""

    unk_token_id = 0

    def convert_tokens_to_ids(self, token: str) -> int:
        return MARKER if token == "<asr_text>" else self.unk_token_id


def request(rid: str, *, final: bool = True, **kw) -> DecodeRequest:
    audio = (0.1 * np.random.default_rng(7).standard_normal(32000)).astype(np.float32)
    return DecodeRequest(request_id=rid, audio=audio, final=final, **kw)


def mean_probability(logprobs) -> float:
    return sum(math.exp(lp) for lp in logprobs) / len(logprobs)


# -- the arithmetic ---------------------------------------------------------------------


def test_confidence_is_the_mean_token_probability_after_the_last_marker():
    logprobs = (math.log(0.99), math.log(0.99), math.log(0.5), math.log(0.9), math.log(0.4))
    generated = Generated("language English<asr_text>ab c", (1, MARKER, 2, 3, 4), logprobs)
    assert answer_confidence(generated, marker=MARKER) == pytest.approx((0.5 + 0.9 + 0.4) / 3)
    # No marker known (or not in the answer): every generated token counts.
    assert answer_confidence(generated, marker=None) == pytest.approx(mean_probability(logprobs))
    assert answer_confidence(Generated("x", (5,), (-math.inf,)), marker=None) == 0.0


def test_no_logprobs_means_no_confidence():
    assert answer_confidence(Generated("hello"), marker=None) is None
    assert answer_confidence(Generated("t", (1, MARKER), (0.0, 0.0)), marker=MARKER) is None  # nothing after it


def test_sampled_logprobs_take_the_sampled_token_and_refuse_mismatches():
    positions = [{7: fake_vllm.Logprob(-0.1), 8: fake_vllm.Logprob(-3.0)}, {9: fake_vllm.Logprob(-0.2)}]
    assert sampled_logprobs([7, 9], positions) == (-0.1, -0.2)
    assert sampled_logprobs([7, 9], None) == ()
    assert sampled_logprobs([7, 10], positions) == ()  # maps not about the sampled tokens: no figure


def test_marker_id_needs_a_single_known_token():
    assert marker_id(MarkerTokenizer()) == MARKER
    assert marker_id(FakeTokenizer()) is None  # no convert_tokens_to_ids

    class Unknown(MarkerTokenizer):
        def convert_tokens_to_ids(self, token):
            return self.unk_token_id

    assert marker_id(Unknown()) is None


# -- qwen3-vllm ------------------------------------------------------------------------------


@pytest.fixture
async def vllm_engine(tmp_path):
    options = Qwen3VllmOptions(model=str(tmp_path), max_new_tokens=256, max_new_tokens_partial=64)
    engine = qwen3_vllm.load(options, api=fake_vllm, tokenizer=FakeTokenizer())
    await engine.start()
    assert fake_vllm.FAKE
    yield engine
    await engine.close()


async def test_vllm_requests_logprobs_and_reports_mean_token_probability(vllm_engine):
    llm = vllm_engine._llm
    answers = {"a": "language English<asr_text>hello world", "b": "language English<asr_text>h3ll0 w0r1d?"}
    llm.responder = lambda req: answers[req.request_id[0]]
    first = await vllm_engine.transcribe(request("a1"))
    second = await vllm_engine.transcribe(request("b1", word_timestamps=True))
    assert all(r.sampling_params.logprobs == 0 for r in llm.requests)
    # The fake tokenizer has no one-token <asr_text>: every generated "token" (character) counts.
    for hypothesis, answer in ((first, answers["a"]), (second, answers["b"])):
        expected = mean_probability([fake_vllm.letter_logprob(ch) for ch in answer])
        assert hypothesis.confidence == pytest.approx(expected)
    assert first.confidence > second.confidence  # a real figure: less likely tokens, lower confidence
    assert first.words == second.words == ()  # Qwen3-ASR has no word timings; none are invented


async def test_vllm_without_logprobs_in_the_output_gives_no_confidence(vllm_engine):
    llm = vllm_engine._llm
    output = llm._output

    def without_logprobs(*args, **kw):
        result = output(*args, **kw)
        result.outputs[0].logprobs = None
        return result

    llm._output = without_logprobs
    hypothesis = await vllm_engine.transcribe(request("r1"))
    assert hypothesis.text == "hello" and hypothesis.confidence is None


# -- qwen3-transformers ------------------------------------------------------------------


class ScoringBackend:
    """FAKE batch backend: answers with a marker token and given log-probabilities."""

    def __init__(self, logprobs: tuple[float, ...]) -> None:
        self.logprobs = logprobs

    def generate(self, prompts, audios, max_new_tokens):
        ids = (11, 12, MARKER) + tuple(range(100, 100 + len(self.logprobs) - 3))
        return [Generated("language English<asr_text>good day", ids, self.logprobs) for _ in prompts]


async def test_transformers_engine_reports_confidence_of_the_text_tokens(tmp_path):
    logprobs = (math.log(0.999), math.log(0.999), math.log(0.999), math.log(0.8), math.log(0.6), math.log(0.7))
    options = Qwen3TransformersOptions(model=str(tmp_path))
    engine = qwen3_transformers.load(options, backend=ScoringBackend(logprobs), tokenizer=MarkerTokenizer())
    try:
        hypothesis = await engine.transcribe(request("t1", word_timestamps=True))
    finally:
        await engine.close()
    assert hypothesis.text == "good day"
    assert hypothesis.confidence == pytest.approx((0.8 + 0.6 + 0.7) / 3)
    assert hypothesis.words == ()


def test_greedy_logprob_recorder_keeps_the_chosen_tokens_log_probability():
    torch = pytest.importorskip("torch")
    recorder = qwen3_transformers._GreedyLogprobs(torch)
    steps = [torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 5.0]]), torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])]
    for scores in steps:
        assert recorder(None, scores) is scores  # it records; it never changes the scores
    rows = recorder.rows(2)
    expected = [[float(torch.log_softmax(s[b], -1).max()) for s in steps] for b in range(2)]
    assert [value for row in rows for value in row] == pytest.approx([value for row in expected for value in row])
    assert rows[1][1] == pytest.approx(math.log(1 / 3))
    assert qwen3_transformers._GreedyLogprobs(torch).rows(3) == [[], [], []]
