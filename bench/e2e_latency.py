"""End-to-end latency of a running stack, measured at the client.

    scripts/stack &                      # or any deployment
    .venv/bin/python bench/e2e_latency.py --sessions 1,4,8 --url ws://localhost:8000/ws/asr

Each session streams the five LibriVox clips separated by 1.5 s of silence at
real-time pace. For every final the client computes the time from sending the
audio at the final's ``end_ms`` to receiving the final (end of speech to final,
which includes the VAD's silence wait), and for every utterance the time from
sending its first audio to receiving its first partial. Prints p50/p90/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.client import stream  # noqa: E402
from tests.faults import five_utterances  # noqa: E402
from tests.testdata import librivox_clips  # noqa: E402

RATE = 16000


async def one_session(url: str, audio: np.ndarray, chunk_ms: int, delay: float) -> tuple[list, list]:
    await asyncio.sleep(delay)
    sent: list[tuple[int, float]] = []  # (end sample, wall time sent)
    final_latency, first_partial = [], []
    seen = set()

    async def frames():
        step = RATE * chunk_ms // 1000
        started = time.monotonic()
        for i, start in enumerate(range(0, len(audio), step)):
            due = started + i * chunk_ms / 1000
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            yield audio[start:start + step].tobytes()
            sent.append((start + step, time.monotonic()))

    def sent_at(ms: int) -> float | None:
        sample = ms * RATE // 1000
        ends = [end for end, _ in sent]
        index = bisect.bisect_left(ends, sample)
        return sent[index][1] if index < len(sent) else None

    def on_message(message):
        now = time.monotonic()
        if message["type"] == "final":
            at = sent_at(message["end_ms"])
            if at is not None:
                final_latency.append(now - at)
        elif message["type"] == "partial" and message["utterance_id"] not in seen:
            seen.add(message["utterance_id"])
            at = sent_at(message["start_ms"])
            if at is not None:
                first_partial.append(now - at)

    await stream(url, frames(), sample_rate=RATE, on_message=on_message, timeout=120)
    return final_latency, first_partial


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    q = np.percentile(values, [50, 90, 99])
    return f"p50 {q[0] * 1000:6.0f} ms  p90 {q[1] * 1000:6.0f} ms  p99 {q[2] * 1000:6.0f} ms  (n={len(values)})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="ws://localhost:8000/ws/asr")
    parser.add_argument("--sessions", default="1,4", help="comma-separated concurrency levels")
    parser.add_argument("--chunk-ms", type=int, default=100)
    args = parser.parse_args()
    audio = five_utterances(librivox_clips())
    for n in [int(x) for x in args.sessions.split(",")]:
        results = await asyncio.gather(*(one_session(args.url, audio, args.chunk_ms, i * 0.37) for i in range(n)))
        finals = [v for r in results for v in r[0]]
        partials = [v for r in results for v in r[1]]
        print(f"{n:3d} sessions  end-of-speech->final: {percentiles(finals)}")
        print(f"{'':15s}first audio->first partial: {percentiles(partials)}")
        if finals:
            print(f"{'':15s}mean final latency {statistics.mean(finals) * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
