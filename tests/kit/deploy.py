"""The deployable stack as the tests read it: the services' CLI contract and the compose files.

Shared by tests/unit/test_deploy.py (static checks) and tests/e2e/test_deploy.py (the real
``--help-advanced`` of each service, promtool).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .extras import unavailable
from .metric_names import DEPLOY, REPO

COMPOSE = REPO / "docker-compose.yml"
COMPOSE_CPU = DEPLOY / "compose.cpu.yml"


def missing(what: str) -> None:
    """A prerequisite is missing: skip locally, fail in CI (where .ci/run must install it)."""
    unavailable(skip=f"{what} is not installed here (CI installs it; this test fails there without it)",
                fail=f"{what} is missing in CI: .ci/run must install it")


# ======================================================================================
# The CLI contract of the services (the brief of issue #6 / the services' argparse).
# ======================================================================================

LOG_FORMATS = {"json", "text"}
ENGINES = {"whisper", "qwen3-vllm", "qwen3-transformers"}


class Svc:
    def __init__(self, module: str, script: str, env_prefix: str, flags: dict[str, object],
                 port_flag: str, default_port: int) -> None:
        self.module = module
        self.script = script
        self.env_prefix = env_prefix
        # flag -> None (boolean switch) | "str" | "int" | "float" | set of choices
        self.flags = flags
        self.port_flag = port_flag
        self.default_port = default_port


COMMON_FLAGS: dict[str, object] = {"--redis-url": "str", "--log-format": LOG_FORMATS}
WORKER_FLAGS: dict[str, object] = {"--http-host": "str", "--http-port": "int"}

CONTRACT: dict[str, Svc] = {
    "gateway": Svc("gateway", "streamscribe-gateway", "STREAMSCRIBE_GATEWAY_", {
        **COMMON_FLAGS, "--host": "str", "--port": "int", "--enable-noise-suppression": None, "--api-key": "str",
        "--diarize-preload": None,
    }, "--port", 8000),
    "vad": Svc("vad_worker", "streamscribe-vad", "STREAMSCRIBE_VAD_", {
        **COMMON_FLAGS, **WORKER_FLAGS,
    }, "--http-port", 9102),
    "asr": Svc("asr_worker", "streamscribe-asr", "STREAMSCRIBE_ASR_", {
        **COMMON_FLAGS, **WORKER_FLAGS, "--engine": ENGINES, "--model": "str",
        "--gpu-memory-utilization": "float", "--max-model-len": "int", "--max-num-seqs": "int",
        "--tensor-parallel-size": "int", "--dtype": "str",
    }, "--http-port", 9103),
    "denoise": Svc("denoise_worker", "streamscribe-denoise", "STREAMSCRIBE_DENOISE_", {
        **COMMON_FLAGS, **WORKER_FLAGS,
    }, "--http-port", 9101),
}
MODULE_TO_SVC = {svc.module: name for name, svc in CONTRACT.items()}


def env_var_for(svc: Svc, flag: str) -> str:
    if flag == "--redis-url":
        return "STREAMSCRIBE_REDIS_URL"
    return svc.env_prefix + flag[2:].upper().replace("-", "_")


def parse_command(cmd: list[str]) -> tuple[str, dict[str, str | None]]:
    """["python", "-m", "vad_worker", "--http-port", "9102"] -> ("vad", {"--http-port": "9102"})."""
    assert isinstance(cmd, list) and all(isinstance(a, str) for a in cmd), f"command must be a list of strings: {cmd!r}"
    if cmd[:2] == ["python", "-m"] and len(cmd) >= 3 and cmd[2] in MODULE_TO_SVC:
        name, args = MODULE_TO_SVC[cmd[2]], cmd[3:]
    else:
        by_script = {svc.script: n for n, svc in CONTRACT.items()}
        assert cmd and cmd[0] in by_script, f"not a streamscribe service command: {cmd!r}"
        name, args = by_script[cmd[0]], cmd[1:]
    svc = CONTRACT[name]
    flags: dict[str, str | None] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        assert arg.startswith("--"), f"{name}: unexpected positional argument {arg!r} in {cmd!r}"
        flag, eq, inline = arg.partition("=")
        assert flag in svc.flags, f"{name}: {flag} is not in the CLI contract ({sorted(svc.flags)})"
        kind = svc.flags[flag]
        if kind is None:
            assert not eq, f"{name}: {flag} is a switch and takes no value"
            flags[flag] = None
            i += 1
            continue
        if eq:
            value = inline
            i += 1
        else:
            assert i + 1 < len(args), f"{name}: {flag} needs a value"
            value = args[i + 1]
            i += 2
        check_value(name, flag, kind, value)
        flags[flag] = value
    return name, flags


def check_value(name: str, flag: str, kind: object, value: str) -> None:
    if isinstance(kind, set):
        assert value in kind, f"{name}: {flag} {value!r} is not one of {sorted(kind)}"
    elif kind == "int":
        assert re.fullmatch(r"\d+", value), f"{name}: {flag} needs an integer, got {value!r}"
    elif kind == "float":
        float(value)


# ======================================================================================
# Compose files: YAML with Compose's !reset / !override tags, and the merge of -f files.
# ======================================================================================


class _Reset:
    def __repr__(self) -> str:
        return "!reset"


RESET = _Reset()


class _Override:
    def __init__(self, value: object) -> None:
        self.value = value


class ComposeLoader(yaml.SafeLoader):
    pass


def _construct_any(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node) if node.value != "null" else None


ComposeLoader.add_constructor("!reset", lambda loader, node: RESET)
ComposeLoader.add_constructor("!override", lambda loader, node: _Override(_construct_any(loader, node)))


def load_compose(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        data = yaml.load(f, Loader=ComposeLoader)  # noqa: S506 - SafeLoader subclass
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def resolve_tags(node: object) -> object:
    """What one file says on its own: !reset keys dropped, !override values unwrapped."""
    if isinstance(node, _Override):
        return resolve_tags(node.value)
    if isinstance(node, dict):
        return {k: resolve_tags(v) for k, v in node.items() if v is not RESET}
    if isinstance(node, list):
        return [resolve_tags(v) for v in node]
    return node


def merge_compose(base: object, over: object, path: tuple[str, ...] = ()) -> object:
    """Compose's merge rules (compose-spec 'merge'), for what our files use: mappings merge,
    command/entrypoint/healthcheck.test are replaced, sequences append (volumes/ports unique by
    target), !reset removes, !override replaces."""
    if isinstance(over, _Override):
        return resolve_tags(over.value)
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            if value is RESET:
                out.pop(key, None)
            elif key in out:
                out[key] = merge_compose(out[key], value, path + (key,))
            else:
                out[key] = resolve_tags(value)
        return out
    if isinstance(base, list) and isinstance(over, list):
        key = path[-1] if path else ""
        if key in ("command", "entrypoint") or path[-2:] == ("healthcheck", "test"):
            return resolve_tags(over)
        if key == "volumes" and len(path) == 3:  # services.<name>.volumes: unique by target
            def target(v: object) -> object:
                return v.get("target") if isinstance(v, dict) else str(v).split(":")[1]
            kept = {target(v): v for v in base}
            kept.update({target(v): resolve_tags(v) for v in over})
            return list(kept.values())
        return base + [resolve_tags(v) for v in over if v not in base]
    return resolve_tags(over)


def compose_stack() -> dict:
    """docker-compose.yml as Compose reads it on its own."""
    return resolve_tags(load_compose(COMPOSE))


def cpu_stack() -> dict:
    """docker-compose.yml merged with deploy/compose.cpu.yml, as ``docker compose -f ... -f ...`` does."""
    return merge_compose(load_compose(COMPOSE), load_compose(COMPOSE_CPU))


def streamscribe_services(doc: dict) -> dict[str, tuple[str, dict[str, str | None], dict]]:
    """Compose service name -> (contract service, flags, service dict) for our services."""
    out = {}
    for name, svc in doc["services"].items():
        cmd = svc.get("command")
        if isinstance(cmd, list) and (cmd[:2] == ["python", "-m"] or str(cmd[0]).startswith("streamscribe-")):
            cname, flags = parse_command(cmd)
            out[name] = (cname, flags, svc)
    return out


def service_port(cname: str, flags: dict[str, str | None]) -> int:
    svc = CONTRACT[cname]
    return int(flags.get(svc.port_flag) or svc.default_port)


def env_of(svc: dict) -> dict[str, str]:
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return env
