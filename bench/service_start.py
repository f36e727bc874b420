"""What a service costs to start: CPU seconds until it says "ready", and whether torch is loaded.

    python -m bench.service_start [--services gateway vad_worker asr_worker denoise_worker] [--busy N]

Each service starts alone against a private redis-server (tests.kit.support), with its
defaults; its CPU is read from /proc once it logs "ready" (its children included), and torch
counts as loaded when libtorch is mapped in one of them. The test suite starts ~80 gateways and
~55 of each worker (BENCHMARKS.md, "The test suite on 2 cores"); a fleet starts them at every
scale-out and rolling update.

``--busy N`` runs N busy loops while each service starts, each in a session of its own at the
default priority: other work on the host, as on a shared box (a low-priority child's start
waits for what such work leaves; the ASR worker's recordings' child was one, issue 45).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.kit.cpu_profile import proc_stat
from tests.kit.support import RedisServer, free_port

SERVICES = ("gateway", "vad_worker", "asr_worker", "denoise_worker")


def tree(root: int) -> list[int]:
    """``root`` and its descendants."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := proc_stat(int(entry))) is not None:
            parents[int(entry)] = stat[0]
    found = [root]
    for pid in sorted(parents):
        ancestor = parents.get(pid)
        while ancestor is not None and ancestor not in found and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor in found and pid not in found:
            found.append(pid)
    return found


def cpu_seconds(pids: list[int]) -> float:
    return sum(stat[1] for pid in pids if (stat := proc_stat(pid)) is not None)


def torch_loaded(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if "libtorch_cpu" in Path(f"/proc/{pid}/maps").read_text():
                return True
        except OSError:
            pass
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.service_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", nargs="+", default=list(SERVICES), choices=SERVICES)
    parser.add_argument("--busy", type=int, default=0, help="busy loops (other work on the host) while each starts")
    args = parser.parse_args(argv)
    redis = RedisServer()
    redis.start()
    try:
        env = {**os.environ, "STREAMSCRIBE_REDIS_URL": redis.url}
        print("| service | wall s to ready | CPU s to ready | torch loaded |\n|---|---:|---:|---|")
        for module in args.services:
            flags = (["--host", "127.0.0.1", "--port", str(free_port())] if module == "gateway"
                     else ["--http-port", str(free_port())])
            busy: list[subprocess.Popen] = []
            started = time.monotonic()
            process = subprocess.Popen([sys.executable, "-m", module, *flags], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            try:
                busy += [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
                         for _ in range(args.busy)]
                assert process.stdout is not None
                for line in process.stdout:
                    if re.search(r"\bready\b", line):
                        break
                else:
                    raise SystemExit(f"{module} exited before it was ready")
                wall = time.monotonic() - started
                pids = tree(process.pid)
                print(f"| {module} | {wall:.1f} | {cpu_seconds(pids):.2f} | {torch_loaded(pids)} |", flush=True)
            finally:
                for loop in busy:
                    loop.kill()
                    loop.wait()
                process.terminate()
                process.wait(30)
    finally:
        redis.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
