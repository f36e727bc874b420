"""Do a call's alerts agree with its own summary? A pure check for tests and the contract checker.

The promise (docs/analytics.md#alerts): every dead-air and overtalk alert that
stands (not withdrawn) says, in its latest event, a stretch inside one of the
summary's stretches of its kind; none is left going on; the summary counts
exactly the alerts that stand, and has one dead-air or overtalk stretch per such
alert. A later event of an alert (same ``id``) ends, moves or withdraws it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .tracker import ALERTS, STRETCHES


def consistent(events: Iterable[Mapping[str, Any]], summary: Mapping[str, Any]) -> list[str]:
    """Where the call's analytics ``events`` (alerts among them; other events are skipped) disagree
    with its ``summary``, one sentence each; empty when they agree.

    ``events``: in the order sent, as the tracker gives them or as a door renders them (the
    native door's ``{"type": "analytics", ...}`` messages have the same fields).
    """
    problems: list[str] = []
    latest: dict[object, Mapping[str, Any]] = {}
    for event in events:
        if event.get("event") != "alert":
            continue
        key = event.get("id")
        if key is None:
            problems.append(f"{_name(event)} has no id")
            continue
        if key not in latest and (event.get("ended") or event.get("retracted")):
            problems.append(f"{_name(event)} ends or withdraws an alert never raised")
        elif key in latest and latest[key].get("retracted"):
            problems.append(f"{_name(event)} comes after its alert was withdrawn")
        elif key in latest and latest[key].get("alert") != event.get("alert"):
            problems.append(f"{_name(event)} changes its alert's kind from {latest[key].get('alert')}")
        latest[key] = event
    standing = [event for event in latest.values() if not event.get("retracted")]
    counts = summary.get("alerts", {})
    for kind in ALERTS:
        mine = sum(1 for event in standing if event.get("alert") == kind)
        if mine != counts.get(kind, 0):
            problems.append(f"{mine} {kind} alert(s) stand; the summary counts {counts.get(kind, 0)}")
    for kind in STRETCHES:
        stretches = summary.get(kind, {})
        items = [(item["start_ms"], item["end_ms"]) for item in stretches.get("items", [])]
        listed_all = stretches.get("count", 0) <= len(items)
        alerts = [event for event in standing if event.get("alert") == kind]
        if len(alerts) != stretches.get("count", 0):
            problems.append(f"{len(alerts)} {kind} alert(s) stand; the summary has {stretches.get('count', 0)} "
                            f"{kind} stretch(es)")
        for event in alerts:
            start = event["start_ms"]
            end = start + event["duration_ms"]
            if event.get("ongoing") and not event.get("ended"):
                problems.append(f"{_name(event)} still goes on when the summary came")
            if not listed_all and items and start > items[-1][0]:
                continue  # past the stretches the summary lists
            if not any(first <= start and end <= last for first, last in items):
                problems.append(f"{_name(event)} ({start}-{end} ms) is in none of the summary's {kind} stretches")
    return problems


def _name(event: Mapping[str, Any]) -> str:
    return f"{event.get('alert')} alert {event.get('id')} at {event.get('start_ms')} ms"
