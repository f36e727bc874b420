"""API keys: who may open a WebSocket on the gateway, and as which tenant.

Keys come from ``--api-key`` (repeatable) and ``--api-keys-file`` (one key a
line, with optional settings: :mod:`gateway.policy.keyfile`), the file being
read again on SIGHUP. A client presents
its key in an ``Authorization: Token KEY`` or ``Bearer KEY`` header, in an
``X-API-KEY`` header (how Genesys AudioHook sends it), or, for
browsers that cannot set headers, as ``?token=KEY`` or as the
``Sec-WebSocket-Protocol`` pair ``token, KEY``. Keys are kept and compared as
their SHA-256 digests with :func:`hmac.compare_digest`, so a comparison takes the
same time whatever the key; each key is known by a short digest (its *key id*)
in logs and in Redis, never by itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from websockets.datastructures import Headers

from common.config import option
from common.errors import ConfigError

from ..policy.keyfile import ANONYMOUS, ApiKey, bare_key, read_keys_file
from ..policy.tenant import TenantPolicy, policies

log = logging.getLogger(__name__)

QUERY_PARAMETER = "token"
HEADER = "X-API-KEY"
SUBPROTOCOL = "token"  # offered as "token, KEY"; the server selects "token"
_SCHEMES = ("token", "bearer")


class ApiKeys:
    """The keys the gateway accepts, each with its settings; :meth:`reload` re-reads the keys file.

    With neither keys nor a file the gateway is open (``enabled`` is False). A
    keys file that is given but empty refuses everyone: emptying it must not
    open the service. A key given both as a flag and in the file has the file's
    settings.
    """

    def __init__(self, keys: Iterable[str] = (), *, keys_file: Path | None = None) -> None:
        self.fixed = [key.strip() for key in keys if key.strip()]
        for key in self.fixed:
            if any(c.isspace() or c == "," for c in key):
                raise ConfigError("an API key cannot contain spaces or commas")
        self.keys_file = keys_file
        self._digests: dict[bytes, ApiKey] = {}
        self._by_id: dict[str | None, ApiKey] = {}  # (only OPEN has no id, and it is no configured key)
        self._policies: dict[str, TenantPolicy] = {}
        self._load()

    @property
    def enabled(self) -> bool:
        return bool(self.fixed) or self.keys_file is not None

    def __len__(self) -> int:
        return len(self._digests)

    @property
    def tenants(self) -> int:
        return len({api_key.tenant for api_key in self._digests.values()})

    def knows(self, tenant: str) -> bool:
        """Whether ``tenant`` is one a key belongs to now (an open gateway's: the anonymous tenant)."""
        if not self.enabled:
            return tenant == ANONYMOUS
        return any(api_key.tenant == tenant for api_key in self._digests.values())

    def _load(self) -> None:
        keys = {key: bare_key(key) for key in self.fixed}
        if self.keys_file is not None:
            keys.update(read_keys_file(self.keys_file))
        self._digests = {hashlib.sha256(key.encode()).digest(): api_key for key, api_key in keys.items()}
        self._by_id = {api_key.key_id: api_key for api_key in keys.values()}
        self._policies = policies(keys.values())

    async def reload(self) -> bool:
        """Read the keys file again (off the event loop); on error keep the keys in use."""
        if self.keys_file is None:
            log.info("SIGHUP: no API keys file to reload")
            return False
        try:
            await asyncio.to_thread(self._load)
        except ConfigError as exc:
            log.error("API keys not reloaded, the %d key(s) in use stay: %s", len(self), exc)
            return False
        log.info("reloaded %d API key(s) of %d tenant(s) from %s", len(self), self.tenants, self.keys_file)
        if not self._digests:
            log.warning("the API keys file %s has no keys: every WebSocket is refused", self.keys_file)
        return True

    def policy_of(self, tenant: str) -> TenantPolicy:
        """``tenant``'s policy as the keys file says now (:mod:`gateway.policy.tenant`): resolved as
        a key is admitted, and kept by what it admits."""
        policy = self._policies.get(tenant)
        return policy if policy is not None else TenantPolicy(tenant=tenant)

    def find(self, key_id: str) -> ApiKey | None:
        """The settings of the key whose id is ``key_id`` now (a reload may have changed or removed it)."""
        return self._by_id.get(key_id)

    def identify(self, candidate: str | None) -> ApiKey | None:
        """The settings of ``candidate`` if it is a valid key, else None (constant time per key)."""
        if not candidate:
            return None
        digest = hashlib.sha256(candidate.encode()).digest()
        found = None
        for known, api_key in self._digests.items():  # no early exit: every key is compared
            if hmac.compare_digest(digest, known):
                found = api_key
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyOptions:
    """Where the keys come from; :meth:`load` reads them."""

    keys: tuple[str, ...] = field(default=(), repr=False, metadata=option(
        "an API key clients must present (repeatable; none and no --api-keys-file: open to all)",
        flag="--api-key", repeat=True, secret=True))
    keys_file: str = field(default="", metadata=option(
        "file of API keys, one a line with optional settings (tenant=, perms=, doors=, sessions=, "
        "followers=, status=, follow_tenants=, webhook=, webhook_secret=, redact=), '#' comments; read again on "
        "SIGHUP", flag="--api-keys-file"))

    def load(self) -> ApiKeys:
        return ApiKeys(self.keys, keys_file=Path(self.keys_file) if self.keys_file else None)


def credential(headers: Headers, query: list[tuple[str, str]]) -> str | None:
    """The key a client presented, from whichever of the five places it used."""
    authorization = headers.get("Authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() in _SCHEMES and value.strip():
            return value.strip()
    keys = headers.get_all(HEADER)
    if len(keys) == 1 and keys[0].strip():
        return keys[0].strip()
    for name, value in query:
        if name == QUERY_PARAMETER and value:
            return value
    offered = offered_subprotocols(headers)
    if SUBPROTOCOL in offered:
        index = offered.index(SUBPROTOCOL)
        if index + 1 < len(offered):
            return offered[index + 1]
    return None


def offered_subprotocols(headers: Headers) -> list[str]:
    return [item.strip() for value in headers.get_all("Sec-WebSocket-Protocol")
            for item in value.split(",") if item.strip()]
