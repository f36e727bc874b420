"""The command-line client's output: terminal codes only on a terminal, a refusal's reason.

Its failures as a real process are tested in tests/e2e/test_client_cli.py.
"""

from __future__ import annotations

import io
import json

from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from streamscribe_client.client import CLEAR_LINE, printer, refusal

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
