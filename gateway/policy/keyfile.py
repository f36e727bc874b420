"""The API keys file: one key a line, each with its tenant, permissions, doors and limits.

A line is a key, then optional ``name=value`` settings; ``#`` starts a comment::

    k-8f3a19c2                # alone: its own tenant, may stream and follow, every door
    k-1b7c55e0  tenant=acme perms=stream,follow doors=native,twilio sessions=50 followers=10 status=2
    k-c0ffee22  tenant=acme analytics=on phrases=cancel+my+account alerts=dead_air_sec:8 redact=pci

Settings: ``tenant``, ``perms`` (``stream``, ``follow``, ``settings``, ``admin``), ``doors``,
``sessions``/``followers``/``status`` limits, ``follow_tenants``, ``webhook`` and
``webhook_secret``, ``analytics``, ``phrases``, ``alerts``, ``redact``; docs/security.md says
what each does. Why a line format and not TOML: every older one-key-a-line file keeps working
and means the same (each key its own tenant), revoking a key is deleting a line, and an error
names its line. Errors never quote a key, nor a word that is not a setting (it may be part of a
key that holds a space).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from common.errors import ConfigError
from common.redaction.policy import parse_kinds

from .analytics import AlertRules, TenantAnalytics, parse_phrases
from .webhook import Destination, http_url, signing_secret

ANONYMOUS = "anonymous"  # the one tenant of a gateway without API keys
STREAM, FOLLOW, ADMIN, SETTINGS_PERM = "stream", "follow", "admin", "settings"
PERMISSIONS = (STREAM, FOLLOW, ADMIN, SETTINGS_PERM)
DEFAULT_PERMISSIONS = frozenset({STREAM, FOLLOW})
# The doors' names (each door's ``name``; tests/unit/test_tenants.py holds them to gateway.doors.ROUTES):
# a keys file is plain data that the doors' layer reads, so it names them rather than imports them.
DOORS = ("audiohook", "deepgram", "flux", "native", "rnnt", "twilio", "whisper_stream")
LIMITS = ("sessions", "followers", "status")
ANALYTICS = ("analytics", "phrases", "alerts")
SETTINGS = ("tenant", "perms", "doors", *LIMITS, "follow_tenants", "webhook", "webhook_secret", *ANALYTICS,
            "redact")
MAX_URL = 2000  # characters of a webhook URL

_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_COUNT = re.compile(r"[1-9][0-9]{0,8}")  # checked before int(): a line cannot ask for a huge conversion


def is_tenant_name(name: str) -> bool:
    """Whether ``name`` is a tenant's name as a keys file's ``tenant=`` may give it."""
    return _TENANT.fullmatch(name) is not None


def key_id(key: str) -> str:
    """A short name of a key for logs and Redis keys (not reversible to the key)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """What one key may do. ``key_id`` None: no keys are configured, and everyone is :data:`OPEN`."""

    key_id: str | None
    tenant: str
    permissions: frozenset[str] = DEFAULT_PERMISSIONS
    doors: frozenset[str] | None = None  # None: every door
    sessions: int | None = None  # None: the gateway's default
    followers: int | None = None
    status: int | None = None
    follow_tenants: tuple[str, ...] = ()
    webhook: Destination | None = None  # where the tenant's finals go too
    analytics: TenantAnalytics | None = None  # None: the line sets none of ANALYTICS
    redact: tuple[str, ...] = ()  # redaction kinds forced on the tenant's calls

    @property
    def admin(self) -> bool:
        return ADMIN in self.permissions

    def may_manage(self, tenant: str) -> bool:
        """Whether this key may read and change ``tenant``'s settings over the admin API: its own tenant's
        with ``settings``, any tenant's with ``admin``."""
        return self.admin or (SETTINGS_PERM in self.permissions and tenant == self.tenant)

    @property
    def may_follow(self) -> bool:
        return FOLLOW in self.permissions

    def may_stream(self, door: str) -> bool:
        return STREAM in self.permissions and (self.doors is None or door in self.doors)

    def followable(self, requested: str | None = None) -> tuple[str, ...]:
        """The tenants a follow of this key looks in for a call id, in order.

        Its own tenant, then the granted ones; with ``requested``, that tenant
        alone if this key may follow it, else none (so a tenant it may not follow
        looks exactly like one without the call).
        """
        tenants = (self.tenant, *self.follow_tenants) if self.may_follow else ()
        if requested is None:
            return tenants
        return (requested,) if requested in tenants else ()


OPEN = ApiKey(key_id=None, tenant=ANONYMOUS, permissions=frozenset(PERMISSIONS))


def bare_key(key: str) -> ApiKey:
    """A key with no settings: a tenant of its own, the default permissions, every door."""
    ident = key_id(key)
    return ApiKey(key_id=ident, tenant=f"key-{ident}")


def _check_key(key: str, where: str) -> None:
    if "," in key:
        raise ConfigError(f"{where}: an API key cannot contain spaces or commas")
    name, equals, _ = key.partition("=")
    if equals and name in SETTINGS:
        raise ConfigError(f"{where}: the line starts with a setting ({name}=); the key comes first")


def read_keys_file(path: Path) -> dict[str, ApiKey]:
    """The keys in the file at ``path`` with their settings; ConfigError naming the file and line if wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the API keys file {path}: {exc}") from None
    return parse_keys(text, source=str(path))


def parse_keys(text: str, *, source: str) -> dict[str, ApiKey]:
    """Each key of a keys file's ``text`` with its settings; errors say ``source:LINE: why``."""
    found: dict[str, tuple[int, ApiKey]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{source}:{number}"
        key, settings = words[0], words[1:]
        _check_key(key, where)
        if key in found:
            raise ConfigError(f"{where}: the same key as line {found[key][0]}")
        found[key] = number, _with_settings(key, settings, where)
    webhooks: dict[str, tuple[int, Destination]] = {}
    analytics: dict[str, tuple[int, TenantAnalytics]] = {}
    for number, api_key in sorted(found.values(), key=lambda item: item[0]):
        if api_key.analytics is not None:
            first_settings = analytics.setdefault(api_key.tenant, (number, api_key.analytics))
            if first_settings[1] != api_key.analytics:
                raise ConfigError(f"{source}:{number}: tenant {api_key.tenant} has other analytics, phrases or "
                                  f"alerts on line {first_settings[0]}; a tenant has one set")
        if api_key.webhook is None:
            continue
        first = webhooks.setdefault(api_key.tenant, (number, api_key.webhook))
        if first[1] != api_key.webhook:
            raise ConfigError(f"{source}:{number}: tenant {api_key.tenant} has another webhook or webhook_secret "
                              f"on line {first[0]}; a tenant has one")
    return {key: api_key for key, (_, api_key) in found.items()}


def _with_settings(key: str, words: list[str], where: str) -> ApiKey:
    values: dict[str, str] = {}
    for position, word in enumerate(words, 1):
        name, equals, value = word.partition("=")
        if not equals or name not in SETTINGS:
            raise ConfigError(f"{where}: word {position} after the key is not a setting (name=value, one of "
                              f"{', '.join(SETTINGS)}); a key cannot contain spaces")
        if name in values:
            raise ConfigError(f"{where}: {name} is set twice")
        if not value:
            raise ConfigError(f"{where}: {name} has no value")
        values[name] = value
    ident = key_id(key)
    permissions = frozenset(_names(values["perms"], PERMISSIONS, "perms", where)) \
        if "perms" in values else DEFAULT_PERMISSIONS
    follow_tenants = tuple(_tenant(name, "follow_tenants", where)
                           for name in _list(values.get("follow_tenants", ""), "follow_tenants", where))
    if follow_tenants and FOLLOW not in permissions:
        raise ConfigError(f"{where}: follow_tenants needs the follow permission (perms=...,follow)")
    if "webhook_secret" in values and "webhook" not in values:
        raise ConfigError(f"{where}: webhook_secret needs a webhook=URL")
    return ApiKey(
        key_id=ident,
        tenant=_tenant(values["tenant"], "tenant", where) if "tenant" in values else f"key-{ident}",
        permissions=permissions,
        doors=frozenset(_names(values["doors"], DOORS, "doors", where)) if "doors" in values else None,
        follow_tenants=tuple(dict.fromkeys(follow_tenants)),
        webhook=_webhook(values, where) if "webhook" in values else None,
        analytics=_analytics(values, where) if any(name in values for name in ANALYTICS) else None,
        redact=_redact(values["redact"], where) if "redact" in values else (),
        **{limit: _count(values[limit], limit, where) for limit in LIMITS if limit in values},
    )


def _list(value: str, setting: str, where: str) -> list[str]:
    items = value.split(",") if value else []
    if any(not item for item in items):
        raise ConfigError(f"{where}: {setting} has an empty item in {value!r}")
    return items


def _names(value: str, allowed: tuple[str, ...], setting: str, where: str) -> list[str]:
    items = _list(value, setting, where)
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise ConfigError(f"{where}: {setting} may list {', '.join(allowed)}; not {', '.join(unknown)}")
    return items


def _tenant(name: str, setting: str, where: str) -> str:
    if not _TENANT.fullmatch(name):
        raise ConfigError(f"{where}: {setting}: {name[:80]!r} is not a tenant name (1-64 letters, digits, "
                          "'.', '_' or '-', starting with a letter or digit)")
    if name == ANONYMOUS:
        raise ConfigError(f"{where}: {setting}: {ANONYMOUS!r} is the tenant of a gateway without keys; "
                          "choose another name")
    return name


def _webhook(values: dict[str, str], where: str) -> Destination:
    url = values["webhook"]
    try:
        if len(url) > MAX_URL:
            raise ValueError(f"longer than {MAX_URL} characters")
        http_url(url)
    except ValueError as exc:
        raise ConfigError(f"{where}: webhook: {url[:80]!r} is not an http:// or https:// URL ({exc})") from None
    try:
        secret = signing_secret(values["webhook_secret"]) if "webhook_secret" in values else None
    except ValueError as exc:
        raise ConfigError(f"{where}: webhook_secret: {exc}") from None  # never quotes the secret
    return Destination(url, secret)


def _analytics(values: dict[str, str], where: str) -> TenantAnalytics:
    enabled = values.get("analytics", "off")
    if enabled not in ("on", "off"):
        raise ConfigError(f"{where}: analytics must be on or off, not {enabled[:40]!r}")
    try:
        phrases = parse_phrases([phrase.replace("+", " ") for phrase in values["phrases"].split(",")]) \
            if "phrases" in values else ()
        alerts = AlertRules().updated(dict(_threshold(item) for item in _list(values.get("alerts", ""), "alerts",
                                                                                 where)))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return TenantAnalytics(enabled=enabled == "on", phrases=phrases, alerts=alerts)


def _threshold(item: str) -> tuple[str, float | None]:
    name, colon, value = item.partition(":")
    if not colon:
        raise ConfigError(f"alerts: {item[:40]!r} is not name:value")
    if value == "off":
        return name, None
    try:
        return name, float(value[:40])
    except ValueError:
        raise ConfigError(f"alerts: {name[:40]}'s value {value[:40]!r} is not a number or off") from None


def _redact(value: str, where: str) -> tuple[str, ...]:
    try:
        return parse_kinds(_list(value, "redact", where), name="redact")
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _count(value: str, setting: str, where: str) -> int:
    if not _COUNT.fullmatch(value):
        raise ConfigError(f"{where}: {setting} must be a whole number from 1 to 999999999, not {value[:40]!r}")
    return int(value)
