"""Waiting (with a time limit, or for a cancelled task) without ``asyncio.wait_for``'s pitfalls.

Before Python 3.12, ``wait_for`` can swallow a cancellation that races with the
awaited thing completing, leaving a task that never finishes (seen as hung
gateway handlers). These helpers wait through ``asyncio.wait``, which never
catches the caller's ``CancelledError``, and cancel what they started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_event(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set; True if it was within ``timeout`` seconds."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return bool(done)


async def within(awaitable: Awaitable[T], timeout: float | None) -> T:
    """The result of ``awaitable``; raise ``TimeoutError`` (and cancel it) after ``timeout`` seconds."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    finally:
        if not task.done():
            task.cancel()
    if not done:
        await asyncio.gather(task, return_exceptions=True)
        raise TimeoutError(f"not done within {timeout} s")
    return task.result()


RECANCEL_INTERVAL = 1.0  # seconds between repeated cancellations of a task that goes on


async def cancel_all(tasks, *, interval: float = RECANCEL_INTERVAL) -> None:
    """Cancel ``tasks`` and wait until every one has ended, whatever each raised.

    The cancellation is repeated every ``interval`` seconds until a task ends, the
    way anyio's cancel scopes deliver it at every await: a library that swallows
    one cancellation (redis-py's, seen here: a gateway hub loop that went on after
    its close and hung the shutdown) gets another at its next await.
    """
    tasks = [task for task in tasks if task is not None]
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=interval)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: its failure is the caller's to report, not the loop's


def current_task() -> asyncio.Task:
    """The task running the caller, a coroutine: ``asyncio.current_task`` says None only outside one."""
    task = asyncio.current_task()
    assert task is not None, "called outside a task"
    return task


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancel ``task`` (see :func:`cancel_all`) and wait until it has ended; raise what it
    raised other than its cancellation.

    Unlike ``try: await task except CancelledError: pass``, a cancellation of the
    caller itself while it waits is not swallowed.
    """
    if task is None:
        return
    await cancel_all([task])
    if not task.cancelled():
        task.result()
