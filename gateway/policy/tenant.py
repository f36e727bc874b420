"""A tenant's policy: what its keys say of its calls, resolved once, as a key is admitted.

The keys file (:mod:`.keyfile`) may be reloaded at any time; a call, a recording or a status
socket keeps the policy its admission resolved, so that a call runs with one set of settings from
its open to its end (a reload applies to what is admitted after it). The call applies it to its
config, so that what it sends the workers carries the redaction the tenant forces
(:meth:`gateway.core.config.SessionConfig.with_policy`), and its features read the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from common.redaction.policy import merge

from .analytics import NO_TENANT_SETTINGS, TenantAnalytics
from .keyfile import ANONYMOUS, ApiKey
from .webhook import Destination


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantPolicy:
    """One tenant's settings for its calls (the defaults: a gateway without keys, or a tenant whose keys set none)."""

    tenant: str = ANONYMOUS
    redact: tuple[str, ...] = ()  # redaction kinds forced on its calls: any of its keys' redact=
    analytics: TenantAnalytics = NO_TENANT_SETTINGS  # its keys' analytics=, phrases=, alerts=
    webhook: Destination | None = None  # where its finals go besides --finals-webhook


def policies(keys: Iterable[ApiKey]) -> dict[str, TenantPolicy]:
    """Each tenant's policy from its keys: the webhook and analytics its keys set (the keys file holds
    a tenant to one of each), and the redaction any of them forces."""
    webhooks: dict[str, Destination] = {}
    analytics: dict[str, TenantAnalytics] = {}
    redact: dict[str, set[str]] = {}
    for api_key in keys:
        if api_key.webhook is not None:
            webhooks[api_key.tenant] = api_key.webhook
        if api_key.analytics is not None:
            analytics[api_key.tenant] = api_key.analytics
        redact.setdefault(api_key.tenant, set()).update(api_key.redact)
    return {tenant: TenantPolicy(tenant=tenant, redact=merge(kinds, ()) if kinds else (),
                                 analytics=analytics.get(tenant, NO_TENANT_SETTINGS), webhook=webhooks.get(tenant))
            for tenant, kinds in redact.items()}
