"""The raw TCP listener (``--tcp-port``, off by default): the seed whisper-streaming socket protocol.

Each accepted socket is driven by the same :class:`~gateway.calls.connection.Connection`
as a WebSocket, through :class:`TcpStream`, which gives the socket the few
methods a connection uses (``recv``, async iteration, ``send``, ``close``). So
admission, pacing (the listener stops reading the socket when a client sends
faster than allowed), the idle timeout, backlog bounds and the metrics
(``protocol="tcp"``) are the WebSocket doors' own.

Access: raw PCM leaves no room for a credential, so API keys cannot apply.
Only peers in ``allowed_networks`` (default: loopback only) are served; others
are closed at once and counted as refused (reason ``forbidden_address``).
Serve it on a private network, or list the networks of trusted senders.

Dead peers: the protocol has no ping, so the socket's own means find them. TCP
keepalive probes an idle socket (a client that vanished without a reset: a
dead host, a cut cable) and ``TCP_USER_TIMEOUT`` fails a socket whose sent data
stays unacknowledged; a write that waits longer than ``write_timeout`` for a
client that stopped reading drops it, and a close never waits longer than
``close_timeout``. Either way the call ends and gives its slots back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed

from common import aio
from common.config import option

from . import features
from .calls.connection import Connection, ConnectionOptions
from .core.hub import SessionHub
from .doors.base import Handshake
from .doors.whisper_stream import TcpDoor

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = ("127.0.0.0/8", "::1/128")
FINISH_MARGIN = 2.0  # seconds of the drain left for a call's close after its results (as the gateway's)


def parse_networks(text: str | Sequence[str]) -> tuple[Network, ...]:
    """Networks from a comma-separated list (or a sequence) of CIDRs or addresses; ValueError if malformed."""
    items = [item.strip() for item in (text.split(",") if isinstance(text, str) else text)]
    return tuple(ipaddress.ip_network(item, strict=False) for item in items if item)


def port_number(text: str) -> int:
    port = int(text)
    if not 0 <= port < 65536:
        raise ValueError(f"{port} is not a port number")
    return port


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpOptions:
    host: str = "0.0.0.0"  # the WebSocket listener's (--host)
    # 0 here: any free port; as a flag, 0 builds no listener.
    port: int = field(default=0, metadata=option(
        "serve the raw TCP whisper-streaming protocol on this port (0: off)", flag="--tcp-port", parse=port_number))
    allowed_networks: tuple[Network, ...] = field(default=parse_networks(LOOPBACK), metadata=option(
        "comma-separated networks (CIDR) whose TCP clients are served; raw PCM carries no "
        "API key, so this is the TCP listener's only access check", flag="--tcp-allowed-networks",
        parse=parse_networks, show=lambda networks: ",".join(map(str, networks))))
    read_bytes: int = 3200  # bytes per read: 100 ms of PCM16 at 16 kHz
    language: str | None = None  # None: auto-detect
    # A client is gone when a write waits this long for it to read (or, in the kernel, for
    # an acknowledgement), or keepalive probes of an idle socket go unanswered for about as long.
    write_timeout: float = 20.0  # as the WebSocket doors' --ping-timeout
    close_timeout: float = 5.0  # seconds a close waits for the socket before it is aborted


def keep_alive(sock: socket.socket | None, *, timeout: float) -> None:
    """Make the kernel find a vanished peer within about ``timeout`` seconds (where it has the options)."""
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    interval = max(1, int(timeout) // 4)
    for name, value in (("TCP_KEEPIDLE", interval), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", 3),
                        ("TCP_USER_TIMEOUT", int(timeout * 1000))):
        if hasattr(socket, name):  # Linux has all four; others some
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


class TcpStream:
    """A socket as a :class:`Connection` sees a WebSocket: messages are the bytes of each read.

    The client's EOF is one empty message (the door's end of audio); a reset or
    a closed socket is :class:`ConnectionClosed`, as on a WebSocket.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, read_bytes: int,
                 write_timeout: float = 20.0, close_timeout: float = 5.0) -> None:
        self.reader = reader
        self.writer = writer
        self.read_bytes = read_bytes
        self.write_timeout = write_timeout
        self.close_timeout = close_timeout
        self.remote_address = writer.get_extra_info("peername")
        self._eof_sent = False

    async def recv(self) -> bytes:
        if self._eof_sent:
            raise ConnectionClosed(None, None)
        try:
            data = await self.reader.read(self.read_bytes)
        except (ConnectionError, OSError):
            raise ConnectionClosed(None, None) from None
        if not data:
            self._eof_sent = True
        return data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[bytes]:
        try:
            while True:
                yield await self.recv()
        except ConnectionClosed:
            return

    async def send(self, message: str | bytes) -> None:
        if self.writer.is_closing():
            raise ConnectionClosed(None, None)
        self.writer.write(message.encode() if isinstance(message, str) else message)
        try:
            await asyncio.wait_for(self.writer.drain(), self.write_timeout)
        except TimeoutError:
            log.info("TCP client %s read nothing for %.0f s; dropped", self.remote_address, self.write_timeout)
            self.writer.transport.abort()
            raise ConnectionClosed(None, None) from None
        except (ConnectionError, OSError):
            raise ConnectionClosed(None, None) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (a TCP stream has no close code), aborting it after ``close_timeout``; idempotent."""
        if not self.writer.is_closing():
            self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), self.close_timeout)
        except TimeoutError:
            self.writer.transport.abort()  # unsent data to a peer that does not read: drop it
        except (ConnectionError, OSError):
            pass


class TcpListener:
    """Accepts TCP clients until :meth:`close`; each one is a call through :class:`TcpDoor`."""

    def __init__(self, hub: SessionHub, *, options: TcpOptions, connection: ConnectionOptions) -> None:
        self.hub = hub
        # Its calls have no key: no tenant counts them, no log, no speakers (the door asks for none).
        self.plugs = features.plugs(features.Shared())
        self.options = options
        self.connection_options = connection
        self.port = options.port
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task, Connection | None] = {}  # each handler's call (None: refused yet)
        self._closing = False
        hub.metrics.connections.labels(protocol=TcpDoor.name)
        hub.metrics.sessions_active.labels(protocol=TcpDoor.name)
        hub.metrics.sessions.labels(protocol=TcpDoor.name)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.options.host, self.options.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("TCP (whisper-streaming) listening on %s:%d for %s", self.options.host, self.port,
                 ", ".join(map(str, self.options.allowed_networks)) or "nobody")

    async def close(self, *, drain_timeout: float = 10.0) -> None:
        """Stop accepting; each open call stops reading and sends the results of the audio it took, as a
        WebSocket call does at shutdown (:meth:`Connection.stop`); handlers still running after
        ``drain_timeout`` s are cancelled. Idempotent."""
        if self._server is None:
            return
        server, self._server = self._server, None
        self._closing = True
        server.close()
        for connection in self._handlers.values():
            if connection is not None:
                connection.stop(timeout=max(1.0, drain_timeout - FINISH_MARGIN))
        if self._handlers:
            _, left = await asyncio.wait(self._handlers, timeout=drain_timeout)
            if left:
                log.warning("%d TCP connection(s) still running after %.0f s; cancelling them", len(left),
                            drain_timeout)
                for task in left:
                    task.cancel()
                await asyncio.wait(left, timeout=self.options.close_timeout)
        await server.wait_closed()

    def allowed(self, peer: object) -> bool:
        try:
            address = ipaddress.ip_address(peer[0] if isinstance(peer, tuple) else str(peer))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.options.allowed_networks)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        options = self.options
        stream = TcpStream(reader, writer, read_bytes=options.read_bytes, write_timeout=options.write_timeout,
                           close_timeout=options.close_timeout)
        keep_alive(writer.get_extra_info("socket"), timeout=options.write_timeout)
        metrics = self.hub.metrics
        if not self.allowed(stream.remote_address):
            log.warning("TCP connection from %s refused: not in the allowed networks", stream.remote_address)
            metrics.sessions_refused.labels(reason="forbidden_address").inc()
            await stream.close()
            return
        handler = aio.current_task()
        gauge = metrics.connections.labels(protocol=TcpDoor.name)
        gauge.inc()
        try:
            door = TcpDoor(Handshake("tcp", [], Headers()), language=self.options.language)
            # A TcpStream has what a Connection uses of a WebSocket without a ping or close code (it
            # looks those up): duck-typed, where a Protocol of websockets' connection would be most of it.
            connection = self._handlers[handler] = Connection(
                stream, door, self.hub, options=self.connection_options, plugs=self.plugs)  # type: ignore[arg-type]
            if self._closing:  # accepted as the listener closed
                connection.stop(timeout=0)
            await connection.run()
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # close() cancelled it after its drain. Ended here: asyncio's start_server (Python 3.11) asks a
            # cancelled handler for its exception, which logs a CancelledError traceback.
        finally:
            await stream.close()
            gauge.dec()
            self._handlers.pop(handler, None)
