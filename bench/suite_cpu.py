"""Sum a ``scripts/test --cpu-profile FILE`` run: CPU seconds per kind of process and per test file.

    scripts/test -q -p no:cacheprovider --cpu-profile /tmp/cpu.jsonl
    python -m bench.suite_cpu /tmp/cpu.jsonl [--files 25]

What the suite's CPU is spent on tells what would make it faster on 2 cores, where it is
CPU-bound (BENCHMARKS.md, "The test suite on 2 cores"; tests/kit/cpu_profile.py says how the
seconds are counted).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tests.kit.cpu_profile import summarise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.suite_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path, help="the JSON lines of scripts/test --cpu-profile")
    parser.add_argument("--files", type=int, default=25, help="test files to list, most CPU first")
    args = parser.parse_args(argv)
    lines = [json.loads(line) for line in args.profile.read_text().splitlines() if line.strip()]
    by_kind, by_file = summarise(lines)
    total = sum(by_kind.values())
    print(f"CPU seconds in all: {total:.0f}\n\n| kind of process | CPU s | share |\n|---|---:|---:|")
    for kind, seconds in by_kind.most_common():
        if seconds >= 0.5:
            print(f"| {kind} | {seconds:.0f} | {100 * seconds / total:.0f} % |")
    print("\n| test file | CPU s | the most of it |\n|---|---:|---|")
    ranked = sorted(by_file.items(), key=lambda item: -sum(item[1].values()))
    for file, kinds in ranked[: args.files]:
        top = ", ".join(f"{kind} {seconds:.0f}" for kind, seconds in kinds.most_common(3))
        print(f"| {file} | {sum(kinds.values()):.0f} | {top} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
