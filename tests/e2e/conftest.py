"""Fixtures of the end-to-end layer: a throw-away redis-server per module and stacks of real processes."""

from __future__ import annotations

import asyncio
import warnings

import pytest

from common import bus
from tests.kit import contract
from tests.kit.stack import SESSION_KEYS, SLOT_KEYS, Stack
from tests.kit.support import RedisServer, close_all, wait_for_workers, wait_until

contract.WATCH.enabled = True  # every test Redis's ss:finals is read and checked (tests/kit/contract.py)


class ContractExempted(UserWarning):
    """Violations of the transcript contract by a test marked ``contract_exempt``."""


class ContractUnchecked(UserWarning):
    """Finals that could not be read from a test Redis, so were not checked."""


def check_contract(request=None) -> None:
    """Fail (or warn, for a test exempt from these kinds) if the finals read so far break the contract."""
    found = contract.WATCH.new_violations()
    unread, contract.WATCH.unread[:] = list(contract.WATCH.unread), []
    for failure in unread:
        warnings.warn(ContractUnchecked(f"ss:finals not read, its sessions not checked: {failure}"), stacklevel=1)
    if not found:
        return
    marker = request.node.get_closest_marker("contract_exempt") if request is not None else None
    if marker is not None:
        reason = marker.args[0] if marker.args else ""
        found, excused = contract.exempt(found, reason, marker.kwargs.get("kinds", ()))
        if excused:
            warnings.warn(ContractExempted(f"exempt ({reason}):\n{contract.report(excused)}"), stacklevel=1)
    assert not found, f"the transcript contract is broken (docs/contract.md):\n{contract.report(found)}"


@pytest.fixture(autouse=True)
def transcript_contract(request):
    """After each test, every final its sessions sent (on any door, read from ss:finals) is checked."""
    yield
    contract.WATCH.collect()
    check_contract(request)


@pytest.fixture
async def redis(redis_server):
    """An asyncio client of the module's Redis, emptied after the test (its finals read first, to be checked)."""
    client = bus.connect(redis_server.url)
    yield client
    await asyncio.to_thread(contract.WATCH.collect, redis_server.url)
    await client.flushdb()
    contract.WATCH.flushed(redis_server.url)
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
        contract.WATCH.collect()  # finals that came after the module's last test
        check_contract()
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
