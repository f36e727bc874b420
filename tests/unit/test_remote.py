"""A pre-recorded request's ``{"url": ...}`` body, sans network: the body, the URL's checks, the fetch.

The fetch runs against httpx's MockTransport (the requests it would send, answered here);
tests/e2e/test_prerecorded.py fetches from a real local HTTP server through a gateway.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from gateway.http import remote
from gateway.http.prerecorded import PrerecordedOptions, hosts

HOSTS = hosts("Audio.Example, 127.0.0.1, [::1]")


def body(document) -> bytes:
    return json.dumps(document).encode()


# -- the body and the URL --------------------------------------------------------------------------


def test_the_url_of_a_json_body():
    assert remote.url_of(body({"url": "https://audio.example/a.wav"})) == "https://audio.example/a.wav"


@pytest.mark.parametrize("raw, why", [
    (b"{\"url\": ", "the body is not JSON"),
    (b"\xff\xfe", "the body is not JSON"),
    (body({"uri": "https://audio.example/a.wav"}), "it has no url"),
    (body(["https://audio.example/a.wav"]), "it has no url"),
    (body({"url": 7}), "not a non-empty string"),
    (body({"url": ""}), "not a non-empty string"),
])
def test_bodies_without_a_url_are_refused(raw, why):
    with pytest.raises(remote.UrlRefused, match=why):
        remote.url_of(raw)


@pytest.mark.parametrize("url", ["https://audio.example/a.wav", "http://AUDIO.example:8443/a.wav?x=1",
                                 "http://127.0.0.1:9/a.wav", "http://[::1]:8080/a.wav"])
def test_urls_on_listed_hosts_pass(url):
    assert remote.check(url, HOSTS).host in {"audio.example", "127.0.0.1", "::1"}


@pytest.mark.parametrize("url, why", [
    ("https://other.example/a.wav", "'other.example' is not allowed here"),
    ("https://audio.example.evil.test/a.wav", "not allowed here"),
    ("http://169.254.169.254/latest/meta-data/", "not allowed here"),
    ("http://localhost/a.wav", "not allowed here"),  # 127.0.0.1 is listed, not the names that resolve to it
    ("http://[::2]/a.wav", "not allowed here"),
    ("ftp://audio.example/a.wav", "scheme is 'ftp'"),
    ("file:///etc/passwd", "scheme is 'file'"),
    ("audio.example/a.wav", "scheme is 'missing'"),
    ("https://user:secret@audio.example/a.wav", "user name or password"),
    ("https://audio.example\\@other.example/a.wav", "user name or password"),  # httpx's host: other.example
    ("https:///a.wav", "no host"),
    ("http://[::1/a.wav", "not a valid URL"),
])
def test_urls_refused(url, why):
    with pytest.raises(remote.UrlRefused, match=why):
        remote.check(url, HOSTS)


def test_url_bodies_are_off_by_default():
    assert PrerecordedOptions().url_hosts == frozenset()


# -- the fetch -------------------------------------------------------------------------------------


def fetch(handler, url: str = "https://audio.example/a.wav", *, limit: int = 100) -> bytearray:
    """Fetch ``url`` through a client whose requests ``handler`` answers; the requests it saw."""
    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await remote.fetch(client, remote.check(url, HOSTS), hosts=HOSTS, limit=limit, idle_timeout=5)
    return asyncio.run(run())


def test_a_fetch_streams_the_file_asking_for_no_content_coding():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"RIFF audio")

    assert fetch(handler) == b"RIFF audio"
    assert [(r.method, str(r.url), r.headers["Accept-Encoding"]) for r in seen] == [
        ("GET", "https://audio.example/a.wav", "identity")]


def test_redirects_are_followed_to_listed_hosts_only():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a.wav":
            return httpx.Response(302, headers={"Location": "http://127.0.0.1:8080/b.wav"})
        if request.url.path == "/b.wav":
            return httpx.Response(307, headers={"Location": "/c.wav"})  # relative: the same host
        if request.url.path == "/c.wav":
            return httpx.Response(301, headers={"Location": "http://169.254.169.254/"})
        return httpx.Response(200, content=b"the metadata service")

    with pytest.raises(remote.RemoteError, match="redirected to where this server does not fetch from") as raised:
        fetch(handler)
    assert not raised.value.too_large
    assert fetch(lambda r: httpx.Response(200, content=r.url.path.encode()) if r.url.path == "/c.wav"
                 else handler(r)) == b"/c.wav"


def test_a_redirect_loop_ends():
    with pytest.raises(remote.RemoteError, match="redirected more than 5 times"):
        fetch(lambda request: httpx.Response(302, headers={"Location": "/again"}))


@pytest.mark.parametrize("response, why", [
    (httpx.Response(404), "a client error: 404 Not Found"),
    (httpx.Response(403), "a client error: 403 Forbidden"),
    (httpx.Response(503), "a server error: 503 Service Unavailable"),
    (httpx.Response(204), "answered 204, not 200"),
    (httpx.Response(302), "302 without a Location"),
    (httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"\x1f\x8b"), "content coding 'gzip'"),
])
def test_remote_answers_that_are_not_the_audio(response, why):
    with pytest.raises(remote.RemoteError, match=why) as raised:
        fetch(lambda request: response)
    assert not raised.value.too_large


def test_a_remote_file_over_the_limit():
    with pytest.raises(remote.RemoteError, match=r"remote file \(101 bytes\) is larger than 100") as raised:
        fetch(lambda request: httpx.Response(200, content=b"a" * 101))  # by its Content-Length
    assert raised.value.too_large

    def unsized(request: httpx.Request) -> httpx.Response:
        async def pieces():
            for _ in range(3):
                yield b"a" * 40
        return httpx.Response(200, content=pieces())  # chunked: counted as it comes

    with pytest.raises(remote.RemoteError, match="remote file is larger than 100 bytes") as raised:
        fetch(unsized)
    assert raised.value.too_large
    assert fetch(lambda request: httpx.Response(200, content=b"a" * 100)) == b"a" * 100


@pytest.mark.parametrize("failure, why", [
    (httpx.ConnectError("connection refused"), "could not be fetched from 'audio.example': ConnectError"),
    (httpx.ReadTimeout("timed out"), "sent nothing for 5 s"),
    (httpx.RemoteProtocolError("peer closed"), "RemoteProtocolError: peer closed"),
])
def test_transport_failures(failure, why):
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    with pytest.raises(remote.RemoteError, match=why):
        fetch(handler)
