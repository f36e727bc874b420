"""What every door (protocol adapter) is: sans-I/O translation between a wire format and the core.

A door is built from the handshake request, turns each incoming message into
operations (:mod:`gateway.core.events`), and renders each core event into outgoing
messages. It never touches a socket or Redis, so it is tested with plain calls.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from websockets.datastructures import Headers

from ..core import events
from .httpsig import Nonce


@dataclass(frozen=True, slots=True)
class CloseFrame:
    """Close the WebSocket with ``code`` and ``reason`` after what was sent before."""

    code: int
    reason: str


Outgoing = str | bytes | CloseFrame

# RFC 9112's request targets this server takes: origin-form, "/path?query", or absolute-form, whose
# scheme and authority go (a proxy's form, which a server must accept). A path holds RFC 3986's
# pchars and "/"; a query anything printable but "#", as clients leave "[", "|"... unescaped there.
_ABSOLUTE = re.compile(r"(?i)(?:https?|wss?)://[^/?#]*")
_NOT_PATH = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]|%(?![0-9A-Fa-f]{2})")
_NOT_QUERY = re.compile(r"[^!-\"$-~]")


class BadTarget(ValueError):
    """A request target this server cannot route; the message says why (an HTTP 400)."""


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request target; :class:`BadTarget` if it is none this server takes.

    The target is split at its first ``?``, not parsed as a URL: ``urlsplit`` reads a
    path that starts with ``//`` as a host (and fails on ``//[``).
    """
    if absolute := _ABSOLUTE.match(target):
        target = target[absolute.end():] or "/"
    if not target.startswith("/"):
        raise BadTarget("the request target must be a path, like /ws/asr")
    path, _, query = target.partition("?")
    for part, name, bad in ((path, "path", _NOT_PATH), (query, "query", _NOT_QUERY)):
        if found := bad.search(part):
            raise BadTarget(f"the request {name} holds {found.group()!r} at {found.start()}, which must be "
                            "percent-encoded (RFC 3986)")
    return path, query


@dataclass(frozen=True, slots=True)
class Handshake:
    """The parts of a WebSocket handshake request a door may read."""

    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: Headers = field(default_factory=Headers)
    target: str = ""  # the request target as sent (path and query), e.g. for signatures over the URL

    @classmethod
    def from_target(cls, target: str, headers: Headers) -> Handshake:
        """The handshake of a request for ``target``; :class:`BadTarget` if it is none this server takes."""
        path, query = split_target(target)
        return cls(path, parse_qsl(query, keep_blank_values=True), headers, target)


class HandshakeRefused(Exception):
    """Refuse the WebSocket handshake with an HTTP ``status`` and a body that says why.

    ``headers`` are extra response headers (a platform's request id, say).
    """

    def __init__(self, status: int, body: bytes, *, content_type: str = "application/json",
                 headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(body.decode(errors="replace"))
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list(headers)


class Door(abc.ABC):
    """One protocol. Subclasses set ``name`` (the ``protocol`` metrics label)."""

    name: ClassVar[str]
    # True: a client that drops without a close may resume the call (:mod:`gateway.calls.resume`),
    # and this door then renders :class:`~gateway.core.events.Resumed`.
    resumable: bool = False
    # The door's deployment settings, if it has some: a dataclass of flags (common.config.option).
    options_class: ClassVar[type | None] = None
    # Set by a door whose handshake is signed: what it may present only once over every gateway
    # (the signature's nonce); the server refuses a second use (:mod:`gateway.security.replay`).
    nonce: Nonce | None = None

    def __init__(self, handshake: Handshake, *, options: Any = None) -> None:
        """Read the handshake; raise :class:`HandshakeRefused` to refuse it.

        ``options``: an instance of :attr:`options_class`; None: its defaults.
        """
        self.handshake = handshake
        self.options = options if options is not None or self.options_class is None else self.options_class()

    def response_headers(self) -> list[tuple[str, str]]:
        """Extra headers of the handshake response."""
        return []

    def opening(self) -> list[events.Operation]:
        """Operations implied by the handshake itself (a door configured by its URL opens here)."""
        return []

    @abc.abstractmethod
    def receive(self, message: str | bytes) -> list[events.Operation]:
        """Operations for one incoming message; raise :class:`~common.errors.ProtocolError` if it is wrong."""

    def park(self) -> dict:
        """A resumable door's state for a resume on any gateway (JSON; :mod:`gateway.calls.resume`)."""
        raise NotImplementedError(f"{self.name} is not resumable")

    def restore(self, state: dict, config: Any) -> None:
        """Go on from :meth:`park`'s ``state`` with the call's ``config`` (a resumable door's)."""
        raise NotImplementedError(f"{self.name} is not resumable")

    @property
    def received_samples(self) -> int:
        """Audio taken so far, in samples per channel at the client's rate (a resumable door's: the
        resume's confirmation says where the client's audio goes on)."""
        raise NotImplementedError(f"{self.name} is not resumable")

    @abc.abstractmethod
    def render(self, event: events.Event) -> list[Outgoing]:
        """Outgoing messages for one core event (``Ended`` must render a :class:`CloseFrame`)."""
