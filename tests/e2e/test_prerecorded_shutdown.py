"""SIGTERM a gateway with pre-recorded requests in flight (``POST /v1/listen``), on real processes.

A gateway that stops (a rolling upgrade) finishes what it promised: a client that
waits for its JSON gets it, one answered ``{"request_id"}`` gets its callback, within
the gateway's ``--drain-timeout``; meanwhile the port is closed and a request on a
connection opened before gets 503 with ``Retry-After``. A job the bound cuts is
logged at WARNING with its request id (docs/deepgram.md, "Pre-recorded audio"), but a
callback whose transcript is ready is handed to the fleet (stored in Redis) and another
gateway delivers it. The gateways here are started beside the stack's (same Redis and
workers) with their own flags; none of this module sends stored callbacks unless its
flags say so (``--prerecorded-callback-senders``), so a test knows which gateway does.
The API itself is tested in test_prerecorded.py; the store's scripts in test_callback_store.py.
"""

from __future__ import annotations

import asyncio
import http.server
import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
import redis as sync_redis
import soundfile

from gateway.outputs.courier import KEYS as CALLBACK_KEYS
from gateway.outputs.delivery import Delivery
from gateway.outputs.webhook import signature
from tests.kit.faults import five_utterances_with_bounds, metric, scrape
from tests.kit.support import eventually, word_errors
from tests.kit.webhook import WebhookReceiver

pytestmark = pytest.mark.slow

TIMEOUT = 180
DRAIN = 150.0  # --drain-timeout of the gateway whose requests must finish
SHORT_DRAIN = 4.0  # --drain-timeout of the gateway whose requests cannot
EXIT_MARGIN = 10.0  # seconds past the drain for the process to exit
SENDERS_OFF = {"STREAMSCRIBE_GATEWAY_PRERECORDED_CALLBACK_SENDERS": "0"}
SECRET = "the-fleet-s-signing-secret"


@pytest.fixture(scope="module")
def stack(redis_server, stacks):
    """The module's stack, whose gateways (and those added) send no stored callback but by their flags."""
    return stacks(redis_server, extra_env=SENDERS_OFF)


@pytest.fixture
def stored_callbacks(redis_server):
    """A function that reads the stored callbacks (request id -> Delivery); every key deleted after the test."""
    client = sync_redis.Redis.from_url(redis_server.url)

    def stored() -> dict[str, Delivery]:
        return {key.decode(): Delivery.decode(raw) for key, raw in client.hgetall(CALLBACK_KEYS[2]).items()}

    yield stored
    client.delete(*CALLBACK_KEYS)
    client.close()


@pytest.fixture(scope="module")
def recording(clips):
    """The clips in one stream (about 30 s) as WAV, and their reference text."""
    audio, _ = five_utterances_with_bounds(clips, gap_seconds=1.0)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue(), " ".join(text for _, text in clips)


@pytest.fixture
def receiver():
    """A callback receiver that answers at once until a test clears its ``hold``."""
    hold = threading.Event()
    hold.set()
    receiver = WebhookReceiver(hold=hold)
    receiver.start()
    yield receiver
    hold.set()
    receiver.close()


def post(port: int, body: bytes, query: str = "") -> tuple[int, dict, dict]:
    return post_request(urllib.request.Request(f"http://127.0.0.1:{port}/v1/listen{query}", data=body,
                                               method="POST", headers={"Content-Type": "audio/wav"}))


def post_request(request: urllib.request.Request) -> tuple[int, dict, dict]:
    """Send ``request`` with urllib: (status, JSON body, headers)."""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def request_head(length: int, query: str = "") -> bytes:
    return (f"POST /v1/listen{query} HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\n"
            f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n").encode()


def answer_of(sock: socket.socket) -> tuple[str, dict[str, str], dict]:
    """Read an HTTP answer until the server closes: (status line, headers, JSON body)."""
    raw = b""
    while chunk := sock.recv(65536):
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, json.loads(body)


def transcript(body: dict) -> str:
    return body["results"]["channels"][0]["alternatives"][0]["transcript"]


def exited(gateway, timeout: float) -> float:
    """Seconds until the SIGTERMed ``gateway`` exits (asserting it does within ``timeout``, with 0)."""
    started = time.monotonic()
    code = gateway.proc.wait(timeout)
    seconds = time.monotonic() - started
    gateway.stop()  # joins its log reader: every line is in
    assert code == 0, (code, gateway.tail(60))
    assert "Traceback" not in "\n".join(gateway.lines), gateway.tail(60)
    return seconds


def port_refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.e2e
async def test_sigterm_finishes_a_callback_and_a_synchronous_request(live, recording, receiver):
    wav, reference = recording
    live.add_gateway("--prerecorded-callback-hosts", "127.0.0.1", "--drain-timeout", str(DRAIN))
    index = len(live.gateways) - 1
    gateway, port = live.gateways[index]
    status, accepted, _ = await asyncio.to_thread(post, port, wav, f"?punctuate=true&callback={receiver.url}")
    assert status == 200, accepted
    request_id = accepted["request_id"]
    synchronous = asyncio.create_task(asyncio.to_thread(post, port, wav, "?punctuate=true"))
    await eventually(lambda: metric(scrape(port), "streamscribe_gateway_sessions_active", protocol="deepgram") >= 2,
                     TIMEOUT, "both recordings in the pipeline")
    early = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)  # before the port closes
    mark = len(gateway.lines)
    live.sigterm_gateway(index)
    started = time.monotonic()
    try:
        # Both were in flight at the SIGTERM (neither done before it: the drain counts them).
        await asyncio.to_thread(gateway.wait_for_line, r"waiting for 2 pre-recorded request\(s\) to finish",
                                30, start=mark)
        # The listening socket closes in a task of its own, beside the drain's: soon, not at once.
        await eventually(lambda: port_refuses(port), 10, "new connections refused")
        early.sendall(request_head(len(wav)))  # the body waits for a 100 Continue that will not come
        status_line, headers, refused = await asyncio.to_thread(answer_of, early)
    finally:
        early.close()
    assert status_line.startswith("HTTP/1.1 503") and headers["Retry-After"] == "1", (status_line, headers)
    assert refused["err_code"] == "UNAVAILABLE" and "restarting" in refused["err_msg"], refused
    assert headers["dg-request-id"] == refused["request_id"]
    seconds = await asyncio.to_thread(exited, gateway, DRAIN + EXIT_MARGIN)
    print(f"the gateway finished 2 recordings and exited {time.monotonic() - started:.1f} s after the "
          f"SIGTERM ({seconds:.1f} s waited here)")
    # The callback went out before the process ended; the waiting client got its JSON.
    assert receiver.wait_for({request_id}, 0), (receiver.requests, gateway.tail(40))
    [called_back] = [body for key, body in receiver.delivered() if key == request_id]
    status, answered, _ = await synchronous
    assert status == 200, answered
    for body in (called_back, answered):
        errors, words = word_errors(reference, transcript(body))
        assert errors / words <= 0.25, transcript(body)
    assert called_back["metadata"]["request_id"] == request_id
    assert not [line for line in gateway.lines if "not delivered" in line], gateway.tail(40)


@pytest.mark.e2e
async def test_what_the_drain_timeout_cuts_is_answered_503_or_handed_over(live, recording, receiver,
                                                                          stored_callbacks):
    wav, _ = recording
    live.add_gateway("--prerecorded-callback-hosts", "127.0.0.1", "--drain-timeout", str(SHORT_DRAIN))
    index = len(live.gateways) - 1
    gateway, port = live.gateways[index]
    # A callback whose delivery the receiver holds: transcribed, in flight until the bound.
    receiver.hold.clear()
    status, accepted, _ = await asyncio.to_thread(post, port, wav, f"?callback={receiver.url}")
    assert status == 200, accepted
    request_id = accepted["request_id"]
    assert await asyncio.to_thread(receiver.wait_arrivals, 1, TIMEOUT), gateway.tail(40)
    # A synchronous request whose upload stops halfway: the server asked for its body.
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as upload:
        upload.sendall(request_head(len(wav)))
        assert upload.recv(100).startswith(b"HTTP/1.1 100 Continue")
        upload.sendall(wav[:len(wav) // 2])
        live.sigterm_gateway(index)
        status_line, headers, cut = await asyncio.to_thread(answer_of, upload)
    assert status_line.startswith("HTTP/1.1 503") and headers["Retry-After"] == "1", (status_line, headers)
    assert "restarted before the recording was transcribed" in cut["err_msg"], cut
    seconds = await asyncio.to_thread(exited, gateway, SHORT_DRAIN + EXIT_MARGIN)
    print(f"the gateway exited {seconds:.1f} s after the cut answer")
    lost = [line for line in gateway.lines if "not delivered" in line]
    assert any(cut["request_id"] in line and "answered 503" in line for line in lost), gateway.tail(40)
    # The callback's transcript was ready: its cut attempt is handed to the fleet, due at once, not lost.
    assert not [line for line in lost if request_id in line], gateway.tail(40)
    assert any(request_id in line and "handed over" in line for line in gateway.lines), gateway.tail(40)
    stored = stored_callbacks()[request_id]
    assert (stored.attempts, stored.url, stored.headers["dg-request-id"]) == (0, receiver.url, request_id)
    assert not receiver.delivered()


@pytest.mark.e2e
async def test_a_url_fetch_in_flight_is_part_of_the_drain(live, recording):
    """A {"url": ...} body whose remote stalls halfway: the drain waits for the fetch, then cuts it (503)."""
    wav, _ = recording
    release, asked = threading.Event(), threading.Event()

    class Stalling(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(wav)))
            self.end_headers()
            self.wfile.write(wav[:len(wav) // 2])
            self.wfile.flush()
            asked.set()
            release.wait(60)  # the rest never comes while the test runs

        def log_message(self, *args):
            pass

    remote = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    serving = threading.Thread(target=remote.serve_forever, daemon=True)
    serving.start()
    try:
        live.add_gateway("--prerecorded-url-hosts", "127.0.0.1", "--drain-timeout", str(SHORT_DRAIN))
        index = len(live.gateways) - 1
        gateway, port = live.gateways[index]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/listen", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"url": f"http://127.0.0.1:{remote.server_address[1]}/call.wav"}).encode())
        fetching = asyncio.create_task(asyncio.to_thread(post_request, request))
        assert await asyncio.to_thread(asked.wait, TIMEOUT), gateway.tail(40)
        mark = len(gateway.lines)
        live.sigterm_gateway(index)
        await asyncio.to_thread(gateway.wait_for_line, r"waiting for 1 pre-recorded request\(s\) to finish",
                                30, start=mark)
        status, cut, headers = await fetching
        assert status == 503 and headers["Retry-After"] == "1", (status, cut)
        assert "restarted before the recording was transcribed" in cut["err_msg"], cut
        await asyncio.to_thread(exited, gateway, SHORT_DRAIN + EXIT_MARGIN)
        assert any(cut["request_id"] in line and "answered 503" in line for line in gateway.lines), gateway.tail(40)
    finally:
        release.set()
        remote.shutdown()
        remote.server_close()
        serving.join(10)


@pytest.mark.e2e
async def test_a_callback_its_gateway_could_not_deliver_is_delivered_by_another(live, recording, tmp_path,
                                                                               stored_callbacks):
    """Gateway A's receiver is down (503); A is SIGTERMed (a rolling restart); B, on the same Redis,
    delivers the callback once the receiver is back: once, signed, with the request id."""
    wav, reference = recording
    failing = threading.Event()
    failing.set()
    receiver, finals = WebhookReceiver(failing=failing), WebhookReceiver()
    receiver.start()
    finals.start()
    secret = tmp_path / "webhook-secret"
    secret.write_text(SECRET)
    fleet = ("--prerecorded-callback-hosts", "127.0.0.1", "--prerecorded-callback-attempts", "20",
             "--prerecorded-callback-senders", "4", "--finals-webhook", finals.url,
             "--finals-webhook-secret-file", str(secret))
    b = None
    try:
        live.add_gateway(*fleet, "--drain-timeout", str(SHORT_DRAIN))
        a_index = len(live.gateways) - 1
        a, a_port = live.gateways[a_index]
        live.add_gateway(*fleet)
        b, b_port = live.gateways[-1]
        status, accepted, _ = await asyncio.to_thread(post, a_port, wav, f"?punctuate=true&callback={receiver.url}")
        assert status == 200, accepted
        request_id = accepted["request_id"]
        await asyncio.to_thread(a.wait_for_line, rf"pre-recorded {request_id}: callback attempt 1 of 20 failed "
                                                 r"\(HTTP 503\); handed over", TIMEOUT)
        # Retried from Redis (by A or B: the schedule goes on wherever), still 503.
        assert await asyncio.to_thread(receiver.wait_arrivals, 3, TIMEOUT), (a.tail(40), b.tail(40))
        live.sigterm_gateway(a_index)
        await asyncio.to_thread(exited, a, SHORT_DRAIN + EXIT_MARGIN)
        assert not [line for line in a.lines if "not delivered" in line], a.tail(40)
        tried = receiver.arrivals
        assert tried >= 1
        mark = len(b.lines)
        failing.clear()  # the receiver is back
        assert await asyncio.to_thread(receiver.wait_for, {request_id}, TIMEOUT), (receiver.requests, b.tail(40))
        line = await asyncio.to_thread(b.wait_for_line, rf"pre-recorded {request_id}: callback delivered "
                                                        r"\(attempt \d+\) by gateway", 30, start=mark)
        # The attempt count went on across gateways: every request the receiver saw was one attempt.
        assert f"(attempt {len(receiver.requests)})" in line, (line, receiver.requests)
        # Acknowledged before that line: nothing is left in Redis for any gateway to send again.
        assert stored_callbacks() == {}
        delivered = [i for i, (status, key, _) in enumerate(receiver.requests) if status == 200]
        assert len(delivered) == 1, receiver.requests
        [i] = delivered
        assert all(key == request_id for _, key, _ in receiver.requests)
        header, raw = receiver.signed[i]
        stamp = int(header.split(",")[0].removeprefix("t="))
        assert header == signature(SECRET.encode(), raw, timestamp=stamp)
        assert receiver.headers[i]["dg-request-id"] == request_id
        body = receiver.requests[i][2]
        assert body["metadata"]["request_id"] == request_id
        errors, words = word_errors(reference, transcript(body))
        assert errors / words <= 0.25, transcript(body)
        metrics = scrape(b_port)
        assert metric(metrics, "streamscribe_gateway_prerecorded_callbacks_delivered_total") == 1
        assert metric(metrics, "streamscribe_gateway_prerecorded_undelivered_total", kind="callback") == 0
        print(f"receiver answered 503 {tried} time(s) before A exited; B delivered it "
              f"(attempt {len(receiver.requests)})")
    finally:
        if b is not None:
            b.stop()
        receiver.close()
        finals.close()
