"""The redaction kinds a session may ask for (Deepgram's ``redact`` names), validated.

``pci`` card numbers, expiry dates and security codes; ``ssn`` social security
numbers; ``numbers`` every numeral; ``pii`` names (the name model: the
``names`` extra), e-mail addresses, phone numbers, dates of birth, account
numbers, street addresses and social security numbers. ``true`` is Deepgram's
alias of ``numbers``, and ``aggressive_numbers`` Deepgram's name for what our
``numbers`` does (every numeral; Deepgram's ``numbers`` spares numbers under
three digits).

A kind this server does not know is refused, never ignored: a client that
asked for redaction must not believe it got it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ConfigError

KINDS = ("pci", "ssn", "numbers", "pii")
ALIASES = {"true": "numbers", "aggressive_numbers": "numbers"}


def parse_kinds(values: Iterable[str], *, name: str = "redact") -> tuple[str, ...]:
    """The kinds in ``values`` (each may hold several, comma-separated), in :data:`KINDS` order.

    Raises :class:`ConfigError` naming the parameter for an empty value or an
    unknown kind. ``false`` alone means no redaction (an empty tuple).
    """
    kinds: set[str] = set()
    items = [part.strip().lower() for value in values for part in str(value).split(",")]
    if items == ["false"]:
        return ()
    for item in items:
        if not item:
            raise ConfigError(f"{name}: an empty value; give one or more of {', '.join(KINDS)}")
        kind = ALIASES.get(item, item)
        if kind not in KINDS:
            raise ConfigError(f"{name}: unknown redaction kind {item!r}; this server redacts "
                              f"{', '.join(KINDS)} (docs/redaction.md)")
        kinds.add(kind)
    return tuple(k for k in KINDS if k in kinds)


def merge(forced: Iterable[str], asked: Iterable[str]) -> tuple[str, ...]:
    """What a session redacts: its tenant's forced kinds and those it asked for (it cannot drop
    a forced one)."""
    union = set(forced) | set(asked)
    return tuple(k for k in KINDS if k in union)
