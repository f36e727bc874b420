"""The whisper engine's batch child is stopped while live decodes run (issue 20), with real processes.

The states come from ``/proc/<pid>/stat`` ('T': stopped); waits are bounded polls of that
state or ``poll`` on a pidfd (readable once the process has exited).
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from asr_worker.engines import DecodeRequest
from asr_worker.engines.batch_pause import ChildPauser
from asr_worker.engines.whisper import WhisperDecoder, WhisperEngine, WhisperOptions
from tests.kit.support import wait_until

SR = 16_000
REPO = Path(__file__).resolve().parents[2]


def state(pid: int) -> str:
    """The process's state letter ('T' stopped, 'S' sleeping, 'R' running...); '' once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return ""


def stopped(pid: int, timeout: float = 10.0) -> None:
    wait_until(lambda: state(pid) == "T", timeout, f"process {pid} stopped", interval=0.01)


def running(pid: int, timeout: float = 10.0) -> None:
    wait_until(lambda: state(pid) not in ("T", ""), timeout, f"process {pid} continued", interval=0.01)


def exited(pidfd: int, timeout: float) -> bool:
    """Whether the process of ``pidfd`` exits within ``timeout`` s (poll: readable when it has)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def request(request_id: str, audio, *, batch: bool) -> DecodeRequest:
    return DecodeRequest(request_id=request_id, audio=audio, final=True, language="en", batch=batch)


def test_the_pauser_stops_a_process_while_live_decodes_run_and_gives_it_its_share():
    process = subprocess.Popen(["sleep", "60"])
    pauser = ChildPauser(min_run=0.2, period=0.6)
    try:
        pauser.attach(process.pid)
        running(process.pid)
        pauser.live(True)
        stopped(process.pid)
        # Live load that does not end: continued for 0.2 s after 0.4 s stopped, then stopped again.
        running(process.pid, 5.0)
        stopped(process.pid, 5.0)
        assert pauser.stats()[2] >= 1  # shares granted
        pauser.live(False)
        running(process.pid)
        pauser.live(True)
        stopped(process.pid)
        pauser.close()  # continues it for good
        running(process.pid)
        pauser.live(True)
        assert pauser.running and state(process.pid) != "T"
        paused, pauses, _ = pauser.stats()
        assert pauses >= 3 and paused > 0.4
    finally:
        pauser.close()
        process.kill()
        process.wait(10)


def hold_live_decodes(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Decodes in this process (live ones: a recording's run in the child) wait for ``release``,
    ``entered`` set first: a live decode as long as the test wants. Before the engine is made."""
    entered, release = threading.Event(), threading.Event()
    decode = WhisperDecoder.decode

    def held(self, requests):
        entered.set()
        if not release.wait(60):
            raise TimeoutError("never released")
        return decode(self, requests)

    monkeypatch.setattr(WhisperDecoder, "decode", held)
    return entered, release


async def test_a_live_decode_stops_the_batch_child_until_it_ends(clip_samples, monkeypatch):
    # A period longer than the test: no share while the live decode runs.
    entered, release = hold_live_decodes(monkeypatch)
    engine = WhisperEngine(WhisperOptions(num_workers=1, batch_pause_period_sec=600.0))
    try:
        audio = clip_samples[1][0][:4 * SR]
        first = await engine.transcribe(request("recording-1", audio, batch=True))  # starts the child
        child = engine.batch_child_pid
        assert child and first.text and state(child) not in ("T", "")
        live = asyncio.create_task(engine.transcribe(request("live", audio, batch=False)))
        assert await asyncio.to_thread(entered.wait, 30)
        await asyncio.to_thread(stopped, child)
        recording = asyncio.create_task(engine.transcribe(request("recording-2", audio, batch=True)))
        release.set()
        assert (await live).text == first.text
        await asyncio.to_thread(running, child)
        assert (await asyncio.wait_for(recording, 60)).text == first.text  # the recording goes on
        paused, pauses, shares = engine.pauser.stats()
        assert pauses == 1 and paused > 0 and shares == 0
        families = {family.name: family for collector in engine.collectors() for family in collector.collect()}
        assert families["streamscribe_asr_batch_child_pauses"].samples[0].value == 1
    finally:
        release.set()
        await engine.close()


async def test_the_batch_child_starts_with_the_engine_unless_told_to_wait(clip_samples):
    eager = WhisperEngine(WhisperOptions(num_workers=1))
    lazy = WhisperEngine(WhisperOptions(num_workers=1, batch_child_at_start=False))
    try:
        await eager.start()
        child = eager.batch_child_pid
        assert child and state(child) not in ("T", ""), "start() did not start the batch child"
        await lazy.start()
        assert lazy.batch_child_pid is None
        audio = clip_samples[1][0][:2 * SR]
        await eager.transcribe(request("recording", audio, batch=True))
        assert eager.batch_child_pid == child  # the recording went to the child started at start()
        await lazy.transcribe(request("recording", audio, batch=True))
        assert lazy.batch_child_pid  # started by the first recording
    finally:
        await eager.close()
        await lazy.close()


async def test_close_continues_a_stopped_child_and_it_exits(clip_samples, monkeypatch):
    entered, release = hold_live_decodes(monkeypatch)
    engine = WhisperEngine(WhisperOptions(num_workers=1, batch_pause_period_sec=600.0))
    pidfd = None
    try:
        audio = clip_samples[1][0][:2 * SR]
        await engine.transcribe(request("recording", audio, batch=True))
        child = engine.batch_child_pid
        pidfd = os.pidfd_open(child)
        live = asyncio.create_task(engine.transcribe(request("live", audio, batch=False)))
        assert await asyncio.to_thread(entered.wait, 30)
        await asyncio.to_thread(stopped, child)
        closing = asyncio.create_task(engine.close())  # the live decode still runs
        assert await asyncio.to_thread(exited, pidfd, 30), "the stopped child did not exit at close"
        release.set()
        await asyncio.wait_for(closing, 60)
        await asyncio.gather(live, return_exceptions=True)
        await engine.close()  # idempotent
    finally:
        release.set()
        await engine.close()
        if pidfd is not None:
            os.close(pidfd)


# A worker whose live decode never ends (its batch child stopped for good), printing the child's pid.
PARENT = """
import asyncio, sys, threading
import numpy as np
from asr_worker.engines import DecodeRequest
from asr_worker.engines.whisper import WhisperDecoder, WhisperEngine, WhisperOptions

WhisperDecoder.decode = lambda self, requests: threading.Event().wait()  # in this process: live decodes

async def main():
    engine = WhisperEngine(WhisperOptions(num_workers=1, batch_pause_period_sec=600.0))
    audio = np.zeros(16000, np.float32)
    await engine.transcribe(DecodeRequest(request_id="r", audio=audio, final=True, language="en", batch=True))
    live = asyncio.ensure_future(engine.transcribe(DecodeRequest(request_id="l", audio=audio, final=True)))
    print(engine.batch_child_pid, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return "?"


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@pytest.mark.parametrize("session", ["own session (a daemon, a container's init)", "the harness's session (a shell)"])
def test_a_stopped_batch_child_dies_with_a_parent_killed_with_sigkill(session):
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=REPO, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)},
                              start_new_session=session.startswith("own"))
    pidfds: dict[int, int] = {}
    try:
        ready, _, _ = select.select([parent.stdout], [], [], 120)
        assert ready, "the parent did not start its batch child"
        child = int(parent.stdout.readline())
        stopped(child)
        pidfds = {pid: os.pidfd_open(pid) for pid in children(parent.pid)}  # the batch child, the resource tracker
        assert child in pidfds
        parent.kill()
        parent.wait(10)
        outlived = [f"{pid} ({state(pid)}) {command(pid)}" for pid, pidfd in pidfds.items() if not exited(pidfd, 15)]
        assert not outlived, f"outlived their parent killed with SIGKILL: {outlived}"
    finally:
        parent.kill()
        parent.wait(10)
        for pidfd in pidfds.values():
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)  # only if a test failed: it is still there
            except ProcessLookupError:
                pass
            os.close(pidfd)
