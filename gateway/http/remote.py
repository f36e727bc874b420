"""A pre-recorded request's ``{"url": ...}`` body: the URL checked against the allowlist, and fetched.

Deepgram's pre-recorded API also takes remote audio: a JSON body ``{"url": ...}``
(``Content-Type: application/json``) that the server fetches. A server that fetches
a URL its client names can be made to reach what only it can reach (a server-side
request forgery: a cloud's metadata service, an admin port on loopback), so here it
is off unless the operator lists the hosts it may fetch from
(``--prerecorded-url-hosts``, :mod:`gateway.http.prerecorded`), and that list is the
control:

- :func:`url_of` reads the body (JSON with a string ``url``);
- :func:`check` takes only ``http://`` and ``https://`` URLs without userinfo whose
  host is one of the list (exact match, case-insensitive; any port). The URL is
  parsed by httpx, the client that fetches it, so the host checked is the host
  fetched. A host name is trusted with what its DNS says: list names the operator
  controls, not names a client can point anywhere;
- :func:`fetch` GETs it with redirects followed only to listed hosts (each hop
  checked, :data:`MAX_REDIRECTS` at most), streamed up to the uploads' size limit,
  without content coding (no decompression bomb), and with the uploads' idle
  timeout per connect and read. A failure raises :class:`RemoteError`, whose message
  the client gets (Deepgram's ``REMOTE_CONTENT_ERROR``, or 413 when too large).
"""

from __future__ import annotations

import json

import httpx

from ..doors.kit import header_text

SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
MAX_JSON_BYTES = 64 << 10  # a {"url": ...} body; a URL is a few hundred bytes


class UrlRefused(ValueError):
    """The body or its URL is refused before any request is made; the message says why (for a 400)."""


class RemoteError(Exception):
    """The remote audio could not be fetched: the message says why; ``too_large`` past the size limit."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def url_of(body: bytes | bytearray) -> str:
    """The ``url`` of a JSON body ``{"url": "..."}``; raise :class:`UrlRefused`."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise UrlRefused("Content-Type was application/json, but the body is not JSON: send {\"url\": \"https://"
                         "...\"}, or the audio itself with another Content-Type") from None
    if not isinstance(document, dict) or "url" not in document:
        raise UrlRefused("a JSON body names the audio to fetch as {\"url\": \"https://...\"}; it has no url")
    url = document["url"]
    if not isinstance(url, str) or not url:
        raise UrlRefused("the body's url is not a non-empty string")
    return url


def check(url: str | httpx.URL, hosts: frozenset[str]) -> httpx.URL:
    """``url`` parsed, if it may be fetched: http(s), no userinfo, a host in ``hosts``; raise :class:`UrlRefused`."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UrlRefused(f"the url is not a valid URL: {exc}") from None
    if parsed.scheme not in SCHEMES:
        raise UrlRefused(f"the url's scheme is {parsed.scheme or 'missing'!r}: only http:// and https:// URLs "
                         "are fetched")
    if parsed.userinfo:
        raise UrlRefused("the url has a user name or password: this server sends no credentials to a remote host")
    host = parsed.host.lower()
    if not host:
        raise UrlRefused("the url has no host")
    if host not in hosts and f"[{host}]" not in hosts:  # an IPv6 address may be listed in brackets
        raise UrlRefused(f"fetching from {header_text(host)!r} is not allowed here (the gateway's "
                         "--prerecorded-url-hosts lists the hosts it fetches from)")
    return parsed


async def fetch(client: httpx.AsyncClient, url: httpx.URL, *, hosts: frozenset[str], limit: int,
                idle_timeout: float) -> bytearray:
    """The body at ``url`` (checked by :func:`check`), at most ``limit`` bytes; raise :class:`RemoteError`."""
    timeout = httpx.Timeout(idle_timeout)  # connect, read, write and pool: no progress for this long
    for _ in range(MAX_REDIRECTS + 1):
        try:
            async with client.stream("GET", url, timeout=timeout, follow_redirects=False,
                                     headers={"Accept-Encoding": "identity"}) as response:
                if response.is_redirect:
                    url = _redirect(response, hosts)
                    continue
                if response.status_code >= 400:
                    side = "client" if response.status_code < 500 else "server"
                    raise RemoteError(f"the remote server hosting the audio answered with a {side} error: "
                                      f"{response.status_code} {header_text(response.reason_phrase)}")
                if response.status_code != 200:
                    raise RemoteError(f"the remote server hosting the audio answered {response.status_code}, "
                                      "not 200 with the audio")
                coding = response.headers.get("Content-Encoding", "identity").lower()
                if coding not in ("identity", ""):  # asked for none: its bytes would not be the audio
                    raise RemoteError(f"the remote server sent the audio with content coding "
                                      f"{header_text(coding)!r}, not as it is")
                return await _read(response, limit)
        except httpx.TimeoutException:
            raise RemoteError(f"the remote server hosting the audio sent nothing for {idle_timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise RemoteError(f"the audio could not be fetched from {header_text(url.host)!r}: "
                              f"{type(exc).__name__}: {header_text(str(exc)) or 'no detail'}") from None
    raise RemoteError(f"the url redirected more than {MAX_REDIRECTS} times")


def _redirect(response: httpx.Response, hosts: frozenset[str]) -> httpx.URL:
    location = response.headers.get("Location")
    if not location:
        raise RemoteError(f"the remote server answered {response.status_code} without a Location")
    try:
        return check(response.url.join(location), hosts)
    except (UrlRefused, httpx.InvalidURL) as exc:
        raise RemoteError(f"the url redirected to where this server does not fetch from: {exc}") from None


async def _read(response: httpx.Response, limit: int) -> bytearray:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        raise RemoteError(f"the remote file ({length} bytes) is larger than {limit} bytes "
                          "(the gateway's --prerecorded-max-bytes)", too_large=True)
    data = bytearray()
    async for piece in response.aiter_bytes():  # no content coding (refused above): the bytes as sent
        if len(data) + len(piece) > limit:
            raise RemoteError(f"the remote file is larger than {limit} bytes (the gateway's "
                              "--prerecorded-max-bytes)", too_large=True)
        data += piece
    return data
