"""Run deploy/Dockerfile's build steps without Docker, then start what they built.

Where no Docker engine runs (this project's development machines and CI), this
is the nearest thing to ``docker build``: each target's stages are read from the
Dockerfile and carried out in order, in a Debian root of its own made with
``debootstrap`` (the python images are Debian), with chroot and a private mount
namespace standing in for the container. ``RUN`` lines run as written, under
``/bin/sh -c``, as the stage's ``USER``, with its ``ENV``, ``ARG`` values and
``WORKDIR``; ``COPY`` takes the build context as ``.dockerignore`` leaves it,
or another stage's root (``--from``). Then ``--smoke`` starts the target's
``CMD`` as the image would (its user, a read-only root with ``/tmp`` and
``$HOME`` on tmpfs, as the Kubernetes manifests run it), beside a redis-server
in a network namespace of its own, waits until its ``HEALTHCHECK`` passes, and
stops it with its ``STOPSIGNAL``: it must exit 0.

What differs from a Docker build, so what this does not prove:

* the base image: ``python:3.11-slim-bookworm`` is Debian bookworm with a
  CPython built from source in /usr/local; here it is a bookworm minbase root
  with Debian's python3 (3.11), and a virtualenv of it in /usr/local (so
  ``python`` and ``pip`` are there, pip upgraded from PyPI);
* the network: it re-signs TLS with its own authority, so each RUN gets
  ``PIP_CERT`` naming the host's certificate bundle, copied into the root;
* registries: the build reaches PyPI only, so ``TORCH_INDEX_URL`` (PyTorch's
  CPU index) is given as ``--build-arg TORCH_INDEX_URL=file:///...``, a local
  PEP 503 index of the same ``torch-2.13.0+cpu`` wheel (``--torch-wheel``);
* the ``asr-gpu`` target needs ``nvidia/cuda`` as its base: not rehearsed;
* no layers, no cache, no image: a target's root is the stages' roots, kept
  under ``--root`` for a look inside; ``EXPOSE`` is not checked.

Needs root (chroot, mounts, namespaces), ``debootstrap``, ``unshare``, ``ip``
and ``redis-server`` on the host, and PyPI. It downloads about a gigabyte and
takes minutes per target::

    python deploy/rehearse_dockerfile.py --target vad --smoke \\
        --torch-wheel /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
# What each base image is rehearsed with: Debian release and packages (the python image's
# interpreter and venv module, and the certificates its pip uses).
BASES = {"python:3.11-slim-bookworm": ("bookworm", ("python3", "python3-venv", "ca-certificates"))}
BASE_ENV = {"PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
# This network re-signs TLS with a certificate authority of its own, which the host's bundle holds and
# pip's own (certifi's) does not: each RUN's pip is given the host's bundle, copied into the root.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
RUN_ENV = {"PIP_CERT": CA_BUNDLE}


# -- reading the Dockerfile ------------------------------------------------------------

@dataclass(frozen=True)
class Instruction:
    op: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest, continuation lines joined
    line: int


@dataclass
class Stage:
    name: str
    base: str  # an image, or an earlier stage's name
    steps: list[Instruction] = field(default_factory=list)


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions; comment lines go, also inside a continuation (as Docker's parser does)."""
    found: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not parts:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        op, _, args = " ".join(parts).partition(" ")
        found.append(Instruction(op.upper(), args.strip(), start))
        parts = []
    if parts:
        raise ValueError(f"line {start}: a continuation runs off the end of the file")
    return found


def substitute(text: str, values: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced from ``values`` (an unknown name: empty, as Docker does)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), ""), text)


def parse(text: str, build_args: dict[str, str] | None = None) -> tuple[dict[str, str], dict[str, Stage]]:
    """The global ARG values (defaults, then ``build_args``) and the stages by name, in order."""
    build_args = build_args or {}
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for step in instructions(text):
        if step.op == "ARG" and current is None:
            name, _, default = step.args.partition("=")
            global_args[name] = build_args.get(name, default)
        elif step.op == "FROM":
            words = step.args.split()
            if len(words) != 3 or words[1].upper() != "AS":
                raise ValueError(f"line {step.line}: FROM without 'AS name': {step.args}")
            current = Stage(name=words[2], base=substitute(words[0], global_args))
            stages[current.name] = current
        elif current is None:
            raise ValueError(f"line {step.line}: {step.op} before the first FROM")
        else:
            current.steps.append(step)
    return global_args, stages


def chain(stages: dict[str, Stage], target: str) -> list[Stage]:
    """The stages a target builds on, base first, the target last."""
    found = [stages[target]]
    while found[0].base in stages:
        found.insert(0, stages[found[0].base])
    return found


def copy_sources(stage: Stage) -> list[tuple[str | None, list[str], str]]:
    """Each COPY of ``stage`` as (the stage copied from or None for the context, sources, destination)."""
    copies = []
    for step in stage.steps:
        if step.op != "COPY":
            continue
        words = shlex.split(step.args)
        source_stage = None
        while words[0].startswith("--"):
            flag = words.pop(0)
            if not flag.startswith("--from="):
                raise ValueError(f"line {step.line}: COPY {flag} is not rehearsed")
            source_stage = flag.split("=", 1)[1]
        copies.append((source_stage, words[:-1], words[-1]))
    return copies


# -- the build context -----------------------------------------------------------------

def _pattern(text: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression over a path relative to the context."""
    out = ""
    text = text.strip("/")
    index = 0
    while index < len(text):
        if text.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif text.startswith("**", index):
            out, index = out + ".*", index + 2
        elif text[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif text[index] == "?":
            out, index = out + "[^/]", index + 1
        else:
            out, index = out + re.escape(text[index]), index + 1
    return re.compile(out + r"\Z")


def ignore_rules(context: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, pattern) per line of the context's .dockerignore, in order."""
    path = context / ".dockerignore"
    rules = []
    for line in path.read_text().splitlines() if path.exists() else []:
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((not negated, _pattern(line.lstrip("!"))))
    return rules


def included(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the context holds ``relative``: the last rule matching it or a folder above it decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    keep = True
    for excludes, pattern in rules:
        if any(pattern.match(candidate) for candidate in candidates):
            keep = not excludes
    return keep


def context_files(context: Path) -> list[str]:
    """Every file of the build context as Docker would send it, relative to ``context``."""
    rules = ignore_rules(context)
    files = []
    for folder, dirs, names in os.walk(context):
        relative_folder = os.path.relpath(folder, context)
        # Pruned: .git and .venv hold no file the allow-list lets through, and are large.
        dirs[:] = [d for d in dirs if d not in (".git", ".venv")]
        for name in names:
            relative = os.path.normpath(os.path.join(relative_folder, name))
            if included(relative, rules):
                files.append(relative)
    return sorted(files)


# -- carrying out a stage --------------------------------------------------------------

def run(argv: list[str], **kwargs) -> None:
    print("+", " ".join(shlex.quote(a) for a in argv), flush=True)
    subprocess.run(argv, check=True, **kwargs)


def debian_mirror(release: str, sources: Path = Path("/etc/apt/sources.list.d")) -> str:
    """The host's Debian archive for ``release``, as its apt sources (deb822 files) name it."""
    for path in sorted(sources.glob("*.sources")):
        for entry in path.read_text().split("\n\n"):
            fields = dict(line.split(":", 1) for line in entry.splitlines() if ":" in line and not line.startswith("#"))
            if release in fields.get("Suites", "").split() and "deb" in fields.get("Types", "").split():
                return fields["URIs"].split()[0]
    raise SystemExit(f"no apt source for Debian {release} in {sources}: debootstrap needs one")


def make_base(image: str, root: Path, cache: Path) -> None:
    """``root`` as a fresh copy of the Debian root that stands in for ``image`` (made once, in ``cache``)."""
    if image not in BASES:
        raise SystemExit(f"no stand-in for the base image {image}: this target cannot be rehearsed here")
    release, packages = BASES[image]
    base = cache / f"{release}-{'-'.join(packages)}"
    if not (base / ".complete").exists():
        shutil.rmtree(base, ignore_errors=True)
        run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", release, str(base),
             debian_mirror(release)])
        # The python image's interpreter is in /usr/local, with `python` and `pip` there: a
        # virtualenv of Debian's python3 in /usr/local, with pip from PyPI, stands in for it.
        shutil.copy2("/etc/resolv.conf", base / "etc/resolv.conf")
        shutil.copy2(CA_BUNDLE, base / CA_BUNDLE.lstrip("/"))
        setup = State(root=base, context=REPO, context_files=frozenset(), binds={})
        run(in_root(setup, ["/bin/sh", "-c", "python3 -m venv /usr/local && pip install --upgrade pip"]))
        (base / ".complete").touch()
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    run(["cp", "-a", str(base), str(root)])
    (root / ".complete").unlink()


def passwd_entry(root: Path, user: str) -> tuple[int, int, str]:
    """(uid, gid, home) of ``user`` (a name or a uid) in ``root``; a uid not listed: gid 0, home /."""
    for line in (root / "etc/passwd").read_text().splitlines():
        name, _, uid, gid, _, home, _ = line.split(":")
        if user in (name, uid):
            return int(uid), int(gid), home
    if user.isdigit():
        return int(user), 0, "/"
    raise ValueError(f"no user {user} in the image")


@dataclass
class State:
    """Where a target's build stands: what its next RUN runs with, and what the image would run."""

    root: Path
    context: Path
    context_files: frozenset[str]  # relative to ``context``: what .dockerignore lets through
    binds: dict[str, Path]  # folder in the root -> host folder, mounted for each RUN (not in the image)
    run_env: dict[str, str] = field(default_factory=lambda: dict(RUN_ENV))  # for each RUN, not in the image
    env: dict[str, str] = field(default_factory=lambda: dict(BASE_ENV))
    args: dict[str, str] = field(default_factory=dict)  # the ARG values in scope (per stage)
    workdir: str = "/"
    user: str = "0"
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    stopsignal: str = "SIGTERM"


def quoted(words: list[str]) -> str:
    return " ".join(shlex.quote(word) for word in words)


def in_root(state: State, command: list[str]) -> list[str]:
    """``command`` run in the root as the stage's user, with its ARGs and ENV, in its WORKDIR, with
    /proc, /dev, a tmpfs /tmp and ``binds`` mounted in a mount namespace of its own."""
    uid, gid, home = passwd_entry(state.root, state.user)
    variables = {"HOME": home, **state.args, **state.env, **state.run_env}
    root = state.root
    mounts = [f"mount --rbind /dev {shlex.quote(str(root / 'dev'))}",
              f"mount -t proc proc {shlex.quote(str(root / 'proc'))}",
              f"mount -t tmpfs tmpfs {shlex.quote(str(root / 'tmp'))}"]
    for inside, host in state.binds.items():
        (root / inside.lstrip("/")).mkdir(parents=True, exist_ok=True)
        mounts.append(f"mount --bind -o ro {shlex.quote(str(host))} {shlex.quote(str(root / inside.lstrip('/')))}")
    chroot = quoted(["chroot", f"--userspec={uid}:{gid}", str(root), "/usr/bin/env", "-i", "-C", state.workdir,
                     *(f"{k}={v}" for k, v in variables.items()), *command])
    return ["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c",
            " && ".join(mounts) + f" && exec {chroot}"]


def copy_into(state: State, sources: list[Path], destination: str, *, from_context: bool) -> None:
    """COPY: a folder's contents into the destination folder; a file into it (a destination ending
    in / or several sources) or onto it. From the context, only what .dockerignore lets through."""
    place = destination if destination.startswith("/") else f"{state.workdir.rstrip('/')}/{destination}"
    target = state.root / place.lstrip("/")
    into_folder = destination.endswith("/") or len(sources) > 1
    for source in sources:
        if source.is_dir():
            for path in sorted(p for p in source.rglob("*") if not p.is_dir()):
                if from_context and str(path.relative_to(state.context)) not in state.context_files:
                    continue
                (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.relative_to(source))
            target.mkdir(parents=True, exist_ok=True)
        else:
            if from_context and str(source.relative_to(state.context)) not in state.context_files:
                raise SystemExit(f"COPY {source.relative_to(state.context)}: not in the build context (.dockerignore)")
            file_target = target / source.name if into_folder else target
            file_target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, file_target)


def apply(step: Instruction, state: State, *, roots: dict[str, Path], build_args: dict[str, str],
          global_args: dict[str, str]) -> None:
    """Carry out one instruction of a stage."""
    values = {**state.args, **state.env}
    if step.op == "ENV":
        for word in shlex.split(step.args):
            name, _, value = word.partition("=")
            state.env[name] = substitute(value, {**state.args, **state.env})
    elif step.op == "ARG":
        name, _, default = step.args.partition("=")
        state.args[name] = build_args.get(name, global_args.get(name, default))
    elif step.op == "WORKDIR":
        state.workdir = substitute(step.args, values)
        (state.root / state.workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
    elif step.op == "USER":
        state.user = step.args
    elif step.op == "RUN":
        if step.args.startswith("["):
            raise ValueError(f"line {step.line}: RUN in exec form is not rehearsed")
        print(f"--- line {step.line}: RUN {step.args}", flush=True)
        run(in_root(state, ["/bin/sh", "-c", step.args]))
    elif step.op == "COPY":
        (source_stage, sources, destination), = copy_sources(Stage(name="", base="", steps=[step]))
        print(f"--- line {step.line}: COPY {step.args}", flush=True)
        destination = substitute(destination, values)
        if source_stage is None:
            paths = [state.context / source for source in sources]
            missing = [str(p.relative_to(state.context)) for p in paths if not p.exists()]
            if missing:
                raise SystemExit(f"line {step.line}: COPY of {missing}: not in the repository")
            copy_into(state, paths, destination, from_context=True)
        else:
            copy_into(state, [roots[source_stage] / s.lstrip("/") for s in sources], destination, from_context=False)
    elif step.op == "CMD":
        state.cmd = json.loads(step.args)
    elif step.op == "HEALTHCHECK":
        state.healthcheck = json.loads(step.args[step.args.index("CMD") + 3:])
    elif step.op == "STOPSIGNAL":
        state.stopsignal = step.args
    elif step.op != "EXPOSE":
        raise ValueError(f"line {step.line}: {step.op} is not rehearsed")


def stages_to_build(stages: dict[str, Stage], target: str) -> list[str]:
    """The chains to build for ``target``, by their last stage: those it copies from first."""
    order: list[str] = []

    def visit(name: str) -> None:
        for stage in chain(stages, name):
            for source_stage, _, _ in copy_sources(stage):
                if source_stage is not None and source_stage not in order:
                    visit(source_stage)
        if name not in order:
            order.append(name)

    visit(target)
    return order


def build(target: str, *, work: Path, cache: Path, build_args: dict[str, str], binds: dict[str, Path],
          dockerfile: Path = DOCKERFILE, context: Path = REPO) -> State:
    """Carry out ``target`` and the stages it copies from, each chain in a root of its own under
    ``work``; the target's final state."""
    global_args, stages = parse(dockerfile.read_text(), build_args)
    files = frozenset(context_files(context))
    roots: dict[str, Path] = {}
    state: State | None = None
    for name in stages_to_build(stages, target):
        stages_of = chain(stages, name)
        root = work / name
        make_base(stages_of[0].base, root, cache)
        (root / "etc/resolv.conf").unlink(missing_ok=True)
        shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf")  # Docker mounts the host's
        shutil.copy2(CA_BUNDLE, root / CA_BUNDLE.lstrip("/"))
        state = State(root=root, context=context, context_files=files, binds=binds)
        for stage in stages_of:
            print(f"=== stage {stage.name} (of {name}) in {root}", flush=True)
            state.args = {}  # an ARG is in scope in the stage that declares it
            for step in stage.steps:
                apply(step, state, roots=roots, build_args=build_args, global_args=global_args)
            roots[stage.name] = root
    assert state is not None  # the target's chain comes last
    return state


# -- starting what was built -----------------------------------------------------------

SMOKE = """
set -u
ip link set lo up
redis-server --port 6390 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --logfile {logs}/redis.log
mount --bind {root} {root} && mount -o remount,bind,ro {root}
mount --rbind /dev {root}/dev && mount -t proc proc {root}/proc
mount -t tmpfs tmpfs {root}/tmp && mount -t tmpfs -o uid={uid},gid={gid} tmpfs {root}{home}
chroot --userspec={uid}:{gid} {root} /usr/bin/env -i -C {workdir} {env} {cmd} > {logs}/service.log 2>&1 &
service=$!
healthy=no
for attempt in $(seq 1 {tries}); do
  if chroot --userspec={uid}:{gid} {root} /usr/bin/env -i {env} {health} > /dev/null 2>&1; then
    healthy=yes; break
  fi
  kill -0 $service 2>/dev/null || break
  sleep 1  # the HEALTHCHECK's interval, shortened
done
echo "healthy: $healthy after $attempt tries"
kill -s {signal} $service 2>/dev/null
status=0
wait $service || status=$?
echo "exit status: $status"
redis-cli -p 6390 shutdown nosave > /dev/null 2>&1
[ $healthy = yes ] && [ $status = 0 ]
"""


def smoke(state: State, *, logs: Path, extra_args: list[str], tries: int = 300) -> bool:
    """Start the image's CMD (plus ``extra_args``) as the image would, beside a redis-server in a
    network namespace of its own, until its HEALTHCHECK passes; then stop it with the STOPSIGNAL.
    True if it became healthy and exited 0."""
    uid, gid, home = passwd_entry(state.root, state.user)
    env = {"HOME": home, **state.env, "STREAMSCRIBE_REDIS_URL": "redis://127.0.0.1:6390/0"}
    logs.mkdir(parents=True, exist_ok=True)
    print(f"=== smoke: {quoted(state.cmd + extra_args)} as {uid}:{gid}, read-only root", flush=True)
    script = SMOKE.format(
        root=shlex.quote(str(state.root)), logs=shlex.quote(str(logs)), uid=uid, gid=gid, home=shlex.quote(home),
        workdir=shlex.quote(state.workdir), env=quoted([f"{k}={v}" for k, v in env.items()]),
        cmd=quoted(state.cmd + extra_args), health=quoted(state.healthcheck), tries=tries,
        signal=state.stopsignal.removeprefix("SIG"))
    result = subprocess.run(["unshare", "--mount", "--net", "--propagation", "private", "--fork", "bash", "-c", script])
    print((logs / "service.log").read_text()[-3000:], flush=True)
    return result.returncode == 0


def torch_index(wheel: Path, folder: Path) -> str:
    """A PEP 503 index holding ``wheel`` alone, in ``folder`` (mounted in the roots at /torch-index); its URL."""
    project = folder / "simple" / "torch"
    project.mkdir(parents=True, exist_ok=True)
    shutil.copy2(wheel, project / wheel.name)
    (project / "index.html").write_text(f'<a href="{wheel.name}">{wheel.name}</a>\n')
    return "file:///torch-index/simple"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", required=True, help="a Dockerfile target (repeatable)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/streamscribe-rehearsal"),
                        help="where the roots are built (kept for a look inside)")
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "streamscribe"
                        / "rehearsal", help="where the Debian base roots are kept between runs")
    parser.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--torch-wheel", type=Path,
                        help="a torch CPU wheel: served as TORCH_INDEX_URL (PyTorch's index is out of reach here)")
    parser.add_argument("--smoke", action="store_true", help="start each target's CMD until its HEALTHCHECK passes")
    parser.add_argument("--smoke-args", action="append", default=[], metavar="TARGET=ARGS",
                        help="arguments added to a target's CMD for a smoke run, e.g. asr-cpu='--model base' "
                        "(repeatable: one run each; none: the CMD as it is)")
    options = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: chroot, mounts and namespaces")
    build_args = dict(arg.split("=", 1) for arg in options.build_arg)
    binds: dict[str, Path] = {}
    if options.torch_wheel:
        binds["/torch-index"] = options.work / "torch-index"
        build_args.setdefault("TORCH_INDEX_URL", torch_index(options.torch_wheel, binds["/torch-index"]))
    extra: dict[str, list[list[str]]] = {}
    for spec in options.smoke_args:
        name, _, words = spec.partition("=")
        extra.setdefault(name, []).append(shlex.split(words))
    failed = []
    for target in options.target:
        started = time.monotonic()
        state = build(target, work=options.work / target, cache=options.cache, build_args=build_args, binds=binds)
        size = subprocess.run(["du", "-sh", str(state.root)], capture_output=True, text=True).stdout.split()[0]
        print(f"=== {target}: built in {time.monotonic() - started:.0f} s, {size}", flush=True)
        for number, words in enumerate(extra.get(target, [[]]) if options.smoke else []):
            if not smoke(state, logs=options.work / target / f"logs-{number}", extra_args=words):
                failed.append(f"{target} {quoted(words)}".strip())
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
