"""The qwen3-vllm engine's calls against vLLM's real API, as recorded from its source.

tests/data/vllm_api.json holds the signatures, fields and constants that the engine relies on,
read from the vLLM wheel its ``provenance`` names (tests/kit/vllm_api.py: ast, no import, so no
GPU). The engine runs here against the labelled fake (tests/kit/fakes/fake_vllm.py); every call
it makes into that fake is bound to the recorded signature of the real method, so a keyword
vLLM does not take, or a positional argument in the wrong place, fails here. The fake itself is
checked to accept nothing the real API would refuse. When vLLM's source is at hand (installed,
or ``STREAMSCRIBE_VLLM_SOURCE``), the record is re-read from it and compared.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import types
from dataclasses import fields

import numpy as np
import pytest

from asr_worker.engines import qwen3_vllm
from asr_worker.engines.base import DecodeRequest
from asr_worker.engines.qwen3_prompt import AUDIO_PLACEHOLDER
from asr_worker.engines.qwen3_vllm import Qwen3VllmOptions
from tests.kit import vllm_api
from tests.kit.fakes import fake_vllm
from tests.kit.fakes.fake_tokenizer import FakeTokenizer

API = json.loads(vllm_api.RECORD.read_text(encoding="utf-8"))


def signature(name: str) -> inspect.Signature:
    """The recorded signature of vLLM's method ``name`` (without self), defaults as placeholders."""
    return inspect.Signature([
        inspect.Parameter(param, getattr(inspect.Parameter, kind), **({"default": None} if has_default else {}))
        for param, kind, has_default in API["methods"][name]])


class Recorder:
    """Wraps the fake's ``AsyncLLM`` methods to keep each call's arguments."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[tuple, dict]]] = {}

    def wrap(self, name: str, method):
        def record(*args, **kwargs):
            self.calls.setdefault(name, []).append((args, kwargs))
            return method(*args, **kwargs)
        return record


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    recorder = Recorder()
    for name in ("generate", "abort", "shutdown"):
        original = getattr(fake_vllm.AsyncLLM, name)
        monkeypatch.setattr(fake_vllm.AsyncLLM, name, recorder.wrap(f"AsyncLLM.{name}", original))
    original_from = fake_vllm.AsyncLLM.from_engine_args.__func__
    monkeypatch.setattr(fake_vllm.AsyncLLM, "from_engine_args", classmethod(
        lambda cls, *a, **kw: recorder.wrap("AsyncLLM.from_engine_args", original_from)(cls, *a, **kw)))
    sampling: list[dict] = []

    def sampling_params(**kwargs):
        sampling.append(kwargs)
        return fake_vllm.SamplingParams(**kwargs)

    api = types.SimpleNamespace(AsyncLLM=fake_vllm.AsyncLLM, AsyncEngineArgs=fake_vllm.AsyncEngineArgs,
                                SamplingParams=sampling_params, RequestOutputKind=fake_vllm.RequestOutputKind)
    engine = qwen3_vllm.load(Qwen3VllmOptions(model=str(tmp_path)), api=api, tokenizer=FakeTokenizer())
    return engine, recorder, sampling


def request(rid: str, *, final: bool = False, **kw) -> DecodeRequest:
    return DecodeRequest(request_id=rid, audio=np.full(16000, 0.1, dtype=np.float32), final=final, **kw)


async def test_every_call_into_vllm_binds_to_its_real_signature(recorded):
    engine, recorder, _ = recorded
    await engine.start()
    await engine.transcribe(request("live", final=True))
    await engine.transcribe(request("recording", batch=True))
    engine._llm.gate = asyncio.Event()  # hold the next decode so that it can be aborted
    held = asyncio.create_task(engine.transcribe(request("held")))
    await engine._llm.wait_for_in_flight(1)
    await engine.abort("held")
    with pytest.raises(asyncio.CancelledError):
        await held
    await engine.close()
    for name in ("AsyncLLM.from_engine_args", "AsyncLLM.generate", "AsyncLLM.abort", "AsyncLLM.shutdown"):
        calls = recorder.calls.get(name)
        assert calls, f"the engine never called {name}"
        for args, kwargs in calls:
            signature(name).bind(*args[1:], **kwargs)  # args[0]: the fake's self (or cls)
    priorities = [kwargs.get("priority") for _, kwargs in recorder.calls["AsyncLLM.generate"]]
    assert priorities[:2] == [0, qwen3_vllm.BATCH_PRIORITY]


def test_engine_args_are_fields_of_vllms_async_engine_args(recorded):
    engine, _, _ = recorded
    known = set(API["fields"]["EngineArgs"]) | set(API["fields"]["AsyncEngineArgs"])
    assert set(engine.engine_args().kwargs) <= known


def test_sampling_params_are_fields_of_vllms_sampling_params(recorded):
    _, _, sampling = recorded
    assert sampling, "the engine made no SamplingParams"
    for kwargs in sampling:
        assert set(kwargs) <= set(API["fields"]["SamplingParams"])
        assert kwargs["output_kind"].name in API["enums"]["RequestOutputKind"]
        assert kwargs["logprobs"] == 0 and kwargs["temperature"] == 0.0  # the sampled token's only; greedy


def test_the_prompts_audio_placeholder_is_the_one_vllms_qwen3_asr_expands():
    assert AUDIO_PLACEHOLDER == API["returns"]["Qwen3ASRForConditionalGeneration.get_placeholder_str"]


def test_the_names_the_engine_imports_are_where_it_imports_them_from():
    assert API["imports"] == {path: sorted(names) for path, names in vllm_api.IMPORTS.items()}


def test_an_aborted_requests_finish_reason_is_the_one_the_engine_looks_for():
    # vLLM's CompletionOutput.finish_reason is str(FinishReason): the member's name, lower-cased.
    assert "ABORT" in API["enums"]["FinishReason"]


def test_the_fake_accepts_nothing_vllm_would_refuse():
    """The fake's surface is a subset of vLLM's, so the engine cannot lean on a fake-only feature."""
    assert {f.name for f in fields(fake_vllm.SamplingParams)} <= set(API["fields"]["SamplingParams"])
    assert {f.name for f in fields(fake_vllm.CompletionOutput)} <= set(API["fields"]["CompletionOutput"])
    assert {f.name for f in fields(fake_vllm.Logprob)} <= set(API["fields"]["Logprob"])
    assert {m.name for m in fake_vllm.RequestOutputKind} <= set(API["enums"]["RequestOutputKind"])
    for name in ("generate", "abort", "shutdown"):
        fake = inspect.signature(getattr(fake_vllm.AsyncLLM, name))
        real = {param: kind for param, kind, _ in API["methods"][f"AsyncLLM.{name}"]}
        for param in list(fake.parameters.values())[1:]:
            assert param.name in real, f"the fake's AsyncLLM.{name} takes {param.name}, vLLM's does not"
            assert real[param.name] == param.kind.name or param.kind is inspect.Parameter.KEYWORD_ONLY


def test_the_record_is_what_vllms_source_says():
    root = vllm_api.source_root()
    if root is None:
        pytest.skip("no vLLM source here (not installed; set STREAMSCRIBE_VLLM_SOURCE to an unpacked wheel)")
    fresh = vllm_api.record(root)
    recorded = {key: value for key, value in API.items() if key != "provenance"}
    if fresh["vllm_version"] != recorded["vllm_version"]:
        pytest.skip(f"vLLM {fresh['vllm_version']} here, {recorded['vllm_version']} recorded: re-record "
                    "(tests/kit/vllm_api.py) and run these tests")
    assert fresh == recorded
