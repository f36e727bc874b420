"""``--engine qwen3-transformers`` as a real ASR worker process, on transformers' real Qwen3-ASR code.

The model is tiny and random-weight (tests/kit/qwen3_tiny.py), written to a temporary directory
from installed packages: the text it writes is noise. Everything on the way is real: the
gateway, VAD and ASR worker processes, Redis, the worker loading the directory with
``--model``, transformers' processor and ``generate``, the engine's prompts and parsing. What
this proves is the pipe: real speech streamed through the gateway comes back as partials and a
final per utterance, with no chat tags in them. Skipped without the ``qwen3-tiny`` extra.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
import soundfile

from common.aio import wait_event
from streamscribe_client import stream
from tests.kit import qwen3_tiny
from tests.kit.faults import held_frames
from tests.kit.support import wait_for_workers

missing = qwen3_tiny.available()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(missing is not None, reason=str(missing))]

MAX_NEW_TOKENS = 24  # a final's budget: noise needs no more, and the CPU is shared


@pytest.fixture(scope="module")
def qwen3_stack(redis_server, stacks, tmp_path_factory):
    model = qwen3_tiny.build(tmp_path_factory.mktemp("qwen3-tiny"))
    stack = stacks(redis_server, asr_workers=0)
    worker = stack.add_worker("asr", env=stack.env, args=(
        "--engine", "qwen3-transformers", "--model", str(model), "--max-new-tokens", str(MAX_NEW_TOKENS)))
    worker.wait_for_line(r"\bready\b", 120)
    wait_for_workers(stack.http, ("vad", "asr"))
    port = worker.argv[worker.argv.index("--http-port") + 1]
    return stack, f"http://127.0.0.1:{port}"


# The random model's noise mixes scripts, repeats itself and names no language; what the contract
# says of the pipe (no overlap, one final per utterance, no partial after its final) is checked.
@pytest.mark.contract_exempt("a random-weight model's text is noise",
                             kinds=("repeated_text", "wrong_script", "wrong_language", "language_flip"))
async def test_speech_streamed_through_the_gateway_comes_back_as_finals(qwen3_stack, clips):
    stack, worker_http = qwen3_stack
    with urllib.request.urlopen(worker_http + "/readyz", timeout=5) as response:
        assert json.load(response)["engine"] == "qwen3-transformers"
    path, _ = clips[0]
    samples, rate = soundfile.read(str(path), dtype="float32")
    # A partial is best effort: one still decoding when its utterance's final is due is dropped,
    # and on a loaded box the random model's decodes are slow. The call is held mid-speech until
    # a partial comes (the utterance stays open meanwhile), so the pipe's partials are seen
    # whatever the load, and then goes on to its end.
    partial_seen = asyncio.Event()

    def on_message(message):
        if message["type"] == "partial":
            partial_seen.set()

    step = rate // 10
    frames = held_frames(samples, rate, chunk_ms=100, speed=1, hold_at=len(samples) // 2 // step * step,
                         resume=partial_seen)
    call = asyncio.create_task(stream(stack.url, frames, sample_rate=rate, config={"context": "Dashwood"},
                                      on_message=on_message, timeout=120))
    if not await wait_event(partial_seen, 90):
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        raise AssertionError(f"no partial while the call was held mid-speech for 90 s\n{stack.logs()}")
    messages = await call
    finals = [m for m in messages if m["type"] == "final"]
    partials = [m for m in messages if m["type"] == "partial"]
    assert finals, f"no final: {messages}\n{stack.logs()}"
    assert all(m["text"].strip() for m in finals)  # qwen3_tiny's model always writes something
    assert partials, messages
    texts = [m.get("text", "") for m in messages]
    assert not any("<asr_text>" in text or "<|" in text for text in texts)
