"""Whisper's encoder window: a window fitted to the audio vs the full 30 s.

    .venv/bin/python -m bench.whisper_window --margins full,5,2,1,0

For each margin (seconds of padding after the audio in the encoder window;
``full``: faster-whisper's own 30 s windows) the bundled tiny.en engine decodes,
one request at a time on the engine's decode threads:

- the five LibriVox clips whole and ten espeak-ng sentences (two voices): WER
  against their references, as finals are decoded;
- every 0.5 s prefix of each clip, as partials are decoded: words that differ
  from the full window's text of the same prefix (a WER with the full window's
  text as the reference), so a margin that drops or invents words at the cut
  shows up;
- two clips joined (15-20 s), as a long utterance: WER;

and prints the median and p90 decode time of each set. Figures compare within
one run: the box may be busy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

import numpy as np

from asr_worker.engines import DecodeRequest
from asr_worker.engines.whisper import WhisperEngine, WhisperOptions
from tests.kit.support import word_errors
from tests.kit.testdata import librivox_samples, synthetic_voice

SENTENCES = (
    "thank you for calling the billing department how can i help you today",
    "i would like to change the address on my account please",
    "my card was charged twice for the same order last week",
    "can you tell me when the technician will arrive",
    "yes that is correct the number ends in four five six",
)


def corpus() -> dict[str, list[tuple[np.ndarray, str | None]]]:
    clips = librivox_samples()
    voices = [synthetic_voice(text, voice=voice) for voice in ("en-us", "en-gb") for text in SENTENCES]
    prefixes = [(audio[:end], None) for audio, _ in clips for end in range(8000, len(audio), 8000)]
    joined = [(np.concatenate([clips[i][0], clips[i + 1][0]]), clips[i][1] + " " + clips[i + 1][1])
              for i in range(0, 4, 2)]
    return {"clips": clips, "voices": voices, "prefixes": prefixes, "joined": joined}


async def decode_all(engine: WhisperEngine, items) -> tuple[list[str], list[float]]:
    texts, times = [], []
    for i, (audio, _) in enumerate(items):
        started = time.perf_counter()
        hypothesis = await engine.transcribe(DecodeRequest(request_id=str(i), audio=audio, final=True,
                                                           language="en"))
        times.append(time.perf_counter() - started)
        texts.append(hypothesis.text)
    return texts, times


def wer(pairs) -> float:
    errors = total = 0
    for reference, hypothesis in pairs:
        e, n = word_errors(reference, hypothesis)
        errors, total = errors + e, total + n
    return round(100 * errors / max(total, 1), 1)


def ms(times: list[float]) -> str:
    ordered = sorted(times)
    return f"{statistics.median(ordered) * 1000:.0f}/{ordered[int(0.9 * (len(ordered) - 1))] * 1000:.0f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--margins", default="full,5,2,1,0", help="comma-separated seconds, or full")
    parser.add_argument("--num-workers", type=int, default=1)
    args = parser.parse_args()
    sets = corpus()
    reference_prefixes: list[str] | None = None
    print("| margin | WER clips | WER voices | WER joined | prefix words differing from full | "
          "decode ms p50/p90 clips | prefixes | joined |")
    print("|---|---|---|---|---|---|---|---|")
    for margin in args.margins.split(","):
        engine = WhisperEngine(WhisperOptions(window_margin_sec=None if margin == "full" else float(margin),
                                              num_workers=args.num_workers))
        try:
            await decode_all(engine, sets["clips"][:1])  # warm-up
            results = {name: await decode_all(engine, items) for name, items in sets.items()}
        finally:
            await engine.close()
        prefix_texts = results["prefixes"][0]
        if reference_prefixes is None:
            reference_prefixes = prefix_texts
        row = {name: wer(zip((ref for _, ref in sets[name]), results[name][0]))
               for name in ("clips", "voices", "joined")}
        row["prefixes_vs_first"] = wer(zip(reference_prefixes, prefix_texts))
        print(f"| {margin} | {row['clips']} % | {row['voices']} % | {row['joined']} % | {row['prefixes_vs_first']} % "
              f"| {ms(results['clips'][1])} | {ms(results['prefixes'][1])} | {ms(results['joined'][1])} |",
              flush=True)
        print(json.dumps({"margin": margin, **row}), file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
