"""The code's layout: layers that import only downward, no import cycles (not even under TYPE_CHECKING),
the client apart, every package shipped. The gateway's layers (as docs/development.md lists them), then
common/'s and the workers'.

Pure AST walks of the sources: nothing is imported or started.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "streamscribe_client")
WORKERS = ("vad_worker", "asr_worker", "denoise_worker")

# The gateway's layers, lowest first: a module imports only from its own layer and those below. They are
# written once, in docs/development.md's layout (the lines of its gateway/ block that name a package or
# module, in order; names on one line share a layer), and read from there.
DEVELOPMENT = ROOT / "docs" / "development.md"
_LAYER_LINE = re.compile(r"^  ([a-z_]+(?:/|\.py)(?:, [a-z_]+(?:/|\.py))*)\s+\S")


def documented_layers(text: str) -> tuple[tuple[str, ...], ...]:
    """The gateway's layers as the layout block of ``text`` lists them, lowest first."""
    block = text.split("\ngateway/", 1)[1].split("\n", 1)[1]
    layers = []
    for line in block.splitlines():
        if line and not line.startswith(" "):  # the next top-level entry: the gateway's block ended
            break
        found = _LAYER_LINE.match(line)
        if found:
            names = [name.removesuffix("/").removesuffix(".py") for name in found.group(1).split(", ")]
            layers.append(tuple(f"gateway.{name}" for name in names))
    return tuple(layers)


GATEWAY_LAYERS = documented_layers(DEVELOPMENT.read_text())

# common/'s layers, lowest first, and the workers on top: the stages that the runner hosts.
COMMON_LAYERS: tuple[tuple[str, ...], ...] = (
    # foundations: errors, names, records, settings, metrics, small async helpers
    ("common.errors", "common.keys", "common.aio", "common.logs", "common.metrics", "common.checkpoint",
     "common.records", "common.config", "common.sentinel", "common.endpointing", "common.pipeline_config",
     "common.http", "common.languages", "common.contract",
     "common.redaction"),  # pure redaction (policy, ITN, detection, the redactor's state machine)
    ("common.bus", "common.stage"),  # the bus; what a stage is and what it may ask of its runner
    ("common.fence", "common.reader", "common.lead"),  # a stage's Redis parts: fenced writes, reads, batch pace
    ("common.ownership", "common.commits"),  # the runner's duties, each over a narrow protocol of it
    ("common.runner",),
    ("common.service",),
    WORKERS,
)


def module_names(package: str) -> dict[str, Path]:
    """Every module of ``package`` by dotted name (a package by its own name, for its ``__init__``)."""
    modules = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _type_checking(node: ast.AST) -> bool:
    """Whether ``node`` is ``if TYPE_CHECKING:`` (or ``if typing.TYPE_CHECKING:``)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
            or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported(name: str, path: Path, known: set[str], *, type_checking_only: bool = False) -> set[str]:
    """The modules of ``known`` that module ``name`` imports, wherever the import stands
    (``type_checking_only``: those under ``if TYPE_CHECKING:`` only).

    Importing a module also runs its packages' ``__init__``, except those the importer
    already runs under; ``from package import name`` imports the submodule ``name`` if any.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    roots: list[ast.AST] = [tree]
    if type_checking_only:
        roots = [statement for node in ast.walk(tree) if _type_checking(node) for statement in node.body]
    targets = set()
    for node in (node for root in roots for node in ast.walk(root)):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets.add(source)
            targets.update(f"{source}.{alias.name}" for alias in node.names)
    found = set()
    for target in targets:
        parts = target.split(".")
        for end in range(1, len(parts) + 1):
            candidate = ".".join(parts[:end])
            if candidate in known and candidate != name and not name.startswith(candidate + "."):
                found.add(candidate)
    return found


def layer_of(name: str, layers: tuple[tuple[str, ...], ...]) -> int | None:
    """The index of the layer that holds module ``name`` (a layer names modules and packages), or None."""
    for index, layer in enumerate(layers):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in layer):
            return index
    return None


def upward_imports(graph: dict[str, set[str]], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Every import of a module from a higher layer than its own, as ``importer -> imported``."""
    found = []
    for name, targets in sorted(graph.items()):
        own = layer_of(name, layers)
        for target in sorted(targets):
            other = layer_of(target, layers)
            if own is not None and other is not None and other > own:
                found.append(f"{name} -> {target}")
    return found


def import_graph(*packages: str, type_checking_only: bool = False) -> dict[str, set[str]]:
    modules = {name: path for package in packages for name, path in module_names(package).items()}
    return {name: imported(name, path, set(modules), type_checking_only=type_checking_only)
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_imports_resolve_to_modules_and_packages(tmp_path):
    package = tmp_path / "pkg" / "sub"
    package.mkdir(parents=True)
    source = package / "mod.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..other import thing\n"
                      "from . import sibling\n")
    known = {"pkg", "pkg.other", "pkg.sub", "pkg.sub.mod", "pkg.sub.sibling"}
    # Its own packages run before it anyway: no edge to them.
    assert imported("pkg.sub.mod", source, known) == {"pkg.other", "pkg.sub.sibling"}


def test_the_layer_check_finds_an_upward_import():
    layers = (("low",), ("high.a", "high.b"))
    graph = {"low.x": {"high.a.y"}, "high.a.y": {"low.x", "high.b"}, "high.b": set()}
    assert upward_imports(graph, layers) == ["low.x -> high.a.y"]


def test_the_documented_layers_are_read_as_written():
    text = "x\n```\ngateway/       layers\n  low/         a\n               more\n  a.py, b.py   c\nvad_worker/  v\n"
    assert documented_layers(text) == (("gateway.low",), ("gateway.a", "gateway.b"))
    # The gateway's own: the plain policy data lowest, features' figures above the core, wiring on top.
    assert GATEWAY_LAYERS[0] == ("gateway.policy",) and GATEWAY_LAYERS[-1] == ("gateway.__main__",)
    order = [name for layer in GATEWAY_LAYERS for name in layer]
    assert order.index("gateway.core") < order.index("gateway.analytics") < order.index("gateway.doors")
    assert order.index("gateway.core") < order.index("gateway.diarization")
    assert order.index("gateway.calls") < order.index("gateway.features") < order.index("gateway.server")


def test_every_gateway_package_is_documented_and_every_documented_one_exists():
    packages = {".".join(path.relative_to(ROOT).with_suffix("").parts)
                for path in (ROOT / "gateway").iterdir()
                if (path / "__init__.py").exists() or (path.suffix == ".py" and path.name != "__init__.py")}
    assert {name for layer in GATEWAY_LAYERS for name in layer} == packages


def test_every_gateway_module_has_a_layer():
    unplaced = [name for name in import_graph("gateway")
                if name != "gateway" and layer_of(name, GATEWAY_LAYERS) is None]
    assert unplaced == [], "add them to GATEWAY_LAYERS"


def test_the_gateway_imports_only_downward():
    graph = import_graph("gateway")
    assert "gateway.security.gate" in graph and "gateway.calls.connection" in graph
    assert upward_imports(graph, GATEWAY_LAYERS) == []


def test_no_two_gateway_packages_import_each_other():
    graph = import_graph("gateway")
    pairs = {(name.split(".")[1], target.split(".")[1]) for name, targets in graph.items() for target in targets
             if name.count(".") > 1 and target.count(".") > 1 and name.split(".")[1] != target.split(".")[1]}
    assert sorted(pair for pair in pairs if pair[::-1] in pairs) == []


def third_party(path: Path) -> set[str]:
    """The top-level names of what a source file imports absolutely (``websockets``, ``redis``...)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_core_and_the_gate_know_no_sockets():
    """The core runs calls over Redis whatever carries them; the gate decides from a request's parts."""
    for name, path in module_names("gateway").items():
        if name.startswith("gateway.core") or name == "gateway.security.gate":
            assert "websockets" not in third_party(path), name


def test_type_checking_imports_are_told_apart(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    source = package / "mod.py"
    source.write_text("import typing\nfrom . import plain\nif typing.TYPE_CHECKING:\n    from . import hidden\n")
    known = {"pkg", "pkg.mod", "pkg.plain", "pkg.hidden"}
    assert imported("pkg.mod", source, known) == {"pkg.plain", "pkg.hidden"}
    assert imported("pkg.mod", source, known, type_checking_only=True) == {"pkg.hidden"}


def test_every_common_and_worker_module_has_a_layer():
    unplaced = [name for name in import_graph("common", *WORKERS)
                if name != "common" and layer_of(name, COMMON_LAYERS) is None]
    assert unplaced == [], "add them to COMMON_LAYERS"


def test_common_and_the_workers_import_only_downward_and_without_cycles():
    graph = import_graph("common", *WORKERS)
    assert "common.ownership" in graph and "vad_worker.stage" in graph
    assert upward_imports(graph, COMMON_LAYERS) == []
    assert cycles(graph) == []
    # A worker stands on common/ alone: no worker imports another.
    for name, targets in graph.items():
        assert {target.split(".")[0] for target in targets} <= {"common", name.split(".")[0]}, name


def test_the_asr_stages_modes_stand_on_its_core_alone():
    """Live sessions and recordings in packs are modules of their own over asr_worker.core: neither
    imports the other, and the core neither (the stage above them picks one per session)."""
    graph = import_graph("asr_worker")
    modes = {"asr_worker.live", "asr_worker.recording"}
    assert {"asr_worker.core", *modes} <= set(graph)
    for name in ("asr_worker.core", *modes):
        assert not graph[name] & (modes | {"asr_worker.stage"}), name


# The imports between our own modules that stand under TYPE_CHECKING, each downward: a new one must
# be added here, after checking that it hides no cycle (as the runner's with ownership and commits did).
TYPE_CHECKING_IMPORTS = {
    "gateway.core.session -> common.pipeline_config",  # for annotations only; the core gets configs made
}


def test_type_checking_imports_are_counted_and_none_goes_up_a_layer():
    """An import under TYPE_CHECKING is still a dependency, only one that no import error reveals."""
    hidden = import_graph(*PACKAGES, "common", *WORKERS, type_checking_only=True)
    # (Not counted: the edge to a top-level package, which only says that its __init__ runs first.)
    assert {f"{name} -> {target}" for name, targets in hidden.items() for target in targets
            if "." in target} == TYPE_CHECKING_IMPORTS
    assert upward_imports(hidden, GATEWAY_LAYERS) == [] and upward_imports(hidden, COMMON_LAYERS) == []


def test_common_imports_none_of_its_users():
    graph = import_graph("common", *PACKAGES, *WORKERS)
    for name, targets in graph.items():
        if name.startswith("common"):
            assert {target.split(".")[0] for target in targets} <= {"common"}, name


def test_the_gateway_and_the_client_have_no_import_cycles():
    graph = import_graph(*PACKAGES)
    assert "gateway.core.hub" in graph and "gateway.core.session" in graph
    assert cycles(graph) == []


def test_the_client_does_not_use_the_server_and_the_server_not_the_client():
    graph = import_graph(*PACKAGES)
    for name, targets in graph.items():
        other = "gateway" if name.startswith("streamscribe_client") else "streamscribe_client"
        assert not {target for target in targets if target.split(".")[0] == other}, name


def test_nothing_in_tests_imports_the_benchmarks():
    """What tests and benchmarks share is in tests.kit; bench/ may use it, never the other way round."""
    known = set(module_names("bench")) | {"bench"}
    found = {f"{name} -> {target}" for name, path in module_names("tests").items()
             for target in imported(name, path, known)}
    assert found == set()


def test_every_package_is_in_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    for package in PACKAGES:
        on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / package).rglob("__init__.py")}
        assert on_disk <= listed, f"add {sorted(on_disk - listed)} to [tool.setuptools] packages"
