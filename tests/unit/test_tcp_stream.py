"""The raw TCP listener's dead-peer rules, without a network: a client that stops reading is dropped."""

from __future__ import annotations

import asyncio
import socket

import pytest
from websockets.exceptions import ConnectionClosed

from gateway.tcp import TcpStream, keep_alive


class StuckWriter:
    """A StreamWriter whose peer never reads: drain and wait_closed never finish."""

    def __init__(self) -> None:
        self.written = b""
        self.closing = False
        self.aborted = False
        self.transport = self

    def get_extra_info(self, name):
        return ("192.0.2.7", 40000) if name == "peername" else None

    def is_closing(self) -> bool:
        return self.closing or self.aborted

    def write(self, data: bytes) -> None:
        self.written += data

    async def drain(self) -> None:
        await asyncio.Event().wait()

    def close(self) -> None:
        self.closing = True

    async def wait_closed(self) -> None:
        await asyncio.Event().wait()

    def abort(self) -> None:
        self.aborted = True


async def test_a_write_to_a_client_that_stopped_reading_drops_it():
    writer = StuckWriter()
    stream = TcpStream(asyncio.StreamReader(), writer, read_bytes=3200, write_timeout=0.05)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(stream.send("0 1000 hello\n"), 5)
    assert writer.aborted and writer.written == b"0 1000 hello\n"
    with pytest.raises(ConnectionClosed):  # and nothing more is written to it
        await stream.send("more")


async def test_a_close_never_waits_longer_than_its_timeout():
    writer = StuckWriter()
    stream = TcpStream(asyncio.StreamReader(), writer, read_bytes=3200, close_timeout=0.05)
    await asyncio.wait_for(stream.close(), 5)
    assert writer.closing and writer.aborted
    await asyncio.wait_for(stream.close(), 5)  # idempotent


def test_keepalive_finds_a_vanished_peer_within_the_write_timeout():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        keep_alive(sock, timeout=20)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 20_000
        if hasattr(socket, "TCP_KEEPIDLE"):
            idle, interval, count = (sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, name))
                                     for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"))
            assert idle + interval * count <= 20
    keep_alive(None, timeout=20)  # a transport without a socket: nothing to set
