"""Fixtures of the end-to-end layer: a throw-away redis-server per module and stacks of real processes."""

from __future__ import annotations

import pytest

from common import bus
from tests.kit.stack import SESSION_KEYS, SLOT_KEYS, Stack
from tests.kit.support import RedisServer, close_all, wait_for_workers, wait_until


@pytest.fixture
async def redis(redis_server):
    """An asyncio client of the module's Redis, emptied after the test."""
    client = bus.connect(redis_server.url)
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def stacks():
    """Start stacks with ``stacks(server, **options)``; at module teardown check, then close, them.

    The check: sessions did run through each stack (else "no key remains" would prove nothing),
    and no session key remains in its Redis once they ended. Stages notice a vanished session
    at their next heartbeat, hence the bounded wait. A fixture using this one must ask for its
    Redis fixture first, so that Redis outlives the check.
    """
    started: list[Stack] = []

    def start(server, **options) -> Stack:
        stack = Stack(server, **options)
        started.append(stack)
        return stack

    yield start
    try:
        for stack in started:
            assert stack.sessions_created() > 0, (
                "no session ran through this module's stack, so its key check would prove nothing")
            try:
                wait_until(lambda: not stack.redis.keys(SESSION_KEYS) and not stack.redis.keys(SLOT_KEYS), 30,
                           "session keys and slots deleted")
            except AssertionError as exc:
                left = stack.redis.keys(SESSION_KEYS) + stack.redis.keys(SLOT_KEYS)
                raise AssertionError(f"{exc}: {left}\n{stack.logs()}") from None
    finally:
        close_all(stack.close for stack in started)


@pytest.fixture(scope="module")
def stack(redis_server, stacks):
    return stacks(redis_server)


@pytest.fixture(scope="module")
def live(stack):
    """The module's stack once both workers are registered."""
    wait_for_workers(stack.http, ("vad", "asr"))
    return stack
