"""Where a tenant's finals go, as plain data: a webhook's URL and the secret that signs its deliveries.

The keys file's ``webhook=``/``webhook_secret=`` and the gateway's ``--finals-webhook`` parse into a
:class:`Destination` here; :mod:`gateway.outputs.webhook` delivers to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MIN_SECRET = 16  # characters of a signing secret at least


def http_url(text: str) -> str:
    """``text``, an http:// or https:// URL (or empty: no webhook)."""
    if text and not text.startswith(("http://", "https://")):
        raise ValueError("not an http:// or https:// URL")
    return text


def signing_secret(text: str) -> bytes:
    """A webhook signing secret: at least :data:`MIN_SECRET` characters, surrounding whitespace dropped."""
    secret = text.strip()
    if len(secret) < MIN_SECRET:
        raise ValueError(f"a signing secret has at least {MIN_SECRET} characters")
    return secret.encode()


@dataclass(frozen=True, slots=True)
class Destination:
    """Where finals go: a URL, and the secret that signs each delivery (None: unsigned)."""

    url: str
    secret: bytes | None = field(default=None, repr=False)
