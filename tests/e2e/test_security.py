"""Who may connect, with real processes: API keys, origins, limits, TLS, and HTTP abuse.

A real gateway runs against a real redis-server. No stage workers run (they are
not needed to decide who may connect): a client that got past the access checks
and sends a config is told by the gateway itself that no VAD worker is live,
which proves its handshake was accepted. One VAD worker runs for the tests of
the workers' HTTP endpoints.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import signal
import socket
import ssl
import stat
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis as sync_redis
import soundfile
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common.aio import within
from gateway.security import limits
from gateway.policy.keyfile import key_id

from streamscribe_client import file_frames, stream

from tests.kit.faults import metric
from tests.kit.stack import SESSION_KEYS, Stack
from tests.kit.support import Process, free_port, service, wait_until, word_errors

pytestmark = pytest.mark.e2e

FILE_KEY = "file-key-1"
FLAG_KEY = "flag-key-2"
LISTED_ORIGIN = "https://app.example.com"
PER_KEY = 2
PENDING = 3


def start_gateway(redis_url: str, *args: str, name: str = "gateway", cafile: Path | None = None,
                  env: dict[str, str] | None = None) -> tuple[Process, int]:
    """A gateway that has looked for workers once (so it refuses sessions: none run here).

    ``cafile``: the gateway serves TLS with this (self-signed) certificate, written at its start.
    ``env``: more variables (secrets such as API keys come this way, not as arguments).
    """
    port = free_port()
    process = service(name, "gateway", "--host", "127.0.0.1", "--port", str(port), *args,
                      env={"STREAMSCRIBE_REDIS_URL": redis_url, **(env or {})})
    try:
        process.wait_for_line(r"\bready\b", 60)
        tls = ssl.create_default_context(cafile=str(cafile)) if cafile else None
        http = f"{'https://localhost' if tls else 'http://127.0.0.1'}:{port}"
        wait_until(lambda: 'streamscribe_gateway_live_workers{stage="vad"}' in scrape(http, tls), 10,
                   f"{name} watching the stages")
    except BaseException:
        process.stop()
        raise
    return process, port


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "api-keys"
    path.write_text(f"# streamscribe API keys\n{FILE_KEY}   # the file's key\n\n")
    return path


@pytest.fixture(scope="module")
def gateway(redis_server, keys_file):
    process, port = start_gateway(
        redis_server.url, "--api-keys-file", str(keys_file),
        "--allowed-origins", LISTED_ORIGIN, "--max-sessions-per-key", str(PER_KEY),
        "--max-pending-per-ip", str(PENDING), env={"STREAMSCRIBE_GATEWAY_API_KEY": FLAG_KEY})
    process.port = port
    process.url = f"ws://127.0.0.1:{port}/ws/asr"
    process.http = f"http://127.0.0.1:{port}"
    yield process
    process.stop()


@pytest.fixture
def redis_client(redis_server):
    client = sync_redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def no_open_connections(request):
    """Each test starts and ends with no connection open on the module's gateway."""
    if "gateway" not in request.fixturenames:
        yield
        return
    gateway = request.getfixturevalue("gateway")
    wait_connections(gateway.http, 0)
    yield
    wait_connections(gateway.http, 0)


def scrape(http: str, tls: ssl.SSLContext | None = None) -> str:
    with urllib.request.urlopen(http + "/metrics", timeout=5, context=tls) as response:
        return response.read().decode()


def gateway_metric(http: str, name: str, *, tls: ssl.SSLContext | None = None, **labels) -> float:
    return metric(scrape(http, tls), name, **labels)


def wait_connections(http: str, count: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while (seen := gateway_metric(http, "streamscribe_gateway_connections")) != count:
        assert time.monotonic() < deadline, f"{seen} connections open, expected {count}"
        time.sleep(0.05)  # polling a condition with a deadline


async def refused(url: str, **options) -> tuple[int, dict, dict]:
    """Status, JSON body and headers of a handshake the gateway must refuse."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, open_timeout=10, **options):
            pass
    response = info.value.response
    return response.status_code, json.loads(bytes(response.body)), dict(response.headers.raw_items())


async def admitted(url: str, **options) -> dict:
    """Open a WebSocket, send a config: the first message comes from past the access checks."""
    async with connect(url, open_timeout=10, **options) as websocket:
        await websocket.send(json.dumps({"type": "config"}))
        return json.loads(await within(websocket.recv(), 10))


def assert_admitted(message: dict) -> None:
    # No ASR worker runs here: the gateway's admission answers, after the key and origin checks.
    assert message["type"] == "error" and message["code"] == "overloaded", message
    assert re.search(r"no live (vad|asr) workers", message["message"]), message


def gateway_keys(client) -> set[str]:
    return {k.decode() for k in client.scan_iter("ss:*")}


# -- API keys ----------------------------------------------------------------------------------


async def test_missing_or_wrong_key_gets_401_and_nothing_reaches_redis(gateway, redis_client):
    before = gateway_keys(redis_client)
    xadds = redis_client.info("commandstats").get("cmdstat_xadd", {}).get("calls", 0)
    status, body, headers = await refused(gateway.url)
    assert status == 401 and body["error"] == "unauthorized", body
    assert "API key is required" in body["message"] and "Bearer" in headers.get("WWW-Authenticate", "")
    for options in ({"additional_headers": {"Authorization": "Bearer not-a-key"}},
                    {"additional_headers": {"X-API-KEY": "not-a-key"}},
                    {"additional_headers": {"Authorization": f"Basic {FILE_KEY}"}},
                    {"additional_headers": {"Authorization": f"Bearer {FILE_KEY}x"}}):
        status, body, _ = await refused(gateway.url, **options)
        assert status == 401, options
    status, body, _ = await refused(gateway.url + "?token=wrong")
    assert status == 401 and body["message"] == "the API key is not valid"
    status, _, _ = await refused(gateway.url, subprotocols=["token", "wrong"])
    assert status == 401
    assert gateway_keys(redis_client) == before, "a refused handshake wrote to Redis"
    assert redis_client.info("commandstats").get("cmdstat_xadd", {}).get("calls", 0) == xadds
    assert gateway_metric(gateway.http, "streamscribe_gateway_sessions_refused_total") >= 7
    assert FILE_KEY not in gateway.tail(200) and "not-a-key" not in gateway.tail(200), "a key was logged"


@pytest.mark.parametrize("way", ["Token header", "Bearer header", "X-API-KEY header", "query", "subprotocol"])
async def test_each_way_of_sending_the_key_is_accepted(gateway, way):
    url, options = gateway.url, {}
    if way == "Token header":
        options["additional_headers"] = {"Authorization": f"Token {FILE_KEY}"}
    elif way == "Bearer header":
        options["additional_headers"] = {"Authorization": f"Bearer {FLAG_KEY}"}
    elif way == "X-API-KEY header":  # how Genesys AudioHook sends it
        options["additional_headers"] = {"X-API-KEY": FILE_KEY}
    elif way == "query":
        url += f"?token={FILE_KEY}"
    else:
        options["subprotocols"] = ["token", FLAG_KEY]
    async with connect(url, open_timeout=10, **options) as websocket:
        if way == "subprotocol":  # a browser fails the handshake unless one is selected
            assert websocket.subprotocol == "token"
        await websocket.send(json.dumps({"type": "config"}))
        assert_admitted(json.loads(await within(websocket.recv(), 10)))


async def test_health_metrics_and_page_stay_open(gateway):
    for path in ("/healthz", "/metrics", "/"):
        with urllib.request.urlopen(gateway.http + path, timeout=5) as response:
            assert response.status == 200, path
    try:
        urllib.request.urlopen(gateway.http + "/readyz", timeout=5)
    except urllib.error.HTTPError as exc:
        assert exc.code == 503  # no workers; but not 401
    page = urllib.request.urlopen(gateway.http + "/", timeout=5).read().decode()
    assert 'id="apikey"' in page and "?token=" in page and 'location.protocol === "https:"' in page


async def test_sighup_reloads_the_keys_file(gateway, keys_file):
    original = keys_file.read_text()
    new_key = "rotated-key-3"
    try:
        keys_file.write_text(f"{new_key}\n# {FILE_KEY} revoked\n")
        mark = len(gateway.lines)
        gateway.signal(signal.SIGHUP)
        gateway.wait_for_line(r"reloaded 2 API key\(s\)", 10, start=mark)  # the file's key + the flag's
        assert_admitted(await admitted(gateway.url, additional_headers={"Authorization": f"Bearer {new_key}"}))
        status, _, _ = await refused(gateway.url, additional_headers={"Authorization": f"Bearer {FILE_KEY}"})
        assert status == 401, "a key removed from the file still works after SIGHUP"
        assert_admitted(await admitted(gateway.url + f"?token={FLAG_KEY}"))  # flags stay

        keys_file.write_text("bad key with spaces\n")  # an unreadable file keeps the keys in use
        mark = len(gateway.lines)
        gateway.signal(signal.SIGHUP)
        gateway.wait_for_line(r"API keys not reloaded", 10, start=mark)
        assert_admitted(await admitted(gateway.url + f"?token={new_key}"))
    finally:
        keys_file.write_text(original)
        mark = len(gateway.lines)
        gateway.signal(signal.SIGHUP)
        gateway.wait_for_line(r"reloaded 2 API key\(s\)", 10, start=mark)
    assert_admitted(await admitted(gateway.url + f"?token={FILE_KEY}"))


def test_no_keys_means_open_with_a_warning(redis_server):
    process, port = start_gateway(redis_server.url, name="open-gateway")
    try:
        assert any("no API keys configured" in line and "WARNING" in line for line in process.lines)
        assert_admitted(asyncio.run(admitted(f"ws://127.0.0.1:{port}/ws/asr")))
    finally:
        process.stop()


# -- limits ---------------------------------------------------------------------------------------


async def test_pending_connections_per_key_are_limited_with_1013(gateway, redis_client):
    """Connections that opened no session count against their key (by default as many as its
    sessions); sessions themselves are counted in tests/e2e/test_idle.py, where calls can open."""
    claims = limits.claims_key(limits.PENDING, key_id(FILE_KEY))
    bearer = {"Authorization": f"Bearer {FILE_KEY}"}
    async with connect(gateway.url, additional_headers=bearer) as first, \
            connect(gateway.url + f"?token={FILE_KEY}") as second:
        wait_until(lambda: redis_client.zcard(claims) == PER_KEY, 5, "both claims in Redis")
        assert redis_client.pttl(claims) > 0, "a claim set without expiry could leak"
        async with connect(gateway.url, additional_headers=bearer) as third:
            error = json.loads(await within(third.recv(), 10))
            with pytest.raises(ConnectionClosed) as closed:
                await within(third.recv(), 10)
        assert error["code"] == "overloaded" and error["fatal"], error
        assert f"max-pending-per-key {PER_KEY}" in error["message"]
        assert closed.value.rcvd.code == 1013 and f"max-pending-per-key {PER_KEY}" in closed.value.rcvd.reason
        # Another key is not affected.
        assert_admitted(await admitted(gateway.url + f"?token={FLAG_KEY}"))
        await first.close()
        wait_until(lambda: redis_client.zcard(claims) == 1, 5, "the closed connection's claim released")
        async with connect(gateway.url, additional_headers=bearer) as again:
            await again.send(json.dumps({"type": "config"}))
            assert_admitted(json.loads(await within(again.recv(), 10)))
        assert not second.close_code
    wait_until(lambda: not redis_client.exists(claims), 5, "no claim left in Redis")
    assert gateway_metric(gateway.http, "streamscribe_gateway_sessions_refused_total", reason="key_pending_limit") >= 1


async def test_key_limit_holds_across_gateways_and_lapses_when_one_dies(redis_server, redis_client):
    key = "shared-key-4"
    # Pending connections show it without workers; sessions count the same way.
    args = ("--max-sessions-per-key", "1", "--session-ttl", "2", "--config-timeout", "60")
    env = {"STREAMSCRIBE_GATEWAY_API_KEY": key}
    first, first_port = start_gateway(redis_server.url, *args, name="gateway-a", env=env)
    second, second_port = start_gateway(redis_server.url, *args, name="gateway-b", env=env)
    claims = limits.claims_key(limits.PENDING, key_id(key))
    try:
        async with connect(f"ws://127.0.0.1:{first_port}/ws/asr?token={key}"):
            wait_until(lambda: redis_client.zcard(claims) == 1, 5, "the claim in Redis")
            async with connect(f"ws://127.0.0.1:{second_port}/ws/asr?token={key}") as other:
                error = json.loads(await within(other.recv(), 10))
            assert "max-pending-per-key 1" in error["message"], error
            (member, expiry), = redis_client.zrange(claims, 0, -1, withscores=True)
            # A live gateway renews its claim before it lapses (the TTL is 2 s).
            wait_until(lambda: (redis_client.zscore(claims, member) or 0) > expiry, 5, "the claim renewed")
            first.kill()  # kill -9: its claim is never released
            # The claim lapses within its TTL (2 s here) instead of holding the key's slot forever.
            wait_until(lambda: not redis_client.exists(claims), 10, "the dead gateway's claim lapsed")
        assert_admitted(await admitted(f"ws://127.0.0.1:{second_port}/ws/asr?token={key}"))
    finally:
        first.stop()
        second.stop()
    assert not redis_client.exists(claims)


async def test_pending_connections_per_address_get_429(gateway):
    token, other = f"?token={FILE_KEY}", f"?token={FLAG_KEY}"  # two keys: stay under the per-key limit
    async with connect(gateway.url + token) as a, connect(gateway.url + token), connect(gateway.url + other):
        wait_connections(gateway.http, PENDING)
        status, body, headers = await refused(gateway.url + other)
        assert status == 429 and body["error"] == "too_many_pending", body
        assert f"the limit is {PENDING}" in body["message"] and headers.get("Retry-After")
        await a.close()
        wait_connections(gateway.http, PENDING - 1)
        async with connect(gateway.url + other) as again:  # one pending slot free again
            assert again.state.name == "OPEN"
    assert gateway_metric(gateway.http, "streamscribe_gateway_sessions_refused_total",
                          reason="too_many_pending") >= 1


# -- origins ----------------------------------------------------------------------------------------


async def test_wrong_origin_gets_403(gateway):
    token = f"?token={FILE_KEY}"
    for origin in ("https://evil.example", "http://localhost:1", "null", f"http://127.0.0.1:{gateway.port + 1}"):
        mark = len(gateway.lines)
        status, body, _ = await refused(gateway.url + token, origin=origin)
        assert status == 403 and body["error"] == "forbidden_origin", origin
        assert origin in body["message"]
        # The log names the origin (issue 32: "connection rejected (403 Forbidden)" said nothing of it).
        await asyncio.to_thread(gateway.wait_for_line, re.escape(f"the origin '{origin}' is not in --allowed-origins"),
                                10, start=mark)
    status, _, _ = await refused(gateway.url, origin="https://evil.example")  # also before the key
    assert status == 403


@pytest.mark.parametrize("origin", [None, "same", LISTED_ORIGIN, LISTED_ORIGIN + ":443", "HTTPS://APP.example.com"])
async def test_same_origin_no_origin_and_listed_origins_are_accepted(gateway, origin):
    if origin == "same":
        origin = f"http://127.0.0.1:{gateway.port}"
    options = {"origin": origin} if origin else {}
    assert_admitted(await admitted(gateway.url + f"?token={FILE_KEY}", **options))


# -- TLS ----------------------------------------------------------------------------------------------


async def test_tls_with_a_generated_self_signed_certificate(redis_server, tmp_path):
    cert_dir = tmp_path / "tls"
    certfile = cert_dir / "streamscribe-cert.pem"
    process, port = start_gateway(redis_server.url, "--generate-self-signed-cert", "--self-signed-cert-dir",
                                  str(cert_dir), name="tls-gateway", cafile=certfile,
                                  env={"STREAMSCRIBE_GATEWAY_API_KEY": FLAG_KEY})
    try:
        line = process.wait_for_line(r"SHA-256 fingerprint", 1)
        assert str(certfile) in line
        assert stat.S_IMODE((cert_dir / "streamscribe-key.pem").stat().st_mode) == 0o600
        der = ssl.PEM_cert_to_DER_cert(certfile.read_text())
        assert re.search(r"fingerprint ([0-9A-F:]{95})", line).group(1) == \
            ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
        trusting = ssl.create_default_context(cafile=str(certfile))
        for host in ("localhost", "127.0.0.1"):
            url = f"wss://{host}:{port}/ws/asr?token={FLAG_KEY}"
            async with connect(url, ssl=trusting, open_timeout=10) as websocket:
                assert websocket.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
                await websocket.send(json.dumps({"type": "config"}))
                assert_admitted(json.loads(await within(websocket.recv(), 10)))
        with urllib.request.urlopen(f"https://localhost:{port}/healthz", context=trusting, timeout=5) as response:
            assert response.status == 200
        with pytest.raises(ssl.SSLCertVerificationError):  # a client that does not trust it refuses
            async with connect(f"wss://localhost:{port}/ws/asr", ssl=ssl.create_default_context(),
                               open_timeout=10):
                pass
    finally:
        process.stop()
    # A restart reuses the certificate (a browser that accepted it once keeps accepting it).
    process, _ = start_gateway(redis_server.url, "--generate-self-signed-cert", "--self-signed-cert-dir",
                               str(cert_dir), name="tls-gateway-2", cafile=certfile)
    try:
        assert process.wait_for_line(r"SHA-256 fingerprint", 1).split("fingerprint ")[1] == \
            line.split("fingerprint ")[1]
    finally:
        process.stop()


@pytest.mark.slow
async def test_a_whole_session_over_wss_with_a_key(redis_server, clips, tmp_path):
    """Workers and all: the CLI client's --api-key and --cafile path transcribes a clip."""
    cert_dir = tmp_path / "tls"
    stack = Stack(redis_server, extra_env={
        "STREAMSCRIBE_GATEWAY_API_KEY": FLAG_KEY, "STREAMSCRIBE_GATEWAY_GENERATE_SELF_SIGNED_CERT": "true",
        "STREAMSCRIBE_GATEWAY_SELF_SIGNED_CERT_DIR": str(cert_dir)})
    try:
        trusting = ssl.create_default_context(cafile=str(cert_dir / "streamscribe-cert.pem"))
        url = f"wss://localhost:{stack.port}/ws/asr"
        https = f"https://localhost:{stack.port}"
        wait_until(lambda: all(gateway_metric(https, "streamscribe_gateway_live_workers", tls=trusting, stage=stage)
                               == 1 for stage in ("vad", "asr")), 60, "workers live, seen over https")
        path, reference = clips[0]
        samples, rate = soundfile.read(str(path), dtype="float32")
        with pytest.raises(InvalidStatus):  # the same call without the key
            await stream(url, file_frames(samples, rate, chunk_ms=100, speed=0), sample_rate=rate, tls=trusting)
        messages = await stream(url, file_frames(samples, rate, chunk_ms=100, speed=4), sample_rate=rate,
                                api_key=FLAG_KEY, tls=trusting, timeout=120)
        finals = [m["text"] for m in messages if m["type"] == "final"]
        assert len(finals) == 1, messages
        errors, words = word_errors(reference, finals[0])
        assert errors / words <= 0.2, (finals, reference)
    finally:
        stack.close()
    # The stack is TLS-only, so the stacks fixture cannot scrape it: check its keys here.
    wait_until(lambda: redis_server.keys(SESSION_KEYS) == [], 30, "the session's keys removed")


# -- HTTP abuse ------------------------------------------------------------------------------------------


def raw_http(port: int, request: bytes, *, timeout: float = 10.0) -> bytes:
    """Send raw bytes, return what came back (b"" if the server reset the connection first)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        received = bytearray()

        def read() -> None:
            try:
                while chunk := sock.recv(65536):
                    received.extend(chunk)
            except OSError:
                pass

        reader = threading.Thread(target=read)
        reader.start()
        try:
            sock.sendall(request)
        except OSError:  # the server refused and closed while we were still sending
            pass
        reader.join(timeout)
        return bytes(received)


@pytest.fixture(scope="module")
def vad_worker(redis_server):
    port = free_port()
    worker = service("vad-http", "vad_worker", "--http-host", "127.0.0.1", "--http-port", str(port),
                     "--worker-id", "vad-http", env={"STREAMSCRIBE_REDIS_URL": redis_server.url})
    try:
        worker.wait_for_line(r"\bready\b", 60)
    except BaseException:
        worker.stop()
        raise
    worker.port = port
    yield worker
    worker.stop()


@pytest.mark.parametrize("target", ["gateway", "worker"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "TRACE"])
def test_methods_other_than_get_and_head_get_405(target, method, request):
    process = request.getfixturevalue("gateway" if target == "gateway" else "vad_worker")
    for path in ("/healthz", "/metrics", "/ws/asr"):
        reply = raw_http(process.port, f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        assert reply.startswith(b"HTTP/1.1 405 "), (path, reply[:200])
        assert re.search(rb"(?i)\r\nallow: GET, HEAD\r\n", reply), reply[:300]
    reply = raw_http(process.port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"", reply
    reply = raw_http(process.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b'{"status":"alive"}')


@pytest.mark.parametrize("target", ["gateway", "worker"])
def test_a_5_mb_request_line_is_refused_without_a_traceback(target, request):
    process = request.getfixturevalue("gateway" if target == "gateway" else "vad_worker")
    mark = len(process.lines)
    reply = raw_http(process.port, b"GET /" + b"a" * (5 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    # Refused at the line limit: a 414 if the reply arrived before the reset, else the reset.
    assert reply == b"" or reply.startswith(b"HTTP/1.1 414 "), reply[:200]
    reply = raw_http(process.port, b"GET /healthz HTTP/1.1\r\n" + b"X-Long: " + b"b" * 100_000 + b"\r\n\r\n")
    assert reply == b"" or reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    # Still serving, and nothing unhandled was logged.
    assert raw_http(process.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200 ")
    logged = "\n".join(process.lines[mark:])
    assert "Traceback" not in logged and "Unhandled exception" not in logged and "ERROR" not in logged, logged


def test_a_header_that_must_come_once_but_is_repeated_gets_400(gateway):
    """Two Host or two Authorization headers: a 400 naming the header, not a 500 and a traceback."""
    mark = len(gateway.lines)
    upgrade = (b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
    for name, twice in ((b"Host", b"Host: a\r\nHost: b\r\n"),
                        (b"Authorization", b"Host: x\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n")):
        reply = raw_http(gateway.port, b"GET /ws/asr HTTP/1.1\r\n" + twice + upgrade + b"\r\n")
        assert reply.startswith(b"HTTP/1.1 400 "), reply[:300]
        assert b'"bad_request"' in reply and name in reply, reply[-300:]
    logged = "\n".join(gateway.lines[mark:])
    assert "Traceback" not in logged and "ERROR" not in logged, logged


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_methods_with_a_body_get_an_answer(gateway, method):
    """websockets drops a request with a body without a word; the gateway answers it (POST /v1/listen:
    Deepgram's pre-recorded API, tests/e2e/test_prerecorded.py)."""
    mark = len(gateway.lines)
    for path, body in (("/ws/asr", b'{"type": "config"}'), ("/v1/listen", b"\x00" * 4096)):
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        reply = raw_http(gateway.port, head + body)
        if method == "POST" and path == "/v1/listen":  # Deepgram's pre-recorded API: the key first
            assert reply.startswith(b"HTTP/1.1 401 "), reply[:200]
            assert json.loads(reply.partition(b"\r\n\r\n")[2])["error"] == "unauthorized"
            continue
        assert reply.startswith(b"HTTP/1.1 405 "), reply[:200]
        assert re.search(rb"(?i)\r\nallow: GET, HEAD\r\n", reply), reply[:300]
        assert json.loads(reply.partition(b"\r\n\r\n")[2])["error"] == "method_not_allowed"
    reply = raw_http(gateway.port, f"{method} /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "5\r\nhello\r\n0\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 405 "), reply[:200]
    # A GET has no body: refused, never upgraded (the body would be read as WebSocket frames).
    upgrade = (b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
    reply = raw_http(gateway.port, b"GET /ws/asr?token=" + FLAG_KEY.encode() + b" HTTP/1.1\r\nHost: x\r\n" + upgrade
                     + b"Content-Length: 6\r\n\r\n\x81\x80abcd")
    assert reply.startswith(b"HTTP/1.1 400 ") and b"has no body" in reply, reply[:300]
    logged = "\n".join(gateway.lines[mark:])
    assert "Traceback" not in logged and "ERROR" not in logged, logged


@pytest.mark.parametrize("target, why", [
    (b"//[", b"'['"),  # urlsplit raised: a 500 and a traceback
    (b"/ws/asr?x=\x1b[2J", b"query holds"),
    (b"/caf\xc3\xa9", b"percent-encoded"),  # non-ASCII: websockets dropped the connection
    (b"*", b"must be a path"),
])
def test_bad_request_targets_get_400(gateway, target, why):
    mark = len(gateway.lines)
    for upgrade in (b"", b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"):
        reply = raw_http(gateway.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + upgrade + b"\r\n")
        assert reply.startswith(b"HTTP/1.1 400 "), reply[:300]
        assert b'"bad_request"' in reply and why in reply, reply[-300:]
    # A broken Origin is refused as any other origin, not with a 500.
    reply = raw_http(gateway.port, b"GET /ws/asr HTTP/1.1\r\nHost: x\r\nOrigin: http://[\r\n"
                     b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 403 "), reply[:300]
    logged = "\n".join(gateway.lines[mark:])
    assert "Traceback" not in logged and "ERROR" not in logged, logged


def test_refused_handshakes_left_nothing_in_redis(gateway, redis_server):
    assert redis_server.keys(SESSION_KEYS) == []
