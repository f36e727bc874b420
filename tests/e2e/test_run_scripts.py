"""bus.run_scripts against a real Redis: errors in place, lost scripts reloaded, the WAIT for replicas."""

from __future__ import annotations

import time

from common import bus
from common.sentinel import WaitForReplicas

APPEND = "redis.call('XADD', KEYS[1], '*', 'r', ARGV[1]); return redis.call('XLEN', KEYS[1])"
FAIL = "return redis.error_reply('no')"


async def test_scripts_run_in_order_errors_in_place(redis):
    append, fail = redis.register_script(APPEND), redis.register_script(FAIL)
    await redis.script_load(APPEND)
    await redis.script_load(FAIL)
    replies = await bus.run_scripts(redis, [(append, ["t:s"], ["a"]), (fail, [], []), (append, ["t:s"], ["b"])])
    assert replies[0] == 1 and str(replies[1]) == "no" and replies[2] == 2


async def test_lost_scripts_are_loaded_and_their_calls_sent_again(redis):
    """As after a restart or a failover to a replica whose script cache is empty."""
    append = redis.register_script(APPEND)
    await redis.script_flush()
    replies = await bus.run_scripts(redis, [(append, ["t:s"], ["a"]), (append, ["t:s"], ["b"])],
                                    wait=WaitForReplicas(0, 10))
    assert replies == [1, 2, 0]
    assert [fields[b"r"] for _, fields in await redis.xrange("t:s")] == [b"a", b"b"]


async def test_wait_without_replicas_returns_how_many_acknowledged_after_its_timeout(redis):
    append = redis.register_script(APPEND)
    started = time.monotonic()
    replies = await bus.run_scripts(redis, [(append, ["t:s"], ["a"])], wait=WaitForReplicas(1, 50))
    assert replies == [1, 0]
    assert time.monotonic() - started >= 0.05

