"""Redaction's side in the gateway: ``redact=pii`` refused where the workers have no name model, and
the tenant's redacted sessions counted (``/ws/status``).

The rest is elsewhere: the kinds a tenant forces are in its policy, applied to the call's config as
the call is made (:meth:`gateway.core.config.SessionConfig.with_policy`), so that the workers, who
redact (:mod:`common.redaction`), get them; the doors parse what a client asks for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.languages import names_refusal

from ..calls.call import Call, Plug
from ..calls.feature import Feature, FeatureRefusal
from ..core.tenant import Tenant
from .shared import Shared


class RedactionFeature(Feature):
    """The redaction feature of a call (a redacted span of a final is :class:`gateway.core.events.Redaction`)."""

    def __init__(self, call: Call, tenant: Tenant | None) -> None:
        self.call = call
        self.tenant = tenant  # None: counted nowhere
        self._counted = 0

    def refusal(self) -> FeatureRefusal | None:
        message = names_refusal(self.call.models, self.call.config.redact)
        return FeatureRefusal("redaction", message) if message else None

    async def open(self, parked: Mapping[str, Any] | None) -> None:
        if self.tenant is not None:
            self._counted = len(self.call.sessions)
            self.tenant.redacted[self.call.config.redact_policy] += self._counted

    async def close(self, *, parked: bool) -> dict:
        if self.tenant is not None:
            self.tenant.redacted[self.call.config.redact_policy] -= self._counted
        self._counted = 0
        return {}


def plug(shared: Shared) -> Plug:
    def redaction(call: Call) -> RedactionFeature | None:
        if not call.config.redact:
            return None
        return RedactionFeature(call, shared.tenants[call.policy.tenant] if shared.tenants is not None else None)
    return redaction
