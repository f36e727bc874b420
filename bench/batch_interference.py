"""What a batch child's run between two live decodes costs the second one: caches, not cores.

    .venv/bin/python -m bench.batch_interference --gaps 0.02,0.1,0.3 --blocks 6

No stack: a live decoder (the bundled tiny.en with the ASR worker's defaults) in this
process decodes a 3 s partial again and again; a child process at nice 19 (one
thread, as the ASR worker's batch child) decodes a recording's packs (8 of 28 s,
word timings) without end. Before each live decode this process waits ``gap``
seconds and stops the child (``SIGSTOP``), as ``--batch-pause`` does, so the two
never run at once. In blocks of 8 decodes, alternating, the child either stays
stopped through the gap or runs during it. Per gap: the live decode's p50 / p95 /
mean for each, so the difference is what the child left behind in the caches.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import time

import numpy as np

from bench.latency import load_average

SR = 16_000


def decode_packs_forever(packs: list[np.ndarray]) -> None:
    from asr_worker.engines import DecodeRequest
    from asr_worker.engines.whisper import WhisperDecoder, WhisperOptions

    os.nice(19)
    decoder = WhisperDecoder(WhisperOptions(cpu_threads=1, num_workers=1))
    requests = [DecodeRequest(request_id=f"pack-{i}", audio=pack, final=True, batch=True, word_timestamps=True)
                for i, pack in enumerate(packs)]
    while True:
        decoder.decode(requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gaps", default="0.02,0.1,0.3", help="comma-separated seconds between live decodes")
    parser.add_argument("--blocks", type=int, default=6, help="blocks of 8 decodes of each kind, per gap")
    args = parser.parse_args()

    from asr_worker.engines import DecodeRequest
    from asr_worker.engines.whisper import WhisperDecoder, WhisperOptions
    from tests.kit.testdata import librivox_samples

    speech = np.tile(np.concatenate([audio for audio, _ in librivox_samples()]), 3).astype(np.float32)
    packs = [speech[i * 4 * SR:(i * 4 + 28) * SR] for i in range(8)]
    child = multiprocessing.get_context("spawn").Process(target=decode_packs_forever, args=(packs,), daemon=True)
    child.start()
    assert child.pid is not None  # started
    live = WhisperDecoder(WhisperOptions(num_workers=1))
    partial = DecodeRequest(request_id="live", audio=speech[SR:4 * SR], final=False)
    for _ in range(3):
        live.decode([partial])
    print(f"# bench.batch_interference: {os.cpu_count()} CPUs, load average at start {load_average()}\n\n"
          "| gap between live decodes | child during the gap | live decodes | p50 / p95 / mean ms |\n"
          "|---|---|---|---|", flush=True)
    try:
        for gap in (float(g) for g in args.gaps.split(",")):
            took: dict[str, list[float]] = {"stopped": [], "runs": []}
            for _ in range(args.blocks):
                for mode, values in took.items():
                    for _ in range(8):
                        if mode == "runs":
                            os.kill(child.pid, signal.SIGCONT)
                        time.sleep(gap)  # the gap itself is what is measured against
                        os.kill(child.pid, signal.SIGSTOP)
                        started = time.perf_counter()
                        live.decode([partial])
                        values.append(time.perf_counter() - started)
            for mode, values in took.items():
                ms = np.array(values) * 1000
                print(f"| {gap * 1000:.0f} ms | {mode} | {len(ms)} | {np.median(ms):.1f} / "
                      f"{np.percentile(ms, 95):.1f} / {ms.mean():.1f} |", flush=True)
    finally:
        child.kill()
        child.join()
    print(f"\nload average at the end {load_average()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
