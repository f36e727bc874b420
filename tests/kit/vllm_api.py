"""What the qwen3-vllm engine calls in vLLM, read from vLLM's source without importing it.

vLLM imports only beside its own CUDA build of torch, which no CI machine has; its source
parses anywhere. :func:`record` reads, with :mod:`ast`, the signatures, fields, enum members
and constants that asr_worker/engines/qwen3_vllm.py relies on, from a directory holding the
``vllm`` package (site-packages, or an unpacked wheel). tests/data/vllm_api.json is that
record for one release, with its provenance; tests/unit/test_vllm_api.py checks the engine's
calls (and the fake of tests/kit/fakes/fake_vllm.py) against it, and re-reads the source when
an installed vLLM or ``STREAMSCRIBE_VLLM_SOURCE`` gives one.

Re-record after a vLLM upgrade::

    pip download --no-deps -d /tmp/vllm vllm==X && unzip -q /tmp/vllm/vllm-X-*.whl 'vllm/*' -d /tmp/vllm/src
    python -m tests.kit.vllm_api /tmp/vllm/src --wheel /tmp/vllm/vllm-X-*.whl > tests/data/vllm_api.json
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

RECORD = Path(__file__).resolve().parents[1] / "data" / "vllm_api.json"

# name in the record: (file under the source root, class, method); "self"/"cls" is dropped.
METHODS = {
    "AsyncLLM.from_engine_args": ("vllm/v1/engine/async_llm.py", "AsyncLLM", "from_engine_args"),
    "AsyncLLM.generate": ("vllm/v1/engine/async_llm.py", "AsyncLLM", "generate"),
    "AsyncLLM.abort": ("vllm/v1/engine/async_llm.py", "AsyncLLM", "abort"),
    "AsyncLLM.shutdown": ("vllm/v1/engine/async_llm.py", "AsyncLLM", "shutdown"),
    "RequestOutput.__init__": ("vllm/outputs.py", "RequestOutput", "__init__"),
}
# Classes whose annotated class-body names are their fields (dataclasses, msgspec structs).
FIELDS = {
    "SamplingParams": ("vllm/sampling_params.py", "SamplingParams"),
    "EngineArgs": ("vllm/engine/arg_utils.py", "EngineArgs"),
    "AsyncEngineArgs": ("vllm/engine/arg_utils.py", "AsyncEngineArgs"),
    "CompletionOutput": ("vllm/outputs.py", "CompletionOutput"),
    "Logprob": ("vllm/logprobs.py", "Logprob"),
}
ENUMS = {
    "RequestOutputKind": ("vllm/sampling_params.py", "RequestOutputKind"),
    "FinishReason": ("vllm/v1/engine/__init__.py", "FinishReason"),
}
# The string a method returns (its first ``return "..."``).
RETURNS = {
    "Qwen3ASRForConditionalGeneration.get_placeholder_str": (
        "vllm/model_executor/models/qwen3_asr.py", "Qwen3ASRForConditionalGeneration", "get_placeholder_str"),
}
# Constants of vLLM's Qwen3-ASR realtime model (docs/engines.md cites them).
REALTIME = ("vllm/model_executor/models/qwen3_asr_realtime.py", "Qwen3ASRRealtimeGeneration")
# The modules the engine imports from, and the names it takes from each.
IMPORTS = {
    "vllm/__init__.py": ["SamplingParams"],
    "vllm/engine/arg_utils.py": ["AsyncEngineArgs"],
    "vllm/sampling_params.py": ["RequestOutputKind", "SamplingParams"],
    "vllm/v1/engine/async_llm.py": ["AsyncLLM"],
}
REALTIME_ROUTE = "vllm/entrypoints/speech_to_text/realtime/api_router.py"


def source_root() -> Path | None:
    """A directory holding vLLM's source: ``STREAMSCRIBE_VLLM_SOURCE``, else an installed vLLM
    (found without importing it), else None."""
    env = os.environ.get("STREAMSCRIBE_VLLM_SOURCE")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).parent


def _tree(root: Path, path: str) -> ast.Module:
    return ast.parse((root / path).read_text(encoding="utf-8"), filename=path)


def _class(tree: ast.Module, name: str) -> ast.ClassDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise LookupError(f"no class {name}")


def _method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    raise LookupError(f"no method {cls.name}.{name}")


def _parameters(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[list[Any]]:
    """``[name, kind, has_default]`` per parameter, ``inspect.Parameter`` kinds by name."""
    a = fn.args
    positional = [(arg, "POSITIONAL_ONLY") for arg in a.posonlyargs] + [(arg, "POSITIONAL_OR_KEYWORD") for arg in a.args]
    firsts_without_default = len(positional) - len(a.defaults)
    params = [[arg.arg, kind, i >= firsts_without_default] for i, (arg, kind) in enumerate(positional)]
    if a.vararg:
        params.append([a.vararg.arg, "VAR_POSITIONAL", False])
    params += [[arg.arg, "KEYWORD_ONLY", default is not None] for arg, default in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        params.append([a.kwarg.arg, "VAR_KEYWORD", False])
    if params and params[0][0] in ("self", "cls"):
        params = params[1:]
    return params


def _fields(cls: ast.ClassDef) -> list[str]:
    return [node.target.id for node in cls.body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)]


def _members(cls: ast.ClassDef) -> list[str]:
    return [target.id for node in cls.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)]


def _returned_string(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    for node in ast.walk(fn):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return node.value.value
    raise LookupError(f"{fn.name} returns no string constant")


def _constants(node: ast.AST) -> dict[str, Any]:
    """Names assigned a literal anywhere under ``node`` (class attributes and locals)."""
    found: dict[str, Any] = {}
    for child in ast.walk(node):
        if isinstance(child, ast.Assign) and isinstance(child.value, ast.Constant):
            for target in child.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = child.value.value
    return found


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value.split(":")[-1])  # lazy-export tables ("name": "module:name")
    return names


def record(root: Path) -> dict[str, Any]:
    """The API facts the engine relies on, read from the source under ``root``."""
    trees: dict[str, ast.Module] = {}

    def tree(path: str) -> ast.Module:
        if path not in trees:
            trees[path] = _tree(root, path)
        return trees[path]

    version = _constants(tree("vllm/_version.py")).get("__version__") if (root / "vllm/_version.py").exists() else None
    methods = {name: _parameters(_method(_class(tree(path), cls), method))
               for name, (path, cls, method) in METHODS.items()}
    fields = {name: _fields(_class(tree(path), cls)) for name, (path, cls) in FIELDS.items()}
    enums = {name: _members(_class(tree(path), cls)) for name, (path, cls) in ENUMS.items()}
    returns = {name: _returned_string(_method(_class(tree(path), cls), method))
               for name, (path, cls, method) in RETURNS.items()}
    realtime_cls = _class(tree(REALTIME[0]), REALTIME[1])
    realtime_consts = _constants(realtime_cls)
    imports = {path: sorted(set(names) & _top_level_names(tree(path))) for path, names in IMPORTS.items()}
    route = (root / REALTIME_ROUTE).read_text(encoding="utf-8")
    return {
        "vllm_version": version,
        "methods": methods,
        "fields": fields,
        "enums": enums,
        "returns": returns,
        "realtime": {
            "class": REALTIME[1],
            "bases": [ast.unparse(base) for base in realtime_cls.bases],
            "realtime_max_tokens": realtime_consts.get("realtime_max_tokens"),
            "segment_duration_s": realtime_consts.get("segment_duration_s"),
            "route": "/v1/realtime" if '"/v1/realtime"' in route else None,
        },
        "imports": imports,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="a directory holding the vllm package's source")
    parser.add_argument("--wheel", type=Path, help="the wheel it came from (its name and sha256 are recorded)")
    args = parser.parse_args(argv)
    facts = record(args.root)
    if args.wheel:
        facts["provenance"] = {"wheel": args.wheel.name,
                               "sha256": hashlib.sha256(args.wheel.read_bytes()).hexdigest(),
                               "read_by": "python -m tests.kit.vllm_api (ast, no import)"}
    json.dump(facts, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
