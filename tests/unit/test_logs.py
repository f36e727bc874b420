"""Log lines that a client cannot forge or flood: common.logs.Untrusted and the formatters' guard."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from websockets.datastructures import Headers

from common.logs import MAX_UNTRUSTED, JsonFormatter, TextFormatter, Untrusted
from gateway.doors.audiohook import AudioHookDoor
from gateway.doors.base import Handshake

from tests.kit.telephony import SESSION_ID, AudioHookClient

FORGED = "\n2099-01-01T00:00:00.000Z INFO gateway: FORGED"


@pytest.mark.parametrize("value, shown", [
    ("plain text, über", "plain text, über"),
    ("a\nb\r\nc\td", "a\\nb\\r\\nc\\td"),
    ("\x1b[31mred\x7f\x85", "\\x1b[31mred\\x7f\\x85"),  # a terminal's escape, DEL, NEL
    ("\u2028\u202e\u200b", "\\u2028\\u202e\\u200b"),  # line separator, bidi override, zero width
    ("\ud800", "\\ud800"),  # a lone surrogate: unwritable as UTF-8
    (429, "429"),
    ({"a": ["b\n"]}, "{'a': ['b\\n']}"),  # str() of a value that is no string
])
def test_untrusted_values_are_escaped(value, shown):
    assert str(Untrusted(value)) == shown
    assert repr(Untrusted(value)) == repr(shown)


def test_untrusted_values_are_cut():
    for text in ("x" * 30_000, "\n" * 150, "é" * 201):
        shown = str(Untrusted(text))
        assert len(shown) == MAX_UNTRUSTED and shown.endswith(f"...({len(text)} chars)"), shown
    assert str(Untrusted("x" * MAX_UNTRUSTED)) == "x" * MAX_UNTRUSTED
    assert str(Untrusted("abcdefghijklmnopqrstuvwxyz", limit=20)) == "abcdefg...(26 chars)"
    assert len(str(Untrusted("abcdef", limit=4))) == 4


def test_untrusted_values_are_formatted_only_when_logged():
    class Counting:
        calls = 0

        def __str__(self) -> str:
            Counting.calls += 1
            return "value"

    logger = logging.getLogger("tests.logs.lazy")
    logger.setLevel(logging.WARNING)
    logger.info("%s", Untrusted(Counting()))
    assert Counting.calls == 0


def record(message: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("gateway", logging.WARNING, __file__, 1, message, args, exc_info)


def test_the_text_formatter_writes_one_line_per_message_and_keeps_tracebacks():
    formatter = TextFormatter()
    line = formatter.format(record("client error %s", "x" + FORGED + "\r\x1b[2K"))
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.endswith("client error x\\n2099-01-01T00:00:00.000Z INFO gateway: FORGED\\r\\x1b[2K")
    try:
        raise ValueError("inside")
    except ValueError:
        text = formatter.format(record("failed:%s", FORGED, exc_info=sys.exc_info()))
    head, *traceback = text.splitlines()
    assert head.endswith("failed:\\n2099-01-01T00:00:00.000Z INFO gateway: FORGED")
    assert traceback[0] == "Traceback (most recent call last):" and traceback[-1] == "ValueError: inside"


def test_the_json_formatter_writes_one_line_per_message():
    line = JsonFormatter().format(record("client error %s", FORGED))
    assert "\n" not in line and json.loads(line)["msg"] == "client error " + FORGED


def test_an_audiohook_error_report_makes_one_short_line(caplog):
    door, client = AudioHookDoor(Handshake("/audiohook", headers=Headers({"Audiohook-Session-Id": SESSION_ID}))), \
        AudioHookClient()
    door.receive(client.open())
    with caplog.at_level(logging.INFO, logger="gateway.doors.audiohook"):
        # each returns only the door's in-order reply marker (see AudioHookDoor.receive)
        door.receive(client.message("error", {"code": 500, "message": "boom" + FORGED + "y" * 30_000}))
        door.receive(client.message("update", {"language": "fr" + FORGED}))
    formatter = TextFormatter()
    error, update = (formatter.format(r) for r in caplog.records)
    assert "\n" not in error and "client error 500: boom\\n2099-01-01T00:00:00.000Z INFO gateway: FORGED" in error
    assert len(error) < 400 and error.endswith("chars)")
    assert "\n" not in update and "'fr\\\\n2099" in update


def test_websockets_debug_lines_keep_no_frame_payload_header_value_or_query():
    """websockets at DEBUG, through its own sans-I/O protocols: the handshake's key (a header, the
    query, the subprotocol pair) and what the frames carry (a config, a transcript with a card
    number) never reach the log; each frame's kind and size do."""
    from websockets.client import ClientProtocol
    from websockets.server import ServerProtocol
    from websockets.uri import parse_uri

    from common.logs import WIRE_CONTENTS

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep()
    handler.setFormatter(TextFormatter())
    handler.addFilter(WIRE_CONTENTS)  # as setup_logging installs it
    logger = logging.getLogger("websockets.test_wire")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        client = ClientProtocol(parse_uri("ws://gw/v1/listen?token=s3cret-key-777&redact=pci"), logger=logger)
        server = ServerProtocol(logger=logger)
        request = client.connect()
        request.headers["Authorization"] = "Token s3cret-key-777"
        request.headers["Sec-WebSocket-Protocol"] = "token, s3cret-key-777"
        client.send_request(request)
        server.receive_data(b"".join(client.data_to_send()))
        [received] = server.events_received()
        server.send_response(server.accept(received))
        client.receive_data(b"".join(server.data_to_send()))
        client.send_text(b'{"type": "config", "context": "card 4111 1111 1111 1111"}')
        server.receive_data(b"".join(client.data_to_send()))
        server.send_text(b'{"type": "final", "text": "My card is 4111 1111 1111 1111."}')
        server.send_close(1000, "done")
        client.receive_data(b"".join(server.data_to_send()))
    finally:
        logger.removeHandler(handler)
    log = "\n".join(lines)
    assert "< TEXT [" in log and "> TEXT [" in log and "CLOSE code 1000" in log, log
    assert "> GET /v1/listen HTTP/1.1" in log and "Authorization: [" in log, log
    assert "s3cret" not in log and "4111" not in log and "config" not in log and "redact" not in log, log
