"""The gateway's HTTP requests off the wire: request targets, methods and bodies. Sans I/O.

tests/e2e/test_security.py sends the same requests to a real gateway.
"""

from __future__ import annotations

import http
import json
import re

import pytest
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import CLOSED, CONNECTING, OPEN
from websockets.server import ServerProtocol

from gateway.doors.base import BadTarget, Handshake, split_target
from gateway.http import routes
from gateway.http.wire import Body, GatewayProtocol, has_body

UPGRADE = (b"Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")


@pytest.mark.parametrize("target, path, query", [
    ("/ws/asr", "/ws/asr", ""),
    ("/ws/asr?token=k&a=[1]|2", "/ws/asr", "token=k&a=[1]|2"),  # clients leave these unescaped in queries
    ("/ws/follow/a%20b?", "/ws/follow/a%20b", ""),
    ("//ws/asr", "//ws/asr", ""),  # a path, not a host as urlsplit reads it
    ("http://gateway:8000/ws/asr?x=1", "/ws/asr", "x=1"),  # absolute-form, a proxy's
    ("wss://gateway", "/", ""),
])
def test_request_targets(target, path, query):
    assert split_target(target) == (path, query)


@pytest.mark.parametrize("target, why", [
    ("//[", "path holds '[' at 2"),  # urlsplit: ValueError, once a 500 and a traceback
    ("*", "must be a path"),
    ("ws/asr", "must be a path"),
    ("/a\x00b", "path holds '\\x00'"),
    ("/caf\xe9", "path holds 'é'"),
    ("/a%zz", "path holds '%'"),
    ("/ws/asr?a=b#frag", "query holds '#'"),
    ("/ws/asr?a=\x1b[31m", "query holds '\\x1b'"),
])
def test_bad_request_targets(target, why):
    with pytest.raises(BadTarget, match=re.escape(why)):
        Handshake.from_target(target, Headers())


def test_methods_and_bodies():
    def refusal(method, *headers):
        response = routes.method_refusal(Request("/ws/asr", Headers(headers), method))
        return response and (response.status_code, json.loads(response.body)["error"], response.headers.get("Allow"))

    assert refusal("GET") is None and refusal("HEAD", ("Content-Length", "0")) is None
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        assert refusal(method, ("Content-Length", "5")) == (405, "method_not_allowed", "GET, HEAD")
    assert refusal("GET", ("Content-Length", "5")) == (400, "bad_request", None)
    assert refusal("GET", ("Transfer-Encoding", "chunked")) == (400, "bad_request", None)
    assert has_body(Headers([("Content-Length", "0"), ("Content-Length", "0")])) is False
    assert has_body(Headers([("Content-Length", "x")])) is True


def parsed(protocol: ServerProtocol, data: bytes) -> tuple[list, bytes]:
    """What the protocol made of ``data``: its events, and what it wrote back."""
    protocol.receive_data(data)
    return protocol.events_received(), b"".join(protocol.data_to_send())


def test_a_request_with_a_body_reaches_process_request():
    request = b"POST /v1/listen HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    # websockets alone drops it without a word.
    events, written = parsed(ServerProtocol(), request)
    assert events == [] and written == b""
    protocol = GatewayProtocol()
    [event], written = parsed(protocol, request)
    assert (event.method, event.path, event.headers["Content-Length"], written) == ("POST", "/v1/listen", "5", b"")
    # The body is no WebSocket frames: more of it is discarded, and the answer goes out.
    assert parsed(protocol, b"\x88\x80" * 1000) == ([], b"")
    protocol.send_response(routes.method_refusal(event))
    assert b"".join(protocol.data_to_send()).startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    # The target is handed over as sent, non-ASCII included, for the 400 that says what is wrong.
    [event], _ = parsed(GatewayProtocol(), b"GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert event.path == "/caf\xe9"


def test_a_request_with_a_body_is_never_upgraded():
    protocol = GatewayProtocol()
    [request], _ = parsed(protocol, b"GET /ws/asr HTTP/1.1\r\n" + UPGRADE + b"Content-Length: 4\r\n\r\n\x81\x80ab")
    assert protocol.accept(request).status_code == 400
    protocol = GatewayProtocol()
    [request], _ = parsed(protocol, b"GET /ws/asr HTTP/1.1\r\n" + UPGRADE + b"\r\n")
    assert protocol.accept(request).status_code == 101


@pytest.mark.parametrize("request_bytes, answer", [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", b"HTTP/1.1 414 "),
    (b"GET / HTTP/1.1\r\nX: " + b"b" * 9000 + b"\r\n\r\n", b"HTTP/1.1 431 "),
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", b"HTTP/1.1 431 "),
])
def test_requests_past_a_limit_are_refused_as_websockets_refuses_them(request_bytes, answer):
    for protocol in (ServerProtocol(), GatewayProtocol()):
        events, written = parsed(protocol, request_bytes)
        assert events == [] and written.startswith(answer), (protocol, written[:80])
        assert protocol.handshake_exc is not None


@pytest.mark.parametrize("request_bytes, why", [
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", b"the request line is not METHOD TARGET HTTP/1.1: b'GET / HTTP/9.9'"),
    (b"GET / HTTP/2.0\r\n\r\n", b"not METHOD TARGET HTTP/1.1"),
    (b"G\x00T / HTTP/1.1\r\n\r\n", b"not METHOD TARGET HTTP/1.1: b'G\\x00T / HTTP/1.1'"),
    (b"GET / HTTP/1.1\nHost: x\n\n", b"a line of the request ends with a bare LF; HTTP/1.1 ends lines with CRLF"),
    (b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", b"ends with a bare LF"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", b"invalid HTTP header value"),
    (b"GET / HTTP/1.1\r\nno colon\r\n\r\n", b"invalid HTTP header line"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n", b"not METHOD TARGET HTTP/1.1"),  # TLS to a plain port
])
def test_malformed_requests_get_a_400_that_says_why(request_bytes, why):
    """Issue 32: websockets closes the connection without a word (HTTP/9.9, a bare LF, a NUL in a header)."""
    protocol = GatewayProtocol()
    events, written = parsed(protocol, request_bytes)
    assert events == [] and written.startswith(b"HTTP/1.1 400 Bad Request\r\n"), written[:80]
    assert b"\r\n\r\nBad request: " in written and why in written, written
    assert protocol.handshake_exc is not None and protocol.close_expected()


def test_a_connection_that_ends_mid_request_gets_no_answer():
    protocol = GatewayProtocol()
    protocol.receive_data(b"GET / HTTP/1.1\r\nHost: x")
    protocol.receive_eof()
    assert protocol.events_received() == [] and b"".join(protocol.data_to_send()) == b""
    assert protocol.handshake_exc is not None


def test_a_pipelined_request_waits_for_the_first_answer_and_is_discarded_after_it():
    """Issue 32: two GETs in one write: the second, read as frames, failed the connection (no answer, and
    AssertionError tracebacks when the first answer was sent)."""
    protocol = GatewayProtocol()
    [first], written = parsed(protocol, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\n\r\n")
    assert (first.path, written, protocol.state) == ("/healthz", b"", CONNECTING)
    assert parsed(protocol, b"GET /metrics HTTP/1.1\r\n\r\n") == ([], b"")
    protocol.send_response(routes.response(http.HTTPStatus.OK, b"ok", "text/plain"))
    answer = b"".join(protocol.data_to_send())
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: close\r\n" in answer  # send it again
    assert parsed(protocol, b"GET / HTTP/1.1\r\n\r\n") == ([], b"")  # discarded
    assert protocol.handshake_exc is None


@pytest.mark.parametrize("request_bytes", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/listen HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",  # its route has not asked
    b"POST /v1/listen HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello, and more",
])
def test_a_client_that_goes_away_before_its_answer_closes_the_protocol(request_bytes):
    """Issue 32: an upload dropped mid-transcription left the state CONNECTING; websockets' connection_lost
    asserts CLOSED (an AssertionError traceback), so wait_closed() never ended and the recording was
    transcribed to the end, its 200 written to the dead socket."""
    protocol = GatewayProtocol()
    [_], _ = parsed(protocol, request_bytes)
    protocol.receive_eof()
    assert protocol.state is CLOSED
    assert protocol.data_to_send() == [b""]  # the server's EOF; no answer


def test_a_body_cut_off_by_the_client_going_away_fails_and_closes_the_protocol():
    protocol = GatewayProtocol()
    parsed(protocol, b"POST /v1/listen HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
    protocol.body = body = Body(100)
    next(protocol.parser)  # as GatewayConnection.read_body does
    protocol.receive_eof()
    assert str(body.error) == "the connection ended before the body did" and protocol.state is CLOSED


def test_frames_sent_with_the_handshake_are_read_after_the_101():
    protocol = GatewayProtocol()
    frame = Frame(Opcode.TEXT, b"hello").serialize(mask=True)
    [request], _ = parsed(protocol, b"GET /ws/asr HTTP/1.1\r\n" + UPGRADE + b"\r\n" + frame)
    protocol.send_response(protocol.accept(request))
    assert protocol.state is OPEN
    [received], _ = parsed(protocol, b"")  # what GatewayConnection.handshake does once the 101 is sent
    assert (received.opcode, received.data) == (Opcode.TEXT, b"hello")


def test_like_keeps_the_settings_serve_gave():
    original = ServerProtocol(subprotocols=["token"], max_size=(1 << 20, 1 << 16))
    copy = GatewayProtocol.like(original)
    assert (copy.available_subprotocols, copy.max_message_size, copy.max_fragment_size, copy.logger) == (
        ["token"], 1 << 20, 1 << 16, original.logger)
    with pytest.raises(TypeError, match="select_subprotocol"):
        GatewayProtocol.like(ServerProtocol(select_subprotocol=lambda protocol, offered: None))
