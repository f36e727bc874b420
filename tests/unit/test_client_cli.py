"""The command-line client's output and failures: terminal codes only on a terminal, one line per failure."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from streamscribe_client.client import CLEAR_LINE, printer, refusal

ROOT = Path(__file__).resolve().parents[2]
PARTIAL = {"type": "partial", "text": "hello wor"}
FINAL = {"type": "final", "text": "hello world", "start_ms": 250, "end_ms": 1500}
ERROR = {"type": "error", "code": "overloaded", "message": "try again later"}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def shown(out: io.StringIO, err: io.StringIO, *messages: dict, json_output: bool = False) -> tuple[str, str]:
    show = printer(json_output, out=out, err=err)
    for message in messages:
        show(message)
    return out.getvalue(), err.getvalue()


def test_a_pipe_gets_only_final_lines_and_no_terminal_codes():
    out, err = shown(io.StringIO(), io.StringIO(), PARTIAL, FINAL, PARTIAL, ERROR)
    assert out == "[   0.25-   1.50] hello world\n"
    assert err == "error overloaded: try again later\n"
    assert "\r" not in out + err and "\x1b" not in out + err


def test_a_terminal_sees_partials_overwritten_by_the_final():
    out, err = shown(Terminal(), Terminal(), PARTIAL, FINAL, ERROR)
    assert out == f"{CLEAR_LINE}… hello wor{CLEAR_LINE}[   0.25-   1.50] hello world\n"
    assert err == f"{CLEAR_LINE}error overloaded: try again later\n"


def test_errors_to_a_file_carry_no_codes_even_when_the_transcript_goes_to_a_terminal():
    _, err = shown(Terminal(), io.StringIO(), ERROR)
    assert err == "error overloaded: try again later\n"


def test_json_output_is_one_message_a_line_either_way():
    for out in (io.StringIO(), Terminal()):
        text, _ = shown(out, io.StringIO(), PARTIAL, FINAL, json_output=True)
        assert [json.loads(line) for line in text.splitlines()] == [PARTIAL, FINAL]


def test_a_refused_handshake_says_the_servers_reason():
    body = json.dumps({"error": "forbidden_origin", "message": "the origin is not allowed"}).encode()
    refused = InvalidStatus(Response(403, "Forbidden", Headers([("Content-Type", "application/json")]), body))
    assert refusal(refused) == "HTTP 403: the origin is not allowed"
    assert refusal(InvalidStatus(Response(502, "Bad Gateway", Headers(), b"<html>"))) == "HTTP 502"
    assert refusal(InvalidStatus(Response(500, "Internal Server Error", Headers(), b"[]"))) == "HTTP 500"


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
