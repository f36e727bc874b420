"""Scale-in mid-call: an autoscaler removes a VAD and an ASR worker while calls stream.

Kubernetes (or KEDA) scales a worker Deployment in by sending SIGTERM to a pod.
The worker stops claiming, releases its leases and marks its sessions orphaned
(common/ownership.py ``drain``); the remaining worker of the stage takes them
over from their checkpoints. Every call must end with the finals of a run
without scale-in, word for word, each exactly once, and no stage may see a gap.

The calls are held back in the middle of their 2nd utterance until the workers
were told to go, once each has its first final (the ASR has a checkpoint to take
over from): every stage then holds every call. Unheld, on a loaded box the
finals lag so far behind the audio that the VAD had ended all four calls (its
leases deleted with their ends) before each had a final: with the box's cores
busy, the last call's first final came 9.4 s into calls whose audio the VAD
ended at 12.6 s; on a 4-process CI run it came later.
"""

from __future__ import annotations

import asyncio
import collections
import signal

import pytest

from common.aio import wait_event, within
from streamscribe_client import file_frames, stream

from tests.kit.faults import four_utterances_with_bounds, held_frames, http_port, lease_owner, metric, mid_utterance, scrape

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CALLS = 4
UTTERANCES = 4  # tests.kit.faults.four_utterances
SPEED = 2.0
# Below the stack's idle timeout (60 s, tests.kit.stack): a call held back longer would be ended.
HOLD_TIMEOUT = 50


@pytest.fixture(scope="module")
def stack(redis_server, stacks):
    return stacks(redis_server, vad_workers=2, asr_workers=2)


@pytest.fixture(scope="module")
def audio(clips):
    return four_utterances_with_bounds(clips)[0]


@pytest.fixture(scope="module")
def hold_at(clips) -> int:
    """Where the calls are held back: the middle of the 2nd utterance, in samples."""
    return mid_utterance(four_utterances_with_bounds(clips)[1], 1)


def call(stack, audio, finals: dict, mid_call: asyncio.Event, *, hold_at: int, resume: asyncio.Event):
    """One call, held back at sample ``hold_at`` until ``resume``; ``finals[session_id]`` counts its
    finals; ``mid_call`` is set once every call has one."""
    session = {}

    def on_message(message):
        if message["type"] == "session_created":
            session["id"] = message["session_id"]
            finals[session["id"]] = 0
        elif message["type"] == "final":
            finals[session["id"]] += 1
            if len(finals) == CALLS and all(0 < count < UTTERANCES for count in finals.values()):
                mid_call.set()

    return stream(stack.url, held_frames(audio, 16000, chunk_ms=100, speed=SPEED, hold_at=hold_at, resume=resume),
                  sample_rate=16000, on_message=on_message, timeout=180)


def busiest(stack, stage: str, sessions) -> tuple[object, int]:
    """The worker of ``stage`` owning the most of ``sessions``' leases, and how many it owns."""
    owners = collections.Counter(lease_owner(stack.redis.url, sid, stage) for sid in sessions)
    owners.pop(None, None)
    assert owners, f"no {stage} worker owns a lease of the calls in progress"
    name, owned = owners.most_common(1)[0]
    return stack.worker(name), owned


async def test_scaling_in_a_vad_and_an_asr_worker_mid_call_loses_and_repeats_nothing(stack, audio, hold_at):
    baseline = [m["text"] for m in await within(stream(stack.url, file_frames(audio, 16000, chunk_ms=100,
                                                                                      speed=SPEED),
                                                              sample_rate=16000, timeout=180), 200)
                if m["type"] == "final"]
    assert len(baseline) == UTTERANCES

    finals: dict[str, int] = {}
    mid_call = asyncio.Event()
    resume = asyncio.Event()
    calls = [asyncio.create_task(call(stack, audio, finals, mid_call, hold_at=hold_at, resume=resume))
             for _ in range(CALLS)]
    try:
        assert await wait_event(mid_call, HOLD_TIMEOUT), f"the calls never were all mid-call: finals so far {finals}"

        removed = []
        for stage in ("vad", "asr"):
            worker, owned = busiest(stack, stage, list(finals))
            print(f"scaling in {worker.name}: it owns {owned} of {CALLS} calls' {stage} leases")
            worker.signal(signal.SIGTERM)
            removed.append(worker)
        resume.set()  # the calls stream on while the two workers drain
        for worker in removed:
            assert await asyncio.to_thread(worker.proc.wait, 30) == 0, worker.tail(40)

        results = await within(asyncio.gather(*calls), 240)
    finally:
        resume.set()
        for task in calls:
            task.cancel()  # a no-op for those that ended
        await asyncio.gather(*calls, return_exceptions=True)
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
