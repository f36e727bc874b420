"""A pre-recorded callback waiting for delivery, as stored in Redis, and what follows an attempt (no I/O).

A callback whose first attempt failed is handed to the fleet (:mod:`gateway.outputs.courier`):
any gateway on the same Redis may send the next attempt. What it needs travels in one
record, :class:`Delivery`: the request id, URL, method, headers (``Idempotency-Key`` and
``dg-request-id``: the request id, so a receiver that gets it twice drops the second),
the JSON body, the tenant, the attempts made and when the record was first stored. The
signature is *not* stored, nor the secret: the sending gateway signs each attempt at
send time with the tenant's ``webhook_secret`` (else its ``--finals-webhook-secret``),
a fresh timestamp each time, as the first attempt was signed.

What follows an attempt is :func:`gateway.outputs.webhook.after`'s rule, the same as the
finals webhook's, on the :class:`Schedule` the first attempt's gateway used: the count of
attempts goes on in the record, it never restarts.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace


VERSION = 1  # of the stored record; a gateway refuses (and drops, logged) a record of another version
METHODS = ("POST", "PUT")


def url_host(url: str) -> str:
    """The host of ``url``, lower case ('' if none), as ``--prerecorded-callback-hosts`` names hosts."""
    return (urllib.parse.urlsplit(url).hostname or "").lower()


class BadRecord(ValueError):
    """A stored record this gateway cannot read (another version, or corrupt)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    request_id: str
    url: str
    method: str  # POST or PUT
    headers: Mapping[str, str] = field(default_factory=dict)  # besides Content-Type and the signature
    body: bytes
    tenant: str  # whose secret signs it
    attempts: int = 0  # made so far
    created: float = 0.0  # Unix time the transcript was ready (the record's age counts from it)

    @property
    def host(self) -> str:
        """The host the delivery goes to, as the callback allowlist names hosts."""
        return url_host(self.url)

    def tried(self) -> Delivery:
        """This delivery after one more attempt."""
        return replace(self, attempts=self.attempts + 1)

    def encode(self) -> bytes:
        """The record stored in Redis (JSON; the body is our own UTF-8 JSON, stored as text)."""
        return json.dumps({
            "v": VERSION, "request_id": self.request_id, "url": self.url, "method": self.method,
            "headers": dict(self.headers), "body": self.body.decode("utf-8"), "tenant": self.tenant,
            "attempts": self.attempts, "created": self.created,
        }, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> Delivery:
        """A stored record back; :class:`BadRecord` if it is not one this version wrote."""
        try:
            data = json.loads(raw)
            if data.get("v") != VERSION:
                raise BadRecord(f"a record of version {data.get('v')!r}, not {VERSION}")
            delivery = cls(request_id=str(data["request_id"]), url=str(data["url"]), method=str(data["method"]),
                           headers={str(k): str(v) for k, v in data["headers"].items()},
                           body=str(data["body"]).encode("utf-8"), tenant=str(data["tenant"]),
                           attempts=int(data["attempts"]), created=float(data["created"]))
        except BadRecord:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BadRecord(f"not a callback record: {exc}") from None
        if delivery.method not in METHODS:
            raise BadRecord(f"method {delivery.method!r}")
        return delivery
