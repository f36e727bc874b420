"""Which web pages may open a WebSocket on the gateway (the ``Origin`` check).

A browser sends the page's origin with every WebSocket handshake and lets any
page connect anywhere, so without this check a page on another site could use
a visitor's network position (or the demo page's key) to reach the service.
Accepted: handshakes without an ``Origin`` header (non-browser clients, which
can send any header anyway), same-origin pages (the demo page served by the
gateway itself), and the origins listed in ``--allowed-origins`` (``*``: all).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from common.errors import ConfigError

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _split(url: str) -> SplitResult | None:
    """``urlsplit`` of a client's header, or None where it refuses one (``http://[``: no IPv6 address)."""
    try:
        return urlsplit(url.strip().lower())
    except ValueError:
        return None


def _normalise(origin: str) -> str:
    """``scheme://host:port`` in lower case with the default port written out."""
    parts = _split(origin)
    if parts is None or parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return origin.strip().lower()  # "null" and other opaque origins compare as they are
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return origin.strip().lower()
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}"


def _host_port(value: str, default_port: int) -> tuple[str, int] | None:
    parts = _split("//" + value.strip())
    try:
        return (parts.hostname or "", parts.port or default_port) if parts and parts.hostname else None
    except ValueError:
        return None


class OriginPolicy:
    """``allowed(origin, host)`` for each handshake; build it from the ``--allowed-origins`` list."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        entries = [entry.strip() for entry in allowed if entry.strip()]
        self.any = "*" in entries
        for entry in entries:
            if entry != "*" and entry != "null" and not urlsplit(entry).scheme:
                raise ConfigError(f"allowed origin {entry!r} must be scheme://host[:port] (or '*')")
        self.allowed = {_normalise(entry) for entry in entries if entry != "*"}

    @classmethod
    def parse(cls, raw: str) -> OriginPolicy:
        """From a comma-separated list, as ``--allowed-origins`` gives it."""
        return cls(raw.split(","))

    def __str__(self) -> str:
        """The comma-separated list :meth:`parse` reads (``--help`` shows it)."""
        return ",".join(["*"] * self.any + sorted(self.allowed))

    def allowed_origin(self, origin: str | None, host: str | None) -> bool:
        if origin is None or self.any:
            return True
        normal = _normalise(origin)
        if normal in self.allowed:
            return True
        return self._same_origin(origin, host)

    def _same_origin(self, origin: str, host: str | None) -> bool:
        parts = _split(origin)
        if host is None or parts is None or parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            return False
        try:
            origin_port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            return False
        # A Host without a port names the default port of the scheme the page itself used.
        return _host_port(host, _DEFAULT_PORTS[parts.scheme]) == (parts.hostname, origin_port)
