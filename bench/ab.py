"""A/B of two commits' live latency on one box: alternating runs, several pairs.

    .venv/bin/python -m bench.ab --a main --b HEAD --sessions 8,16 --pairs 3
    .venv/bin/python -m bench.ab --a main --b main --b-env STREAMSCRIBE_ASR_BATCH_CHILD_AT_START=false
    .venv/bin/python -m bench.ab --a bb73321 --b main --sessions 8,16 --pairs 3 --speech all

The check before landing a change to the live path (docs/development.md). Each side is a commit
checked out into a temporary worktree, with optional environment; its stack runs that worktree's
code with this checkout's venv, and the client, sessions and scoring are :mod:`bench.latency`'s.
The sides take turns (A first in even pairs, B first in odd ones) so that a drift of the box's load
hits both. Per N: the median over pairs of each figure with its range, B/A and the pairs where B
was higher; then every run's latencies pooled per side, with a 90 % bootstrap interval of B/A
(runs drawn, then their values): a regression when that interval lies above 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import latency
from common import aio
from tests.kit.support import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
# One run's figures, in the order they are printed (ms, WER in %, missing finals as a count).
READY_TIMEOUT = 300.0  # seconds for each process of a stack to say it is ready
ROLES = ("asr", "vad", "gateway", "redis")
# CPU seconds each process of the stack used over the run (the ASR worker with its children: the
# batch child): on a shared box a steadier measure of the work a change adds than the latencies.
CPU = tuple(f"cpu {role} s" for role in ROLES)
METRICS = ("final p50", "final p95", "final p99", "first p50", "first p95", "first p99", "WER %", "missing", *CPU)
DIGITS = {"WER %": 1, **{name: 1 for name in CPU}}  # decimals shown; ms and counts: none
CONTRACT = ("overlapping", "repeated")  # finals breaking the transcript contract (not with clips alone)


# -- pure parts (bench/tests/test_ab.py) --------------------------------------------------------------


def triple(values: list[float]) -> tuple[float, float, float] | None:
    """p50, p95, p99 of ``values`` seconds, in ms (None: no values)."""
    if not values:
        return None
    p50, p95, p99 = (float(x) for x in np.percentile(values, [50, 95, 99]) * 1000)
    return p50, p95, p99


def run_metrics(figures: latency.Figures, cpu: dict[str, float] | None = None) -> dict[str, float | None]:
    """One run's figures by :data:`METRICS` name (``cpu``: seconds by role, :data:`ROLES`)."""
    final, first = triple(figures.eos_final), triple(figures.first_partial)
    out: dict[str, float | None] = {}
    for prefix, values in (("final", final), ("first", first)):
        for name, value in zip(("p50", "p95", "p99"), values or (None, None, None)):
            out[f"{prefix} {name}"] = value
    out["WER %"] = 100 * figures.errors / figures.words if figures.words else None
    out["missing"] = float(figures.utterances - figures.finals)
    for role in ROLES:
        out[f"cpu {role} s"] = (cpu or {}).get(role)
    out["overlapping"], out["repeated"] = float(figures.overlapping), float(figures.repeated)
    return out


@dataclass(frozen=True)
class Spread:
    """The median over pairs and the min-max range."""

    median: float
    low: float
    high: float


def spread(values: Sequence[float | None]) -> Spread | None:
    """Median and range of the known values (None: none known)."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    return Spread(statistics.median(known), min(known), max(known))


def ratio(b: float | None, a: float | None) -> float | None:
    """B / A (None when either is unknown or A is 0; 1.0 when both are 0: no change)."""
    if a is None or b is None:
        return None
    if a == 0:
        return 1.0 if b == 0 else None
    return b / a


def pair_ratios(a: Sequence[float | None], b: Sequence[float | None]) -> list[float | None]:
    """B / A of each pair."""
    return [ratio(y, x) for x, y in zip(a, b, strict=True)]


def order(pair: int) -> tuple[str, str]:
    """Which side runs first in ``pair``: A then B in even pairs, B then A in odd ones."""
    return ("A", "B") if pair % 2 == 0 else ("B", "A")


def fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_rows(n: int, a: list[dict], b: list[dict], *, names: tuple[str, ...] = METRICS,
                 speech: str | None = None) -> list[str]:
    """Markdown rows for level ``n``: per metric of ``names``, A and B as median [min-max] over
    pairs, and B/A (with ``speech``: that kind of session first, :data:`SPEECH_SUMMARY_HEADER`)."""
    rows = []
    for name in names:
        xs, ys = [r[name] for r in a], [r[name] for r in b]
        digits = DIGITS.get(name, 0)
        cells = []
        for values in (xs, ys):
            s = spread(values)
            cells.append("n/a" if s is None else f"{fmt(s.median, digits)} [{fmt(s.low, digits)}-{fmt(s.high, digits)}]")
        sa, sb = spread(xs), spread(ys)
        r = ratio(sb.median if sb else None, sa.median if sa else None)
        per_pair = [x for x in pair_ratios(xs, ys) if x is not None]
        rs = spread(per_pair)
        higher = sum(1 for x, y in zip(xs, ys) if x is not None and y is not None and y > x)
        rows.append(f"| {speech + ' | ' if speech else ''}{n} | {name} | {cells[0]} | {cells[1]} | {fmt(r, 2)} "
                    f"| {'n/a' if rs is None else f'{rs.low:.2f}-{rs.high:.2f}'} | {higher}/{len(per_pair)} |")
    return rows


SUMMARY_HEADER = ("| N | figure | A median [min-max] | B median [min-max] | B/A | per-pair B/A | pairs B higher |\n"
                  "|---|---|---|---|---|---|---|")
SPEECH_SUMMARY_HEADER = "| speech " + SUMMARY_HEADER.replace("\n", "\n|---", 1)


POOLED = (("final", "eos_final"), ("first", "first_partial"))  # figure prefix, latency.Figures field
BOOTSTRAP_ROUNDS = 2000


def pooled(runs: Sequence[Sequence[float]]) -> tuple[float, float, float] | None:
    """p50, p95, p99 in ms of every run's values (seconds) taken together."""
    return triple([value for run in runs for value in run])


def resample(runs: Sequence[Sequence[float]], rng: np.random.Generator) -> np.ndarray:
    """One bootstrap draw: runs with replacement, then each drawn run's values with replacement."""
    picked = [runs[i] for i in rng.integers(len(runs), size=len(runs))]
    drawn = [rng.choice(np.asarray(run), size=len(run)) for run in picked if len(run)]
    return np.concatenate(drawn) if drawn else np.empty(0)


def ratio_interval(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], q: float, *,
                   rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> tuple[float, float] | None:
    """The 5th and 95th percentiles of B/A of the pooled ``q``-th percentile over ``rounds``
    bootstrap draws (None when a side has no values). Seeded: the same runs give the same
    interval."""
    if not any(len(run) for run in a) or not any(len(run) for run in b):
        return None
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(rounds):
        xs, ys = resample(a, rng), resample(b, rng)
        if len(xs) and len(ys):
            ratios.append(float(np.percentile(ys, q) / np.percentile(xs, q)))
    low, high = np.percentile(ratios, [5, 95])
    return float(low), float(high)


def pooled_rows(n: int, a: dict[str, list[list[float]]], b: dict[str, list[list[float]]], *,
                rounds: int = BOOTSTRAP_ROUNDS, speech: str | None = None) -> list[str]:
    """Markdown rows for level ``n``: each side's pooled p50/p95/p99 per latency, B/A and its
    bootstrap interval (``a``/``b``: figure prefix -> one list of seconds per run; with
    ``speech``: that kind of session first, :data:`SPEECH_POOLED_HEADER`)."""
    rows = []
    for prefix, _ in POOLED:
        xs, ys = pooled(a.get(prefix, [])), pooled(b.get(prefix, []))
        for i, q in enumerate((50, 95, 99)):
            x, y = (xs[i] if xs else None), (ys[i] if ys else None)
            interval = ratio_interval(a.get(prefix, []), b.get(prefix, []), q, rounds=rounds)
            count = sum(len(run) for run in b.get(prefix, []))
            rows.append(f"| {speech + ' | ' if speech else ''}{n} | {prefix} p{q} | {fmt(x)} | {fmt(y)} "
                        f"| {fmt(ratio(y, x), 2)} | "
                        f"{'n/a' if interval is None else f'{interval[0]:.2f}-{interval[1]:.2f}'} | {count} |")
    return rows


POOLED_HEADER = ("| N | figure | A pooled ms | B pooled ms | B/A | 90 % interval of B/A | B values |\n"
                 "|---|---|---|---|---|---|---|")
SPEECH_POOLED_HEADER = "| speech " + POOLED_HEADER.replace("\n", "\n|---", 1)


def parse_env(items: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` options as a dict; a clear error for anything else."""
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--a-env/--b-env take KEY=VALUE, got {item!r}")
        env[key] = value
    return env


# -- the sides ------------------------------------------------------------------------------


@dataclass
class Side:
    label: str
    ref: str
    env: dict[str, str]
    commit: str = ""
    worktree: Path | None = None
    stack: latency.OwnStack | None = None
    runs: dict[tuple[str, int], list[dict]] = field(default_factory=dict)  # (speech, N) -> one metrics dict per pair
    # (speech, N) -> figure prefix (:data:`POOLED`) -> one list of latencies (s) per pair
    samples: dict[tuple[str, int], dict[str, list[list[float]]]] = field(default_factory=dict)

    def describe(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.env.items())
        return f"{self.label} = {self.ref} ({self.commit[:9]}){' ' + extra if extra else ''}"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


def check_out(side: Side, parent: Path) -> None:
    """The side's commit in a detached worktree under ``parent``."""
    side.commit = git("rev-parse", "--verify", f"{side.ref}^{{commit}}")
    side.worktree = parent / side.label
    git("worktree", "add", "--detach", str(side.worktree), side.commit)


def remove(side: Side) -> None:
    if side.worktree is not None and side.worktree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(side.worktree)],
                       capture_output=True, check=False)
    if side.worktree is not None:
        shutil.rmtree(side.worktree, ignore_errors=True)


def code_env(worktree: Path) -> dict[str, str]:
    """Environment that makes a child Python import the services from ``worktree``: first on the
    path, and the current directory (this checkout, the stack's cwd) not prepended to it."""
    return {"PYTHONPATH": str(worktree), "PYTHONSAFEPATH": "1"}


def start(side: Side) -> None:
    assert side.worktree is not None
    env = {**code_env(side.worktree), **side.env}
    # Say where the services' code comes from, as a child started like them sees it.
    found = subprocess.run([sys.executable, "-c", "import asr_worker; print(asr_worker.__file__)"], cwd=ROOT,
                           env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout.strip()
    print(f"# {side.label} runs {found}", flush=True)
    # A worker that loads two models (the batch child's) takes minutes to start on a loaded box.
    side.stack = latency.OwnStack(extra_env=env, ready_timeout=READY_TIMEOUT)


def descendants(pid: int) -> list[int]:
    """``pid`` and the processes below it, from ``/proc`` (gone ones are left out)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        found.append(current := todo.pop())
        todo.extend(children.get(current, ()))
    return found


def role_pids(stack: latency.OwnStack) -> dict[str, list[int]]:
    inner, redis = stack.stack, stack.redis.process
    assert redis is not None, "the stack's redis-server has started"
    return {"asr": descendants(inner.workers["asr"][0].proc.pid), "vad": [inner.workers["vad"][0].proc.pid],
            "gateway": [inner.gateway.proc.pid], "redis": [redis.proc.pid]}


def cpu_by_role(pids: dict[str, list[int]]) -> dict[str, float]:
    total = {}
    for role, group in pids.items():
        total[role] = 0.0
        for pid in group:
            try:
                total[role] += cpu_seconds(pid)
            except OSError:  # gone: its seconds are lost to both snapshots alike
                pass
    return total


async def one_run(side: Side, n: int, pair: int, speech: str, audio, utterances, args, *, labelled: bool) -> dict:
    """One run of ``n`` calls of kind ``speech``; its row (with ``labelled``: the kind and
    :data:`CONTRACT` too)."""
    assert side.stack is not None, "the side's stack has started"
    before = latency.load_average()
    pids = role_pids(side.stack)
    cpu = cpu_by_role(pids)
    figures = await latency.run_level("streamscribe", side.stack.url, n, audio, utterances, args, finalize=False,
                                      model="", score=latency.scorer(speech))
    cpu = {role: seconds - cpu[role] for role, seconds in cpu_by_role(pids).items()}
    after = latency.load_average()
    metrics = run_metrics(figures, cpu)
    side.runs.setdefault((speech, n), []).append(metrics)
    for prefix, name in POOLED:
        side.samples.setdefault((speech, n), {}).setdefault(prefix, []).append(list(getattr(figures, name)))
    names = METRICS + CONTRACT if labelled else METRICS
    cells = " | ".join(fmt(metrics[name], DIGITS.get(name, 0)) for name in names)
    print(f"| {pair} | {speech + ' | ' if labelled else ''}{n} | {side.label} | {cells} | {before} | {after} |",
          flush=True)
    for error in sorted(set(figures.failed))[:3]:
        print(f"#   {side.label} N={n} pair {pair}: {figures.failed.count(error)} session(s) failed: {error}",
              flush=True)
    return metrics


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a", required=True, help="git ref of side A (the base)")
    parser.add_argument("--b", required=True, help="git ref of side B (the change)")
    parser.add_argument("--a-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment of side A's stack (repeatable), e.g. a flag switched off")
    parser.add_argument("--b-env", action="append", default=[], metavar="KEY=VALUE", help="the same for side B")
    parser.add_argument("--sessions", default="8,16", help="comma-separated concurrency levels")
    parser.add_argument("--pairs", type=int, default=3, help="alternating A/B pairs per level")
    parser.add_argument("--speech", type=latency.speech_kinds, default=["clips"],
                        help="the sessions (bench.latency's): clips, continuous, calls, comma-separated, or all")
    parser.add_argument("--gap", type=float, default=4.0, help="seconds of silence after each clip (clips only)")
    parser.add_argument("--tail", type=float, default=3.0, help="more seconds of silence at the end")
    parser.add_argument("--chunk-ms", type=int, default=100, help="milliseconds of audio per frame")
    parser.add_argument("--config", type=json.loads, default={}, help="extra session config as JSON")
    args = parser.parse_args()
    args.finalize_after, args.dump = None, None  # what bench.latency's run_level reads besides
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, aio.current_task().cancel)
    levels = [int(x) for x in args.sessions.split(",")]
    sides = {"A": Side("A", args.a, parse_env(args.a_env)), "B": Side("B", args.b, parse_env(args.b_env))}
    sessions = {kind: latency.session_audio(args.gap, args.tail, speech=kind)[:2] for kind in args.speech}
    labelled = args.speech != ["clips"]  # clips alone: the tables as before
    parent = Path(tempfile.mkdtemp(prefix="streamscribe-ab-"))
    try:
        for side in sides.values():
            check_out(side, parent)
            print(f"# {side.describe()}", flush=True)
        for side in sides.values():
            start(side)
        for kind, (audio, utterances) in sessions.items():
            print(f"# {kind + ': ' if labelled else ''}{len(audio) / latency.RATE:.1f} s per session, "
                  f"{len(utterances)} utterances{f', gap {args.gap} s' if kind == 'clips' else ''}, "
                  f"{args.pairs} pairs, {os.cpu_count()} cores; load average at start {latency.load_average()}",
                  flush=True)
        names = METRICS + CONTRACT if labelled else METRICS
        print(f"| pair | {'speech | ' if labelled else ''}N | side | " + " | ".join(names)
              + " | load before | load after |\n" + "|---" * (len(names) + 5 + labelled) + "|", flush=True)
        for pair in range(args.pairs):
            for n in levels:
                for kind, (audio, utterances) in sessions.items():
                    for label in order(pair):
                        await one_run(sides[label], n, pair, kind, audio, utterances, args, labelled=labelled)
        print(f"\n# {sides['A'].describe()}\n# {sides['B'].describe()}\n# load average at end "
              f"{latency.load_average()}\n{SPEECH_SUMMARY_HEADER if labelled else SUMMARY_HEADER}", flush=True)
        for kind in sessions:
            for n in levels:
                for line in summary_rows(n, sides["A"].runs.get((kind, n), []), sides["B"].runs.get((kind, n), []),
                                         names=names, speech=kind if labelled else None):
                    print(line, flush=True)
        print(f"\n{SPEECH_POOLED_HEADER if labelled else POOLED_HEADER}", flush=True)
        for kind in sessions:
            for n in levels:
                for line in pooled_rows(n, sides["A"].samples.get((kind, n), {}),
                                        sides["B"].samples.get((kind, n), {}), speech=kind if labelled else None):
                    print(line, flush=True)
        print("\n# A change to endpointing, finals or a door: run Genesys' AudioHook API tests too, with both "
              "models (python -m bench.audiohook_conformance --reference DIR --runs 3 [--model base]; "
              "docs/development.md), and name its figure beside these.", flush=True)
    finally:
        for side in sides.values():
            if side.stack is not None:
                side.stack.close()
            remove(side)
        shutil.rmtree(parent, ignore_errors=True)
        git("worktree", "prune")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
