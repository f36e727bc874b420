"""The command-line client as a real process: a missing file, a refused connection or a bad URL
ends in one line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import soundfile

from tests.kit.support import ROOT


def run_client(*args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "streamscribe_client", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": path}, cwd=ROOT)


def assert_one_line_failure(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert result.stdout == ""


def test_a_missing_file_is_one_line_and_a_failure(tmp_path):
    missing = tmp_path / "nonexistent.wav"
    assert_one_line_failure(run_client(str(missing)), str(missing), "No such file")


def test_a_refused_connection_and_a_bad_url_are_one_line_and_a_failure(tmp_path):
    clip = tmp_path / "silence.wav"
    soundfile.write(clip, np.zeros(1600, np.float32), 16000)
    with socket.socket() as bound:  # bound but not listening: connections to it are refused
        bound.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{bound.getsockname()[1]}/ws/asr"
        assert_one_line_failure(run_client(str(clip), "--url", url), "cannot reach", url)
    assert_one_line_failure(run_client(str(clip), "--url", "http://localhost:8000/"), "bad --url")
