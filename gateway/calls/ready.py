"""A connection's ready time, and what runs on it: the idle watchdog and the keepalive.

The ready clock (:class:`gateway.core.idle.ReadyClock`) stands still while the connection
holds back reading its client (it paces a fast sender, applies a message): the client's audio
waits in the socket then, and its pong behind it, so neither idling nor a late pong may be
counted meanwhile. A pacing wait (:func:`pace`) ends when the connection is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from common.errors import ErrorCode
from common.logs import Untrusted

from ..core.idle import IdleClock, ReadyClock
from .call import Call

log = logging.getLogger(__name__)


class Reading:
    """Whether the connection reads its client now, and waits on the time it did."""

    def __init__(self, now: float) -> None:
        self.clock = ReadyClock(now)
        self._reading = asyncio.Event()  # set while the ready clock runs
        self._reading.set()

    def hold(self) -> None:
        """The connection stops reading the client for a while (it applies a message: paces, publishes)."""
        self.clock.hold(time.monotonic())
        self._reading.clear()

    def release(self) -> None:
        self.clock.release(time.monotonic())
        self._reading.set()

    async def until(self, ready: float, done: asyncio.Future | None = None) -> bool:
        """Wait until the ready clock reads ``ready``, or ``done`` is; True if ``done`` came first."""
        while done is None or not done.done():
            now = time.monotonic()
            at = self.clock.wall(ready, now)
            if at is not None and at <= now:
                return False
            if at is not None and done is None:
                await asyncio.sleep(at - now)  # a timer: the deadline is checked again when it rings
                continue
            waiters = set() if done is None else {done}
            reading = None
            if at is None:  # held: the clock stands still until the connection reads again
                reading = asyncio.ensure_future(self._reading.wait())
                waiters.add(reading)
            try:
                await asyncio.wait(waiters, timeout=None if at is None else at - now,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                if reading is not None:
                    reading.cancel()
        return True


async def watch_idle(call: Call, idle: IdleClock, reading: Reading) -> None:
    """End ``call`` when it idles too long (:class:`IdleClock`)."""
    while call.taking_input:
        await reading.until(idle.deadline())
        message = idle.idle(time.monotonic())
        if message is not None and call.taking_input:
            await call.fail(ErrorCode.IDLE_TIMEOUT, message, CloseCode.INTERNAL_ERROR)
            return


def take_over_keepalive(websocket, reading: Reading, *, drop: Callable[[], None],
                        call_id: Callable[[], str | None]) -> asyncio.Task | None:
    """Replace the WebSocket library's keepalive with one on the ready clock (:func:`keepalive`); None
    without pings.

    The library counts a pong's delay in wall time: while pacing holds back reads,
    a live client's pong waits behind its audio and would time out (seen: 1011
    after ~20 s of a fast upload). Its pings stop here; this connection sends its own.
    """
    interval = getattr(websocket, "ping_interval", None)
    timeout = getattr(websocket, "ping_timeout", None)
    if interval is None or timeout is None:
        return None
    library = getattr(websocket, "keepalive_task", None)
    if library is not None:
        library.cancel()
    return asyncio.create_task(keepalive(websocket, reading, interval=interval, timeout=timeout, drop=drop,
                                         call_id=call_id), name="keepalive")


async def keepalive(websocket, reading: Reading, *, interval: float, timeout: float, drop: Callable[[], None],
                    call_id: Callable[[], str | None]) -> None:
    """Ping every ``interval`` s; ``drop`` the client when a pong is ``timeout`` s of ready time late
    (``call_id``: the call's, None before it opened, for the log).

    The pings go on every ``interval`` s while a pong is pending, too: they find a
    client that is gone while pacing holds back reads, when its pong cannot come and
    nothing else writes. A ping to a killed client's socket draws a reset from its
    host (even when the client's FIN waits behind data the gateway does not read),
    the write after it fails, and that closes the connection and ends the pacing wait.
    One ping while the pong stands still on the ready clock would wait for ever.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            pong = await websocket.ping()
        except ConnectionClosed:
            return
        assert isinstance(pong, asyncio.Future)  # what websockets returns (typed as an Awaitable)
        answer = asyncio.ensure_future(reading.until(reading.clock.read(time.monotonic()) + timeout, pong))
        try:
            while not (await asyncio.wait({answer}, timeout=interval))[0]:
                try:
                    await websocket.ping()  # its pong answers the first one too
                except ConnectionClosed:
                    return
        finally:
            answer.cancel()
        if not answer.result():
            name = call_id()
            log.info("session %s: no pong within %g s; the client is dropped",
                     Untrusted(name) if name is not None else "(not open)", timeout)
            drop()  # as a network failure would: a resumable call is parked
            return


async def pace(websocket, delay: float) -> None:
    """Wait ``delay`` s before reading on; raise ConnectionClosed if the connection is lost meanwhile.

    The rest of what the client sent is not taken then: nobody is left to pace.
    """
    lost = getattr(websocket, "wait_closed", None)
    if lost is None:  # a raw TCP stream: it cannot tell while nobody reads it
        await asyncio.sleep(delay)
        return
    waiter = asyncio.ensure_future(lost())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=delay)
    finally:
        waiter.cancel()
    if done:
        raise websocket.close_exc
