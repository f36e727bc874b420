"""A call's live pipeline sessions counted, while it runs on this gateway: in the gateway's gauge by
protocol and among its tenant's sessions (what ``/ws/status`` shows a tenant's key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..calls.call import Call, Plug
from ..calls.feature import Feature
from ..core.tenant import Tenant
from .shared import Shared


class Counts(Feature):
    def __init__(self, call: Call, tenant: Tenant | None) -> None:
        self.call = call
        self.tenant = tenant  # None: the gateway's gauge only (the raw TCP door's calls)
        self._counted = 0

    async def open(self, parked: Mapping[str, Any] | None) -> None:
        self._count(len(self.call.sessions))

    async def close(self, *, parked: bool) -> dict:
        self._count(-self._counted)
        return {}

    def _count(self, sessions: int) -> None:
        self._counted += sessions
        self.call.hub.metrics.sessions_active.labels(protocol=self.call.protocol).inc(sessions)
        if self.tenant is not None:
            self.tenant.sessions[self.call.protocol] += sessions


def plug(shared: Shared) -> Plug:
    def counts(call: Call) -> Counts:
        return Counts(call, shared.tenants[call.policy.tenant] if shared.tenants is not None else None)
    return counts
