"""Helpers of the fault tests: session audio, lease owners, metrics scrapes."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import AsyncIterator

import numpy as np
import soundfile

from common.aio import within
from streamscribe_client import file_frames, stream

from .support import wait_until


def five_utterances(clips, gap_seconds: float = 1.5) -> np.ndarray:
    return five_utterances_with_bounds(clips, gap_seconds)[0]


def four_utterances(clips) -> np.ndarray:
    """As :func:`five_utterances`, without the 6 s clip (``clips[3]``), for calls struck by a fault
    in their 2nd utterance: after the strike they still stream ~7.5 s (at 2x), about twice the longest
    client silence a takeover or failover caused in these tests (3.7-4.2 s), and each call takes
    3.8 s less than with all five clips (test_faults.py streams six in turn, test_scale_in.py two
    rounds)."""
    return four_utterances_with_bounds(clips)[0]


def four_utterances_with_bounds(clips) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """:func:`four_utterances`, with each clip's (start_ms, end_ms) in the stream."""
    return five_utterances_with_bounds(clips[:3] + clips[4:])


def five_utterances_with_bounds(clips, gap_seconds: float = 1.5) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The clips in one stream, 0.5 s of silence first and ``gap_seconds`` after each,
    with each clip's (start_ms, end_ms) in that stream."""
    rate = 16000
    gap = np.zeros(int(gap_seconds * rate), np.float32)
    parts, bounds, cursor = [gap[: rate // 2]], [], rate // 2
    for path, _ in clips:
        samples, clip_rate = soundfile.read(str(path), dtype="float32")
        assert clip_rate == rate
        parts += [samples, gap]
        bounds.append((cursor * 1000 // rate, (cursor + len(samples)) * 1000 // rate))
        cursor += len(samples) + len(gap)
    return np.concatenate(parts).astype(np.float32), bounds


def mid_utterance(bounds: list[tuple[int, int]], index: int, *, rate: int = 16000, chunk_ms: int = 100) -> int:
    """The sample in the middle of utterance ``index`` of ``bounds`` (as
    :func:`five_utterances_with_bounds` gives them), on a frame boundary of ``chunk_ms``."""
    start_ms, end_ms = bounds[index]
    return (start_ms + end_ms) // 2 // chunk_ms * (rate * chunk_ms // 1000)


async def held_frames(samples: np.ndarray, rate: int, *, chunk_ms: int, speed: float, hold_at: int,
                      resume: asyncio.Event) -> AsyncIterator[bytes]:
    """:func:`~streamscribe_client.file_frames` of ``samples``, held back before sample
    ``hold_at`` (a frame boundary) until ``resume`` is set, then paced afresh (no burst).

    A test that strikes a stage mid-call holds the call there until the strike: no stage
    can reach the call's end first, however far the ASR's finals lag behind the VAD on a
    loaded box. Its caller sets ``resume`` whatever happens (the frames wait for it).
    """
    step = rate * chunk_ms // 1000
    assert hold_at % step == 0, "hold_at must be a frame boundary: the frames stay those of file_frames"
    async for frame in file_frames(samples[:hold_at], rate, chunk_ms=chunk_ms, speed=speed):
        yield frame
    await resume.wait()
    async for frame in file_frames(samples[hold_at:], rate, chunk_ms=chunk_ms, speed=speed):
        yield frame


def lease_owner(redis_url: str, session_id: str, stage: str) -> str | None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        value = client.get(f"ss:{{{session_id}}}:lease:{stage}")
    finally:
        client.close()
    assert not isinstance(value, str)  # no decode_responses: bytes
    return value.decode().rsplit(":", 1)[0] if value else None


def wait_for_owner(redis_url: str, session_id: str, stage: str, owner: str, timeout: float) -> None:
    """Until ``owner`` holds the lease of ``session_id``'s ``stage`` (what a takeover is)."""
    wait_until(lambda: lease_owner(redis_url, session_id, stage) == owner, timeout,
               f"{owner} owns the {stage} lease of {session_id}")


def session_key_ttls(redis_url: str, session_id: str) -> dict[str, int]:
    """Every key of ``session_id`` with its TTL in ms (-1: none)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return {key.decode(): client.pttl(key) for key in client.scan_iter(f"ss:{{{session_id}}}:*")}
    finally:
        client.close()


def assert_keys_expire_with_the_session(redis_url: str, session_id: str, session_ttl: float) -> None:
    """Each key of a live session expires, and no later than one session TTL after its meta could."""
    ttls = session_key_ttls(redis_url, session_id)
    assert ttls, f"no key of session {session_id}"
    late = {key: ttl for key, ttl in ttls.items() if not 0 < ttl <= 2 * session_ttl * 1000}
    assert not late, f"keys without a TTL, or one past meta + session TTL: {late}"


def http_port(process) -> int:
    return int(process.argv[process.argv.index("--http-port") + 1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def metric(text: str, name: str, **labels) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? ([0-9.eE+-]+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


async def stream_with_strike(url: str, audio: np.ndarray, strike=None, *, speed: float = 2.0,
                             ) -> tuple[list[dict], list[float]]:
    """Stream ``audio`` (16 kHz) to ``url``; at the first partial after a final (in the 2nd
    utterance), await ``strike(session_id)``. The messages, and the ``time.monotonic()`` at
    which each arrived."""
    second_partial = asyncio.Event()
    arrived: list[float] = []
    finals = 0
    session_id = None

    def on_message(message):
        nonlocal finals, session_id
        arrived.append(time.monotonic())
        if message["type"] == "session_created":
            session_id = message["session_id"]
        elif message["type"] == "final":
            finals += 1
        elif message["type"] == "partial" and finals >= 1:  # (a sentence end may split a clip's final)
            second_partial.set()

    task = asyncio.create_task(stream(url, file_frames(audio, 16000, chunk_ms=100, speed=speed),
                                      sample_rate=16000, on_message=on_message, timeout=120))
    if strike is not None:
        waiter = asyncio.create_task(second_partial.wait())
        await asyncio.wait({task, waiter}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        assert second_partial.is_set(), "no partial after the first final"
        await strike(session_id)
    messages = await within(task, 180)
    return messages, arrived


def replace_worker(stack, name):
    """Start a fresh worker in place of one that was killed, so the next test has two again."""
    stage = name.rstrip("0123456789")
    old = stack.worker(name)
    stack.workers[stage].remove(old)
    stack.processes.remove(old)
    old.stop()  # gone already: reaps it and its output reader
    new = stack.add_worker(stage, env=stack.env)
    new.wait_for_line(r"\bready\b", 60)
