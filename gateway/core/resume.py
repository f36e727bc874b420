"""Resumable calls: kept alive for a grace period after their client dropped, so a reconnect can take them over.

A resumable door's connection registers its call here when it opens. When the
connection ends without a close, it parks the call with its door (which
numbers and remembers the messages it sent, and counts the audio it took): the
pipeline sessions keep running and their results wait in the call's bounded
event queue. A new connection presenting the call's id (and the same API key)
takes both over (:meth:`Parking.take`); if the old connection has not noticed
the drop yet (it may be pacing, not reading), it is told to let go first.
A call not taken within ``grace`` seconds is released, as a disconnect would.
A parked call keeps its API key's session slot (:meth:`Call.on_release`) until
it is released, and a resuming connection takes it over with the call: parking
is no way around a key's session limit, and a client at that limit can resume.

Calls live in this gateway's memory: a client must reconnect to the same
gateway (a balancer with session affinity, or the same address) to resume.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from common.aio import wait_event

from ..doors.base import Door
from .call import Call

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Entry:
    call: Call
    door: Door
    key_id: str | None
    let_go: Callable[[], None]  # makes the attached connection drop its client
    parked: asyncio.Event = field(default_factory=asyncio.Event)
    timer: asyncio.Task | None = None


class Parking:
    def __init__(self, *, grace: float = 30.0, limit: int = 1000) -> None:
        self.grace = grace
        self.limit = limit  # resumable calls at most; beyond it a call is not resumable
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def register(self, call: Call, door: Door, *, key_id: str | None, let_go: Callable[[], None]) -> bool:
        """Make an attached call resumable; False when resuming is off or the registry is full."""
        if self.grace <= 0 or len(self._entries) >= self.limit or call.call_id in self._entries:
            return False
        self._entries[call.call_id] = _Entry(call, door, key_id, let_go)
        return True

    def forget(self, call: Call) -> None:
        """The call ended with its connection: no resume; idempotent."""
        entry = self._entries.get(call.call_id)
        if entry is not None and entry.call is call and not entry.parked.is_set():
            del self._entries[call.call_id]

    def park(self, call: Call) -> bool:
        """Keep a registered call ``grace`` seconds for its client; False (the caller ends it) if not registered."""
        entry = self._entries.get(call.call_id)
        if entry is None or entry.call is not call:
            return False
        entry.timer = asyncio.create_task(self._expire(call.call_id, entry), name=f"parked-{call.call_id}")
        entry.parked.set()
        log.info("call %s parked for %.0f s awaiting a resume", call.call_id, self.grace)
        return True

    async def take(self, call_id: str, *, key_id: str | None, timeout: float) -> tuple[Call, Door] | None:
        """The call ``call_id`` and its door, once parked, if registered here under the same key."""
        entry = self._entries.get(call_id)
        if entry is None or entry.key_id != key_id:
            return None
        if not entry.parked.is_set():
            entry.let_go()  # the old connection has not seen the drop yet
            if not await wait_event(entry.parked, timeout):
                return None
        if self._entries.get(call_id) is not entry or entry.timer is None or entry.timer.done():
            return None  # another connection took it meanwhile, or it expired
        del self._entries[call_id]
        entry.timer.cancel()
        log.info("call %s resumed", call_id)
        return entry.call, entry.door

    async def close(self) -> None:
        """End every parked call now (attached ones end with their connections); idempotent."""
        parked = [entry for entry in self._entries.values() if entry.parked.is_set()]
        self._entries = {}
        for entry in parked:
            entry.timer.cancel()
        await asyncio.gather(*(entry.timer for entry in parked), return_exceptions=True)
        for entry in parked:
            await _end(entry.call)

    async def _expire(self, call_id: str, entry: _Entry) -> None:
        await asyncio.sleep(self.grace)  # a timer: take() cancels it
        if self._entries.get(call_id) is entry:
            del self._entries[call_id]
            log.info("call %s not resumed within %.0f s; it ends", call_id, self.grace)
            await _end(entry.call)


async def _end(call: Call) -> None:
    """Release a call nobody will read: empty its queue first, so no relay waits on it for room."""
    while not call.events.empty():
        call.events.get_nowait()
    await call.release()
