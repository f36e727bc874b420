"""HTTP requests off the wire as websockets reads them, except that every well-formed one gets an answer.

websockets reads a handshake request's line and headers, and a request that
announces a body (``Content-Length`` other than 0, or ``Transfer-Encoding``)
is refused by closing the connection without a response: a WebSocket handshake
has no body. A client that POSTs to the gateway would see its connection
dropped. :class:`GatewayProtocol` reads the request line and headers itself,
with websockets' parsers and limits, and hands every well-formed request to
``process_request`` (:mod:`gateway.server`), which answers its method and body
(:func:`gateway.http.routes.method_refusal`). A body stays unread unless the
route asks for it (:meth:`GatewayConnection.read_body`: Deepgram's pre-recorded
``POST /v1/listen``, after its key and slot checks); meanwhile its bytes wait
(past ``PENDING_BODY_BYTES`` the socket is not read), and after any response but
101 websockets discards what the client sends. A request with a body is never
upgraded (:meth:`GatewayProtocol.accept`), or its body would be read as
WebSocket frames.

Why here and not another HTTP server in front: websockets keeps serving the
port (handshakes, pings, compression, TLS and every door's behaviour, with
their tests); the one thing it lacks, a request body, is read by the same
sans-I/O parser that already reads the request line, with a size limit. The
handshake's ``OPEN_TIMEOUT`` (websockets' ``open_timeout``, applied here so that
it can be lifted) bounds reading the request; a route that reads a body lifts
it (:meth:`GatewayConnection.lift_open_timeout`) and bounds the body itself.

The request target is decoded as ISO-8859-1 rather than refused as non-ASCII,
so that a bad one gets a 400 that says why (:func:`gateway.doors.base.split_target`).
"""

from __future__ import annotations

import asyncio
import http
import re
from collections.abc import Callable, Generator
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import HeaderLineTooLong, InvalidMessage, RequestLineTooLong, TooManyHeaders
from websockets.http11 import Request, Response, parse_headers, parse_line
from websockets.frames import DATA_OPCODES, Frame
from websockets.protocol import CLOSED, CONNECTING, OPEN, Protocol
from websockets.server import ServerProtocol

_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")  # a method (RFC 9110's token)
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,15}")
OPEN_TIMEOUT = 10.0  # seconds to read a request and answer its handshake (websockets' default open_timeout)
PENDING_BODY_BYTES = 1 << 20  # a body's bytes buffered before its route decides to read it
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class BodyError(Exception):
    """A body that cannot be read: too large (``too_large``), malformed, or cut off."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


class Body:
    """A request body as the wire reads it (:meth:`GatewayConnection.read_body`), up to ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.error: BodyError | None = None
        self.done = asyncio.Event()
        self.moved = asyncio.Event()  # set at each piece read; cleared by the waiter

    def add(self, piece: bytes | bytearray) -> None:
        if len(self.data) + len(piece) > self.limit:
            raise BodyError(f"the body is larger than {self.limit} bytes", too_large=True)
        self.data += piece
        self.moved.set()

    def fail(self, error: BodyError) -> None:
        self.error = error
        self.done.set()

    async def complete(self, *, idle_timeout: float) -> bytearray:
        """The whole body; raise :class:`BodyError`, or ``TimeoutError`` when no byte came for ``idle_timeout`` s."""
        while not self.done.is_set():
            self.moved.clear()
            done = asyncio.ensure_future(self.done.wait())
            moved = asyncio.ensure_future(self.moved.wait())
            try:
                finished, _ = await asyncio.wait({done, moved}, timeout=idle_timeout,
                                                 return_when=asyncio.FIRST_COMPLETED)
            finally:
                done.cancel()
                moved.cancel()
            if not finished:
                raise TimeoutError(f"no byte of the body for {idle_timeout:g} s")
        if self.error is not None:
            raise self.error
        data, self.data = self.data, bytearray()  # the caller's alone: the request holds no copy
        return data


def has_body(headers: Headers) -> bool:
    """Whether a request with these headers carries a body."""
    return "Transfer-Encoding" in headers or not set(headers.get_all("Content-Length")) <= {"0"}


def read_request(read_line: Callable[[int, type[Exception]], Generator[None, None, bytes | bytearray]]
                 ) -> Generator[None, None, Request]:
    """The request line and headers, as websockets' ``Request.parse`` reads them, a body allowed (and not read).

    Raise ``EOFError`` (also for a line that ends in a bare LF), ``ValueError`` (not HTTP/1.x, a
    malformed header), or websockets' ``RequestLineTooLong``,
    ``HeaderLineTooLong`` and ``TooManyHeaders``.
    """
    request_line = yield from parse_line(read_line, RequestLineTooLong)
    method, _, rest = request_line.partition(b" ")
    target, _, protocol = rest.partition(b" ")
    if not _TOKEN.fullmatch(method) or not target or protocol not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise ValueError(f"the request line is not METHOD TARGET HTTP/1.1: {bytes(request_line[:100])!r}")
    headers = yield from parse_headers(read_line)
    return Request(target.decode("iso-8859-1"), headers, method.decode(), protocol.decode())


class GatewayProtocol(ServerProtocol):
    """websockets' server side of a connection, but a request with a body reaches ``process_request``."""

    body: Body | None = None  # the request's body once its route asked for it (GatewayConnection.read_body)

    @classmethod
    def like(cls, protocol: ServerProtocol) -> GatewayProtocol:
        """A protocol with the settings ``serve()`` gave ``protocol`` (no ``select_subprotocol``)."""
        if "select_subprotocol" in vars(protocol):
            raise TypeError("GatewayProtocol does not take select_subprotocol")
        return cls(origins=protocol.origins, extensions=protocol.available_extensions,
                   subprotocols=protocol.available_subprotocols, state=protocol.state,
                   max_size=(protocol.max_message_size, protocol.max_fragment_size), logger=protocol.logger)

    def parse(self) -> Generator[None]:
        # ServerProtocol.parse with read_request in place of Request.parse; websockets' refusals, plus a 400 for a
        # malformed request (websockets closes the connection without a word).
        try:
            request = yield from read_request(self.reader.read_line)
        except RequestLineTooLong as exc:
            yield from self._refuse(exc, http.HTTPStatus.REQUEST_URI_TOO_LONG)
        except (HeaderLineTooLong, TooManyHeaders) as exc:
            yield from self._refuse(exc, http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        except EOFError as exc:
            if not self.reader.eof:  # websockets' word for a line that ends in a bare LF
                yield from self._refuse(exc, http.HTTPStatus.BAD_REQUEST, "a line of the request ends with a bare "
                                                                          "LF; HTTP/1.1 ends lines with CRLF")
            yield from self._drop(exc)  # the connection closed before the request did: nobody to answer
        except ValueError as exc:  # HTTP/9.9, a NUL in a header, TLS to this plain port...
            yield from self._refuse(exc, http.HTTPStatus.BAD_REQUEST, str(exc))
        except Exception as exc:
            yield from self._drop(exc)
        self.events.append(request)
        if has_body(request.headers):  # no frames: unread until the route says (never a 101 follows)
            yield from self._until(lambda: self.body is not None)
            assert self.body is not None
            try:
                yield from self._read_body(request.headers, self.body)
            except BodyError as exc:
                self.body.fail(exc)
            else:
                self.body.done.set()
            while True:  # anything after the body: discarded until the answer replaces this parser
                self.reader.discard()
                yield from self._until(lambda: bool(self.reader.buffer))
        # What follows the request (a pipelined second request, frames sent before the 101) waits for the
        # answer: frames after a 101 (GatewayConnection.handshake reads them), discarded after any other.
        # Read as frames now, a second GET failed the connection before its first answer was sent.
        yield from self._until(lambda: self.state is not CONNECTING)
        yield from Protocol.parse(self)  # frames, once the handshake is done

    def _until(self, ready: Callable[[], bool]) -> Generator[None]:
        """Wait for more data until ``ready()``. The client's EOF first: it went away before its answer.

        Then close as websockets does when a request is cut short: state CLOSED, which its
        ``connection_lost`` asserts (an AssertionError there left ``wait_closed()`` pending
        forever, so a pre-recorded request whose client went away was transcribed to the
        end, for nobody). The route sees ``wait_closed()`` end and stops; no answer is written.
        """
        while not ready():
            if self.reader.eof:
                yield from self._closed()
            yield

    @property
    def body_pending(self) -> bool:
        """A request's body waits for its route to ask for it (or to answer without it)."""
        return self.body is None and self.state is CONNECTING and len(self.reader.buffer) > PENDING_BODY_BYTES

    def _read_body(self, headers: Headers, body: Body) -> Generator[None]:
        """Read the body into ``body`` (Content-Length or chunked), as it arrives; raise :class:`BodyError`."""
        coding = headers.get("Transfer-Encoding")
        if coding is None:
            lengths = set(headers.get_all("Content-Length"))
            if len(lengths) != 1 or not (length := lengths.pop()).isdigit():
                raise BodyError("the Content-Length header is not one number")
            if int(length) > body.limit:
                raise BodyError(f"the body ({length} bytes) is larger than {body.limit} bytes", too_large=True)
            yield from self._read_exact(int(length), body)
            return
        if coding.lower() != "chunked":
            raise BodyError(f"transfer coding {coding} is not supported (send Content-Length, or chunked)")
        while True:
            line = yield from self._read_line()
            size = line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size):
                raise BodyError("a chunk's size is not a hexadecimal number")
            if int(size, 16) == 0:
                break
            yield from self._read_exact(int(size, 16), body)
            if (yield from self._read_line()) != b"":
                raise BodyError("a chunk does not end with CRLF")
        while (yield from self._read_line()) != b"":  # the trailer's fields, unused
            pass

    def _read_exact(self, n: int, body: Body) -> Generator[None]:
        """Move ``n`` bytes into ``body`` as they come (no copy of the whole waits in the buffer)."""
        buffer = self.reader.buffer
        while n:
            if not buffer:
                if self.reader.eof:
                    raise BodyError("the connection ended before the body did")
                yield
                continue
            take = min(n, len(buffer))
            body.add(buffer[:take])
            del buffer[:take]
            n -= take

    def _read_line(self) -> Generator[None, None, bytes]:
        try:
            line = yield from self.reader.read_line(1024, BodyError)
        except EOFError:
            raise BodyError("the connection ended before the body did") from None
        return bytes(line).rstrip(b"\r\n")

    def _drop(self, exc: Exception) -> Generator[None]:
        self.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
        self.handshake_exc.__cause__ = exc
        yield from self._closed()

    def _closed(self) -> Generator[None]:
        """Close without an answer: this parser is replaced by websockets' discard() (state CLOSED at EOF)."""
        self.send_eof()
        self.parser = self.discard()
        next(self.parser)
        yield

    def _refuse(self, exc: Exception, status: http.HTTPStatus, why: str | None = None) -> Generator[None]:
        self.handshake_exc = exc
        if why is None:
            self.send_response(self.reject(status, f"Failed to open a WebSocket connection: {exc}.\n"))
        else:
            self.send_response(self.reject(status, f"Bad request: {why}.\n"))
        yield

    def send_response(self, response: Response) -> None:
        # websockets closes the connection after any answer but a 101: say so, so that a client that
        # pipelined a second request knows to send it again on a new connection (RFC 9112, 9.3.2).
        if response.status_code != http.HTTPStatus.SWITCHING_PROTOCOLS and "Connection" not in response.headers:
            response.headers["Connection"] = "close"
        super().send_response(response)

    def accept(self, request: Request) -> Response:
        if has_body(request.headers):
            return self.reject(http.HTTPStatus.BAD_REQUEST, "A WebSocket handshake has no body.\n")
        return super().accept(request)


class GatewayConnection(ServerConnection):
    """websockets' server connection, with a :class:`GatewayProtocol` (``serve(create_connection=...)``,
    with ``open_timeout=None``: this connection applies :data:`OPEN_TIMEOUT` itself)."""

    protocol: GatewayProtocol

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        super().__init__(GatewayProtocol.like(protocol), *args, **kwargs)
        self._open_deadline: asyncio.Timeout | None = None
        self._paused = False
        self._closing = False  # the gateway closes: the client's messages are dropped unread

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        try:
            async with asyncio.timeout(OPEN_TIMEOUT) as self._open_deadline:
                await super().handshake(*args, **kwargs)
        finally:
            self._resume()  # a refused body's bytes are discarded now
        if self.protocol.state is OPEN and self.protocol.reader.buffer and not self.protocol.reader.eof:
            self.data_received(b"")  # frames that came before the 101 (GatewayProtocol.parse held them)

    def lift_open_timeout(self) -> None:
        """The route bounds what it does itself (reading a body, transcribing it)."""
        if self._open_deadline is not None:
            self._open_deadline.reschedule(None)

    def read_body(self, *, limit: int) -> Body:
        """Read the request's body, up to ``limit`` bytes (answering ``Expect: 100-continue``)."""
        body = self.protocol.body = Body(limit)
        if self.protocol.state is CLOSED:  # the client went away before its route asked (its parser is done)
            body.fail(BodyError("the connection ended before the body did"))
            return body
        if self.request is not None and self.request.headers.get("Expect", "").lower() == "100-continue":
            self.transport.write(CONTINUE)
        self._resume()
        next(self.protocol.parser)  # what arrived meanwhile
        return body

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """websockets' close, but nothing the client sends from now on is kept for reading.

        Once the gateway closes, nobody reads the client's messages. A client that
        goes on sending audio would fill the queue of unread messages, websockets
        would stop reading the socket, and the client's close frame, behind that
        audio, would arrive only after the close timeout: a refused call would hold
        its socket (and the client's wait) that long.
        """
        self._discard_messages()
        await super().close(code, reason)

    def process_event(self, event: Any) -> None:
        if self._closing and isinstance(event, Frame) and event.opcode in DATA_OPCODES:
            return  # read off the socket and dropped: the close frame behind it gets through
        super().process_event(event)

    def _discard_messages(self) -> None:
        if self._closing:
            return
        self._closing = True
        messages = self.recv_messages  # websockets' Assembler (its internals as of websockets 17)
        if not messages.get_in_progress:  # a reader mid-message keeps its frames; later ones are dropped
            messages.frames.queue.clear()
        if messages.paused:
            messages.paused = False
            messages.resume()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.protocol.body_pending and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            self.transport.resume_reading()
