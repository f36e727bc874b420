"""The client's answer to a server that ends the session with a close code other than 1000 (a real socket).

A 1001 (going away) ends the client's reads as a normal close (websockets raises
ConnectionClosedOK for it), so the client itself raises the close that it read: both
entry points then say StreamClosed with the server's code and reason.
"""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.server import ServerConnection, serve

from streamscribe_client.client import StreamClosed, StreamscribeClient, stream


async def goes_away(websocket: ServerConnection) -> None:
    json.loads(await websocket.recv())  # the config
    await websocket.close(1001, "going away")


async def no_frames():
    return
    yield b""


async def test_stream_says_the_servers_close_code_and_reason():
    async with serve(goes_away, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(StreamClosed) as closed:
            await stream(f"ws://127.0.0.1:{port}", no_frames(), sample_rate=16000, timeout=10)
    assert (closed.value.code, closed.value.reason) == (1001, "going away")


async def test_the_resuming_client_says_the_servers_close_code_and_reason():
    async with serve(goes_away, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = StreamscribeClient(f"ws://127.0.0.1:{port}", sample_rate=16000, timeout=10)
        with pytest.raises(StreamClosed) as closed:
            await client.run(no_frames())
    assert (closed.value.code, closed.value.reason) == (1001, "going away")
