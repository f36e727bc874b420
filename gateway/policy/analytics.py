"""Analytics settings of a call and of a tenant, checked: a bad value is a :class:`ConfigError` saying which.

A call asks for analytics in its config (``"analytics": true`` or an object of
these settings); its tenant's keys file may add phrases and alert thresholds
(:mod:`gateway.policy.keyfile`); the call's own settings win over the tenant's,
which win over the defaults here. What a phrase's words are (:func:`tokens`) is
defined here too: a phrase is checked by it, and spotted by it
(:mod:`gateway.analytics.phrases`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from common.errors import ConfigError

MAX_PHRASES = 200  # phrases of one list (a call's, a tenant's)
MAX_PHRASE_CHARS = 100
MAX_PHRASE_WORDS = 12

_TOKEN = re.compile(r"[0-9a-z]+(?:'[0-9a-z]+)*")


def tokens(text: str) -> list[str]:
    """The matching tokens of ``text`` (lower case; punctuation, hyphens and spaces split)."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def normalise_phrase(phrase: str) -> tuple[str, ...]:
    return tuple(tokens(phrase))

# name: (low, high, what it is); each may be null (the alert is off)
ALERT_RANGES: dict[str, tuple[float, float, str]] = {
    "dead_air_sec": (1.0, 3600.0, "seconds of nobody speaking"),
    "overtalk_sec": (0.5, 600.0, "seconds of both parties speaking at once"),
    "fast_wpm": (60.0, 600.0, "words per minute of one utterance"),
    "loud_dbfs": (-60.0, 0.0, "dBFS of one utterance"),
}


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRules:
    """Thresholds of the live alerts; None turns one off.

    ``dead_air_sec``: nobody spoke for this long; ``overtalk_sec``: two parties spoke at
    once for this long; ``fast_wpm``: an utterance of at least :data:`FAST_MIN_WORDS`
    words went faster; ``loud_dbfs``: an utterance's level went above this.
    """

    dead_air_sec: float | None = 10.0
    overtalk_sec: float | None = 3.0
    fast_wpm: float | None = 220.0
    loud_dbfs: float | None = -10.0

    def __post_init__(self) -> None:
        for name, (low, high, what) in ALERT_RANGES.items():
            value = getattr(self, name)
            if value is None:
                continue
            if not _number(value):
                raise ConfigError(f"alerts.{name} must be a number ({what}) or null to turn the alert off")
            if not low <= value <= high:
                raise ConfigError(f"alerts.{name}={value} is out of range {low:g}..{high:g} ({what}; "
                                  "null turns the alert off)")

    def updated(self, values: object, *, name: str = "alerts") -> AlertRules:
        """These rules with ``values`` (a JSON object of thresholds) over them."""
        if not isinstance(values, dict):
            raise ConfigError(f"{name} must be an object of thresholds ({', '.join(ALERT_RANGES)})")
        unknown = sorted(set(values) - set(ALERT_RANGES))
        if unknown:
            raise ConfigError(f"{name}: unknown threshold(s) {', '.join(map(str, unknown))[:200]}; "
                              f"known: {', '.join(ALERT_RANGES)}")
        return replace(self, **values)

    def as_dict(self) -> dict[str, float | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def parse_phrases(values: object, *, name: str = "phrases") -> tuple[str, ...]:
    """A list of phrases to spot, checked: 1..:data:`MAX_PHRASES` strings of words, none too long."""
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"{name} must be a list of phrases (strings)")
    if not values:
        raise ConfigError(f"{name} is empty; leave it out to spot no phrases")
    if len(values) > MAX_PHRASES:
        raise ConfigError(f"{name} has {len(values)} phrases; at most {MAX_PHRASES}")
    phrases = []
    for index, phrase in enumerate(values):
        if not isinstance(phrase, str):
            raise ConfigError(f"{name}[{index}] must be a string")
        if len(phrase) > MAX_PHRASE_CHARS:
            raise ConfigError(f"{name}[{index}] has {len(phrase)} characters; at most {MAX_PHRASE_CHARS}")
        tokens = normalise_phrase(phrase)
        if not tokens:
            raise ConfigError(f"{name}[{index}] has no word (letters or digits) to spot")
        if len(tokens) > MAX_PHRASE_WORDS:
            raise ConfigError(f"{name}[{index}] has {len(tokens)} words; at most {MAX_PHRASE_WORDS}")
        phrases.append(phrase.strip())
    return tuple(dict.fromkeys(phrases))


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantAnalytics:
    """What a tenant's keys file sets for its calls: ``enabled`` analyses every call of the tenant (its
    events and summary go to followers, the log, the webhook and metrics; to a call's own client only
    when the call asked), else only calls that ask; phrases and thresholds apply to both."""

    enabled: bool = False
    phrases: tuple[str, ...] = ()
    alerts: AlertRules = AlertRules()


NO_TENANT_SETTINGS = TenantAnalytics()
_CALL_FIELDS = ("phrases", "alerts", "sentiment")


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAnalytics:
    """A call's own analytics settings (its config's ``analytics``), before the tenant's are merged."""

    phrases: tuple[str, ...] = ()
    alerts: dict[str, Any] | None = None  # thresholds over the tenant's (checked)
    sentiment: bool = True

    @classmethod
    def parse(cls, value: object) -> CallAnalytics | None:
        """From the config's JSON form: false/null (off), true (on, the tenant's settings), or an object."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if not isinstance(value, dict):
            raise ConfigError("analytics must be true, false or an object of phrases, alerts and sentiment")
        unknown = sorted(set(value) - set(_CALL_FIELDS))
        if unknown:
            raise ConfigError(f"analytics: unknown setting(s) {', '.join(map(str, unknown))[:200]}; "
                              f"known: {', '.join(_CALL_FIELDS)}")
        sentiment = value.get("sentiment", True)
        if not isinstance(sentiment, bool):
            raise ConfigError("analytics.sentiment must be true or false")
        alerts = value.get("alerts")
        if alerts is not None:
            AlertRules().updated(alerts, name="analytics.alerts")  # checked now, merged later
        phrases = parse_phrases(value["phrases"], name="analytics.phrases") if "phrases" in value else ()
        return cls(phrases=phrases, alerts=alerts, sentiment=sentiment)

    def settings(self, tenant: TenantAnalytics) -> AnalyticsSettings:
        """The settings the call runs with: the tenant's, with the call's own over them."""
        alerts = tenant.alerts.updated(self.alerts) if self.alerts else tenant.alerts
        return AnalyticsSettings(phrases=tuple(dict.fromkeys(tenant.phrases + self.phrases)), alerts=alerts,
                        sentiment=self.sentiment)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalyticsSettings:
    """What a call's analytics run with."""

    phrases: tuple[str, ...] = ()
    alerts: AlertRules = AlertRules()
    sentiment: bool = True
