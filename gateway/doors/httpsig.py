"""HTTP Message Signatures (RFC 9421) as Genesys Cloud AudioHook makes them: pure checks, no I/O.

With a Client Secret configured in its AudioHook integration, Genesys signs the
WebSocket handshake: ``Signature-Input`` names what is covered, e.g.::

    sig1=("@request-target" "@authority" "audiohook-organization-id" "audiohook-session-id"
    "audiohook-correlation-id" "x-api-key");keyid="<X-API-KEY>";nonce="...";alg="hmac-sha256";
    created=1641013200;expires=3282026430

(one line), and ``Signature: sig1=:<base64>:`` holds the HMAC-SHA256, keyed with
the base64-decoded Client Secret, of the *signature base*: one line
``"<component>": <value>`` per covered component, in the order listed, then
``"@signature-params": <the member's value exactly as sent>`` with no newline
after it. ``@request-target`` is the request's path and query as received,
``@authority`` the ``Host`` header as received (so a proxy in front must pass
``Host`` through unchanged), a header component the header's value (trimmed,
repeated headers joined with ``", "``).

:func:`verify` takes a handshake only when the first signature of
``Signature-Input`` is well formed, covers every component of
:data:`REQUIRED`, has ``alg="hmac-sha256"``, ``keyid`` equal to the
``X-API-KEY`` header and a ``nonce``, was ``created`` at most :data:`MAX_AGE`
seconds ago and not more than :data:`CLOCK_SKEW` seconds ahead of this clock,
has not passed its ``expires`` (also with :data:`CLOCK_SKEW`), and matches
(compared in constant time). It returns the nonce and how long the signature
stays acceptable: within that time a copy of the handshake would pass these
checks again, so the caller remembers the nonce until then
(:mod:`gateway.security.replay`) and refuses a second use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from websockets.datastructures import Headers

ALGORITHM = "hmac-sha256"
REQUIRED = ("@request-target", "@authority", "audiohook-organization-id", "audiohook-session-id",
            "audiohook-correlation-id", "x-api-key")
CLOCK_SKEW = 60  # seconds this clock may lag or lead the signer's
MAX_AGE = 300  # seconds since `created` a handshake is taken (it is signed as it is sent)


@dataclass(frozen=True, slots=True)
class Nonce:
    """A value one handshake may present: ``scope`` says whose (a platform and its signer's key),
    ``ttl`` how many seconds it must be remembered (while a copy would still be taken)."""

    scope: str
    value: str
    ttl: float


class SignatureError(ValueError):
    """The handshake's signature is missing, malformed, stale or wrong; the message says which."""


# -- Structured Field dictionaries (RFC 8941), as far as signatures use them ----------------------

_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+.^_`|~:/-]*")
_INTEGER = re.compile(r"-?[0-9]{1,15}")
_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


class Token(str):
    """A token (an unquoted word), told apart from a string."""


@dataclass(frozen=True, slots=True)
class Member:
    """One dictionary member: its value (an item, or a list of items for an inner list), parameters, text."""

    value: object
    params: dict[str, object]
    text: str  # the member's value as sent, parameters included


@dataclass(frozen=True, slots=True)
class Item:
    value: object  # str, Token, int, bool or bytes
    params: dict[str, object]


class _Parser:
    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.at = 0

    def fail(self, what: str) -> SignatureError:
        return SignatureError(f"{self.name} is malformed: {what} at character {self.at}")

    def match(self, pattern: re.Pattern) -> re.Match | None:
        found = pattern.match(self.text, self.at)
        if found:
            self.at = found.end()
        return found

    def peek(self, char: str) -> bool:
        if self.text.startswith(char, self.at):
            self.at += len(char)
            return True
        return False

    def skip(self, chars: str) -> None:
        while self.at < len(self.text) and self.text[self.at] in chars:
            self.at += 1

    def key(self) -> str:
        found = self.match(_KEY)
        if not found:
            raise self.fail("expected a key")
        return found.group()

    def bare(self) -> object:
        if found := self.match(_STRING):
            return re.sub(r"\\(.)", r"\1", found.group(1))
        if found := self.match(_BYTES):
            try:
                return base64.b64decode(found.group(1), validate=True)
            except binascii.Error:
                raise self.fail("bad base64 in a byte sequence") from None
        if self.peek("?1") or self.peek("?0"):
            return self.text[self.at - 1] == "1"
        if found := self.match(_INTEGER):
            return int(found.group())
        if found := self.match(_TOKEN):
            return Token(found.group())
        raise self.fail("expected a string, byte sequence, boolean, integer or token")

    def params(self) -> dict[str, object]:
        params: dict[str, object] = {}
        while self.peek(";"):
            self.skip(" ")
            name = self.key()
            params[name] = self.bare() if self.peek("=") else True
        return params

    def member_value(self) -> tuple[object, dict[str, object]]:
        if not self.peek("("):
            return self.bare(), self.params()
        items: list[object] = []
        while True:
            self.skip(" ")
            if self.peek(")"):
                return items, self.params()
            items.append(Item(self.bare(), self.params()))
            if not self.text.startswith((" ", ")"), self.at):
                raise self.fail("expected a space or ')' in an inner list")

    def dictionary(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        self.skip(" \t")
        while self.at < len(self.text):
            name = self.key()
            if self.peek("="):
                start = self.at
                value, params = self.member_value()
                members[name] = Member(value, params, self.text[start:self.at])
            else:
                members[name] = Member(True, self.params(), "")
            self.skip(" \t")
            if self.at < len(self.text):
                if not self.peek(","):
                    raise self.fail("expected ',' between members")
                self.skip(" \t")
                if self.at == len(self.text):
                    raise self.fail("a trailing ','")
        return members


def parse_dictionary(text: str, name: str = "the field") -> dict[str, Member]:
    """A Structured Field dictionary (RFC 8941 section 3.2); :class:`SignatureError` naming ``name`` if malformed."""
    return _Parser(text, name).dictionary()


# -- signatures -------------------------------------------------------------------------------------


def header_value(headers: Headers, name: str) -> str | None:
    """A header component's value: trimmed, repeated headers joined with ``", "``; None when absent."""
    values = headers.get_all(name)
    return ", ".join(value.strip() for value in values) if values else None


DERIVED = {"@request-target", "@authority"}  # the derived components taken here


def component_value(name: str, *, target: str, headers: Headers) -> str | None:
    """What a covered component signs: ``@request-target`` the target, ``@authority`` the
    ``Host`` header, any other name that header (:func:`header_value`); None when absent."""
    if name == "@request-target":
        return target
    return header_value(headers, "Host" if name == "@authority" else name)


def signature_base(lines: list[tuple[str, str]], params_text: str) -> bytes:
    """The bytes signed: ``"name": value`` lines, then the ``@signature-params`` line, no final newline."""
    text = "".join(f'"{name}": {value}\n' for name, value in lines)
    return f'{text}"@signature-params": {params_text}'.encode()


def digest(secret: bytes, base: bytes) -> bytes:
    return hmac.new(secret, base, hashlib.sha256).digest()


def verify(secret: bytes, *, target: str, headers: Headers, now: float) -> Nonce:
    """Check the handshake's AudioHook signature; raise :class:`SignatureError` saying why it is refused.

    ``target``: the request target as received (path and query); ``headers``: the
    request's headers; ``now``: this clock, in seconds since the epoch. Returns the
    signature's nonce, to be used once while the signature could be taken.
    """
    inputs, signatures = headers.get_all("Signature-Input"), headers.get_all("Signature")
    if not inputs or not signatures:
        raise SignatureError("the handshake has no Signature and Signature-Input headers (the AudioHook "
                             "integration must have this gateway's Client Secret)")
    described = parse_dictionary(", ".join(inputs), "Signature-Input")
    signed = parse_dictionary(", ".join(signatures), "Signature")
    if not described:
        raise SignatureError("Signature-Input is empty")
    label, member = next(iter(described.items()))
    given = signed.get(label)
    if given is None or not isinstance(given.value, bytes):
        raise SignatureError(f"Signature has no byte sequence labelled {label!r} (as Signature-Input)")
    if not isinstance(member.value, list):
        raise SignatureError(f"Signature-Input {label!r} is not a list of components")
    params = member.params
    nonce = _check_params(params, headers, now)
    lines: list[tuple[str, str]] = []
    covered: set[str] = set()
    for item in member.value:
        if type(item.value) is not str or item.params:
            raise SignatureError(f"Signature-Input {label!r}: {item.value!r} is not a plain component name")
        name = item.value
        if name in covered:
            raise SignatureError(f"Signature-Input {label!r} lists {name!r} twice")
        if name.startswith("@") and name not in DERIVED or name != name.lower():
            raise SignatureError(f"Signature-Input {label!r}: the component {name!r} is not supported here")
        value = component_value(name, target=target, headers=headers)
        if value is None:
            raise SignatureError(f"the signature covers {name!r}, which the handshake does not have")
        lines.append((name, value))
        covered.add(name)
    missing = [name for name in REQUIRED if name not in covered]
    if missing:
        raise SignatureError(f"the signature does not cover {', '.join(missing)}")
    expected = digest(secret, signature_base(lines, member.text))
    if not hmac.compare_digest(given.value, expected):
        raise SignatureError("the signature does not match this request and the configured Client Secret")
    return nonce


def _check_params(params: dict[str, object], headers: Headers, now: float) -> Nonce:
    """The signature's nonce, once its parameters are fit; :class:`SignatureError` if not."""
    alg, keyid, nonce, created, expires = (params.get(name) for name in
                                           ("alg", "keyid", "nonce", "created", "expires"))
    if alg != ALGORITHM:
        raise SignatureError(f'the signature\'s alg is {alg!r}; only "{ALGORITHM}" is taken')
    if not isinstance(keyid, str) or keyid != header_value(headers, "X-API-KEY"):
        raise SignatureError("the signature's keyid is not the X-API-KEY header")
    if type(nonce) is not str or not nonce:
        raise SignatureError("the signature has no nonce (a string): without one a replay is not told apart")
    for name, value in (("created", created), ("expires", expires)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise SignatureError(f"the signature's {name} is not an integer: {value!r}")
    assert isinstance(created, int | None) and isinstance(expires, int | None)  # as checked just above
    if created is None:
        raise SignatureError("the signature has no created time")
    if created > now + CLOCK_SKEW:
        raise SignatureError(f"the signature was created {created - now:.0f} s in the future "
                             f"(clocks may differ by {CLOCK_SKEW} s)")
    if now - created > MAX_AGE:
        raise SignatureError(f"the signature was created {now - created:.0f} s ago (at most {MAX_AGE} s "
                             "are taken)")
    if expires is not None and expires < now - CLOCK_SKEW:
        raise SignatureError(f"the signature expired {now - expires:.0f} s ago")
    # Taken here until it is MAX_AGE old or CLOCK_SKEW past its expiry; another gateway's clock
    # may lag this one's by up to CLOCK_SKEW more.
    until = created + MAX_AGE if expires is None else min(created + MAX_AGE, expires + CLOCK_SKEW)
    return Nonce(scope=f"audiohook:{keyid}", value=nonce, ttl=until - now + CLOCK_SKEW)
