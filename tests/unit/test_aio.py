"""common.aio.cancel_all: a task that swallows a cancellation still ends, and the caller's own
cancellation is never swallowed."""

import asyncio

import pytest

from common import aio


async def swallows_once(started: asyncio.Event, swallowed: asyncio.Event | None = None) -> str:
    """What a library that eats one cancellation looks like to its caller's loop."""
    started.set()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        if swallowed is not None:
            swallowed.set()
    await asyncio.sleep(3600)
    return "went on"


async def test_a_swallowed_cancellation_is_repeated():
    started = asyncio.Event()
    stubborn = asyncio.create_task(swallows_once(started))
    plain = asyncio.create_task(asyncio.sleep(3600))
    await started.wait()
    async with asyncio.timeout(30):  # a hang fails here
        await aio.cancel_all([stubborn, None, plain], interval=0.01)
    assert stubborn.cancelled() and plain.cancelled()


async def test_a_single_cancel_leaves_such_a_task_running():
    """The reason for cancel_all: one cancel() is not enough for this task."""
    started = asyncio.Event()
    stubborn = asyncio.create_task(swallows_once(started))
    await started.wait()
    stubborn.cancel()
    done, _ = await asyncio.wait({stubborn}, timeout=0.1)
    assert not done
    await aio.cancel_all([stubborn], interval=0.01)


async def test_failures_are_retrieved_and_cancel_and_wait_raises_them():
    async def fails():
        raise ValueError("broken")

    task = asyncio.create_task(fails())
    await asyncio.wait({task})
    await aio.cancel_all([task])  # no "exception was never retrieved" left behind
    failed = asyncio.create_task(fails())
    await asyncio.wait({failed})
    with pytest.raises(ValueError, match="broken"):
        await aio.cancel_and_wait(failed)


async def test_the_callers_cancellation_passes_through():
    started, swallowed = asyncio.Event(), asyncio.Event()
    stubborn = asyncio.create_task(swallows_once(started, swallowed))
    await started.wait()
    closer = asyncio.create_task(aio.cancel_all([stubborn], interval=3600))
    async with asyncio.timeout(30):
        await swallowed.wait()  # the closer has cancelled once and now waits on the stubborn task
    closer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closer
    await aio.cancel_all([stubborn], interval=0.01)
