"""HTTP requests off the wire as websockets reads them, except that every well-formed one gets an answer.

websockets reads a handshake request's line and headers, and a request that
announces a body (``Content-Length`` other than 0, or ``Transfer-Encoding``)
is refused by closing the connection without a response: a WebSocket handshake
has no body. A client that POSTs to the gateway would see its connection
dropped. :class:`GatewayProtocol` reads the request line and headers itself,
with websockets' parsers and limits, and hands every well-formed request to
``process_request`` (:mod:`gateway.server`), which answers its method and body
(:func:`gateway.http.routes.method_refusal`). The body stays unread: after any
response but 101, websockets discards what the client sends. A request with a
body is never upgraded (:meth:`GatewayProtocol.accept`), or its body would be
read as WebSocket frames.

The request target is decoded as ISO-8859-1 rather than refused as non-ASCII,
so that a bad one gets a 400 that says why (:func:`gateway.doors.base.split_target`).
"""

from __future__ import annotations

import http
import re
from collections.abc import Callable, Generator
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import HeaderLineTooLong, InvalidMessage, RequestLineTooLong, TooManyHeaders
from websockets.http11 import Request, Response, parse_headers, parse_line
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")  # a method (RFC 9110's token)


def has_body(headers: Headers) -> bool:
    """Whether a request with these headers carries a body."""
    return "Transfer-Encoding" in headers or not set(headers.get_all("Content-Length")) <= {"0"}


def read_request(read_line: Callable[[int, type[Exception]], Generator[None, None, bytes]]
                 ) -> Generator[None, None, Request]:
    """The request line and headers, as websockets' ``Request.parse`` reads them, a body allowed (and not read).

    Raise ``EOFError``, ``ValueError`` (not HTTP/1.x), or websockets' ``RequestLineTooLong``,
    ``HeaderLineTooLong`` and ``TooManyHeaders``.
    """
    request_line = yield from parse_line(read_line, RequestLineTooLong)
    method, _, rest = request_line.partition(b" ")
    target, _, protocol = rest.partition(b" ")
    if not _TOKEN.fullmatch(method) or not target or protocol not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise ValueError("not an HTTP/1.1 request line")
    headers = yield from parse_headers(read_line)
    return Request(target.decode("iso-8859-1"), headers, method.decode(), protocol.decode())


class GatewayProtocol(ServerProtocol):
    """websockets' server side of a connection, but a request with a body reaches ``process_request``."""

    @classmethod
    def like(cls, protocol: ServerProtocol) -> GatewayProtocol:
        """A protocol with the settings ``serve()`` gave ``protocol`` (no ``select_subprotocol``)."""
        if "select_subprotocol" in vars(protocol):
            raise TypeError("GatewayProtocol does not take select_subprotocol")
        return cls(origins=protocol.origins, extensions=protocol.available_extensions,
                   subprotocols=protocol.available_subprotocols, state=protocol.state,
                   max_size=(protocol.max_message_size, protocol.max_fragment_size), logger=protocol.logger)

    def parse(self) -> Generator[None]:
        # ServerProtocol.parse with read_request in place of Request.parse; the refusals are websockets'.
        try:
            request = yield from read_request(self.reader.read_line)
        except RequestLineTooLong as exc:
            yield from self._refuse(exc, http.HTTPStatus.REQUEST_URI_TOO_LONG)
        except (HeaderLineTooLong, TooManyHeaders) as exc:
            yield from self._refuse(exc, http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        except Exception as exc:  # not HTTP, or the connection closed first: nothing to answer
            self.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
            self.handshake_exc.__cause__ = exc
            self.send_eof()
            self.parser = self.discard()
            next(self.parser)
            yield
        self.events.append(request)
        if has_body(request.headers):  # no frames: discarded until the answer (never a 101) replaces this parser
            while True:
                self.reader.discard()
                yield
        yield from Protocol.parse(self)  # frames, once the handshake is done

    def _refuse(self, exc: Exception, status: http.HTTPStatus) -> Generator[None]:
        self.handshake_exc = exc
        self.send_response(self.reject(status, f"Failed to open a WebSocket connection: {exc}.\n"))
        yield

    def accept(self, request: Request) -> Response:
        if has_body(request.headers):
            return self.reject(http.HTTPStatus.BAD_REQUEST, "A WebSocket handshake has no body.\n")
        return super().accept(request)


class GatewayConnection(ServerConnection):
    """websockets' server connection, with a :class:`GatewayProtocol` (``serve(create_connection=...)``)."""

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        super().__init__(GatewayProtocol.like(protocol), *args, **kwargs)
