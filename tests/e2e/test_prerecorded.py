"""Deepgram's pre-recorded API, ``POST /v1/listen``, end to end.

The official ``deepgram-sdk`` (``listen.v1.media.transcribe_file``, with and without
``callback``, and ``transcribe_url``) and plain HTTP (urllib, raw sockets) against a
gateway with real workers (whisper tiny.en); ``{"url": ...}`` bodies fetched from a local
HTTP server. Body decoding, the response and the URL checks are tested sans I/O in
tests/unit/test_prerecorded.py and tests/unit/test_remote.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import io
import json
import socket
import struct
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import redis as sync_redis
import soundfile

from gateway.outputs.transcript_log import call_key
from gateway.outputs.webhook import signature
from gateway.policy.keyfile import key_id
from gateway.security.limits import SESSION, claims_key
from tests.e2e.test_deepgram import load, pcm16, send_paced
from tests.kit.deepgram import Listener, sdk_client
from tests.kit.faults import five_utterances_with_bounds
from tests.kit.support import eventually, extra_gateway, free_port, service, word_errors

pytestmark = pytest.mark.slow

TIMEOUT = 180
KEY = "the-right-key"
SECRET = "a-signing-secret-of-the-tenant"


@pytest.fixture(scope="module")
def recording(clips):
    """Two clips in one stream (16 kHz float32), and their reference text."""
    audio, _ = five_utterances_with_bounds(clips[:2], gap_seconds=1.0)
    return audio, " ".join(text for _, text in clips[:2])


def encoded(audio: np.ndarray, fmt: str, subtype: str, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def post(port: int, body: bytes, query: str = "", *, headers: dict | None = None,
         timeout: float = TIMEOUT) -> tuple[int, dict, dict]:
    """POST ``body`` to /v1/listen with urllib: (status, JSON body, headers)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/listen{query}", data=body, method="POST",
                                     headers={"Content-Type": "application/octet-stream", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


@pytest.fixture(scope="module")
def callbacks():
    """A local HTTP server that records each request to /hook: (method, headers, raw body); others get 200."""
    received: list[tuple[str, dict, bytes]] = []
    arrived = threading.Condition()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _take(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/hook":  # not the tenant's finals webhook (/finals)
                with arrived:
                    received.append((self.command, dict(self.headers), body))
                    arrived.notify_all()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = _take

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def wait(count: int, timeout: float = TIMEOUT):
        with arrived:
            assert arrived.wait_for(lambda: len(received) >= count, timeout), "no callback arrived"
            return received[count - 1]

    yield f"http://127.0.0.1:{server.server_address[1]}", wait
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def keyed(live, callbacks, tmp_path_factory):
    """A second gateway on the same Redis and workers: an API key with one session whose tenant has a
    signed finals webhook, a 2 MB body limit, callbacks to and url bodies from 127.0.0.1."""
    url, _ = callbacks
    keys = tmp_path_factory.mktemp("keys") / "keys"
    keys.write_text(f"{KEY} tenant=acme sessions=1 webhook={url}/finals webhook_secret={SECRET}\n")
    with extra_gateway("gateway-prerecorded", "--api-keys-file", str(keys), "--prerecorded-max-bytes", "2000000",
                       "--prerecorded-callback-hosts", "127.0.0.1", "--prerecorded-url-hosts", "127.0.0.1",
                       env=live.env) as port:
        yield port


class AudioHost:
    """A local HTTP server of audio files for url bodies: ``files`` by path, redirects, 404 for the rest;
    ``fetched``: the paths asked for, in order."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.fetched: list[str] = []
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                host.fetched.append(self.path)
                port = self.server.server_address[1]
                moves = {"/moved": f"http://127.0.0.1:{port}/clip.wav",  # a listed host: followed
                         "/away": f"http://localhost:{port}/clip.wav"}  # the same server, by a name not listed
                if self.path in moves:
                    self.send_response(302)
                    self.send_header("Location", moves[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = host.files.get(self.path)
                self.send_response(404 if body is None else 200)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture(scope="module")
def audio_host(clips, recording):
    """/clip.wav: a LibriVox clip as it is on disk; /call.wav: the recording; /big.wav: over the 2 MB limit."""
    host = AudioHost({"/clip.wav": clips[0][0].read_bytes(), "/call.wav": encoded(recording[0], "WAV", "PCM_16"), "/big.wav": b"RIFF" + bytes(2_000_000)})
    host.thread.start()
    yield host
    host.server.shutdown()
    host.server.server_close()
    host.thread.join(10)


def post_url(port: int, url, *, key: str | None = KEY, query: str = "") -> tuple[int, dict, dict]:
    """POST a {"url": ...} body (url: a string, or raw bytes sent as they are) with urllib."""
    raw = url if isinstance(url, bytes) else json.dumps({"url": url}).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Token {key}"
    return post(port, raw, query, headers=headers)


@pytest.mark.e2e
async def test_sdk_transcribes_a_wav_file(live, recording):
    audio, reference = recording
    body = encoded(audio, "WAV", "PCM_16")
    response = await sdk_client(live.port).listen.v1.media.transcribe_file(
        request=body, model="nova-3", punctuate=True, utterances=True, utt_split=0.8, paragraphs=True,
        keyterm=["Dashwood"], language="en", request_options={"timeout": TIMEOUT})
    metadata, results = response.metadata, response.results
    assert metadata.sha256 == hashlib.sha256(body).hexdigest()
    assert metadata.duration == pytest.approx(len(audio) / 16000, abs=0.01)
    assert metadata.channels == 1 and len(metadata.models) == 1
    alternative = results.channels[0].alternatives[0]
    errors, words = word_errors(reference, alternative.transcript)
    assert errors / words <= 0.25, alternative.transcript
    assert alternative.transcript[0].isupper() and alternative.transcript.rstrip()[-1] in ".!?"  # punctuated
    assert [w.word for w in alternative.words] and all(0 <= w.start <= w.end <= metadata.duration + 0.1
                                                      for w in alternative.words)
    assert all(0 < w.confidence <= 1 for w in alternative.words)
    assert results.utterances and all(u.channel == 0 and u.transcript for u in results.utterances)
    assert " ".join(u.transcript for u in results.utterances) == alternative.transcript
    # The SDK's own model reads the paragraphs; their sentences hold the transcript's words in order.
    sentences = [s.text for p in alternative.paragraphs.paragraphs for s in p.sentences]
    assert " ".join(sentences) == alternative.transcript


@pytest.mark.e2e
@pytest.mark.parametrize("fmt, subtype, rate", [("FLAC", "PCM_16", 16000), ("OGG", "OPUS", 48000),
                                                ("MP3", "MPEG_LAYER_III", 16000)])
def test_plain_http_decodes_containers_by_their_bytes(live, recording, fmt, subtype, rate):
    """A container is found by its first bytes, whatever Content-Type says; no punctuate: plain words."""
    audio, reference = recording
    if rate != 16000:
        import soxr
        audio = soxr.resample(audio, 16000, rate)
    status, body, headers = post(live.port, encoded(audio, fmt, subtype, rate), "?model=nova-3",
                                 headers={"Content-Type": "audio/wav"})
    assert status == 200, body
    assert headers["dg-request-id"] == body["metadata"]["request_id"]
    transcript = body["results"]["channels"][0]["alternatives"][0]["transcript"]
    errors, words = word_errors(reference, transcript)
    assert errors / words <= 0.3, (fmt, transcript)
    assert transcript == transcript.lower() and "." not in transcript


@pytest.mark.e2e
def test_raw_mulaw_two_channels(live, clips):
    """Raw audio by the query's encoding; multichannel: one result channel per audio channel."""
    import audioop
    import soxr
    left, _ = soundfile.read(str(clips[0][0]), dtype="float32")
    right, _ = soundfile.read(str(clips[1][0]), dtype="float32")
    n = max(len(left), len(right))
    stereo = np.zeros((n, 2), np.float32)
    stereo[:len(left), 0], stereo[:len(right), 1] = left, right
    narrow = soxr.resample(stereo, 16000, 8000)
    body = audioop.lin2ulaw(pcm16(narrow.reshape(-1)), 2)
    status, result, _ = post(live.port, body, "?encoding=mulaw&sample_rate=8000&channels=2&multichannel=true"
                             "&punctuate=true&utterances=true")
    assert status == 200, result
    assert result["metadata"]["channels"] == 2
    for index, (_, reference) in enumerate(clips[:2]):
        transcript = result["results"]["channels"][index]["alternatives"][0]["transcript"]
        errors, words = word_errors(reference, transcript)
        assert errors / words <= 0.3, (index, transcript)
    assert {u["channel"] for u in result["results"]["utterances"]} == {0, 1}


@pytest.mark.e2e
def test_bad_bodies_get_clear_answers(live):
    status, body, headers = post(live.port, b"hello, this is not audio")
    assert status == 400 and "no audio format this server recognises" in body["err_msg"], body
    assert headers["dg-request-id"] == body["request_id"]
    status, body, _ = post(live.port, b"RIFF\0\0\0\0WAVEjunk")
    assert status == 400 and "cannot be decoded as wav" in body["err_msg"], body
    status, body, _ = post(live.port, json.dumps({"url": "http://169.254.169.254/"}).encode(),
                           headers={"Content-Type": "application/json"})
    assert status == 400 and "url" in body["err_msg"] and "--prerecorded-url-hosts" in body["err_msg"], body
    status, body, _ = post(live.port, b"\0\0" * 100, "?encoding=speex")
    assert status == 400 and body["err_code"] == "INVALID_QUERY_PARAMETER", body
    status, body, _ = post(live.port, b"\0\0" * 100, "?encoding=linear16&sample_rate=16000&utt_split=0")
    assert status == 400 and body["err_code"] == "INVALID_QUERY_PARAMETER" and "utt_split" in body["err_msg"], body
    status, body, _ = post(live.port, b"\0\0\0", "?encoding=linear16&sample_rate=16000")
    assert status == 400 and "whole frames" in body["err_msg"], body


@pytest.mark.e2e
def test_the_key_its_session_limit_and_the_size_limit(keyed, recording):
    audio, _ = recording
    wav = encoded(audio[:16000 * 3], "WAV", "PCM_16")
    assert post(keyed, wav)[0] == 401
    assert post(keyed, wav, headers={"Authorization": "Token a-wrong-key"})[0] == 401
    status, body, _ = post(keyed, b"\0" * 2_000_001, "?encoding=linear16&sample_rate=16000",
                           headers={"Authorization": f"Token {KEY}"})
    assert status == 413, body
    # An upload in progress holds the key's one session: its headers, then the server's 100 Continue.
    with socket.create_connection(("127.0.0.1", keyed), timeout=30) as held:
        held.sendall(f"POST /v1/listen HTTP/1.1\r\nHost: x\r\nAuthorization: Token {KEY}\r\n"
                     f"Content-Length: {len(wav)}\r\nExpect: 100-continue\r\n\r\n".encode())
        assert held.recv(100).startswith(b"HTTP/1.1 100 Continue")
        status, body, _ = post(keyed, wav, headers={"Authorization": f"Token {KEY}"})
        assert status == 429 and "session" in json.dumps(body), body
        held.sendall(wav)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += held.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    status, body, _ = post(keyed, wav, headers={"Authorization": f"Token {KEY}"})
    assert status == 200, body


@pytest.mark.e2e
async def test_a_client_that_goes_away_ends_its_recording(live, recording, tmp_path):
    """Issue 32: a client that dropped its POST during the transcription left the request state
    CONNECTING; websockets' connection_lost asserted CLOSED (an AssertionError traceback), so the
    gateway never noticed: the recording was transcribed to the end (webhook deliveries included),
    the key's slot and the batch lane were held, and the 200 went to the dead socket. Now the call
    ends as a disconnect (docs/deepgram.md) and gives its slot back."""
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"{KEY} tenant=gone sessions=1\n")
    port = free_port()
    gateway = service("gateway-gone", "gateway", "--host", "127.0.0.1", "--port", str(port),
                      "--api-keys-file", str(keys_file), env=live.env)
    redis = sync_redis.Redis.from_url(live.env["STREAMSCRIBE_REDIS_URL"], decode_responses=True)
    try:
        gateway.wait_for_line(r"\bready\b", 60)
        audio, _ = recording
        wav = encoded(np.tile(audio, 6), "WAV", "PCM_16")  # minutes of speech: its transcription takes a while
        client = socket.create_connection(("127.0.0.1", port), timeout=30)
        client.sendall(f"POST /v1/listen HTTP/1.1\r\nHost: x\r\nAuthorization: Token {KEY}\r\n"
                       f"Content-Length: {len(wav)}\r\n\r\n".encode() + wav)
        calls = []

        def underway() -> bool:  # the call registered, and results in its log
            calls[:] = [key for key in redis.keys(call_key("gone", "*")) if not key.endswith(":log")]
            return bool(calls) and redis.xlen(calls[0] + ":log") > 0

        await eventually(underway, TIMEOUT, "the recording's first results")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # a reset, as a killed client's
        [call] = calls
        await eventually(lambda: redis.hget(call, "state") == "ended", TIMEOUT, "the call's end")
        [(_, fields)] = redis.xrevrange(call + ":log", count=1)
        ended = json.loads(fields["m"])
        assert (ended["type"], ended["reason"], ended["complete"]) == ("ended", "client disconnected", False), ended
        await eventually(lambda: redis.zcard(claims_key(SESSION, key_id(KEY))) == 0, 30, "the key's slot given back")
    finally:
        redis.close()
        gateway.stop()
    assert not [line for line in gateway.lines if "Traceback" in line or "AssertionError" in line], gateway.tail(40)


@pytest.mark.e2e
async def test_sdk_callback(keyed, recording, callbacks):
    url, wait = callbacks
    audio, reference = recording
    client = sdk_client(keyed, api_key=KEY)
    accepted = await client.listen.v1.media.transcribe_file(request=encoded(audio, "WAV", "PCM_16"),
                                                            callback=f"{url}/hook", callback_method="put",
                                                            punctuate=True,
                                                            request_options={"timeout": TIMEOUT})
    request_id = accepted.request_id
    method, headers, raw = await asyncio.to_thread(wait, 1)
    body = json.loads(raw)
    assert method == "PUT" and headers["Idempotency-Key"] == request_id == body["metadata"]["request_id"]
    # Signed as the tenant's finals webhook is.
    stamp = headers["Streamscribe-Signature"].split(",")[0].removeprefix("t=")
    assert headers["Streamscribe-Signature"] == signature(SECRET.encode(), raw, timestamp=int(stamp))
    errors, words = word_errors(reference, body["results"]["channels"][0]["alternatives"][0]["transcript"])
    assert errors / words <= 0.25, body
    status, refused, _ = post(keyed, b"\0\0", "?encoding=linear16&sample_rate=16000&callback=http://example.com/x",
                              headers={"Authorization": f"Token {KEY}"})
    assert status == 400 and "--prerecorded-callback-hosts" in refused["err_msg"], refused


@pytest.mark.e2e
async def test_live_doors_unchanged_beside_a_recording(live, recording, clips):
    """A WebSocket call on the same port still streams while a recording is transcribed."""
    audio, _ = recording
    upload = asyncio.create_task(asyncio.to_thread(post, live.port, encoded(audio, "WAV", "PCM_16")))
    path, reference = clips[2]
    async with sdk_client(live.port).listen.v1.connect(model="nova-3", encoding="linear16",
                                                       sample_rate=16000) as stream:
        listener = Listener(stream)
        await send_paced(stream, pcm16(load(path)), bytes_per_second=32000)
        await stream.send_close_stream()
        code, reason = await listener.wait_closed()
    assert code == 1000, (code, reason)
    text = " ".join(r.channel.alternatives[0].transcript for r in listener.results(is_final=True))
    errors, words = word_errors(reference, text)
    assert errors / words <= 0.25, text
    status, body, _ = await upload
    assert status == 200, body


@pytest.mark.e2e
async def test_sdk_transcribes_a_url(keyed, audio_host, recording):
    """The SDK's transcribe_url: the gateway fetches the file from a listed host and answers as for an upload."""
    audio, reference = recording
    response = await sdk_client(keyed, api_key=KEY).listen.v1.media.transcribe_url(
        url=f"{audio_host.url}/call.wav", punctuate=True, utterances=True, request_options={"timeout": TIMEOUT})
    metadata = response.metadata
    assert metadata.sha256 == hashlib.sha256(audio_host.files["/call.wav"]).hexdigest()
    assert metadata.duration == pytest.approx(len(audio) / 16000, abs=0.01)
    transcript = response.results.channels[0].alternatives[0].transcript
    errors, words = word_errors(reference, transcript)
    assert errors / words <= 0.25, transcript
    assert response.results.utterances


@pytest.mark.e2e
def test_plain_http_url_bodies(keyed, audio_host, clips):
    """A LibriVox WAV by URL through a redirect on the listed host; refusals before and after the fetch."""
    status, body, headers = post_url(keyed, f"{audio_host.url}/moved", query="?punctuate=true")
    assert status == 200, body
    assert audio_host.fetched[-2:] == ["/moved", "/clip.wav"]
    assert headers["dg-request-id"] == body["metadata"]["request_id"]
    errors, words = word_errors(clips[0][1], body["results"]["channels"][0]["alternatives"][0]["transcript"])
    assert errors / words <= 0.3, body
    fetched = len(audio_host.fetched)
    # Refused before any fetch: no key, a host not listed (the same server by another name), not http(s),
    # userinfo, no url.
    assert post_url(keyed, f"{audio_host.url}/clip.wav", key=None)[0] == 401
    for url, why in [(f"http://localhost:{audio_host.port}/clip.wav", "--prerecorded-url-hosts"),
                     ("file:///etc/passwd", "only http:// and https://"),
                     (f"http://user:pw@127.0.0.1:{audio_host.port}/clip.wav", "user name or password")]:
        status, body, _ = post_url(keyed, url)
        assert status == 400 and body["err_code"] == "Bad Request" and why in body["err_msg"], (url, body)
    for raw, why in [(b"{not json", "not JSON"), (b'{"uri": "x"}', "it has no url")]:
        status, body, _ = post_url(keyed, raw)
        assert status == 400 and why in body["err_msg"], body
    assert len(audio_host.fetched) == fetched
    # Fetched, and refused: a 404, a redirect to a name not listed, a file over the size limit.
    status, body, _ = post_url(keyed, f"{audio_host.url}/missing.wav")
    assert status == 400 and body["err_code"] == "REMOTE_CONTENT_ERROR" and "404" in body["err_msg"], body
    status, body, _ = post_url(keyed, f"{audio_host.url}/away")
    assert status == 400 and body["err_code"] == "REMOTE_CONTENT_ERROR" and "redirected" in body["err_msg"], body
    status, body, _ = post_url(keyed, f"{audio_host.url}/big.wav")
    assert status == 413 and "remote file" in body["err_msg"], body
    assert audio_host.fetched[fetched:] == ["/missing.wav", "/away", "/big.wav"]  # not /clip.wav by localhost
    # An unreachable host: a port nothing listens on.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    status, body, _ = post_url(keyed, f"http://127.0.0.1:{closed_port}/clip.wav")
    assert status == 400 and body["err_code"] == "REMOTE_CONTENT_ERROR" and "ConnectError" in body["err_msg"], body
