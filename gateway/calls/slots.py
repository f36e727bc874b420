"""What a connection holds of its API key's limits (:mod:`gateway.security.limits`): a *pending* slot
until its call opens, then the call's *session* slot, held until the call ends (while it is parked too),
so that a client at its session limit can still reconnect to resume a call."""

from __future__ import annotations

import functools

from ..security.limits import SESSION, KeyLimits, Slot
from .call import Call


class KeySlots:
    def __init__(self, limits: KeyLimits | None, key_id: str | None) -> None:
        """``limits``: where the connection and its call count against ``key_id`` (None: they do not)."""
        self.limits = limits
        self.key_id = key_id
        self.session: Slot | None = None  # the call's, once it holds one

    async def take(self, kind: str) -> Slot:
        """A slot of ``kind``; raise :class:`~gateway.security.limits.NoSlot` when the key has none left."""
        if self.limits is None or self.key_id is None:
            return Slot(kind, self.key_id or "")
        return await self.limits.take(kind, self.key_id)

    async def give_back(self, slot: Slot) -> None:
        if self.limits is not None:
            await self.limits.release(slot)

    def hold(self, call: Call, slot: Slot) -> None:
        """``call`` holds its session ``slot`` until it ends (parked too): released with the call."""
        self.session = slot
        if self.limits is not None:
            call.on_release(functools.partial(self.limits.release, slot))

    def adopt(self, call: Call, member: str | None) -> None:
        """A resumed ``call`` takes over the session slot (``member``) its parked state names."""
        if self.key_id is None:
            return
        slot = Slot(SESSION, self.key_id, member)
        if self.limits is not None:
            self.limits.adopt(slot)
        self.hold(call, slot)
