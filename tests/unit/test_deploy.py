"""Static validation of the deployable stack (issue #6, phase 1).

What is checked here, without Docker and without running the services:

* docker-compose.yml, deploy/compose.cpu.yml and their merge validate against the Compose
  Specification JSON schema (vendored in tests/data/, see tests/data/README.md);
* the stack is scalable (no container_name / host ports on workers), Redis is persistent,
  every service has a restart policy and a healthcheck on the right port and path;
* every streamscribe service's command and STREAMSCRIBE_* variables match the CLI contract;
* deploy/Dockerfile has the targets compose builds, and its CMDs match the contract too;
* every metric name in the alert rules and the dashboard is defined in common/metrics.py
  (built on a fresh CollectorRegistry), with label names that those metrics carry.

tests/e2e/test_deploy.py runs the services' real ``--help-advanced`` and promtool. jsonschema comes from
PyPI; locally a missing tool skips its tests with the reason, under CI (env CI set) it FAILS them.
"""

from __future__ import annotations

import hashlib
import json
import re
import runpy

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

import pytest

yaml = pytest.importorskip("yaml")  # pyyaml is in the dev extra

from tests.kit.deploy import (  # noqa: E402
    COMPOSE_CPU, CONTRACT, compose_stack, cpu_stack, env_of, env_var_for, load_compose, missing, parse_command,
    resolve_tags, service_port, streamscribe_services,
)
# The deploy/ files' queries and metric names, shared with tests/e2e/test_observability.py.
from tests.kit.metric_names import (  # noqa: E402
    DASHBOARD, DEPLOY, EXTERNAL_METRICS, REPO, STAGES, TARGET_LABELS, promql_labels, promql_metric_names,
)
from tests.kit.metric_names import all_queries as _all_queries  # noqa: E402
from tests.kit.metric_names import dashboard as _dashboard  # noqa: E402
from tests.kit.metric_names import prom_config as _prom_config  # noqa: E402
from tests.kit.metric_names import rules as _rules  # noqa: E402

DOCKERFILE = DEPLOY / "Dockerfile"
GRAFANA_DATASOURCE = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "dashboards.yml"
COMPOSE_SCHEMA = REPO / "tests" / "data" / "compose-spec.json"
COMPOSE_SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"


@pytest.fixture(scope="module")
def compose() -> dict:
    return compose_stack()


@pytest.fixture(scope="module")
def compose_cpu() -> dict:
    return cpu_stack()


# ---------------------------------------------------------------- schema


def _validator():
    try:
        import jsonschema
    except ImportError:
        missing("jsonschema (PyPI; needed in the dev extra)")
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _schema_errors(doc: dict) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.path)))]


def test_vendored_compose_schema_is_the_documented_one():
    digest = hashlib.sha256(COMPOSE_SCHEMA.read_bytes()).hexdigest()
    assert digest == COMPOSE_SCHEMA_SHA256, "tests/data/compose-spec.json changed: update tests/data/README.md"
    assert (REPO / "tests" / "data" / "compose-spec.LICENSE").read_text().lstrip().startswith("Apache License")


@pytest.mark.parametrize("which", ["docker-compose.yml", "deploy/compose.cpu.yml", "merged CPU stack"])
def test_compose_files_validate_against_compose_spec(which, compose, compose_cpu):
    doc = {"docker-compose.yml": compose, "deploy/compose.cpu.yml": resolve_tags(load_compose(COMPOSE_CPU)),
           "merged CPU stack": compose_cpu}[which]
    errors = _schema_errors(doc)
    assert not errors, f"{which} violates the Compose Specification:\n" + "\n".join(errors)


def test_compose_schema_rejects_a_broken_file(compose):
    """The validator is live: typos and wrong types are caught."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["vad"]["restrat"] = "always"
    broken["services"]["asr"]["healthcheck"]["retries"] = ["three"]
    errors = _schema_errors(broken)
    assert any("restrat" in e for e in errors), errors
    assert any("retries" in e for e in errors), errors


# ---------------------------------------------------------------- topology and scaling


def test_compose_has_the_whole_stack(compose):
    services = streamscribe_services(compose)
    assert sorted(c for c, _, _ in services.values()) == ["asr", "denoise", "gateway", "vad"]
    for other in ("redis", "redis-exporter", "prometheus", "grafana"):
        assert other in compose["services"], f"{other} missing from docker-compose.yml"


def test_workers_can_be_scaled(compose, compose_cpu):
    """`docker compose up --scale vad=3` needs no fixed names and no host ports on workers."""
    for doc in (compose, compose_cpu):
        for name, (cname, _, svc) in streamscribe_services(doc).items():
            if cname == "gateway":
                continue
            assert "container_name" not in svc, f"{name}: container_name prevents --scale"
            assert "ports" not in svc, f"{name}: a published host port prevents --scale (use expose)"
            assert "scale" not in svc or svc["scale"] >= 1


def test_redis_is_persistent_and_healthchecked(compose):
    redis = compose["services"]["redis"]
    cmd = redis["command"]
    joined = " ".join(cmd) if isinstance(cmd, list) else cmd
    assert re.search(r"--appendonly\s+yes", joined), "Redis must run with AOF persistence"
    assert re.search(r"--appendfsync\s+(everysec|always)", joined)
    assert re.search(r"--maxmemory-policy\s+noeviction", joined), "streams and leases must never be evicted"
    assert any(v.split(":")[1] == "/data" for v in redis["volumes"]), "AOF must live on a volume"
    assert redis["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]
    for name, (_, _, svc) in streamscribe_services(compose).items():
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy", name


# Compose interpolation of the password from .env: required (`:?`), never a default (`:-`).
REQUIRED_PASSWORD = r"\$\{REDIS_PASSWORD:\?[^}]+\}"
REDIS_URL = re.compile(r"redis://:" + REQUIRED_PASSWORD + r"@redis:6379/\d+$")


def test_redis_requires_a_password_and_bounds_its_memory(compose, compose_cpu):
    """Redis has a password from .env (services get it in their URL, the healthcheck and the
    exporter too), a maxmemory, and no published port; .env stays out of git and images."""
    redis = compose["services"]["redis"]
    cmd = redis["command"]
    assert cmd[cmd.index("--requirepass") + 1] and re.fullmatch(REQUIRED_PASSWORD, cmd[cmd.index("--requirepass") + 1])
    maxmemory = cmd[cmd.index("--maxmemory") + 1]
    assert re.fullmatch(r"\$\{REDIS_MAXMEMORY:-\d+[kmg]b\}|\d+[kmg]b", maxmemory), maxmemory
    assert re.fullmatch(REQUIRED_PASSWORD, redis["environment"]["REDISCLI_AUTH"]), "redis-cli ping needs auth"
    assert re.fullmatch(REQUIRED_PASSWORD, compose["services"]["redis-exporter"]["environment"]["REDIS_PASSWORD"])
    assert "ports" not in redis, "Redis must stay on the compose network"
    for doc in (compose, compose_cpu):
        for name, (_, flags, svc) in streamscribe_services(doc).items():
            assert REDIS_URL.match(flags.get("--redis-url") or env_of(svc)["STREAMSCRIBE_REDIS_URL"]), name
            if name != "gateway":
                assert "ports" not in svc, f"{name}: worker HTTP endpoints stay on the compose network"
    example = dict(line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines()
                   if line.strip() and not line.startswith("#"))
    assert "REDIS_PASSWORD" in example and not example["REDIS_PASSWORD"], "no shared default password"
    assert "REDIS_MAXMEMORY" in example
    assert ".env" in (REPO / ".gitignore").read_text().split()
    assert "!.env" not in (REPO / ".dockerignore").read_text()  # an allow-list: .env never enters an image


def test_only_the_gateway_is_published_beyond_the_hosts_loopback(compose, compose_cpu):
    """Prometheus has no authentication and Grafana's admin password is the user's own (no
    admin/admin): both are published on 127.0.0.1 only; the gateway, which checks API keys, is
    the one door open to the network."""
    for doc in (compose, compose_cpu):
        for name, svc in doc["services"].items():
            for port in svc.get("ports", []):
                published = str(port)
                assert name == "gateway" or published.startswith("127.0.0.1:"), f"{name} publishes {published}"
    password = compose["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", password), password
    example = dict(line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines()
                   if line.strip() and not line.startswith("#"))
    assert "GRAFANA_ADMIN_PASSWORD" in example and not example["GRAFANA_ADMIN_PASSWORD"]


HEALTH_URL = re.compile(r"http://(?:127\.0\.0\.1|localhost):(\d+)(/\S*?)['\"]")


def test_every_service_restarts_and_has_a_healthcheck(compose, compose_cpu):
    for doc in (compose, compose_cpu):
        for name, svc in doc["services"].items():
            assert svc.get("restart") in ("always", "unless-stopped", "on-failure"), f"{name}: restart policy"
            if name == "redis-exporter":
                continue  # scratch image without a shell or HTTP client; watched by Prometheus
            assert "healthcheck" in svc and svc["healthcheck"].get("test"), f"{name}: healthcheck"
        for name, (cname, flags, svc) in streamscribe_services(doc).items():
            test = " ".join(svc["healthcheck"]["test"])
            m = HEALTH_URL.search(test)
            assert m, f"{name}: healthcheck must GET a local URL: {test}"
            assert int(m.group(1)) == service_port(cname, flags), f"{name}: healthcheck port != service port"
            assert m.group(2) in ("/healthz", "/readyz"), f"{name}: healthcheck path {m.group(2)}"
            if cname != "gateway":
                assert str(service_port(cname, flags)) in [str(p) for p in svc.get("expose", [])], \
                    f"{name}: expose the metrics port"


def test_asr_gets_a_gpu_vllm_and_weights_volume(compose):
    (name, (cname, flags, svc)), = [(n, v) for n, v in streamscribe_services(compose).items() if v[0] == "asr"]
    assert flags["--engine"] == "qwen3-vllm"
    devices = svc["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    model = flags.get("--model") or svc.get("environment", {}).get("STREAMSCRIBE_ASR_MODEL")
    assert model, "the vLLM engine needs --model (or STREAMSCRIBE_ASR_MODEL)"
    mounts = [v["target"] if isinstance(v, dict) else v.split(":")[1] for v in svc["volumes"]]
    assert any(model.startswith(m.rstrip("/") + "/") for m in mounts), f"{model} is not on a mounted volume {mounts}"
    assert svc["build"]["target"] == "asr-gpu"


def test_cpu_override_runs_whisper_without_gpu(compose_cpu):
    (cname, flags, svc), = [v for v in streamscribe_services(compose_cpu).values() if v[0] == "asr"]
    assert flags["--engine"] == "whisper"
    assert "deploy" not in svc, "the CPU stack must not reserve a GPU"
    assert svc["build"]["target"] == "asr-cpu"
    assert svc["build"]["context"] == "." and svc["build"]["dockerfile"] == "deploy/Dockerfile"
    for name, (other, _, s) in streamscribe_services(compose_cpu).items():
        assert "asr-gpu" not in s["build"]["target"], name


# ---------------------------------------------------------------- CLI contract


@pytest.mark.parametrize("which", ["docker-compose.yml", "merged CPU stack"])
def test_service_commands_match_cli_contract(which, compose, compose_cpu):
    doc = compose if which == "docker-compose.yml" else compose_cpu
    for name, (cname, flags, svc) in streamscribe_services(doc).items():
        contract = CONTRACT[cname]
        env = env_of(svc)
        allowed_env = {env_var_for(contract, f) for f in contract.flags}
        for var in env:
            if var.startswith("STREAMSCRIBE_"):
                assert var in allowed_env, f"{name}: {var} is no flag's variable ({sorted(allowed_env)})"
        assert "--redis-url" in flags or "STREAMSCRIBE_REDIS_URL" in env, f"{name}: no Redis URL"
        redis_url = flags.get("--redis-url") or env["STREAMSCRIBE_REDIS_URL"]
        assert REDIS_URL.match(redis_url), f"{name}: Redis URL {redis_url} (with the password of .env)"
        assert flags.get("--log-format", "json") == "json", f"{name}: containers log JSON"
        if cname == "gateway":
            assert flags.get("--host") == "0.0.0.0", "the gateway must listen on all interfaces in a container"
        if cname == "asr" and flags["--engine"] in ("qwen3-vllm", "qwen3-transformers"):
            assert "--model" in flags or "STREAMSCRIBE_ASR_MODEL" in env


@pytest.mark.parametrize("which", ["docker-compose.yml", "merged CPU stack"])
def test_every_worker_says_where_its_http_listens(which, compose, compose_cpu):
    """Workers' HTTP binds loopback by default; in compose Prometheus scrapes them over the
    network, so each says 0.0.0.0 itself (by flag or variable), never by relying on a default."""
    doc = compose if which == "docker-compose.yml" else compose_cpu
    workers = [(name, cname, flags, svc) for name, (cname, flags, svc) in streamscribe_services(doc).items()
               if cname != "gateway"]
    assert sorted(cname for _, cname, _, _ in workers) == ["asr", "denoise", "vad"]
    for name, cname, flags, svc in workers:
        host = flags.get("--http-host") or env_of(svc).get(env_var_for(CONTRACT[cname], "--http-host"))
        assert host == "0.0.0.0", f"{name}: set --http-host 0.0.0.0 (Prometheus scrapes it over the network)"


@pytest.mark.parametrize("which", ["docker-compose.yml", "merged CPU stack"])
def test_no_service_gets_a_secret_on_its_command_line(which, compose, compose_cpu):
    """The services refuse one there (ps shows it); compose passes them in the environment."""
    doc = compose if which == "docker-compose.yml" else compose_cpu
    for name, (cname, flags, svc) in streamscribe_services(doc).items():
        for flag in ("--api-key", "--twilio-auth-token", "--audiohook-client-secret", "--redis-url"):
            assert flag not in flags, f"{name}: {flag} on the command line (use its variable or {flag}-file)"


def _dockerfile_stages() -> dict[str, list[str]]:
    """Stage name -> its lines (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?$", line, re.I)
        if m:
            current = m.group(1) or f"<unnamed {len(stages)}>"
            stages[current] = []
        elif current and line and not line.startswith("#"):
            stages[current].append(line)
    return stages


def test_dockerfile_targets_and_cmds(compose, compose_cpu):
    stages = _dockerfile_stages()
    for doc in (compose, compose_cpu):
        for name, svc in doc["services"].items():
            if "build" in svc:
                assert svc["build"]["target"] in stages, f"{name}: no stage {svc['build']['target']} in deploy/Dockerfile"
    expected = {"gateway": "gateway", "vad": "vad", "denoise": "denoise", "asr-cpu": "asr", "asr-gpu": "asr"}
    for stage, cname in expected.items():
        cmds = [ln for ln in stages[stage] if ln.startswith("CMD ")]
        assert cmds, f"stage {stage} has no CMD"
        got, flags = parse_command(json.loads(cmds[-1][4:]))
        assert got == cname
        health = " ".join(ln for ln in stages[stage] if ln.startswith("HEALTHCHECK"))
        m = HEALTH_URL.search(health)
        assert m and int(m.group(1)) == service_port(cname, flags), f"stage {stage}: HEALTHCHECK port"
    asr_cpu = json.loads([ln for ln in stages["asr-cpu"] if ln.startswith("CMD ")][-1][4:])
    assert parse_command(asr_cpu)[1]["--engine"] == "whisper"
    gpu = " ".join(stages["asr-gpu"])
    assert "constraints" not in gpu, "the GPU image must not apply constraints.txt (vLLM brings its own torch)"
    assert "[vllm]" in gpu
    for stage in ("cpu-base", "denoise", "asr-cpu"):
        for ln in stages[stage]:
            if ln.startswith("RUN") and "pip install" in ln:
                assert "-c /opt/streamscribe/constraints.txt" in ln, f"{stage}: CPU installs use constraints.txt"


def test_dockerfile_copies_exist_and_dockerignore_lets_them_through():
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    ignore = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "*", ".dockerignore is an allow-list"
    allowed = {ln[1:].rstrip("/") for ln in ignore if ln.startswith("!")}
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    top_packages = {p.split(".")[0] for p in pyproject["tool"]["setuptools"]["packages"]}
    assert top_packages <= allowed, f"packages missing from .dockerignore: {top_packages - allowed}"
    assert "models" not in allowed and ".venv" not in allowed
    for line in text.splitlines():
        m = re.match(r"\s*COPY\s+(?!--from)(.+)\s+(\S+)$", line)
        if not m:
            continue
        for src in m.group(1).split():
            if src.startswith("--"):
                continue
            assert src.rstrip("/") in allowed, f"COPY {src}: excluded by .dockerignore"
            assert (REPO / src).exists(), f"COPY {src}: no such file in the repository"


def test_console_scripts_match_the_modules():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for svc in CONTRACT.values():
        assert scripts.get(svc.script) == f"{svc.module}.__main__:main", svc.script


# ======================================================================================
# Prometheus
# ======================================================================================


def test_scrape_config_matches_compose(compose):
    """Every streamscribe service is scraped through compose DNS on its real port, and the
    mounted paths in compose are the ones the config refers to."""
    jobs = {j["job_name"]: j for j in _prom_config()["scrape_configs"]}
    for name, (cname, flags, _) in streamscribe_services(compose).items():
        job = jobs.get(f"streamscribe-{cname}")
        assert job, f"no scrape job streamscribe-{cname}"
        (sd,) = job["dns_sd_configs"]
        assert sd["names"] == [name] and sd.get("type", "SRV") == "A", f"{name}: DNS SD on the compose name, type A"
        assert sd["port"] == service_port(cname, flags), f"{name}: scrape port"
        assert job.get("metrics_path", "/metrics") == "/metrics"
    exporter = compose["services"]["redis-exporter"]
    assert any(t.startswith("redis-exporter:") for t in jobs["redis"]["static_configs"][0]["targets"])
    assert "9121" in [str(p) for p in exporter["expose"]]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["prometheus"]["volumes"]
              if isinstance(v, str) and v.startswith("./")}
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    for rule_file in _prom_config()["rule_files"]:
        target = rule_file if rule_file.startswith("/") else f"/etc/prometheus/{rule_file}"
        assert target in mounts and (REPO / mounts[target]).is_file(), f"rule file {rule_file} not mounted"


def test_alert_rules_cover_the_required_cases():
    rules = [r for g in _rules()["groups"] for r in g["rules"]]
    by_name: dict[str, list[dict]] = {}
    for r in rules:
        by_name.setdefault(r["alert"], []).append(r)
    assert {r["labels"]["stage"] for r in by_name["StreamscribeNoLiveWorkers"]} == {"vad", "asr", "denoise"}
    assert all("up{" in r["expr"] for r in by_name["StreamscribeNoLiveWorkers"])
    assert "streamscribe_stage_queue_lag_seconds" in by_name["StreamscribeQueueLagHigh"][0]["expr"]
    assert "histogram_quantile(0.99" in by_name["StreamscribeSpeechEndToFinalP99High"][0]["expr"]
    assert "streamscribe_gateway_errors_sent_total" in by_name["StreamscribeErrorRateHigh"][0]["expr"]
    assert "redis_up" in by_name["StreamscribeRedisDown"][0]["expr"]
    jobs = {j["job_name"] for j in _prom_config()["scrape_configs"]}
    for r in rules:
        for job in re.findall(r'job="([^"]+)"', r["expr"]):
            assert job in jobs, f"{r['alert']}: job {job} is not scraped"
        assert r["labels"]["severity"] in ("critical", "warning")
        assert r["annotations"]["summary"]


# ======================================================================================
# Grafana
# ======================================================================================


def test_dashboard_json_is_generated_from_its_builder():
    render = runpy.run_path(str(DEPLOY / "grafana" / "build_dashboard.py"))["render"]
    assert DASHBOARD.read_text(encoding="utf-8") == render(), \
        "streamscribe.json is stale: run python deploy/grafana/build_dashboard.py"


def test_dashboard_structure_and_provisioning(compose):
    dash = _dashboard()
    ds = yaml.safe_load(GRAFANA_DATASOURCE.read_text())["datasources"][0]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in dash["panels"]:
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] == ds["uid"], p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == ds["uid"]
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
    titles = " | ".join(p["title"] for p in dash["panels"]).lower()
    for needed in ("connections", "audio seconds", "first partial", "speech end", "queue lag", "frames rejected",
                   "errors sent", "dead-lettered", "takeovers", "replayed audio", "fenced writes", "live workers",
                   "vad frames per silero call", "asr decode time"):
        assert needed in titles, f"dashboard lacks a panel about {needed!r}"
    providers = yaml.safe_load(GRAFANA_PROVIDERS.read_text())["providers"]
    grafana_mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["grafana"]["volumes"]
                      if isinstance(v, str) and v.startswith("./")}
    assert grafana_mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert grafana_mounts[providers[0]["options"]["path"]] == "./deploy/grafana/dashboards"


# ======================================================================================
# Metric names: everything the dashboard and the rules name must exist in common/metrics.py
# ======================================================================================

def exported_metrics() -> dict[str, set[str]]:
    """Sample name -> label names, for every metric common/metrics.py defines, built on a
    fresh registry. Labelled metrics get one child so that their samples appear."""
    from prometheus_client import CollectorRegistry

    from common import metrics as m

    # One registry per process kind, as in the services: a worker has exactly one stage.
    processes = [
        lambda r: [m.GatewayMetrics(r)],
        lambda r: [m.StageMetrics(r, "vad"), m.VadMetrics(r)],
        lambda r: [m.StageMetrics(r, "asr"), m.AsrMetrics(r)],
        lambda r: [m.StageMetrics(r, "denoise"), m.DenoiseMetrics(r)],
    ]
    names: dict[str, set[str]] = {}
    for build in processes:
        registry = CollectorRegistry()
        for holder in build(registry):
            for value in vars(holder).values():
                labelnames = getattr(value, "_labelnames", ())
                if labelnames and not getattr(value, "_labelvalues", ()):
                    value.labels(*["x"] * len(labelnames))
        for family in registry.collect():
            for sample in family.samples:
                names.setdefault(sample.name, set()).update(sample.labels)
    return names


def test_promql_name_extraction():
    names = promql_metric_names(
        'histogram_quantile(0.99, sum by (le, stage) (rate(a_bucket{stage="vad",x=~"y.*"}[$__rate_interval])))'
        ' / on (stage) group_left sum(b_total offset 5m) > 1e3 and absent(up{job="j"} == 1) or c')
    assert names == {"a_bucket", "b_total", "up", "c"}


def test_every_referenced_metric_is_exported_by_the_code():
    exported = exported_metrics()
    assert "streamscribe_gateway_speech_end_to_final_seconds_bucket" in exported  # sanity of the expansion
    assert "streamscribe_gateway_frames_rejected_total" in exported
    problems = []
    seen: set[str] = set()
    for where, expr, _ in _all_queries():
        for name in promql_metric_names(expr):
            seen.add(name)
            if name not in exported and name not in EXTERNAL_METRICS:
                problems.append(f"{where}: {name} is not exported by common/metrics.py")
    assert not problems, "\n".join(problems)
    assert seen & set(exported), "no query names a streamscribe metric at all?"


def test_referenced_labels_exist_on_those_metrics():
    exported = exported_metrics()
    problems = []
    for where, expr, text_labels in _all_queries():
        names = promql_metric_names(expr)
        available = set(TARGET_LABELS)
        for n in names:
            available |= exported.get(n, set())
            if n in EXTERNAL_METRICS:
                available |= TARGET_LABELS
        clause_labels, selectors, aggregated = promql_labels(expr)
        for lbl in clause_labels - available:
            problems.append(f"{where}: groups by {lbl!r}, which none of {sorted(names)} carries")
        for metric, label, value in selectors:
            allowed = exported.get(metric, set()) | TARGET_LABELS
            if label not in allowed:
                problems.append(f"{where}: {metric} has no label {label!r}")
            if label == "stage" and value not in STAGES:
                problems.append(f"{where}: stage={value!r} is not one of {sorted(STAGES)}")
        output = clause_labels if aggregated else available
        for lbl in text_labels - output:
            problems.append(f"{where}: legend/annotation uses {lbl!r}, not a label of the query's result")
    assert not problems, "\n".join(problems)
