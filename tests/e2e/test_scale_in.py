"""Scale-in mid-call: an autoscaler removes a VAD and an ASR worker while calls stream.

Kubernetes (or KEDA) scales a worker Deployment in by sending SIGTERM to a pod.
The worker stops claiming, releases its leases and marks its sessions orphaned
(common/ownership.py ``drain``); the remaining worker of the stage takes them
over from their checkpoints. Every call must end with the finals of a run
without scale-in, word for word, each exactly once, and no stage may see a gap.
"""

from __future__ import annotations

import asyncio
import collections
import signal

import pytest

from common.aio import wait_event, within
from streamscribe_client import file_frames, stream

from tests.kit.faults import four_utterances, http_port, lease_owner, metric, scrape

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CALLS = 4
UTTERANCES = 4  # tests.kit.faults.four_utterances
SPEED = 2.0


@pytest.fixture(scope="module")
def stack(redis_server, stacks):
    return stacks(redis_server, vad_workers=2, asr_workers=2)


@pytest.fixture(scope="module")
def audio(clips):
    return four_utterances(clips)


def call(stack, audio, finals: dict, mid_call: asyncio.Event):
    """One call; ``finals[session_id]`` counts its finals; ``mid_call`` is set once every call has one."""
    session = {}

    def on_message(message):
        if message["type"] == "session_created":
            session["id"] = message["session_id"]
            finals[session["id"]] = 0
        elif message["type"] == "final":
            finals[session["id"]] += 1
            if len(finals) == CALLS and all(0 < count < UTTERANCES for count in finals.values()):
                mid_call.set()

    return stream(stack.url, file_frames(audio, 16000, chunk_ms=100, speed=SPEED), sample_rate=16000,
                  on_message=on_message, timeout=180)


def busiest(stack, stage: str, sessions) -> tuple[object, int]:
    """The worker of ``stage`` owning the most of ``sessions``' leases, and how many it owns."""
    owners = collections.Counter(lease_owner(stack.redis.url, sid, stage) for sid in sessions)
    owners.pop(None, None)
    assert owners, f"no {stage} worker owns a lease of the calls in progress"
    name, owned = owners.most_common(1)[0]
    return stack.worker(name), owned


async def test_scaling_in_a_vad_and_an_asr_worker_mid_call_loses_and_repeats_nothing(stack, audio):
    baseline = [m["text"] for m in await within(stream(stack.url, file_frames(audio, 16000, chunk_ms=100,
                                                                                      speed=SPEED),
                                                              sample_rate=16000, timeout=180), 200)
                if m["type"] == "final"]
    assert len(baseline) == UTTERANCES

    finals: dict[str, int] = {}
    mid_call = asyncio.Event()
    calls = [asyncio.create_task(call(stack, audio, finals, mid_call)) for _ in range(CALLS)]
    assert await wait_event(mid_call, 120), f"the calls never were all mid-call: finals so far {finals}"

    removed = []
    for stage in ("vad", "asr"):
        worker, owned = busiest(stack, stage, list(finals))
        print(f"scaling in {worker.name}: it owns {owned} of {CALLS} calls' {stage} leases")
        worker.signal(signal.SIGTERM)
        removed.append(worker)
    for worker in removed:
        assert await asyncio.to_thread(worker.proc.wait, 30) == 0, worker.tail(40)

    results = await within(asyncio.gather(*calls), 240)
    for messages in results:
        assert [m for m in messages if m["type"] == "error"] == []
        got = [m for m in messages if m["type"] == "final"]
        assert [m["text"] for m in got] == baseline, stack.logs()
        assert len({m["utterance_id"] for m in got}) == UTTERANCES, "an utterance id came twice"

    gateway = scrape(stack.port)
    assert metric(gateway, "streamscribe_gateway_duplicate_finals_total") == 0
    for stage in ("vad", "asr"):
        survivor = next(w for w in stack.workers[stage] if w not in removed)
        assert metric(scrape(http_port(survivor)), "streamscribe_stage_sequence_gaps_total") == 0
