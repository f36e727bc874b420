"""The batch lane with real processes: a recording sent unpaced as a batch session.

Two workers per stage run against one redis-server, each with a capacity of 2
and a short lead (``--batch-lead 20``: a stage reads a recording only while the
next stage has fewer than 20 of its records waiting), so the VAD stays close
to the ASR. The recording is the five LibriVox clips in one stream; a live
run of the same audio is the reference: the recording must have the same
utterances (its words decoded in packs of several utterances, not one by one,
may differ a little: whisper hears each with its neighbours).

A recording struck at its first final is held back in the middle of its 4th
utterance until the strike is over, so that the struck stage is mid-file
whatever the load. Unheld, the VAD is not: the lead paces it by what the ASR
has *read*, and the ASR reads on while its decodes wait (a recording's run in
a child at nice 19), so the VAD ends the file 1.5-3.5 s after the first final
on this box, and before it when the decodes are starved (a loaded CI box; or
the ASR's child stopped for 6 s: the VAD's lease gone with the End at 9.6 s,
the first final at 11.7 s).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
import redis as sync_redis
from websockets.asyncio.client import connect

from common import keys
from common.aio import within
from streamscribe_client import StreamClosed, file_frames, stream

from tests.kit.faults import (five_utterances_with_bounds, held_frames, http_port, lease_owner, metric,
                              mid_utterance, replace_worker, scrape, wait_for_owner)
from tests.kit.support import wait_until, word_errors

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RATE = 16000
CHUNK_MS = 100
BATCH = {"priority": "batch"}


@pytest.fixture(scope="module")
def lane(redis_server, stacks):
    return stacks(redis_server, vad_workers=2, asr_workers=2, extra_env={
        "STREAMSCRIBE_VAD_CAPACITY": "2", "STREAMSCRIBE_ASR_CAPACITY": "2",
        "STREAMSCRIBE_VAD_BATCH_LEAD": "20", "STREAMSCRIBE_ASR_BATCH_LEAD": "20",
        # Packs of at most 10 s: the five clips come in three packs ([7.1 s], [3.0 s, 5.3 s] and
        # [6.0 s, 3.3 s]), so a strike at the first final still lands mid-file, and a pack of two
        # utterances has its words dealt back to each.
        "STREAMSCRIBE_ASR_BATCH_PACK_SEC": "10",
    })


@pytest.fixture(scope="module")
def audio(clips):
    return five_utterances_with_bounds(clips)[0]


@pytest.fixture(scope="module")
def hold_at(clips):
    """Where a struck recording is held back: the middle of its 4th utterance (the first final,
    the first pack's, needs the 2nd utterance's end; the 4th opens the third pack)."""
    return mid_utterance(five_utterances_with_bounds(clips)[1], 3, rate=RATE, chunk_ms=CHUNK_MS)


@pytest.fixture(scope="module")
def live_finals(lane, audio):
    # At 4x, as test_e2e streams these clips in one session: the live run's utterances are the VAD's,
    # whatever the pace; at 2x it took 8 s longer.
    messages = asyncio.run(stream(lane.url, file_frames(audio, RATE, chunk_ms=100, speed=4.0), sample_rate=RATE,
                                  timeout=120))
    finals = [m for m in messages if m["type"] == "final"]
    assert len(finals) == 5, messages
    return finals


async def run_batch(stack, audio, strike=None, *, hold_at: int = 0):
    """Send ``audio`` as a recording, as fast as the gateway takes it; at its first final call
    ``strike(session_id)``, the recording held back before sample ``hold_at`` until it returned.
    Returns the messages (and what ``strike`` returned)."""
    heard = asyncio.Event()  # the first final, or an error: a refused recording is not waited out
    resume = asyncio.Event()
    state: dict = {"messages": []}

    def on_message(message):
        state["messages"].append(message)
        if message["type"] == "session_created":
            state["session"] = message["session_id"]
        elif message["type"] in ("final", "error"):
            heard.set()

    if strike is None:
        frames = file_frames(audio, RATE, chunk_ms=CHUNK_MS, speed=0)
    else:
        assert hold_at > 0, "a strike needs the recording held back before its end"
        frames = held_frames(audio, RATE, chunk_ms=CHUNK_MS, speed=0, hold_at=hold_at, resume=resume)
    task = asyncio.create_task(stream(stack.url, frames, sample_rate=RATE, config=BATCH, on_message=on_message,
                                      timeout=120))
    struck = None
    try:
        if strike is not None:
            waiter = asyncio.create_task(heard.wait())
            await asyncio.wait({task, waiter}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not any(m["type"] == "final" for m in state["messages"]):
                resume.set()  # a held recording sees its connection's end only as it sends again
                await asyncio.wait({task}, timeout=30)
                ended = (task.exception() if task.done() else None) or "no final in 120 s"
                raise AssertionError(f"no final of the recording: {ended!r}, after {state['messages']}\n"
                                     f"{stack.logs()}")
            struck = await strike(state["session"])
            resume.set()
        messages = await within(task, 180)
    finally:
        resume.set()
        task.cancel()  # a no-op once it ended
        await asyncio.gather(task, return_exceptions=True)
    return messages, struck


def assert_all_finals(messages, live, stack):
    """Every final once, for the same utterances as the live run, each with about the same words
    (a word dealt to the wrong utterance of a pack, or lost, shows here; whisper's own variance
    between a pack and a decode alone is a word or two)."""
    errors = [m for m in messages if m["type"] == "error"]
    assert errors == [], errors
    assert [m["type"] for m in messages if m["type"] == "partial"] == []  # a recording has none
    finals = [m for m in messages if m["type"] == "final"]
    assert [(m["start_ms"], m["end_ms"]) for m in finals] == [(m["start_ms"], m["end_ms"]) for m in live], \
        stack.logs()
    assert len({m["utterance_id"] for m in finals}) == len(live)
    for final, heard in zip(finals, live):
        errors, words = word_errors(heard["text"], final["text"])
        assert errors <= max(2, words // 4), (final["text"], heard["text"])
    for process in stack.processes:
        if process.proc.poll() is None and process.name != "gateway":
            assert metric(scrape(http_port(process)), "streamscribe_stage_sequence_gaps_total") == 0


async def test_a_recordings_finals_all_arrive_and_match_a_live_run(lane, audio, live_finals):
    messages, _ = await run_batch(lane, audio)
    assert_all_finals(messages, live_finals, lane)


async def open_session(url: str, config: dict) -> tuple[object, dict]:
    """A native session opened with ``config``; (its socket, the server's first message)."""
    websocket = await connect(url)
    await websocket.send(json.dumps({"type": "config", "encoding": "pcm16", **config}))
    return websocket, json.loads(await within(websocket.recv(), 30))


async def test_live_calls_are_admitted_while_recordings_hold_slots(lane):
    # Two VAD workers of capacity 2: 4 slots, of which recordings may hold half (the batch share 0.5).
    sockets = []
    try:
        for _ in range(2):
            websocket, reply = await open_session(lane.url, BATCH)
            sockets.append(websocket)
            assert reply["type"] == "session_created", reply
        websocket, reply = await open_session(lane.url, BATCH)
        sockets.append(websocket)
        assert (reply["type"], reply["code"]) == ("error", "overloaded"), reply
        assert "no room for recordings" in reply["message"]
        # Every live slot is still open to calls, although recordings hold two of the four.
        for _ in range(4):
            websocket, reply = await open_session(lane.url, {})
            sockets.append(websocket)
            assert reply["type"] == "session_created", reply
        websocket, reply = await open_session(lane.url, {})
        sockets.append(websocket)
        assert (reply["type"], reply["code"]) == ("error", "overloaded"), reply
        assert "at capacity" in reply["message"]
    finally:
        for websocket in sockets:
            await websocket.close()
        # The next tests' recordings need these slots back: the gateway gives them back as it
        # ends each session, which takes a while on a busy box. And the workers' room: a worker
        # notices a session ended at its next heartbeat and reports the room with the one after;
        # until then the gateway refuses a recording ("every vad worker is at capacity").
        await asyncio.to_thread(wait_until, lambda: admitted(lane.redis.url) == 0, 30, "every slot given back")
        await asyncio.to_thread(wait_until, lambda: owned(lane.redis.url) == 0, 30, "every worker reports no session")


def admitted(redis_url: str) -> int:
    """Sessions holding an admission slot (live or batch) in any stage."""
    client = sync_redis.Redis.from_url(redis_url)
    try:
        return sum(client.zcard(key) for key in client.scan_iter("ss:slots:*"))
    finally:
        client.close()


def owned(redis_url: str) -> int:
    """Sessions the live workers of every stage own, by their last load reports (what admission reads)."""
    client = sync_redis.Redis.from_url(redis_url)
    try:
        total = 0
        for stage in keys.STAGES:
            live = client.zrangebyscore(keys.workers(stage), int(time.time() * 1000), "+inf")
            total += sum(json.loads(raw)["owned"] for raw in client.hmget(keys.load(stage), live) if raw) if live else 0
        return total
    finally:
        client.close()


def input_length(redis_url: str, session_id: str, stage: str) -> int:
    client = sync_redis.Redis.from_url(redis_url)
    try:
        return client.xlen(f"ss:{{{session_id}}}:in:{stage}")
    finally:
        client.close()


def children(pid: int) -> set[int]:
    """The processes ``pid`` started (the ASR's nice-19 child decoding recordings, its helpers)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("stage", ["asr", "vad"])
async def test_kill_9_mid_file_loses_nothing(lane, audio, hold_at, live_finals, stage):
    orphans: set[int] = set()

    async def strike(session_id):
        # Held back mid-file, the session is the stage's until the strike (a lease lapsed in a
        # stall on a loaded box is taken over within the TTL and a sweep: wait for the owner).
        owner = await asyncio.to_thread(wait_until, lambda: lease_owner(lane.redis.url, session_id, stage), 30,
                                        f"a {stage} worker owns the recording")
        # Mid-file: the owner has input of the recording past its checkpoint.
        assert input_length(lane.redis.url, session_id, stage) > 0
        process = lane.worker(owner)
        survivor = next(w for w in lane.workers[stage] if w is not process)
        orphans.update(children(process.proc.pid))
        process.signal(signal.SIGKILL)
        await asyncio.to_thread(wait_for_owner, lane.redis.url, session_id, stage, survivor.name, 30)
        return owner

    try:
        messages, killed = await run_batch(lane, audio, strike, hold_at=hold_at)
    except StreamClosed as exc:
        raise AssertionError(f"{exc}: {exc.messages}\n{lane.logs()}") from None
    try:
        assert_all_finals(messages, live_finals, lane)
        survivor = next(w for w in lane.workers[stage] if w.name != killed)
        assert metric(scrape(http_port(survivor)), "streamscribe_stage_lease_takeovers_total") >= 1
        if stage == "asr":
            # The killed worker's child decoding the recording went with it.
            assert orphans
            await asyncio.to_thread(wait_until, lambda: not any(running(pid) for pid in orphans), 15,
                                    "the killed worker's children gone")
    finally:
        replace_worker(lane, killed)
