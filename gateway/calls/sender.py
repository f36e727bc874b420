"""A connection's call-to-client half: the call's events, from a bounded queue, rendered by the door and
written to the socket by one task; and the goodbye written straight to the socket when that task may be
what failed."""

from __future__ import annotations

import asyncio

from websockets.exceptions import ConnectionClosed

from common.aio import within
from common.errors import ErrorCode

from ..core import events
from ..doors.base import CloseFrame, Door

FLUSH_TIMEOUT = 5.0  # seconds a parking connection waits to send what its call queued
_FLUSHED = object()  # queued behind a parking call's events: the sender stops there


class Sender:
    def __init__(self, websocket, door: Door, queue: asyncio.Queue[events.Event]) -> None:
        """``queue``: where the call (and the connection) put the client's events."""
        self.websocket = websocket
        self.door = door
        self.queue = queue
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._send(), name="send")

    async def finished(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the socket's close (the call's last event sent)."""
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=timeout)

    async def stop(self) -> None:
        """Stop sending now; whatever is still queued stays there."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def flush(self, *, send: bool) -> bool:
        """Render every event a parked call queued: sent when ``send`` (True if all were), else into the
        door's replay buffer only. The sender has stopped afterwards."""
        sender, flushed = self._task, False
        if send and sender is not None and not sender.done():
            try:
                # A marker, not an event: the sender stops at it, and the loop below skips it.
                await within(self.queue.put(_FLUSHED), FLUSH_TIMEOUT)  # type: ignore[arg-type]
                await asyncio.wait({sender}, timeout=FLUSH_TIMEOUT)
                flushed = sender.done() and not sender.cancelled()
            except TimeoutError:
                pass
        await self.stop()
        while not self.queue.empty():
            event = self.queue.get_nowait()
            if event is not _FLUSHED:
                self.door.render(event)  # numbered and kept for the replay
        return flushed

    async def _send(self) -> None:
        try:
            while True:
                event = await self.queue.get()
                if event is _FLUSHED:
                    return  # the call was parked: the connection takes the rest from here
                if await write(self.websocket, self.door, event):
                    return
        except ConnectionClosed:
            pass


async def write(websocket, door: Door, event: events.Event) -> bool:
    """Send ``event`` as ``door`` renders it; True once it closed the socket."""
    for outgoing in door.render(event):
        if isinstance(outgoing, CloseFrame):
            await websocket.close(outgoing.code, outgoing.reason)
            return True
        await websocket.send(outgoing)
    return False


async def goodbye(websocket, door: Door, code: ErrorCode, message: str, close_code: int) -> None:
    """A fatal error and the close, written straight to the socket, not through a sender task."""
    try:
        for event in (events.Error(code, message, fatal=True), events.Ended(close_code, message, complete=False)):
            if await write(websocket, door, event):
                return
    except ConnectionClosed:
        pass
