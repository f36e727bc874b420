"""Where the suite's CPU goes: seconds per test file and per kind of process.

``scripts/test --cpu-profile FILE`` registers :class:`CpuProfile` in each test process. A
thread samples, every half second, the CPU time of the test process and of every process
descending from it (the stacks' gateways and workers, their spawned children, redis-server,
chromium) from /proc, and adds each one's growth since the last sample to the test file
running then, under the process's kind (``asr_worker``, ``gateway``, ``chromium``, ...). At
the end each test process appends its rows to FILE as JSON lines; ``python -m
bench.suite_cpu FILE`` sums them. A process's last half second before it exits is not seen.

Linux only (/proc); the figures are process time, so a loaded box inflates them less than
wall time (BENCHMARKS.md, "The test suite on 2 cores").
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import Counter, defaultdict
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PERIOD = 0.5
KNOWN = ("redis-server", "redis-sentinel", "chromium", "chromedriver", "espeak-ng", "haproxy", "node",
         "prometheus", "promtool", "kubectl", "npm")


def kind_of(cmdline: str) -> str:
    """A short name for a process: the module of ``python -m X``, a known program, or the
    multiprocessing children (``spawn``) that workers start."""
    if "multiprocessing" in cmdline and "spawn_main" in cmdline:
        return "spawn"
    module = re.search(r"-m ([\w.]+)", cmdline)
    if module:
        return module.group(1)
    for name in KNOWN:
        if name in cmdline:
            return name
    return Path(cmdline.split(" ", 1)[0]).name or "?"


def summarise(lines: list[dict]) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """CPU seconds of a profile's JSON lines per kind of process, and per test file and kind."""
    by_kind: Counter[str] = Counter()
    by_file: dict[str, Counter[str]] = defaultdict(Counter)
    for row in lines:
        by_kind[row["kind"]] += row["cpu_s"]
        by_file[row["file"]][row["kind"]] += row["cpu_s"]
    return by_kind, by_file


def proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of ``pid``, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


class CpuProfile:
    """The sampler of one test process (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.root = os.getpid()
        self.file = "(collection)"
        self.seconds: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._seen: dict[int, float] = {}
        self._kinds: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-profile", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = proc_stat(int(entry))
                if stat is not None:
                    parents[int(entry)], cpu[int(entry)] = stat
        for pid, seconds in cpu.items():
            ancestor = pid
            while ancestor not in (self.root, 0, 1) and ancestor in parents:
                ancestor = parents[ancestor]
            if ancestor != self.root:
                continue
            if pid not in self._kinds:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                self._kinds[pid] = "test process" if pid == self.root else kind_of(cmdline)
            grown = seconds - self._seen.get(pid, 0.0)
            self._seen[pid] = seconds
            if grown > 0:
                self.seconds[(self.file, self._kinds[pid])] += grown

    def _run(self) -> None:
        while not self._stop.wait(PERIOD):
            self._sample()

    def pytest_runtest_logstart(self, nodeid: str, location) -> None:
        self.file = nodeid.split("::", 1)[0]

    def pytest_sessionfinish(self, session) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        with self.path.open("a") as out:  # one short write per test process: lines do not interleave
            out.write("".join(json.dumps({"file": file, "kind": kind, "cpu_s": round(seconds, 2)}) + "\n"
                              for (file, kind), seconds in sorted(self.seconds.items())))
