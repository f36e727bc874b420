"""Fault tolerance with real processes: kill -9, SIGSTOP, Redis restart.

Two workers per stage run against one redis-server. Each fault run streams
four LibriVox clips in one session (tests.kit.faults.four_utterances) and strikes
the worker that owns the session in the middle of the second utterance; the
client must get exactly the four finals of a fault-free run, word for word.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
import soundfile

from common.aio import wait_event, within
from gateway.core.hub import HubOptions
from streamscribe_client import StreamClosed, file_frames, stream

from tests.kit.faults import (assert_keys_expire_with_the_session, five_utterances_with_bounds, four_utterances,
                              http_port, lease_owner, metric, replace_worker, scrape, session_key_ttls,
                              wait_for_owner)
from tests.kit.stack import Stack
from tests.kit.support import wait_until, word_errors

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPEED = 2.0


@pytest.fixture(scope="module")
def cluster(redis_server, stacks):
    return stacks(redis_server, vad_workers=2, asr_workers=2)


@pytest.fixture(scope="module")
def audio(clips):
    return four_utterances(clips)


@pytest.fixture(scope="module")
def vad_strike_ms(clips) -> int:
    """The middle of the 2nd utterance of :func:`four_utterances`, in ms of audio."""
    start, end = five_utterances_with_bounds(clips[:3] + clips[4:])[1][1]
    return (start + end) // 2


def strike_point(stage: str, vad_strike_ms: int) -> int | None:
    """Where a fault strikes ``stage``: the VAD, once the middle of the 2nd utterance was sent (it
    keeps up with the audio; on a loaded box the ASR's partials lag so far behind that at the 2nd
    utterance's first partial the VAD had ended the call's audio and held no lease: seen at a
    load average of 18); the ASR, at the 2nd utterance's first partial (``None``)."""
    return vad_strike_ms if stage == "vad" else None


@pytest.fixture(scope="module")
def baseline(cluster, audio):
    messages = asyncio.run(run(cluster, audio))
    finals = [m["text"] for m in messages if m["type"] == "final"]
    assert len(finals) == 4, messages
    return finals


async def run(stack, audio, strike=None, *, strike_ms: int | None = None):
    """Stream ``audio``; once the 2nd utterance has a partial (or its final, where none came first),
    or with ``strike_ms`` once that many ms of audio were sent, call ``strike(session_id)``."""
    second_partial = asyncio.Event()
    state = {"utterances": [], "session": None}

    async def frames():
        sent_ms = 0
        async for frame in file_frames(audio, 16000, chunk_ms=100, speed=SPEED):
            yield frame
            sent_ms += 100
            if strike_ms is not None and sent_ms >= strike_ms and state["session"] is not None:
                second_partial.set()

    def on_message(message):
        if message["type"] == "session_created":
            state["session"] = message["session_id"]
        elif message["type"] in ("partial", "final"):
            # By utterance, not by the finals so far: on a busy box the first final may come
            # after the second utterance's first partials.
            if message["utterance_id"] not in state["utterances"]:
                state["utterances"].append(message["utterance_id"])
            # Its first partial; on a box too busy for partials, its final.
            if state["utterances"].index(message["utterance_id"]) == 1 and strike_ms is None:
                second_partial.set()

    task = asyncio.create_task(stream(stack.url, frames(), sample_rate=16000, on_message=on_message, timeout=120))
    struck = None
    if strike is not None:
        waiter = asyncio.create_task(second_partial.wait())
        await asyncio.wait({task, waiter}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
        assert second_partial.is_set(), "no partial of the second utterance" if strike_ms is None else \
            f"{strike_ms} ms of audio not sent"
        struck = await strike(state["session"])
        waiter.cancel()
    messages = await within(task, 180)
    return (messages, struck) if strike is not None else messages


def assert_same_finals(messages, baseline, stack):
    finals = [m for m in messages if m["type"] == "final"]
    errors = [m for m in messages if m["type"] == "error"]
    assert errors == [], errors
    assert [m["text"] for m in finals] == baseline, stack.logs()
    assert len({m["utterance_id"] for m in finals}) == 4
    for process in stack.processes:
        if process.proc.poll() is None and process.name != "gateway":
            assert metric(scrape(http_port(process)), "streamscribe_stage_sequence_gaps_total") == 0


@pytest.mark.parametrize("stage", ["asr", "vad"])
async def test_kill_9_of_the_owner_mid_utterance(cluster, audio, baseline, stage, vad_strike_ms):
    timing = {}

    async def strike(session_id):
        owner = lease_owner(cluster.redis.url, session_id, stage)
        assert owner is not None
        process = cluster.worker(owner)
        survivor = next(w for w in cluster.workers[stage] if w is not process)
        timing["killed"] = time.monotonic()
        process.signal(signal.SIGKILL)
        timing["struck"] = owner
        await asyncio.to_thread(wait_for_owner, cluster.redis.url, session_id, stage, survivor.name, 30)
        timing["taken_over"] = time.monotonic()
        # Seen: ckpt:asr without a TTL after a kill -9. Every key of the session expires.
        await asyncio.to_thread(assert_keys_expire_with_the_session, cluster.redis.url, session_id,
                                HubOptions().session_ttl)
        timing["session"] = session_id
        return owner

    try:  # the worker struck is replaced whatever fails, so the module's next tests have two again
        messages, killed = await run(cluster, audio, strike, strike_ms=strike_point(stage, vad_strike_ms))
        assert_same_finals(messages, baseline, cluster)
        # Nothing of the session is left once it ended, not even what the killed worker held.
        await asyncio.to_thread(wait_until, lambda: not session_key_ttls(cluster.redis.url, timing["session"]),
                                15, "every key of the session deleted")
        survivors = [w for w in cluster.workers[stage] if w.name != killed]
        replayed = metric(scrape(http_port(survivors[0])), "streamscribe_stage_replayed_audio_seconds_total")
        takeovers = metric(scrape(http_port(survivors[0])), "streamscribe_stage_lease_takeovers_total")
        assert takeovers >= 1
        print(f"{stage}: takeover {timing['taken_over'] - timing['killed']:.2f} s after kill -9 "
              f"(lease TTL 2 s); replayed audio so far {replayed:.2f} s")
    finally:
        if "struck" in timing:
            replace_worker(cluster, timing["struck"])


async def test_sigstop_past_the_lease_then_sigcont_writes_nothing(cluster, audio, baseline):
    gateway_before = metric(scrape_gateway(cluster), "streamscribe_gateway_duplicate_finals_total")

    async def strike(session_id):
        owner = lease_owner(cluster.redis.url, session_id, "asr")
        process = cluster.worker(owner)
        other = next(w for w in cluster.workers["asr"] if w is not process)
        noticed_before = lease_noticed_lost(process)
        process.signal(signal.SIGSTOP)
        try:
            await asyncio.to_thread(wait_for_owner, cluster.redis.url, session_id, "asr", other.name, 30)
        finally:
            process.signal(signal.SIGCONT)
        # The resumed worker notices at its next write or heartbeat, whichever comes first.
        await asyncio.to_thread(wait_until, lambda: lease_noticed_lost(process) > noticed_before, 30,
                                f"{owner} noticed it lost the lease")
        return owner

    messages, stopped = await run(cluster, audio, strike)
    assert_same_finals(messages, baseline, cluster)
    text = scrape(http_port(cluster.worker(stopped)))
    refused = metric(text, "streamscribe_stage_fenced_writes_rejected_total")
    lost = metric(text, "streamscribe_stage_leases_lost_total")
    print(f"resumed worker: {refused:.0f} write(s) rejected by the fence, {lost:.0f} lease(s) found lost")
    assert refused + lost >= 1
    assert metric(scrape_gateway(cluster), "streamscribe_gateway_duplicate_finals_total") == gateway_before


@pytest.mark.parametrize("stage", ["asr", "vad"])
async def test_sigterm_drains_and_hands_over_at_once(cluster, audio, baseline, stage, vad_strike_ms):
    timing = {}

    async def strike(session_id):
        owner = lease_owner(cluster.redis.url, session_id, stage)
        process = cluster.worker(owner)
        other = next(w for w in cluster.workers[stage] if w is not process)
        timing["term"] = time.monotonic()
        process.signal(signal.SIGTERM)
        timing["struck"] = owner
        await asyncio.to_thread(wait_for_owner, cluster.redis.url, session_id, stage, other.name, 30)
        timing["taken_over"] = time.monotonic()
        # Its in-flight decode ends first: bounded generously (30 s ran out at a load average of 25).
        assert await asyncio.to_thread(process.proc.wait, 90) == 0
        # Handed over, not left to lapse: the drain released the lease and marked the session.
        assert "dropped: drained" in process.tail(400), process.tail(60)
        return owner

    try:  # as above
        messages, _ = await run(cluster, audio, strike, strike_ms=strike_point(stage, vad_strike_ms))
        assert_same_finals(messages, baseline, cluster)
        handover = timing["taken_over"] - timing["term"]
        print(f"graceful drain: taken over {handover:.2f} s after SIGTERM (lease TTL 2 s)")
    finally:
        if "struck" in timing:
            replace_worker(cluster, timing["struck"])


def scrape_gateway(stack: Stack) -> str:
    return scrape(stack.port)


def lease_noticed_lost(worker) -> float:
    """Times ``worker`` found a lease of its own gone: a write refused by the fence, or a failed renewal."""
    text = scrape(http_port(worker))
    return (metric(text, "streamscribe_stage_fenced_writes_rejected_total")
            + metric(text, "streamscribe_stage_leases_lost_total"))


async def test_redis_restart_ends_open_sessions_clearly_and_new_sessions_work(cluster, audio, clips):
    """Redis restarts empty mid-session: no process hangs or dies; sessions end with a clear error."""
    started = asyncio.Event()
    sessions = []

    async def one():
        def on_message(message):
            if message["type"] == "partial":
                started.set()
        try:
            return await stream(cluster.url, file_frames(audio, 16000, chunk_ms=100, speed=SPEED),
                                sample_rate=16000, on_message=on_message, timeout=60)
        except StreamClosed as exc:
            assert exc.code in (1011, 1013), exc
            return exc.messages

    sessions = [asyncio.create_task(one()) for _ in range(2)]
    assert await wait_event(started, 60), "no partial in either session"
    await asyncio.to_thread(cluster.redis.stop)
    await asyncio.to_thread(cluster.redis.start)  # same port, empty
    results = await within(asyncio.gather(*sessions), 120)
    for messages in results:
        errors = [m for m in messages if m["type"] == "error"]
        finals = [m for m in messages if m["type"] == "final"]
        # Either the session went on to the end, or it was told why it ended.
        assert len(finals) == 4 or any(e["code"] in ("unavailable", "session_lost") and e["fatal"]
                                       for e in errors), messages
    for process in cluster.processes:
        assert process.proc.poll() is None, f"{process.name} died:\n{process.tail()}"
    # New sessions work once Redis is back (1013 means: retry shortly).
    path, reference = clips[-1]
    samples, rate = soundfile.read(str(path), dtype="float32")
    deadline = time.monotonic() + 60
    while True:
        try:
            messages = await stream(cluster.url, file_frames(samples, rate, chunk_ms=100, speed=4),
                                    sample_rate=rate, timeout=60)
            break
        except StreamClosed as exc:
            assert exc.code == 1013 and time.monotonic() < deadline, exc
            await asyncio.sleep(0.5)  # the client's retry back-off, not synchronisation
    (final,) = [m for m in messages if m["type"] == "final"]
    errors, words = word_errors(reference, final["text"])
    assert errors / words <= 0.2
