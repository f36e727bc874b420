"""The command-line client's output: terminal codes only on a terminal, a refusal's reason.

Its failures as a real process are tested in tests/e2e/test_client_cli.py.
"""

from __future__ import annotations

import io
import json

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from streamscribe_client.client import CLEAR_LINE, DEFAULT_URL, URL_VARIABLE, main, printer, refusal, server_url
from tests.kit.support import ROOT

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


def test_the_server_comes_from_the_flag_then_the_environment_then_the_default():
    assert server_url("ws://flag/ws/asr", {URL_VARIABLE: "ws://env/ws/asr"}) == ("ws://flag/ws/asr", "--url")
    assert server_url(None, {URL_VARIABLE: "ws://env/ws/asr"}) == ("ws://env/ws/asr", URL_VARIABLE)
    assert server_url(None, {URL_VARIABLE: ""}) == (DEFAULT_URL, "default")
    assert server_url(None, {}) == (DEFAULT_URL, "default")


def test_help_names_the_url_variable(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "STREAMSCRIBE_URL" in " ".join(capsys.readouterr().out.split())


def test_a_bad_url_names_where_it_came_from(monkeypatch, capsys):
    """websockets refuses a URL that is not ws:// or wss:// before it opens any socket."""
    speech = str(ROOT / "examples" / "speech.wav")
    monkeypatch.setenv(URL_VARIABLE, "http://localhost:1/")
    assert main([speech]) == 1
    assert capsys.readouterr().err.startswith(f"streamscribe-client: bad {URL_VARIABLE}: ")
    assert main([speech, "--url", "ftp://localhost:1/"]) == 1  # the flag wins over the environment
    assert capsys.readouterr().err.startswith("streamscribe-client: bad --url: ")
