"""The bus helpers that need no Redis: bounded gather, the command packer, and the clients' connections."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError

from common import bus


async def test_bounded_gather_limits_commands_in_flight():
    running = peak = 0

    async def job(i):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        return i

    assert await bus.gather_bounded((job(i) for i in range(300)), limit=16) == list(range(300))
    assert peak == 16


def test_pack_command_packs_as_redis_py_does():
    from redis.asyncio.connection import Connection

    from common.bus import pack_command
    args = ("EVALSHA", "a" * 40, 3, "ss:{x}:lease", b"\x00\xff" * 5000, "", 12345678901234, "ü")
    assert pack_command(*args) == b"".join(Connection().pack_command(*args))


class _ClosedUnderfoot(Connection):
    """A connection that passed its is-connected check, then was closed by another task (its
    writer is None): redis-py's disconnect race, as a cluster failover meets it."""

    is_connected = True  # type: ignore[assignment]

    async def disconnect(self, *args, **kwargs) -> None:
        pass  # the other task did


async def test_redis_py_leaks_the_disconnect_race_as_attribute_error():
    # The hazard the race-safe connections exist for: were it ever fixed upstream, this says so.
    with pytest.raises(AttributeError, match="writelines"):
        await _ClosedUnderfoot().send_packed_command(b"PING\r\n", check_health=False)


async def test_a_race_safe_connection_raises_the_race_as_a_connection_error():
    closed = bus.race_safe(_ClosedUnderfoot)()
    with pytest.raises(ConnectionError, match="closed under a write.*writelines"):
        await closed.send_packed_command(b"PING\r\n", check_health=False)
    closed._parser = None  # type: ignore[assignment]  # closed while it waited for a reply
    with pytest.raises(ConnectionError, match="closed under a read"):
        await closed.read_response()
    safe = bus.race_safe(Connection)
    assert bus.race_safe(safe) is safe


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "rediss://127.0.0.1:1", "unix:///tmp/none.sock",
                                 "redis+sentinel://127.0.0.1:1/main", "redis+cluster://127.0.0.1:1"])
async def test_every_client_that_connect_gives_opens_race_safe_connections(url):
    client = bus.connect(url)
    try:
        if isinstance(client, RedisCluster):
            node, = client.nodes_manager.startup_nodes.values()
            connection = node.acquire_connection()  # made, not connected
            assert isinstance(client.connection_kwargs["connection_class"](), bus._RaceSafeConnection)
        else:
            connection = client.connection_pool.make_connection()
        assert isinstance(connection, bus._RaceSafeConnection)
    finally:
        await client.aclose()


class _SecondReader:
    """A parser whose stream another task is already reading (asyncio's refusal, as a pub/sub's
    reconnect under its listener meets it)."""

    def __init__(self, message: str) -> None:
        self.message = message

    async def read_response(self, **kwargs):
        raise RuntimeError(self.message)

    def on_disconnect(self) -> None:
        pass


async def test_a_second_reader_of_a_connection_is_a_connection_error_and_other_runtime_errors_stay():
    closed = bus.race_safe(_ClosedUnderfoot)()
    closed._parser = _SecondReader("read() called while another coroutine is already waiting for incoming data")
    with pytest.raises(ConnectionError, match="two readers on one connection"):
        await closed.read_response()
    closed._parser = _SecondReader("something else")
    with pytest.raises(RuntimeError, match="something else"):
        await closed.read_response()
