"""The bus helpers that need no Redis: bounded gather and the command packer."""

from __future__ import annotations

import asyncio

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
