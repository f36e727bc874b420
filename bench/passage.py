"""A passage of continuous read speech through the Deepgram doors, live against pre-recorded.

    .venv/bin/python -m bench.passage --models tiny.en base --speeds 1 2

Issue 47's target: LibriVox clips joined without added silence (tests/kit/passage.py) streamed in
10 ms frames at each speed through ``/v1/listen`` (its finals) and Flux's ``/v2/listen`` (its
EndOfTurn transcripts, eager end of turn on) score within 5 WER points of the pre-recorded API
on the same audio. One private stack per model (bench.latency.OwnStack); Flux's turns are also
checked against the transcript contract (common.contract).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench.latency import OwnStack, load_average
from common.contract import check, from_flux
from tests.kit import passage
from tests.kit.support import wait_for_workers, word_errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--speeds", nargs="+", type=float, default=[1.0, 2.0])
    args = parser.parse_args()
    audio, reference = passage.passage()
    print(f"# passage: {len(audio) / 16000:.1f} s, {len(reference.split())} words; load average {load_average()}")
    print("| model | way | speed | WER | minus pre-recorded | contract violations |\n|---|---|---|---|---|---|")
    for model in args.models:
        own = OwnStack({"STREAMSCRIBE_ASR_MODEL": model, "STREAMSCRIBE_ASR_BATCH_CHILD_AT_START": "false"})
        try:
            wait_for_workers(own.stack.http, ("vad", "asr"), timeout=120)
            wrong, total = word_errors(reference, passage.prerecorded(own.stack.http, audio))
            base = 100 * wrong / total
            print(f"| {model} | pre-recorded | | {base:.1f} % | | |", flush=True)
            for speed in args.speeds:
                results = asyncio.run(passage.live_finals(own.stack.port, audio, speed))
                wer = 100 * word_errors(reference, passage.live_text(results))[0] / total
                print(f"| {model} | /v1/listen | {speed:g}x | {wer:.1f} % | {wer - base:+.1f} | |", flush=True)
                messages = asyncio.run(passage.flux_turns(own.stack.port, audio, speed))
                wer = 100 * word_errors(reference, passage.flux_text(messages))[0] / total
                violations = check(from_flux(messages), language="en")
                print(f"| {model} | Flux | {speed:g}x | {wer:.1f} % | {wer - base:+.1f} | {len(violations)} |", flush=True)
        finally:
            own.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
