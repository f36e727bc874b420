"""Static checks of the Kubernetes manifests in deploy/k8s (issue 18).

There is no cluster here: nothing is applied (no `kubectl apply`, not even a dry run against a
server). What is checked, offline:

* both overlays (and the overlays with the hpa and audiohook components) render with
  `kubectl kustomize`;
* every rendered object of a built-in kind validates against Kubernetes' own schemas, strictly
  (unknown fields are errors), with the `kubernetes-validate` package, which bundles them;
  the custom resources (KEDA ScaledObject, Prometheus Operator PodMonitor and PrometheusRule)
  validate against models generated from their CRDs (the ``cloudcoil-models-keda`` and
  ``-prometheus-operator`` packages: KEDA 2.16, prometheus-operator 0.80), strictly (a field the
  CRD lacks is an error), and are checked here for what a schema cannot see: the metric names and
  labels their queries use exist in common/metrics.py, the Deployments they point at exist;
* every flag and STREAMSCRIBE_* variable the manifests give a service is in that service's
  `--help-advanced`, and its parser accepts the arguments;
* invariants: no secret in args or env values, no Secret object rendered; every pod non-root
  with a read-only root filesystem; every Deployment with probes, resources, a PDB and spread
  constraints; grace periods that cover preStop plus the drain; NetworkPolicies that select
  every pod, let only the gateway in from outside and worker metrics only to Prometheus;
* the PrometheusRule's groups equal deploy/prometheus/alerts.yml's (it is generated from it).

`kubectl` renders: the development and CI machines have 1.32 (the Google Cloud SDK's
``kubectl`` package is on their image; Debian's ``kubernetes-client`` is 1.20, whose kustomize
cannot read components). Where it is missing, the tests that need a rendering skip, saying so.
`kubernetes-validate` and the cloudcoil models are in the dev extra: missing, their tests skip
locally and fail in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")  # pyyaml is in the dev extra

from tests.kit.deploy import missing  # noqa: E402
from tests.unit.test_deploy import exported_metrics  # noqa: E402  (metric -> labels, of common/metrics.py)

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
K8S_VERSION = "1.32"  # the schemas to validate against (the kubectl here is 1.32)

# What is rendered: name -> (kustomization directory, components added on top).
VARIANTS = {
    "cpu": ("overlays/cpu", ()),
    "gpu": ("overlays/gpu", ()),
    "cpu+hpa": ("overlays/cpu", ("components/hpa",)),
    "cpu+audiohook": ("overlays/cpu", ("components/audiohook",)),
    "cpu+twilio": ("overlays/cpu", ("components/twilio",)),
    "minimal": ("overlays/minimal", ()),  # no KEDA, no Prometheus Operator
    "host-tls": ("examples/host-tls", ()),  # the cpu overlay with a host and TLS patched in
}
WITHOUT_CRDS = ("minimal",)
OVERLAYS = ("cpu", "gpu")
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("monitoring.coreos.com/v1", "PodMonitor"),
                ("monitoring.coreos.com/v1", "PrometheusRule")}
MODULES = ("gateway", "vad_worker", "asr_worker", "denoise_worker")
# The services' flags and variables that carry a secret: only their file forms may be given.
SECRET_FLAGS = {"--api-key", "--twilio-auth-token", "--audiohook-client-secret", "--redis-url"}
SECRET_ENV = {"STREAMSCRIBE_GATEWAY_API_KEY", "STREAMSCRIBE_GATEWAY_TWILIO_AUTH_TOKEN",
              "STREAMSCRIBE_GATEWAY_AUDIOHOOK_CLIENT_SECRET", "STREAMSCRIBE_REDIS_URL",
              *(f"STREAMSCRIBE_{prefix}_REDIS_URL" for prefix in ("GATEWAY", "VAD", "ASR", "DENOISE"))}
# What a worker's shutdown may take at most: drain (release every lease: two Redis commands a
# session), close the stage and Redis. Measured: ~2 s with no session; the budget is generous.
WORKER_DRAIN_BUDGET = 10.0
GATEWAY_DEFAULT_DRAIN_TIMEOUT = 10.0  # `python -m gateway --help`
GATEWAY_DEFAULT_PRERECORDED_MAX_BYTES = 256 << 20  # `python -m gateway --help`


def _kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` renders the manifests (kubectl is not in "
                    "Debian's archive; install it from the Kubernetes project's packages to run these tests)")
    return path


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------

def render(variant: str, tmp_root: Path) -> list[dict]:
    """The objects `kubectl kustomize` makes of a variant."""
    kubectl = _kubectl()
    directory, components = VARIANTS[variant]
    target = K8S / directory
    if components:
        # The overlay plus the components, as a user adds them to it; by relative paths
        # (kustomize refuses absolute ones).
        target = tmp_root / variant.replace("+", "-")
        target.mkdir(parents=True, exist_ok=True)
        overlay = yaml.safe_load((K8S / directory / "kustomization.yaml").read_text())
        (target / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "namespace": overlay["namespace"], "resources": [os.path.relpath(K8S / directory, target)],
            "components": [os.path.relpath(K8S / c, target) for c in components]}))
    proc = subprocess.run([kubectl, "kustomize", str(target)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kubectl kustomize {directory} {components} failed:\n{proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """variant -> its objects, rendered once per test session."""
    root = tmp_path_factory.mktemp("k8s")
    cache: dict[str, list[dict]] = {}

    def get(variant: str) -> list[dict]:
        if variant not in cache:
            cache[variant] = render(variant, root)
        return cache[variant]

    return get


def of_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def pod_specs(objects: list[dict]) -> dict[str, dict]:
    return {name: d["spec"]["template"]["spec"] for name, d in of_kind(objects, "Deployment").items()}


def containers(objects: list[dict]):
    """(deployment name, pod spec, container) of every container and init container."""
    for name, pod in pod_specs(objects).items():
        for c in pod.get("initContainers", []) + pod["containers"]:
            yield name, pod, c


def module_of(container: dict) -> str:
    command = container.get("command", [])
    assert command[:2] == ["python", "-m"] and len(command) == 3, \
        f"{container['name']}: command must be python -m <service>, got {command}"
    assert command[2] in MODULES, f"{container['name']}: unknown service {command[2]}"
    return command[2]


def flag_values(args: list[str]) -> dict[str, list[str | None]]:
    """{"--flag": [value, ...]} of an argument list (None for a switch)."""
    out: dict[str, list[str | None]] = defaultdict(list)
    i = 0
    while i < len(args):
        arg = args[i]
        assert arg.startswith("--"), f"stray argument {arg!r} in {args}"
        if "=" in arg:
            flag, value = arg.split("=", 1)
            out[flag].append(value)
            i += 1
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[arg].append(args[i + 1])
            i += 2
        else:
            out[arg].append(None)
            i += 1
    return out


def the_flag(container: dict, flag: str, default: str | None = None) -> str | None:
    values = flag_values(container.get("args", [])).get(flag)
    if not values:
        return default
    assert len(values) == 1, f"{container['name']}: {flag} given {len(values)} times"
    return values[0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_manifests_render(rendered, variant):
    objects = rendered(variant)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "Deployment", "Service", "Ingress", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    assert set(of_kind(objects, "Deployment")) == {"streamscribe-gateway", "streamscribe-vad", "streamscribe-asr",
                                                   "streamscribe-denoise"}
    if variant in WITHOUT_CRDS:  # applies where no CRD is installed; a fixed count of pods instead
        assert not {o["apiVersion"].split("/")[0] for o in objects} & {"keda.sh", "monitoring.coreos.com"}
        assert all(d["spec"]["replicas"] >= 1 for d in of_kind(objects, "Deployment").values())
        assert "HorizontalPodAutoscaler" not in kinds
    else:
        assert {"PodMonitor", "PrometheusRule"} <= kinds
        scaler = "HorizontalPodAutoscaler" if "hpa" in variant else "ScaledObject"
        other = "ScaledObject" if "hpa" in variant else "HorizontalPodAutoscaler"
        assert len(of_kind(objects, scaler)) == 4 and other not in kinds
    namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    assert namespaces == {"streamscribe"}, "every object belongs in the release's namespace"


# --------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------

def _validator():
    try:
        import kubernetes_validate
    except ImportError:
        missing("kubernetes-validate (PyPI, in the dev extra)")
    return kubernetes_validate


@pytest.mark.parametrize("variant", VARIANTS)
def test_objects_validate_against_the_kubernetes_schemas(rendered, variant):
    kv = _validator()
    problems = []
    for obj in rendered(variant):
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue  # not in Kubernetes' schemas: checked below
        try:
            kv.validate(obj, K8S_VERSION, strict=True)
        except kv.SchemaNotFoundError:
            problems.append(f"{obj['kind']} {obj['apiVersion']}: no schema in Kubernetes {K8S_VERSION}")
        except kv.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            problems.append(f"{obj['kind']}/{obj['metadata']['name']} at {path}: {exc.message}")
    assert not problems, "\n".join(problems)


def _crd_models() -> dict[tuple[str, str], type]:
    """The models generated from KEDA's and the Prometheus Operator's CRDs, by (apiVersion, kind)."""
    try:
        from cloudcoil.models.keda.v1alpha1 import ScaledObject
        from cloudcoil.models.prometheus_operator.v1 import PodMonitor, PrometheusRule
    except ImportError:
        missing("cloudcoil-models-keda and cloudcoil-models-prometheus-operator (PyPI, in the dev extra)")
    return {("keda.sh/v1alpha1", "ScaledObject"): ScaledObject, ("monitoring.coreos.com/v1", "PodMonitor"): PodMonitor,
            ("monitoring.coreos.com/v1", "PrometheusRule"): PrometheusRule}


def _crd_problems(obj: dict, model: type) -> list[str]:
    """Where ``obj`` breaks its CRD: a type the model refuses, or a field the model drops (unknown to
    the CRD: the models ignore extra fields, so a round trip shows them)."""
    import pydantic

    name = f"{obj['kind']}/{obj['metadata']['name']}"
    try:
        parsed = model.model_validate(obj)  # type: ignore[attr-defined]
    except pydantic.ValidationError as exc:
        return [f"{name}: {error['loc']}: {error['msg']}" for error in exc.errors()]
    back = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")

    def differences(ours, theirs, path: str):
        if isinstance(ours, dict) and isinstance(theirs, dict):
            for key in ours:
                if key not in theirs:
                    yield f"{name} at {path}/{key}: not in the CRD"
                else:
                    yield from differences(ours[key], theirs[key], f"{path}/{key}")
        elif isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
            for index, (a, b) in enumerate(zip(ours, theirs)):
                yield from differences(a, b, f"{path}/{index}")
        elif ours != theirs:
            yield f"{name} at {path}: {ours!r} reads as {theirs!r}"

    return list(differences(obj, back, ""))


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v not in WITHOUT_CRDS])
def test_custom_resources_validate_against_their_crds(rendered, variant):
    models = _crd_models()
    objects = [obj for obj in rendered(variant) if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS]
    assert {obj["kind"] for obj in objects} >= {"PodMonitor", "PrometheusRule"}
    problems = [problem for obj in objects for problem in _crd_problems(obj, models[obj["apiVersion"], obj["kind"]])]
    assert not problems, "\n".join(problems)


def test_crd_validation_rejects_a_misspelt_field_and_a_wrong_type(rendered):
    models = _crd_models()
    scaled = dict(of_kind(rendered("cpu"), "ScaledObject")["streamscribe-vad"])
    model = models["keda.sh/v1alpha1", "ScaledObject"]
    assert _crd_problems({**scaled, "spec": {**scaled["spec"], "minReplicas": 2}}, model) == [
        "ScaledObject/streamscribe-vad at /spec/minReplicas: not in the CRD"]
    assert _crd_problems({**scaled, "spec": {**scaled["spec"], "minReplicaCount": "two"}}, model)


def test_strict_validation_rejects_a_misspelt_field(rendered):
    kv = _validator()
    deployment = dict(of_kind(rendered("cpu"), "Deployment")["streamscribe-vad"])
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, K8S_VERSION, strict=True)


def test_examples_validate():
    kv = _validator()
    for path in sorted((K8S / "examples").glob("*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            kv.validate(obj, K8S_VERSION, strict=True)


# --------------------------------------------------------------------------------------
# The services' command lines
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def service_help():
    """module -> its `python -m <module> --help-advanced` (every flag: the manifests may set tuning
    ones), run once per test session."""
    cache: dict[str, str] = {}

    def get(module: str) -> str:
        if module not in cache:
            proc = subprocess.run([sys.executable, "-m", module, "--help-advanced"], cwd=REPO, capture_output=True,
                                  text=True, timeout=120)
            assert proc.returncode == 0, f"python -m {module} --help-advanced failed:\n{proc.stderr[-3000:]}"
            cache[module] = proc.stdout
        return cache[module]

    return get


def all_invocations(rendered) -> dict[tuple[str, tuple[str, ...]], set[str]]:
    """(module, args) -> where they are given, over every variant."""
    out: dict[tuple[str, tuple[str, ...]], set[str]] = defaultdict(set)
    for variant in VARIANTS:
        for name, _, c in containers(rendered(variant)):
            out[(module_of(c), tuple(c.get("args", [])))].add(f"{variant}: {name}")
    return out


def test_every_flag_and_variable_is_in_the_services_help(rendered, service_help):
    problems = []
    for variant in VARIANTS:
        for name, _, c in containers(rendered(variant)):
            module = module_of(c)
            help_text = service_help(module)
            flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text))
            variables = {v for group in re.findall(r"\[env\s+([^\]]+)\]", help_text)
                         for v in re.findall(r"STREAMSCRIBE_[A-Z0-9_]+", group)}
            for flag in flag_values(c.get("args", [])):
                if flag not in flags:
                    problems.append(f"{variant}: {name} passes {flag}, not in python -m {module} --help")
            for env in c.get("env", []):
                if env["name"].startswith("STREAMSCRIBE_") and env["name"] not in variables:
                    problems.append(f"{variant}: {name} sets {env['name']}, not in python -m {module} --help")
    assert not problems, "\n".join(problems)


def test_the_services_parsers_accept_the_arguments(rendered):
    """Values too: choices, numbers. Each service's own build_parser(), in a subprocess."""
    for (module, args), where in all_invocations(rendered).items():
        code = f"import sys; from {module}.__main__ import build_parser; build_parser().parse_args(sys.argv[1:])"
        proc = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, f"{sorted(where)}: python -m {module} refuses {list(args)}:\n{proc.stderr}"


def test_workers_serve_http_on_the_pods_address_and_port(rendered):
    for variant in OVERLAYS:
        for name, _, c in containers(rendered(variant)):
            module = module_of(c)
            ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
            if module == "gateway":
                assert the_flag(c, "--host") == "0.0.0.0" and int(the_flag(c, "--port")) == ports["http"]
                continue
            assert the_flag(c, "--http-host") == "0.0.0.0", f"{name}: pass --http-host 0.0.0.0 in a pod"
            assert int(the_flag(c, "--http-port")) == ports["metrics"], f"{name}: --http-port != port `metrics`"


# --------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------

CREDENTIALS_IN_URL = re.compile(r"[a-z+]+://[^/\s@]*:[^/\s@]+@")


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_secret_in_args_or_env(rendered, variant):
    objects = rendered(variant)
    assert not of_kind(objects, "Secret"), "Secrets are made by the operator (deploy/README.md), never rendered"
    for cm in of_kind(objects, "ConfigMap").values():
        for value in cm.get("data", {}).values():
            assert not CREDENTIALS_IN_URL.search(value), f"ConfigMap {cm['metadata']['name']} holds a credential"
    for name, pod, c in containers(objects):
        args = c.get("args", []) + c.get("command", [])
        for flag in flag_values(c.get("args", [])):
            assert flag not in SECRET_FLAGS, f"{name}: {flag} puts a secret in the arguments; use {flag}-file"
        for arg in args:
            assert not CREDENTIALS_IN_URL.search(arg), f"{name}: a credential in the arguments: {arg}"
        assert not any("secretRef" in src for src in c.get("envFrom", [])), f"{name}: envFrom a Secret"
        for env in c.get("env", []):
            assert env["name"] not in SECRET_ENV, f"{name}: {env['name']} is a secret; use the file flag"
            if "value" in env:
                assert not CREDENTIALS_IN_URL.search(env["value"]), f"{name}: a credential in {env['name']}"
            assert "secretKeyRef" not in env.get("valueFrom", {}), \
                f"{name}: {env['name']} from a Secret into the environment; mount it as a file"
        # Every secret's file (a *-file flag, or its variable) is in a mounted, read-only Secret volume.
        secret_volumes = {v["name"]: v["secret"] for v in pod.get("volumes", []) if "secret" in v}
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", []) if m["name"] in secret_volumes}
        files = [(flag, path) for flag, values in flag_values(c.get("args", [])).items() for path in values
                 if flag.endswith("-file") and flag.removesuffix("-file") in SECRET_FLAGS | {"--api-keys"}]
        files += [(env["name"], env.get("value")) for env in c.get("env", [])
                  if env["name"].endswith("_FILE") and env["name"].removesuffix("_FILE") in SECRET_ENV]
        for flag, path in files:
            directory, _, filename = path.rpartition("/")
            assert directory in mounts, f"{name}: {flag} {path} is not in a mounted Secret"
            mount = mounts[directory]
            assert mount.get("readOnly") is True, f"{name}: mount the Secret of {flag} read-only"
            items = secret_volumes[mount["name"]].get("items")
            assert items is None or filename in {i["path"] for i in items}, f"{name}: {path} is not projected"


def test_every_service_reads_the_redis_url_from_a_file(rendered):
    for variant in VARIANTS:
        for name, _, c in containers(rendered(variant)):
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            assert env.get("STREAMSCRIBE_REDIS_URL_FILE") == "/etc/streamscribe/redis/url" \
                or the_flag(c, "--redis-url-file"), f"{variant}: {name} has no file of the Redis URL"


def test_the_gateway_requires_api_keys(rendered):
    for variant in OVERLAYS:
        gateway = pod_specs(rendered(variant))["streamscribe-gateway"]["containers"][0]
        assert the_flag(gateway, "--api-keys-file"), "the gateway must not be open to all"


# --------------------------------------------------------------------------------------
# Pods: security, probes, resources, disruption, spreading, shutdown
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", OVERLAYS)
def test_every_pod_runs_non_root_with_a_read_only_root_filesystem(rendered, variant):
    for name, pod in pod_specs(rendered(variant)).items():
        ctx = pod.get("securityContext", {})
        assert ctx.get("runAsNonRoot") is True and ctx.get("runAsUser", 0) != 0, f"{name}: runs as root"
        assert ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, f"{name}: mounts an API token it never uses"
        writable = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c.get("securityContext", {})
            assert sc.get("readOnlyRootFilesystem") is True, f"{name}/{c['name']}: writable root filesystem"
            assert sc.get("allowPrivilegeEscalation") is False, f"{name}/{c['name']}: may escalate"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}/{c['name']}: keeps capabilities"
            assert sc.get("runAsUser", ctx["runAsUser"]) != 0 and not sc.get("privileged"), name
            mounted = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            for path in ("/tmp", "/home/streamscribe"):  # temporary files; caches under $HOME
                assert mounted.get(path) in writable, f"{name}/{c['name']}: {path} is not a writable emptyDir"


@pytest.mark.parametrize("variant", OVERLAYS)
def test_every_deployment_has_probes_resources_a_pdb_and_spreading(rendered, variant):
    objects = rendered(variant)
    pdbs = of_kind(objects, "PodDisruptionBudget").values()
    for name, deployment in of_kind(objects, "Deployment").items():
        spec = deployment["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert "replicas" not in spec, f"{name}: the autoscaler owns the replica count; `apply` would reset it"
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        pod = spec["template"]["spec"]
        for c in pod["containers"]:
            ports = {p["name"] for p in c.get("ports", [])}
            for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                                ("readinessProbe", "/readyz")):
                get = c.get(probe, {}).get("httpGet", {})
                assert get.get("path") == path and get.get("port") in ports, f"{name}: {probe} not on {path}"
            resources = c.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{name}: no cpu/memory requests"
            assert "memory" in resources.get("limits", {}), f"{name}: no memory limit"
        covering = [p for p in pdbs if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(covering) == 1, f"{name}: {len(covering)} PodDisruptionBudgets, want one"
        keys = set()
        for constraint in pod.get("topologySpreadConstraints", []):
            assert constraint["labelSelector"]["matchLabels"].items() <= labels.items(), name
            keys.add(constraint["topologyKey"])
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, f"{name}: spread over {keys}"


def _prestop_seconds(container: dict) -> float:
    pre_stop = container.get("lifecycle", {}).get("preStop")
    if not pre_stop:
        return 0.0
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"]["seconds"])
    command = pre_stop["exec"]["command"]
    assert command[0] == "sleep" and len(command) == 2, f"preStop must be a plain sleep: {command}"
    return float(command[1])


@pytest.mark.parametrize("variant", OVERLAYS)
def test_the_grace_period_covers_prestop_and_the_drain(rendered, variant):
    for name, pod in pod_specs(rendered(variant)).items():
        (c,) = pod["containers"]
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if module_of(c) == "gateway":
            # gateway/server.py close(): handlers get --drain-timeout, then are cancelled and
            # awaited for at most --drain-timeout again.
            drain = 2 * float(the_flag(c, "--drain-timeout", str(GATEWAY_DEFAULT_DRAIN_TIMEOUT)))
            assert _prestop_seconds(c) > 0, f"{name}: no preStop: new connections race the shutdown"
        else:
            drain = WORKER_DRAIN_BUDGET
        need = _prestop_seconds(c) + drain
        assert grace >= need, f"{name}: terminationGracePeriodSeconds {grace} < preStop + drain = {need}"


def test_gpu_overlay_runs_vllm_on_a_gpu(rendered):
    pod = pod_specs(rendered("gpu"))["streamscribe-asr"]
    (c,) = pod["containers"]
    assert the_flag(c, "--engine") == "qwen3-vllm" and the_flag(c, "--model").startswith("/models/")
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "streamscribe-asr-gpu" in c["image"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True and "persistentVolumeClaim" in volumes[mounts["/models"]["name"]]
    assert volumes[mounts["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"
    assert any(t["key"] == "nvidia.com/gpu" for t in pod.get("tolerations", []))
    cpu_pod = pod_specs(rendered("cpu"))["streamscribe-asr"]
    assert the_flag(cpu_pod["containers"][0], "--engine") == "whisper"
    assert "nvidia.com/gpu" not in str(cpu_pod)


@pytest.mark.parametrize("variant", OVERLAYS)
def test_every_image_is_the_overlays_placeholder(rendered, variant):
    """The overlay's `images:` renames every image: none is left bare (a patch after the rename
    would leave one), so a user who sets the registry there sets it for every pod."""
    kustomization = yaml.safe_load((K8S / "overlays" / variant / "kustomization.yaml").read_text())
    names = {i["newName"] for i in kustomization["images"]}
    for name, _, c in containers(rendered(variant)):
        image, _, tag = c["image"].rpartition(":")
        assert image in names and tag, f"{name}: image {c['image']} is not one of the overlay's images"


# --------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------

def _selects(selector: dict, labels: dict) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and value in expr["values"]:
            return False
        if expr["operator"] == "Exists" and value is None:
            return False
        if expr["operator"] == "DoesNotExist" and value is not None:
            return False
    return True


@pytest.mark.parametrize("variant", OVERLAYS)
def test_network_policies_select_every_pod_and_allow_only_what_is_needed(rendered, variant):
    objects = rendered(variant)
    policies = list(of_kind(objects, "NetworkPolicy").values())
    prometheus = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                  "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
    for name, deployment in of_kind(objects, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selecting = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
        for direction in ("Ingress", "Egress"):
            assert any(direction in p["spec"]["policyTypes"] for p in selecting), \
                f"{name}: no NetworkPolicy isolates its {direction.lower()}"
        ingress = [rule for p in selecting for rule in p["spec"].get("ingress", [])]
        egress = [rule for p in selecting for rule in p["spec"].get("egress", [])]
        ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
        for rule in ingress:
            assert rule.get("from") and rule.get("ports"), f"{name}: an ingress rule open to all peers or ports"
            assert {p["port"] for p in rule["ports"]} <= ports, f"{name}: ingress to a port it does not serve"
        peers = [peer for rule in ingress for peer in rule["from"]]
        if labels["app.kubernetes.io/component"] == "gateway":
            assert prometheus in peers and any(
                peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                == "ingress-nginx" for peer in peers), f"{name}: ingress controller and Prometheus only"
        else:
            assert peers == [prometheus], f"{name}: worker metrics are for Prometheus only, got {peers}"
        for rule in egress:
            assert rule.get("to"), f"{name}: an egress rule to anywhere"
            assert {p["port"] for p in rule["ports"]} <= {53, 6379, 26379}, f"{name}: egress beyond DNS and Redis"


def nginx_size(text: str) -> int:
    """Bytes of an nginx size ("256m", "1g", "8k", "1024")."""
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", text).groups()
    return int(number) << {"": 0, "k": 10, "m": 20, "g": 30}[unit.lower()]


@pytest.mark.parametrize("variant", OVERLAYS)
def test_the_ingress_routes_only_client_doors_to_the_gateway(rendered, variant):
    objects = rendered(variant)
    (ingress,) = of_kind(objects, "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{key}"]) >= 3600, f"{key}: calls last long"
    # A recording's body: as large as the gateway takes (ingress-nginx's default, 1 MiB, is ~33 s of WAV),
    # streamed to the gateway rather than spooled first.
    (gateway,) = [c for _, _, c in containers(objects) if module_of(c) == "gateway"]
    limit = int(the_flag(gateway, "--prerecorded-max-bytes", str(GATEWAY_DEFAULT_PRERECORDED_MAX_BYTES)))
    assert nginx_size(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) >= limit
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    paths = {}
    for rule in ingress["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            assert p["backend"]["service"]["name"] == "streamscribe-gateway"
            paths[p["path"]] = p["pathType"]

    def routed(path: str) -> bool:
        return any(path == p or (kind == "Prefix" and path.startswith(p.rstrip("/") + "/"))
                   for p, kind in paths.items())

    for internal in ("/metrics", "/readyz", "/healthz", "/health/extended"):
        assert not routed(internal), f"{internal} is for the cluster only"
    for door in ("/ws/asr", "/ws/follow/call-1", "/v1/listen", "/v2/listen", "/twilio", "/audiohook"):
        assert routed(door), door
    services = of_kind(objects, "Service")
    assert set(services) == {"streamscribe-gateway"} and services["streamscribe-gateway"]["spec"]["type"] == "ClusterIP"


# --------------------------------------------------------------------------------------
# Monitoring and autoscaling (custom resources, checked structurally)
# --------------------------------------------------------------------------------------

TARGET_LABELS = {"namespace", "job", "pod", "instance", "container", "endpoint"}  # added by the PodMonitor
KEDA_QUERY = re.compile(r"^(sum|max|avg)\((\w+)\{([^}]*)\}\)$")


def job_of(deployment: dict, podmonitor: dict) -> str:
    return deployment["spec"]["template"]["metadata"]["labels"][podmonitor["spec"]["jobLabel"]]


@pytest.mark.parametrize("variant", OVERLAYS)
def test_the_podmonitor_scrapes_every_pod_under_the_alerts_job_names(rendered, variant):
    objects = rendered(variant)
    (podmonitor,) = of_kind(objects, "PodMonitor").values()
    spec = podmonitor["spec"]
    assert podmonitor["apiVersion"] == "monitoring.coreos.com/v1" and spec["podMetricsEndpoints"]
    endpoint_ports = {e["port"] for e in spec["podMetricsEndpoints"]}
    assert all(e.get("path", "/metrics") == "/metrics" for e in spec["podMetricsEndpoints"])
    alert_jobs = set(re.findall(r'job="(streamscribe-[a-z]+)"', ALERTS.read_text()))
    jobs = set()
    for name, deployment in of_kind(objects, "Deployment").items():
        template = deployment["spec"]["template"]
        assert _selects(spec["selector"], template["metadata"]["labels"]), f"{name} is not scraped"
        ports = {p["name"] for c in template["spec"]["containers"] for p in c["ports"]}
        assert ports & endpoint_ports, f"{name}: none of its ports {ports} is scraped"
        jobs.add(job_of(deployment, podmonitor))
    assert jobs == alert_jobs, f"job names {jobs} != the alert rules' {alert_jobs}"


def test_the_prometheusrule_is_alerts_yml():
    """Generated by deploy/k8s/build_prometheusrule.py: the file is up to date and holds exactly
    alerts.yml's groups, under the release label the PodMonitor has. Needs no kubectl."""
    sys.path.insert(0, str(K8S))
    try:
        import build_prometheusrule
    finally:
        sys.path.remove(str(K8S))
    committed = (K8S / "base" / "prometheusrule.yaml").read_text(encoding="utf-8")
    assert committed == build_prometheusrule.render(), \
        "deploy/k8s/base/prometheusrule.yaml is stale: run python deploy/k8s/build_prometheusrule.py"
    rule = yaml.safe_load(committed)
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    podmonitor = yaml.safe_load((K8S / "base" / "monitoring.yaml").read_text(encoding="utf-8"))
    assert rule["metadata"]["labels"]["release"] == podmonitor["metadata"]["labels"]["release"], \
        "Prometheus selects both by the same release label"


def _capacity(deployment: dict) -> int:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return int(the_flag(c, "--capacity"))


def _targets(objects: list[dict]) -> dict[str, dict[str, float]]:
    """Deployment -> {metric name: target per pod} of its ScaledObject or HPA."""
    out: dict[str, dict[str, float]] = {}
    for so in of_kind(objects, "ScaledObject").values():
        out[so["spec"]["scaleTargetRef"]["name"]] = {
            KEDA_QUERY.match(t["metadata"]["query"]).group(2): float(t["metadata"]["threshold"])
            for t in so["spec"]["triggers"]}
    for hpa in of_kind(objects, "HorizontalPodAutoscaler").values():
        out[hpa["spec"]["scaleTargetRef"]["name"]] = {
            m["pods"]["metric"]["name"]: float(m["pods"]["target"]["averageValue"]) for m in hpa["spec"]["metrics"]}
    return out


@pytest.mark.parametrize("variant", OVERLAYS)
def test_keda_scales_every_stage_on_lag_and_sessions_and_gateways_on_connections(rendered, variant):
    objects = rendered(variant)
    exported = exported_metrics()
    deployments = of_kind(objects, "Deployment")
    (podmonitor,) = of_kind(objects, "PodMonitor").values()
    namespace = next(o["metadata"]["name"] for o in objects if o["kind"] == "Namespace")
    scaled = {}
    for name, so in of_kind(objects, "ScaledObject").items():
        spec = so["spec"]
        assert so["apiVersion"] == "keda.sh/v1alpha1"
        target = spec["scaleTargetRef"]
        assert target.get("kind", "Deployment") == "Deployment" and target["name"] in deployments, \
            f"{name}: scales {target}, which is not a rendered Deployment"
        deployment = deployments[target["name"]]
        assert 2 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], f"{name}: at least 2 for availability"
        behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior", {})
        assert behavior.get("scaleDown", {}).get("policies"), f"{name}: scale in slowly (sessions move)"
        metrics = {}
        for trigger in spec["triggers"]:
            assert trigger["type"] == "prometheus" and trigger.get("metricType") == "AverageValue", trigger
            meta = trigger["metadata"]
            assert all(isinstance(v, str) for v in meta.values()), f"{name}: KEDA metadata values are strings"
            assert meta["serverAddress"].startswith("http") and float(meta["threshold"]) > 0
            match = KEDA_QUERY.match(meta["query"])
            assert match, f"{name}: query {meta['query']!r} is not agg(metric{{labels}})"
            metric, selectors = match.group(2), dict(re.findall(r'(\w+)="([^"]*)"', match.group(3)))
            assert metric in exported, f"{name}: {metric} is not exported by common/metrics.py"
            assert set(selectors) <= exported[metric] | TARGET_LABELS, f"{name}: {metric} has no label of {selectors}"
            assert selectors.get("namespace") == namespace, f"{name}: the query must select the release's namespace"
            assert selectors.get("job") == job_of(deployment, podmonitor), f"{name}: the query's job is not its pods'"
            component = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
            if "stage" in exported[metric]:
                assert selectors.get("stage") == component, f"{name}: stage={selectors.get('stage')} != {component}"
            metrics[metric] = float(meta["threshold"])
        scaled[target["name"]] = metrics
    assert set(scaled) == set(deployments), f"without an autoscaler: {set(deployments) - set(scaled)}"
    for name, metrics in scaled.items():
        if name == "streamscribe-gateway":
            assert set(metrics) == {"streamscribe_gateway_connections"}
            continue
        assert set(metrics) == {"streamscribe_stage_queue_lag_seconds", "streamscribe_stage_sessions_active"}, name
        capacity = _capacity(deployments[name])
        # ASR: --capacity counts speaking sessions only; the gateway admits --asr-overbooking
        # (2.0) sessions per slot, so owned sessions reach twice the capacity.
        limit = capacity * (2 if name == "streamscribe-asr" else 1)
        assert metrics["streamscribe_stage_sessions_active"] < limit, \
            f"{name}: scale before the workers are full ({metrics} vs --capacity {capacity})"


def test_the_hpa_component_uses_the_same_signals_and_targets(rendered):
    keda = _targets(rendered("cpu"))
    hpa_objects = rendered("cpu+hpa")
    hpas = of_kind(hpa_objects, "HorizontalPodAutoscaler")
    deployments = of_kind(hpa_objects, "Deployment")
    for name, hpa in hpas.items():
        spec = hpa["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert name in deployments and 2 <= spec["minReplicas"] <= spec["maxReplicas"]
    assert _targets(hpa_objects) == keda
    adapter = yaml.safe_load((K8S / "components" / "hpa" / "prometheus-adapter-values.yaml").read_text())
    served = {rule["name"]["as"] for rule in adapter["rules"]["custom"]}
    exported = exported_metrics()
    for rule in adapter["rules"]["custom"]:
        assert re.match(r"(\w+)\{", rule["seriesQuery"]).group(1) == rule["name"]["as"] in exported
    needed = {metric for targets in keda.values() for metric in targets}
    assert needed <= served, f"prometheus-adapter does not serve {needed - served}"


def test_the_twilio_component_reads_its_token_from_a_file_and_names_the_public_url(rendered):
    gateway = pod_specs(rendered("cpu+twilio"))["streamscribe-gateway"]
    (c,) = gateway["containers"]
    assert the_flag(c, "--twilio-auth-token-file") == "/etc/streamscribe/gateway/twilio-auth-token"
    assert the_flag(c, "--twilio-public-url").startswith("wss://")
    assert the_flag(c, "--api-keys-file"), "the component adds flags, it does not replace the others"


def test_the_audiohook_component_reads_its_secret_from_a_file(rendered):
    gateway = pod_specs(rendered("cpu+audiohook"))["streamscribe-gateway"]
    (c,) = gateway["containers"]
    path = the_flag(c, "--audiohook-client-secret-file")
    assert path == "/etc/streamscribe/gateway/audiohook-client-secret"
    assert the_flag(c, "--api-keys-file"), "the component adds a flag, it does not replace the others"


def test_the_host_and_tls_are_an_overlays_patch(rendered):
    """examples/host-tls: the host and the TLS Secret replaced by a patch, the base left as it is."""
    (ingress,) = of_kind(rendered("host-tls"), "Ingress").values()
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == ["speech.example.org"]
    assert ingress["spec"]["tls"] == [{"hosts": ["speech.example.org"], "secretName": "speech-example-org-tls"}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    (base,) = of_kind(rendered("cpu"), "Ingress").values()
    assert ingress["spec"]["rules"][0]["http"] == base["spec"]["rules"][0]["http"]  # the same routes


def test_the_gpu_overlay_fills_its_model_volume_from_an_image(rendered):
    objects = rendered("gpu")
    (claim,) = of_kind(objects, "PersistentVolumeClaim").values()
    assert claim["spec"]["storageClassName"] and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    (job,) = of_kind(objects, "Job").values()
    pod = job["spec"]["template"]["spec"]
    (fill,) = pod["containers"]
    assert [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]] == [claim["metadata"]["name"]]
    assert {m["mountPath"] for m in fill["volumeMounts"]} == {"/models"}
    assert fill["image"].startswith("ghcr.io/your-org/streamscribe-models:")  # the overlay's images: name it
    assert pod["securityContext"]["runAsNonRoot"] and fill["securityContext"]["readOnlyRootFilesystem"]
    # The ASR pods read the same claim, read-only, under the path their --model names.
    asr = pod_specs(objects)["streamscribe-asr"]
    (models,) = [v for v in asr["volumes"] if "persistentVolumeClaim" in v]
    assert models["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"], "readOnly": True}
    assert the_flag(asr["containers"][0], "--model").startswith("/models/")
