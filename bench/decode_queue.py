"""The ASR decode queue of two commits under N live calls, with decodes MODELLED as sleeps.

    .venv/bin/python -m bench.decode_queue --a main --b HEAD --sessions 8,16 --pairs 3

What it is for: comparing decode *scheduling* (asr_worker/engines/scheduler.py)
on a box too loaded for :mod:`bench.ab` to tell anything (at load 15-23 on the
2-core box a live run measures the box, not the code). It runs each commit's
real ``DecodeScheduler`` (imported from a temporary worktree of the commit, as
:mod:`bench.ab` does) with 2 decode threads, but each decode is a ``time.sleep``
as long as whisper tiny.en took on the quiet box (the stand-in engine's line:
final 0.16 s, partial 0.10 s, plus 0.035 s per second of audio), so the box's load
barely moves the figures. It is a model of the queue, not of the service: no
gateway, VAD, Redis or CPU contention between the two decodes.

The calls follow the ASR stage's streaming rules on :mod:`bench.latency`'s
session (the five clips, ``--gap`` s apart, true speech bounds from Silero; call
i starts 0.37 i s after the first), in 100 ms steps:

- the utterance's audio starts 0.3 s before the true speech start (pre-roll) and
  reaches the stage when the VAD has seen 0.25 s of speech (``min_speech_duration``);
- a partial decode of the audio so far starts when no decode of the call is in
  flight and 0.25 s (until words) or 1 s of new audio has come; a first decode
  finds words when it covers at least ``--words-after`` s of speech;
- at the pause (0.2 s of silence) a queued partial is aborted and the final
  decode starts; the final reaches the client when both it is decoded and the
  endpoint (0.8 s of silence) has come.

Figures per N and commit, over every utterance: end of speech -> final and
speech start -> first partial (a partial with words, or the final), p50/p95/p99,
as in :mod:`bench.ab`, with the partial decodes asked for and those dropped as stale.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RATE = 16000
STEP = 0.1  # seconds between looks at a call (the client's frame)
PRE_ROLL = 0.3
MIN_SPEECH = 0.25  # the VAD's default min_speech_duration (0.3 before issue 47)
PAUSE = 0.2
ENDPOINT = 0.8
FIRST_WINDOW = 0.25
CHUNK = 1.0
STAGGER = 0.37
COST = {"final": 0.16, "partial": 0.10, "per_audio_sec": 0.035}  # the stand-in engine's defaults


@dataclass
class Request:
    """What the scheduler queues: the audio's length stands for the audio."""

    audio_sec: float
    final: bool

    @property
    def audio(self) -> range:  # len(request.audio) / RATE: the whisper engine's ``waited``
        return range(round(self.audio_sec * RATE))


def decoder(scale: float):
    """A decode thread's work: sleep as long as whisper tiny.en would decode (one at a time), times ``scale``."""
    def decode(batch: list[Request]) -> list[None]:
        for request in batch:
            time.sleep(scale * (COST["final" if request.final else "partial"]
                                + COST["per_audio_sec"] * request.audio_sec))
        return [None] * len(batch)
    return decode


async def call(scheduler, utterances: list[tuple[float, float]], start: float, words_after: float,
               counts: dict) -> list[tuple[float, float]]:
    """One call's utterances: (end of speech -> final, speech start -> first partial) in seconds."""
    await asyncio.sleep(start)  # staggered calls, not synchronisation
    zero = time.monotonic()
    out = []
    for speech_start, speech_end in utterances:
        begin = speech_start - PRE_ROLL
        await asyncio.sleep(max(0.0, zero + speech_start + MIN_SPEECH - time.monotonic()))  # pacing
        decoded, words_at, inflight = 0.0, None, None
        while (now := time.monotonic() - zero) < speech_end + PAUSE:
            audio = now - begin
            if inflight is not None and inflight[0].done():
                future, covered = inflight
                inflight = None
                if not future.cancelled() and words_at is None and covered - PRE_ROLL >= words_after:
                    words_at = now
            window = CHUNK if words_at is not None else FIRST_WINDOW
            if inflight is None and audio - decoded >= window:
                first = words_at is None
                inflight = (scheduler.submit(Request(audio, False), final=False, first_words=first), audio)
                decoded = audio
                counts["partials"] += 1
            await asyncio.sleep(STEP)  # the next frame, at real time
        if inflight is not None:
            inflight[0].cancel()  # aborted if still queued; a running one finishes
        final = scheduler.submit(Request(speech_end + PAUSE - begin, True), final=True)
        if inflight is not None:
            await asyncio.wait([asyncio.wrap_future(inflight[0])])  # ends however it ends
            if not inflight[0].cancelled() and words_at is None and inflight[1] - PRE_ROLL >= words_after:
                words_at = time.monotonic() - zero
        await asyncio.wrap_future(final)
        done = time.monotonic() - zero
        delivered = max(done, speech_end + ENDPOINT)
        out.append((delivered - speech_end, min(words_at or delivered, delivered) - speech_start))
    return out


async def level(n: int, utterances, words_after: float, scale: float) -> dict:
    from asr_worker.engines.scheduler import DecodeScheduler

    stale: list[int] = []
    extra: dict[str, Any] = {}
    if "waited" in inspect.signature(DecodeScheduler).parameters:  # a commit with fair first words
        extra["waited"] = lambda request: len(request.audio) / RATE  # as the whisper engine
    scheduler = DecodeScheduler(decoder(scale), workers=2, on_stale=lambda: stale.append(1), **extra)
    counts = {"partials": 0}
    try:
        results = await asyncio.gather(*(call(scheduler, utterances, i * STAGGER, words_after, counts)
                                         for i in range(n)))
    finally:
        scheduler.close()
        scheduler.join(10)
    pairs = [pair for result in results for pair in result]
    return {"final": [p[0] for p in pairs], "first": [p[1] for p in pairs], "partials": counts["partials"],
            "stale": len(stale)}


def child(spec: dict) -> None:
    """Run in a child whose path holds one commit's code; print one JSON line per level."""
    for n in spec["levels"]:
        result = asyncio.run(level(n, [tuple(u) for u in spec["utterances"]], spec["words_after"], spec["scale"]))
        print(json.dumps({"n": n, **result}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a", help="git ref of side A")
    parser.add_argument("--b", help="git ref of side B")
    parser.add_argument("--sessions", default="8,16")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--gap", type=float, default=4.0)
    parser.add_argument("--words-after", type=float, default=0.5,
                        help="seconds of speech a first decode needs to find words")
    parser.add_argument("--cost-scale", type=float, default=1.0,
                        help="decode times times this: the stand-in's line is of one decode alone; two decodes "
                             "at once on 2 cores beside the VAD and the gateway take longer")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # JSON spec: run one side
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0
    if not (args.a and args.b):
        parser.error("--a and --b are required")

    from bench import ab, latency

    _, utterances, _ = latency.session_audio(args.gap, 3.0)
    spec = {"levels": [int(x) for x in args.sessions.split(",")], "words_after": args.words_after,
            "scale": args.cost_scale,
            "utterances": [(u.start, u.end) for u in utterances]}
    sides = {"A": ab.Side("A", args.a, {}), "B": ab.Side("B", args.b, {})}
    parent = Path(tempfile.mkdtemp(prefix="streamscribe-dq-"))
    runs: dict[tuple[str, int], list[dict]] = {}
    try:
        for side in sides.values():
            ab.check_out(side, parent)
            print(f"# {side.describe()}", flush=True)
        print(f"# load average at start {latency.load_average()}; decodes modelled as sleeps: {COST} x {args.cost_scale}", flush=True)
        print("| pair | N | side | final p50 | final p95 | final p99 | first p50 | first p95 | first p99 "
              "| partial requests | dropped stale | load before | load after |\n" + "|---" * 13 + "|", flush=True)
        script = str(Path(__file__).resolve())
        worktrees = {label: side.worktree for label, side in sides.items() if side.worktree is not None}
        for pair in range(args.pairs):
            before = latency.load_average()
            # Both sides at once: their decodes sleep, so they hardly compete, and the box's load hits both.
            procs = {label: subprocess.Popen(
                [sys.executable, script, "--child", json.dumps(spec)], stdout=subprocess.PIPE, text=True,
                cwd=parent, env={**os.environ, **ab.code_env(worktrees[label])}) for label in ab.order(pair)}
            outputs = {label: proc.communicate()[0] for label, proc in procs.items()}
            after = latency.load_average()
            for label in ("A", "B"):
                if procs[label].returncode:
                    raise RuntimeError(f"side {label} failed ({procs[label].returncode})")
                for line in outputs[label].splitlines():
                    result = json.loads(line)
                    final, first = ab.triple(result["final"]), ab.triple(result["first"])
                    if final is None or first is None:
                        raise RuntimeError(f"side {label} N={result['n']}: no utterance measured")
                    runs.setdefault((label, result["n"]), []).append(
                        {**dict(zip(("final p50", "final p95", "final p99"), final)),
                         **dict(zip(("first p50", "first p95", "first p99"), first))})
                    cells = " | ".join(f"{x:.0f}" for x in (*final, *first))
                    print(f"| {pair} | {result['n']} | {label} | {cells} | {result['partials']} | {result['stale']} "
                          f"| {before} | {after} |", flush=True)
        print(f"\n# {sides['A'].describe()}\n# {sides['B'].describe()}\n{ab.SUMMARY_HEADER}", flush=True)
        names = ("final p50", "final p95", "final p99", "first p50", "first p95", "first p99")
        for n in spec["levels"]:
            for line in ab.summary_rows(n, runs.get(("A", n), []), runs.get(("B", n), []), names=names):
                print(line, flush=True)
    finally:
        for side in sides.values():
            ab.remove(side)
        shutil.rmtree(parent, ignore_errors=True)
        ab.git("worktree", "prune")
    return 0


if __name__ == "__main__":
    sys.exit(main())
