"""A live ``diarize=true`` call through the real path: DER as delivered, and the latency it adds to finals.

A stack (tests/kit/stack.py: redis, a gateway, a VAD and an ASR worker, real processes) takes
each mix of bench/diarization.py, streamed at real time (100 ms frames) through the native
door, ``{"diarize": true, "words": true}`` and, alternately, ``{"words": true}`` alone. Scored:

- ``DER words``: each delivered word's span with its speaker (the gaps between words are missed
  speech), as bench/diarization.py's ``words`` column; ``DER turns``: each final's speech from
  its first word to its last, every frame from a word's start to the next word's start with that
  word's speaker (as its ``labels``/``re-clustered`` columns score the word-bounded regions).
  Without a collar and with NIST's 0.25 s (tests/kit/der.py). Finals labelled as they came, never
  corrected.
- latency of each final (audio at its end sent -> final received), p50/p95, with and without
  diarize in the same run; and the gateway's own ``diarize_wait_seconds`` (mean) and
  ``diarize_unlabelled_total`` from /metrics.

    PYTHONPATH=$PWD .venv/bin/python -m bench.live_diarization [--mix NAME ...] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import urllib.request

import numpy as np

from tests.kit.der import der, reference_frames
from bench.diarization import MIXES
from bench.latency import SessionRun, paced
from tests.kit import mixes
from tests.kit.stack import Stack
from tests.kit.support import RedisServer, wait_for_workers


async def session(url: str, audio: np.ndarray, *, diarize: bool) -> tuple[SessionRun, list[tuple[float, dict]]]:
    """One real-time native call; the run (when each frame was sent) and each final with its arrival time."""
    from streamscribe_client import StreamClosed, stream

    run = SessionRun()
    finals: list[tuple[float, dict]] = []

    async def frames():
        async for chunk in paced(audio, run, chunk_ms=100):
            yield chunk.tobytes()

    def on_message(message: dict) -> None:
        if message["type"] == "final":
            finals.append((time.monotonic(), message))

    config = {"words": True, **({"diarize": True} if diarize else {})}
    try:
        await stream(url, frames(), sample_rate=mixes.RATE, config=config, on_message=on_message, timeout=240)
    except StreamClosed as exc:  # a call the shared box failed: said, and the others still scored
        print(f"(a call with diarize={diarize} failed: {exc})", flush=True)
    return run, finals


def hypotheses(finals: list[dict], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Speaker per 10 ms frame: of the words' spans, and of the finals' speech (word start to next word start)."""
    said, turns = -np.ones(frames, int), -np.ones(frames, int)
    for final in finals:
        words = [w for w in final.get("words", []) if w.get("speaker") is not None]
        for i, word in enumerate(words):
            start, end = word["start_ms"] // 10, -(-word["end_ms"] // 10)
            said[start:end] = word["speaker"]
            until = words[i + 1]["start_ms"] // 10 if i + 1 < len(words) else end
            turns[start:max(end, until)] = word["speaker"]
    return said, turns


def metrics(http: str) -> tuple[dict[str, float], dict[float, float], dict[str, float]]:
    """The gateway's diarize metrics: totals, the wait's cumulative buckets (le -> count), unlabelled by reason."""
    with urllib.request.urlopen(f"{http}/metrics", timeout=10) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    buckets: dict[float, float] = {}
    reasons: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(("streamscribe_gateway_diarize_", "streamscribe_gateway_diarizer_")):
            continue
        name, value = line.rsplit(" ", 1)
        if name.startswith("streamscribe_gateway_diarize_wait_seconds_bucket"):
            buckets[float(name.split('le="')[1].split('"')[0])] = float(value)
        elif name.startswith("streamscribe_gateway_diarize_unlabelled_total{"):
            reasons[name.split('reason="')[1].split('"')[0]] = float(value)
        else:
            totals[name.split("{")[0]] = float(value)
    return totals, buckets, reasons


def bucket_percentile(buckets: dict[float, float], q: float) -> str:
    """The upper bound of the bucket holding the ``q`` quantile (a histogram's resolution)."""
    total = buckets.get(float("inf"), 0.0)
    for bound in sorted(buckets):
        if total and buckets[bound] >= q * total:
            return f"<= {bound:g} s"
    return "-"


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    p50, p95 = np.percentile(values, [50, 95])
    return f"{p50:.2f} / {p95:.2f} s (n={len(values)})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", nargs="+", choices=list(MIXES), default=["reader+m3", "m1+f2"])
    parser.add_argument("--overlap", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=2, help="calls per mix with diarize, and as many without")
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    stack = Stack(server)
    try:
        wait_for_workers(stack.http, ("vad", "asr"))
        latency: dict[bool, list[float]] = {True: [], False: []}
        print("| mix | round | speakers delivered of | finals without speaker | DER words | collar 0.25 s "
              "| DER turns | collar 0.25 s |")
        print("|---" * 8 + "|")
        for name in args.mix:
            mix, truth = mixes.build(MIXES[name], overlap=args.overlap, seed=0)
            frames = -(-len(mix) // 160)
            reference = reference_frames([(t.speaker, t.start, t.end) for t in truth], frames)
            for round_ in range(args.rounds):
                for diarize in (True, False):
                    run, finals = await session(stack.url, mix.astype(np.float32), diarize=diarize)
                    latency[diarize] += [at - sent for at, f in finals if f.get("words")
                                         and (sent := run.sent_at(f["end_ms"] / 1000)) is not None]
                    if not diarize:
                        continue
                    said, turns = hypotheses([f for _, f in finals], frames)
                    unlabelled = sum(1 for _, f in finals if f.get("words") and "speaker" not in f)
                    found = len({w["speaker"] for _, f in finals for w in f.get("words", []) if "speaker" in w})
                    print(f"| {name} | {round_} | {found} of {len(MIXES[name])} | {unlabelled} of "
                          f"{sum(1 for _, f in finals if f.get('words'))} "
                          f"| {der(reference, said).total:.1%} | {der(reference, said, collar=0.25).total:.1%} "
                          f"| {der(reference, turns).total:.1%} | {der(reference, turns, collar=0.25).total:.1%} |",
                          flush=True)
        print(f"\nfinal latency (audio at its end sent -> final), p50 / p95: diarize {percentiles(latency[True])}; "
              f"without {percentiles(latency[False])}")
        totals, buckets, reasons = metrics(stack.http)
        count = totals.get("streamscribe_gateway_diarize_wait_seconds_count", 0)
        mean = totals.get("streamscribe_gateway_diarize_wait_seconds_sum", 0) / count if count else float("nan")
        print(f"gateway: diarize_wait_seconds mean {mean:.3f} s, p50 {bucket_percentile(buckets, 0.5)}, p95 "
              f"{bucket_percentile(buckets, 0.95)} over {count:.0f} finals; unlabelled by reason {reasons}; the "
              f"diarizer's load {totals.get('streamscribe_gateway_diarizer_load_seconds', float('nan')):.1f} s "
              "(started by the first call)")
    finally:
        stack.close()
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
