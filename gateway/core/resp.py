"""Many Redis commands in one round trip, at a few microseconds each: the gateway's hot batches.

A gateway with a thousand sessions sends Redis about twenty thousand commands a
second (the audio appends, their doorbells, the sweeps and renewals). Through
redis-py's pipeline each command costs tens of microseconds of Python: building
the command object, packing it argument by argument, and, for every reply, a
read with its own timeout timer (seen: a third of a gateway's CPU at 600
sessions). A :class:`Lane` instead owns one connection, packs a batch into one
buffer, sends it, reads the replies in order, and bounds the whole exchange by
one deadline. Replies are raw RESP values (``EXPIRE`` gives 1 or 0, not a
bool); an error reply comes back as its :class:`ResponseError` in its place,
and the rest of the batch is still read.

On a Redis Cluster the lane uses redis-py's pipeline instead, which routes each
command to the node of its key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

from common import bus

DEFAULT_TIMEOUT = 5.0  # seconds a batch's replies may take when the client sets no socket timeout

Arg = bytes | str | int
Command = Sequence[Arg] | bytes  # bytes: a command already in RESP


def pack(command: Command, parts: list[bytes]) -> None:
    """Append ``command`` in RESP to ``parts``."""
    parts.append(b"*%d\r\n" % len(command))
    for arg in command:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")


class Lane:
    """One connection for batches of commands, used by one task at a time."""

    def __init__(self, redis: bus.Redis) -> None:
        self.redis = redis
        self.cluster = isinstance(redis, RedisCluster)
        self._connection = None
        self.timeout = DEFAULT_TIMEOUT
        if not isinstance(redis, RedisCluster):  # self.cluster, said so that mypy sees it
            pool = redis.connection_pool
            self.timeout = pool.connection_kwargs.get("socket_timeout") or DEFAULT_TIMEOUT
            # No socket timeout on this connection: a batch has one deadline (self.timeout).
            self._connection = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})

    async def execute(self, commands: Sequence[Command]) -> list:
        """Run ``commands`` in order in one round trip; their replies, errors in place.

        Connection errors and timeouts raise (after the client's retries: a batch
        that failed on a broken connection is sent again on a new one, as
        redis-py's pipeline does).
        """
        if not commands:
            return []
        if self.cluster:
            # The same one deadline: redis-py's cluster pipeline has no socket timeout here, and a
            # batch that never settled stalled every session of the gateway (a call mid-failover
            # never got its close answered); a timeout is a failover error the writer retries.
            try:
                async with asyncio.timeout(self.timeout), self.redis.pipeline(transaction=False) as pipe:
                    for command in commands:
                        pipe.execute_command(*command)
                    return await pipe.execute(raise_on_error=False)
            except TimeoutError:
                raise self._late(len(commands)) from None
        parts: list[bytes] = []
        for command in commands:
            if isinstance(command, bytes):
                parts.append(command)
            else:
                pack(command, parts)
        connection = self._connection
        assert connection is not None  # one node
        return await connection.retry.call_with_retry(lambda: self._exchange(parts, len(commands)),
                                                      lambda _: connection.disconnect())

    async def _exchange(self, parts: list[bytes], count: int) -> list:
        connection = self._connection
        assert connection is not None  # one node
        if not connection.is_connected:
            # Outside the batch's deadline: behind Sentinel a connection waits out a failover
            # (common.sentinel), which may take longer than one batch may.
            await connection.connect()
        try:
            async with asyncio.timeout(self.timeout):
                await connection.send_packed_command(parts)
                replies = []
                for _ in range(count):
                    try:
                        replies.append(await connection.read_response())
                    except ResponseError as exc:  # the other replies still follow
                        replies.append(exc)
        except TimeoutError:
            await connection.disconnect(nowait=True)  # replies may still come: the connection is out of step
            raise self._late(count) from None
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        return replies

    def _late(self, count: int) -> RedisTimeout:
        return RedisTimeout(f"a batch of {count} commands took over {self.timeout:g} s")

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.disconnect()
