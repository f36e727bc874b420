"""Tenants on this gateway: who owns a call, and what each has open here.

Every call, follower and status socket belongs to the tenant of the API key
that opened it (:mod:`gateway.policy.keyfile`); without API keys, everything
belongs to one tenant, :data:`~gateway.policy.keyfile.ANONYMOUS`. A tenant's counts (live pipeline
sessions and open connections, by protocol) are what ``/ws/status`` shows a key
of that tenant instead of the whole gateway's. What its keys say of its calls is
its policy (:mod:`gateway.policy.tenant`), not counted here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field



@dataclass(slots=True, eq=False)
class Tenant:
    name: str
    sessions: Counter[str] = field(default_factory=Counter)  # live pipeline sessions by protocol
    connections: Counter[str] = field(default_factory=Counter)  # open connections by protocol
    redacted: Counter[str] = field(default_factory=Counter)  # live pipeline sessions with redaction, by policy


class Tenants:
    """This gateway's tenants by name, each made on first use (there are as many as the keys file names)."""

    def __init__(self) -> None:
        self._named: dict[str, Tenant] = {}

    def __getitem__(self, name: str) -> Tenant:
        tenant = self._named.get(name)
        if tenant is None:
            tenant = self._named[name] = Tenant(name)
        return tenant
