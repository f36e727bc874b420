"""Benchmark the DeepFilterNet3 denoiser: speed, latency per chunk, and quality.

Usage (from the repository root)::

    .venv/bin/python -m bench.denoise_bench speed [--seconds 20] [--chunk-ms 20] [--streams 3]
    .venv/bin/python -m bench.denoise_bench quality [--clips DIR] [--voices 8]

``speed`` runs ``--streams`` sessions one after the other in this single
process (a DenoiseStream holds the GIL, so one process is one core) and prints:

* RTF per stream (compute time / audio time) and streams per core (1 / RTF);
* compute time per chunk (median, p90, p99): what one chunk costs a worker;
* the latency the stage adds to a chunk's audio: the output lag (audio received
  but not yet returned) after each chunk, plus the chunk's compute time.

``quality`` mixes every LibriVox clip with white, pink, hum and babble noise at
0, 5 and 10 dB SNR and prints the SI-SDR before and after, and the gain.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from common.records import SAMPLE_RATE
from denoise_worker.dsp import DenoiseStream
from denoise_worker.quality import NOISE_KINDS, make_noise, mix_at_snr, si_sdr

REPO = Path(__file__).resolve().parents[1]

DEFAULT_CLIPS = REPO.parent / "shared" / "testdata" / "librivox"


def load_clips(folder: Path) -> list[np.ndarray]:
    import soundfile as sf

    wavs = sorted(folder.glob("*.wav"))
    if not wavs:
        sys.exit(f"no WAV files in {folder} (use --clips)")
    return [sf.read(str(wav), dtype="float32")[0] for wav in wavs]


def pct(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_speed(args: argparse.Namespace) -> None:
    clips = load_clips(args.clips)
    speech = np.concatenate(clips)
    n = int(args.seconds * SAMPLE_RATE)
    speech = np.resize(speech, n)
    audio = mix_at_snr(speech, make_noise("pink", n, seed=1), 5)
    chunk = SAMPLE_RATE * args.chunk_ms // 1000

    DenoiseStream().close()  # load libraries and weights once before timing
    rtfs, chunk_ms, lag_ms, added_ms = [], [], [], []
    for _ in range(args.streams):
        start = time.perf_counter()
        stream = DenoiseStream(resample_quality=args.resample_quality)
        for i in range(0, n, chunk):
            t0 = time.perf_counter()
            stream.process(audio[i : i + chunk])
            cost = (time.perf_counter() - t0) * 1000
            lag = stream.lag / SAMPLE_RATE * 1000
            chunk_ms.append(cost)
            lag_ms.append(lag)
            added_ms.append(lag + cost)
        stream.flush()
        rtfs.append((time.perf_counter() - start) / args.seconds)

    rtf = float(np.median(rtfs))
    print(f"denoise speed: {args.streams} streams x {args.seconds:g} s, {args.chunk_ms} ms chunks, "
          f"resampler {args.resample_quality}, one process")
    print(f"  RTF per stream       median {rtf:.3f}  (runs: {', '.join(f'{r:.3f}' for r in rtfs)})")
    print(f"  streams per core     {1 / rtf:.1f} at 100% of a core (plan ~{0.7 / rtf:.0f} at 70%)")
    print(f"  compute per chunk    median {np.median(chunk_ms):.2f} ms  p90 {pct(chunk_ms, 90):.2f}  "
          f"p99 {pct(chunk_ms, 99):.2f}  max {max(chunk_ms):.2f}")
    print(f"  output lag           median {np.median(lag_ms):.1f} ms  p90 {pct(lag_ms, 90):.1f}  "
          f"p99 {pct(lag_ms, 99):.1f}  max {max(lag_ms):.1f}  (resamplers + hop + 30 ms model lookahead)")
    print(f"  latency added/chunk  median {np.median(added_ms):.1f} ms  p90 {pct(added_ms, 90):.1f}  "
          f"p99 {pct(added_ms, 99):.1f}  (lag + compute; bus hops not included)")


def bench_quality(args: argparse.Namespace) -> None:
    clips = load_clips(args.clips)
    print(f"SI-SDR (dB) over {len(clips)} LibriVox clips, 100 ms chunks, babble of {args.voices} voices")
    print(f"{'noise':8} {'SNR':>4} {'input':>7} {'output':>7} {'gain':>6} {'min gain':>9}")
    for kind in NOISE_KINDS:
        for snr in (0, 5, 10):
            before, after = [], []
            for index, speech in enumerate(clips):
                talkers = [clip for j, clip in enumerate(clips) if j != index]
                noise = make_noise(kind, len(speech), talkers=talkers, voices=args.voices, seed=index)
                noisy = mix_at_snr(speech, noise, snr)
                stream = DenoiseStream(
                    atten_lim_db=args.atten_lim_db, post_filter=args.post_filter,
                    resample_quality=args.resample_quality,
                )
                out = np.concatenate(
                    [stream.process(noisy[i : i + 1600]) for i in range(0, len(noisy), 1600)] + [stream.flush()]
                )
                before.append(si_sdr(noisy, speech))
                after.append(si_sdr(out, speech))
            gains = np.subtract(after, before)
            print(f"{kind:8} {snr:>4} {np.mean(before):7.2f} {np.mean(after):7.2f} {np.mean(gains):6.2f} "
                  f"{np.min(gains):9.2f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["speed", "quality"], nargs="?", default="speed")
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="folder of 16 kHz speech WAVs")
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per stream (speed)")
    parser.add_argument("--streams", type=int, default=3, help="streams run one after the other (speed)")
    parser.add_argument("--chunk-ms", type=int, default=20, help="chunk size (speed)")
    parser.add_argument("--voices", type=int, default=8, help="babble voices (quality)")
    parser.add_argument("--atten-lim-db", type=float, default=None)
    parser.add_argument("--post-filter", type=float, default=0.0)
    parser.add_argument("--resample-quality", default="HQ", choices=["LQ", "MQ", "HQ", "VHQ"])
    args = parser.parse_args(argv)
    (bench_speed if args.mode == "speed" else bench_quality)(args)


if __name__ == "__main__":
    main()
