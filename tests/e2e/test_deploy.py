"""The deployable stack against the real tools: each service's ``--help-advanced`` and promtool.

* every flag of the CLI contract, and every flag and STREAMSCRIBE_* variable that compose
  passes, is in the real `python -m <service> --help-advanced`, with valid choice values;
* `promtool check config`, `promtool check rules` and `promtool test rules` pass, and every
  dashboard query parses (promtool, as recording rules).

The static checks are in tests/unit/test_deploy.py. promtool comes from the Debian package
`prometheus`; locally a missing promtool skips its tests with the reason, under CI (env CI
set) it FAILS them instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

yaml = pytest.importorskip("yaml")  # pyyaml is in the dev extra

from tests.kit.deploy import CONTRACT, compose_stack, cpu_stack, env_of, missing, streamscribe_services  # noqa: E402
from tests.kit.metric_names import DEPLOY, PROM_CONFIG, PROM_RULES, REPO  # noqa: E402
from tests.kit.metric_names import dashboard_queries as _dashboard_queries  # noqa: E402

PROM_RULE_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing("promtool (Debian package `prometheus`: apt-get install -y --no-install-recommends prometheus)")
    return path


def _run_promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_promtool(), *args], capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.mark.parametrize("cname", sorted(CONTRACT))
def test_commands_are_accepted_by_the_real_cli(cname):
    """Run `python -m <module> --help-advanced` (every flag, the tuning ones too) and check every flag we
    pass (compose, CPU override, Dockerfile CMD) and every flag of the contract is there, and choice
    values are valid."""
    svc = CONTRACT[cname]
    proc = subprocess.run([sys.executable, "-m", svc.module, "--help-advanced"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, f"python -m {svc.module} --help-advanced failed:\n{proc.stderr[-3000:]}"
    help_text = proc.stdout
    real_flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text))
    missing = set(svc.flags) - real_flags
    assert not missing, f"{svc.module}: contract flags missing from --help: {sorted(missing)}"
    used: dict[str, set[str]] = {}
    env_used: set[str] = set()
    for doc in (compose_stack(), cpu_stack()):
        for _, (c, flags, s) in streamscribe_services(doc).items():
            if c == cname:
                for f, v in flags.items():
                    used.setdefault(f, set()).add(v)
                env_used |= {k for k in env_of(s) if k.startswith("STREAMSCRIBE_")}
    # The services print the variables each flag reads: "[env STREAMSCRIBE_VAD_HTTP_PORT]".
    env_listed = {v for group in re.findall(r"\[env\s+([^\]]+)\]", help_text)
                  for v in re.findall(r"STREAMSCRIBE_[A-Z0-9_]+", group)}
    assert env_listed, f"{svc.module}: --help names no '[env STREAMSCRIBE_...]' variable; cannot check compose's"
    assert env_used <= env_listed, f"{svc.module}: compose sets {sorted(env_used - env_listed)}, not read"
    for flag, values in used.items():
        assert flag in real_flags, f"{svc.module}: compose passes {flag}, --help does not list it"
        m = re.search(re.escape(flag) + r"[ =]\{([^}]*)\}", help_text)
        if m:
            choices = set(m.group(1).split(","))
            assert values <= choices, f"{svc.module}: {flag} {values - choices} not in {choices}"


def test_promtool_check_config():
    proc = _run_promtool("check", "config", str(PROM_CONFIG))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_check_rules():
    proc = _run_promtool("check", "rules", str(PROM_RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_alert_unit_tests():
    proc = _run_promtool("test", "rules", str(PROM_RULE_TESTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dashboard_queries_parse(tmp_path):
    """Each dashboard query, with Grafana's variables substituted, as a recording rule."""
    rules = [{"record": f"dashboard_query_{i}", "expr": re.sub(r"\$__(rate_)?interval", "1m", expr)}
             for i, (_, expr, _) in enumerate(_dashboard_queries())]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = _run_promtool("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
