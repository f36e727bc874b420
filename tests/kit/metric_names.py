"""The metric names and PromQL the deploy/ files reference, shared by the tests.

tests/unit/test_deploy.py checks them statically against common/metrics.py;
tests/e2e/test_observability.py checks them against the /metrics of running processes
and runs dashboard queries through a real Prometheus. Both read the dashboard and
the alert rules through these helpers, so they agree on what "referenced" means.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROM_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
PROM_RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "streamscribe.json"

# Names that do not come from streamscribe code, and who exports them.
EXTERNAL_METRICS = {
    "up": "Prometheus (one per scrape target)",
    "redis_up": "oliver006/redis_exporter (job redis)",
}
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series
STAGES = {"denoise", "vad", "asr"}


def prom_config() -> dict:
    return yaml.safe_load(PROM_CONFIG.read_text(encoding="utf-8"))


def rules() -> dict:
    return yaml.safe_load(PROM_RULES.read_text(encoding="utf-8"))


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(panel title, expr, legendFormat) of every query in the dashboard."""
    out = []
    for panel in dashboard()["panels"]:
        for t in panel.get("targets", []):
            out.append((panel["title"], t["expr"], t.get("legendFormat", "")))
    return out


_AGG_CLAUSE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "inf", "nan"}


def promql_metric_names(expr: str) -> set[str]:
    s = re.sub(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'", '""', expr)
    s = re.sub(r"\$\{?\w+\}?", "1m", s)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = _AGG_CLAUSE.sub(" ", s)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        prev = s[m.start() - 1] if m.start() else " "
        if prev.isdigit() or prev == ".":
            continue  # 1e3, 5m
        if s[m.end():].lstrip().startswith("(") or m.group().lower() in _KEYWORDS:
            continue  # function or aggregation operator
        names.add(m.group())
    return names


def promql_labels(expr: str) -> tuple[set[str], list[tuple[str, str, str]], bool]:
    """(labels in by/without/on/... clauses, [(metric, label, value)] from selectors, aggregated?)."""
    clause_labels = {lbl.strip() for _, group in _AGG_CLAUSE.findall(expr) for lbl in group.split(",") if lbl.strip()}
    selectors = []
    for metric, body in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", expr):
        for label, _, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', body):
            selectors.append((metric, label, value))
    aggregated = bool(re.search(r"\b(sum|min|max|avg|count|topk|bottomk|quantile|stddev|stdvar|group)\s*(\(|by|without)",
                                expr))
    return clause_labels, selectors, aggregated


def all_queries() -> list[tuple[str, str, set[str]]]:
    """(where, expr, labels its text uses in legends/annotations) of every dashboard query and alert."""
    out = []
    for title, expr, legend in dashboard_queries():
        out.append((f"dashboard panel {title!r}", expr, set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))))
    for group in rules()["groups"]:
        for rule in group["rules"]:
            text = " ".join(str(v) for v in rule.get("annotations", {}).values())
            out.append((f"alert {rule['alert']}", rule["expr"], set(re.findall(r"\$labels\.(\w+)", text))))
    return out


def referenced_metric_names() -> dict[str, list[str]]:
    """Every metric name the dashboard and the alert rules reference -> where it is used."""
    out: dict[str, list[str]] = {}
    for where, expr, _ in all_queries():
        for name in promql_metric_names(expr):
            out.setdefault(name, []).append(where)
    return out
