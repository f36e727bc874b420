"""Which tokens of a transcript are an entity of a redaction kind: rules, no model.

Numbers are found as runs (:mod:`.itn`) and classed by length, shape and the
words around them. *Context* is a keyword said within :data:`CONTEXT_WORDS`
words before the number (across finals: the counters live in
:class:`Context`, saved in the checkpoint) or a few words after it ("... is my
card number").

* ``pci``: 13 digits or more (card numbers; no Luhn check: the recogniser adds and
  drops digits, and a number that fails it must not leak); in a card context
  also 3-12 digits (security code, expiry, a number read in part) and a month name
  with the number after it (expiry).
* ``ssn``: 9 digits grouped 3-2-4, or 5-12 digits in an SSN context.
* ``pii``: SSNs as above; phone numbers (10 digits, 11 starting with 1, 7 in a
  phone context); account numbers (4+ digits in an account context); dates of
  birth (a date in a birth context); e-mail addresses (written, or spoken
  "name at example dot com", or a domain right after "email"); street
  addresses (a house number, up to three words, a street suffix). Names are not detected (no packaged model: see
  docs/redaction.md).
* ``numbers``: every run.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from .itn import Run, core, runs

CONTEXT_WORDS = 30  # a keyword counts for this many words
LOOKAHEAD = 6  # words after a number where a keyword still gives it context

ENTITY_KIND = {"CREDIT_CARD": "pci", "CREDIT_CARD_EXPIRATION": "pci", "CVV": "pci", "SSN": "ssn",
               "PHONE_NUMBER": "pii", "EMAIL_ADDRESS": "pii", "ACCOUNT_NUMBER": "pii", "DOB": "pii",
               "LOCATION_ADDRESS": "pii", "NUMBER": "numbers"}
ENTITIES = tuple(ENTITY_KIND)

_KEYWORDS = {
    "card": {"card", "cards", "credit", "debit", "visa", "mastercard", "amex", "discover", "cvv", "cvc", "cv2",
             "expiry", "expiration", "expires", "expire", "exp", "pin"},
    "ssn": {"ssn", "social"},
    "phone": {"phone", "telephone", "cell", "mobile", "call", "reach", "callback", "text"},
    "account": {"account", "acct", "routing", "member", "membership", "policy", "iban"},
    "dob": {"born", "birth", "birthday", "dob", "birthdate"},
}
_EXPIRY = {"expiry", "expiration", "expires", "expire", "exp", "valid", "thru"}
_MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_STREET = {"street", "st", "avenue", "ave", "road", "rd", "lane", "ln", "drive", "dr", "boulevard", "blvd", "way",
           "court", "ct", "place", "pl", "terrace", "circle", "highway", "parkway", "square", "close"}
_WRITTEN_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
_NAME_PART = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(slots=True)
class Context:
    """Words left during which each keyword's context holds; ``expiry``: the last card keyword was
    about an expiry date. Saved in the checkpoint (:meth:`to_dict`)."""

    card: int = 0
    ssn: int = 0
    phone: int = 0
    account: int = 0
    dob: int = 0
    expiry: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Context:
        fields: dict[str, Any] = {k: (bool(v) if k == "expiry" else int(v)) for k, v in values.items()
                                  if k in cls.__dataclass_fields__}
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class Span:
    """Tokens ``first``..``last`` (inclusive) are one ``entity``."""

    first: int
    last: int
    entity: str


def _keyword(cores: list[str], i: int) -> str | None:
    word = cores[i]
    following = cores[i + 1] if i + 1 < len(cores) else ""
    if word == "social" and following not in ("security", "insurance"):
        return None
    if word == "security" and following in ("code", "number") and (i == 0 or cores[i - 1] != "social"):
        return "card"
    if word == "date" and following == "of" and i + 2 < len(cores) and cores[i + 2] == "birth":
        return "dob"
    for name, words in _KEYWORDS.items():
        if word in words:
            return name
    return None


def detect(tokens: list[str], kinds: tuple[str, ...], context: Context) -> list[Span]:
    """The entities of ``kinds`` in ``tokens``; ``context`` (carried from earlier text) is moved past them."""
    if not kinds or not tokens:
        return []
    cores = [core(t) for t in tokens]
    # Per token: the context in force before it (counters after the keywords before it).
    before: list[Context] = []
    ctx = Context(**context.to_dict())
    keyword_at: list[str | None] = []
    for i in range(len(tokens)):
        before.append(Context(**ctx.to_dict()))
        for name in ("card", "ssn", "phone", "account", "dob"):
            setattr(ctx, name, max(0, getattr(ctx, name) - 1))
        found = _keyword(cores, i)
        keyword_at.append(found)
        if found:
            setattr(ctx, found, CONTEXT_WORDS)
            if found == "card":
                ctx.expiry = cores[i] in _EXPIRY
        elif cores[i] in ("valid", "thru"):
            ctx.expiry = True
    context.card, context.ssn, context.phone, context.account, context.dob, context.expiry = (
        ctx.card, ctx.ssn, ctx.phone, ctx.account, ctx.dob, ctx.expiry)

    spans: list[Span] = []
    taken = [False] * len(tokens)
    for run in runs(tokens):
        span = _classify(run, tokens, cores, kinds, before[run.first], keyword_at)
        if span is not None:
            spans.append(span)
            for i in range(span.first, span.last + 1):
                taken[i] = True
    if "pii" in kinds:
        for span in _emails(tokens, cores):
            if not any(taken[span.first:span.last + 1]):
                spans.append(span)
    return sorted(spans, key=lambda s: s.first)


def _near(keyword_at: list[str | None], run: Run, name: str) -> bool:
    """A keyword ``name`` within :data:`LOOKAHEAD` words after the run."""
    return name in keyword_at[run.last + 1:run.last + 1 + LOOKAHEAD]


def _classify(run: Run, tokens: list[str], cores: list[str], kinds: tuple[str, ...], ctx: Context,
              keyword_at: list[str | None]) -> Span | None:
    n = len(run.digits)
    first, last = run.first, run.last
    month_before = first > 0 and cores[first - 1] in _MONTHS
    card = ctx.card > 0 or _near(keyword_at, run, "card")
    if "pci" in kinds:
        if n >= 13:
            # Luhn is not a gate: tiny.en writes "4111 1111 1111 1111" said aloud as
            # "4,111,111,111,111,111,111" (a group too many), and one misheard digit fails it.
            return Span(first, last, "CREDIT_CARD")
    ssn_shape = n == 9 and tuple(map(len, run.groups)) == (3, 2, 4)
    ssn_context = ctx.ssn > 0 or _near(keyword_at, run, "ssn")
    # In a social security context any 5-12 digits: the recogniser splits and pads SSNs
    # ("123-45-6,700-80" for 123-45-6789). Before the card context's rules: "... 6789. The
    # card is" is an SSN and then a card.
    if ("ssn" in kinds or "pii" in kinds) and (ssn_shape or ssn_context and 5 <= n <= 12):
        return Span(first, last, "SSN")
    if "pci" in kinds:
        if card and month_before:
            return Span(first - 1, last, "CREDIT_CARD_EXPIRATION")
        if card and 3 <= n <= 12:
            expiry = ctx.expiry or any("/" in t for t in tokens[first:last + 1]) or (
                n in (4, 6) and 1 <= int(run.digits[:2]) <= 12 and len(run.groups) == 2)
            if n >= 7:
                return Span(first, last, "CREDIT_CARD")
            return Span(first, last, "CREDIT_CARD_EXPIRATION" if expiry else "CVV")
    if "pii" in kinds:
        if n == 10 or n == 11 and run.digits[0] == "1" or n == 7 and (ctx.phone > 0 or _near(keyword_at, run, "phone")):
            return Span(first, last, "PHONE_NUMBER")
        if n >= 4 and (ctx.account > 0 or _near(keyword_at, run, "account")):
            return Span(first, last, "ACCOUNT_NUMBER")
        if ctx.dob > 0 or _near(keyword_at, run, "dob"):
            if month_before:
                return Span(first - 1, last, "DOB")
            if len(run.groups) >= 2 or n in (6, 8):
                return Span(first, last, "DOB")
        if n <= 6:  # a house number, words, a street suffix
            for j in range(last + 1, min(last + 5, len(tokens))):
                if cores[j] in _STREET:
                    return Span(first, j, "LOCATION_ADDRESS")
    if "numbers" in kinds:
        return Span(first, last, "NUMBER")
    return None


def _emails(tokens: list[str], cores: list[str]) -> list[Span]:
    """Written addresses, and spoken ones: ``john dot smith at example dot com``."""
    spans = []
    i = 0
    while i < len(tokens):
        if _WRITTEN_EMAIL.search(tokens[i]) or _DOMAIN.match(cores[i]) and "email" in cores[max(0, i - 4):i]:
            # (A domain after "email": the recogniser heard "at" as part of a word.)
            spans.append(Span(i, i, "EMAIL_ADDRESS"))
        elif cores[i] == "at" and 0 < i < len(tokens) - 1:
            # Right: a written domain, or words joined by "dot" (at least one dot).
            j = i + 1
            if _DOMAIN.match(cores[j]):
                end = j
            else:
                end, k = None, j
                while k + 2 < len(tokens) and _NAME_PART.match(cores[k]) and cores[k + 1] == "dot" \
                        and _NAME_PART.match(cores[k + 2]):
                    end, k = k + 2, k + 2
            if end is not None and _NAME_PART.match(cores[i - 1]):
                start = i - 1
                while start >= 2 and cores[start - 1] in ("dot", "underscore", "dash") \
                        and _NAME_PART.match(cores[start - 2]):
                    start -= 2
                spans.append(Span(start, end, "EMAIL_ADDRESS"))
                i = end + 1
                continue
        i += 1
    return spans
