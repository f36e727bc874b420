"""End-to-end WER with noise: does the ASR do better on raw or on denoised audio?

Starts a throw-away redis-server, the gateway, and the denoise, VAD and ASR
workers as real processes (the ASR worker with its default engine), then for
each noise kind and SNR streams one session holding every LibriVox clip (with
1 s gaps, noise throughout; babble for a clip is made from the *other* clips)
three ways:

* ``off``       -- no denoise stage: VAD and ASR hear the noisy audio;
* ``raw``       -- denoise on, ``asr_audio: raw``: the VAD scores denoised audio,
                   the ASR hears the raw audio;
* ``denoised``  -- denoise on, ``asr_audio: denoised``.

It prints a WER table (and the finals count, which should equal the clips),
then streams the clean clips with denoise off and on at ``--latency-speed``
and prints the gateway's first-partial and end-of-speech-to-final latencies
(mean from its histograms): the difference is what the denoise hop adds.

Usage (from the repository root)::

    .venv/bin/python -m bench.denoise_wer [--snr 0 5 10] [--noise white pink babble] [--speed 4]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
import urllib.request

import numpy as np

from denoise_worker.quality import make_noise
from streamscribe_client import file_frames, stream
from tests.kit.support import RedisServer, free_port, service, wait_for_workers, word_errors
from tests.kit.testdata import librivox_samples

RATE = 16000
GAP = RATE  # 1 s of noise between clips
MODES: dict[str, dict] = {"off": {"denoise": False}, "raw": {"denoise": True, "asr_audio": "raw"},
         "denoised": {"denoise": True, "asr_audio": "denoised"}}


def session_audio(clips, kind: str | None, snr_db: float, seed: int = 0) -> np.ndarray:
    """Clips separated by gaps; noise at ``snr_db`` relative to the speech's power."""
    speech_parts, noise_parts = [np.zeros(GAP // 2, np.float32)], []
    for i, (samples, _) in enumerate(clips):
        speech_parts += [samples, np.zeros(GAP, np.float32)]
    speech = np.concatenate(speech_parts)
    if kind is None:
        return speech
    talkers = [c for c, _ in clips]
    cursor = 0
    for i, part in enumerate(speech_parts):
        others = [t for j, t in enumerate(talkers) if j != (i - 1) // 2] or talkers
        noise_parts.append(make_noise(kind, len(part), talkers=others, seed=seed + i))
        cursor += len(part)
    noise = np.concatenate(noise_parts).astype(np.float64)
    active = np.concatenate([c for c, _ in clips]).astype(np.float64)
    gain = np.sqrt(np.mean(active**2) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    mix = speech + gain * noise
    peak = np.max(np.abs(mix))
    if peak > 0.99:
        mix *= 0.99 / peak
    return mix.astype(np.float32)


class Bench:
    def __init__(self) -> None:
        self.redis = RedisServer()
        self.processes: list = []

    def start(self) -> None:
        self.redis.start()
        env = {"STREAMSCRIBE_REDIS_URL": self.redis.url}
        self.port = free_port()
        self.http = f"http://127.0.0.1:{self.port}"
        for name, module in (("denoise", "denoise_worker"), ("vad", "vad_worker"), ("asr", "asr_worker")):
            self.processes.append(service(name, module, "--http-port", str(free_port()), env=env))
        self.processes.append(service("gateway", "gateway", "--host", "127.0.0.1", "--port", str(self.port),
                                      env=env))
        for process in self.processes:
            process.wait_for_line(r"\bready\b", 120)
        wait_for_workers(self.http, ("denoise", "vad", "asr"))

    def close(self) -> None:
        for process in self.processes:
            process.stop()
        self.redis.close()

    def histogram_means(self) -> dict[str, tuple[float, float]]:
        """(sum, count) of the gateway's latency histograms."""
        with urllib.request.urlopen(self.http + "/metrics", timeout=10) as response:
            text = response.read().decode()
        out = {}
        for name in ("first_partial_latency_seconds", "speech_end_to_final_seconds"):
            total = re.search(rf"^streamscribe_gateway_{name}_sum (\S+)$", text, re.M)
            count = re.search(rf"^streamscribe_gateway_{name}_count (\S+)$", text, re.M)
            out[name] = (float(total.group(1)) if total else 0.0, float(count.group(1)) if count else 0.0)
        return out

    async def session(self, audio: np.ndarray, config: dict, speed: float) -> list[dict]:
        frames = file_frames(audio, RATE, chunk_ms=100, speed=speed)
        return await stream(f"ws://127.0.0.1:{self.port}/ws/asr", frames, sample_rate=RATE, config=config,
                            timeout=300)


def score(messages, clips) -> tuple[int, int, int]:
    finals = [m["text"] for m in messages if m["type"] == "final"]
    reference = " ".join(text for _, text in clips)
    errors, words = word_errors(reference, " ".join(finals))
    return errors, words, len(finals)


async def run(args) -> None:
    clips = librivox_samples()
    bench = Bench()
    bench.start()
    try:
        print(f"{len(clips)} clips, {sum(len(c) for c, _ in clips) / RATE:.1f} s of speech per session; "
              f"paced at {args.speed}x real time\n")
        print(f"{'noise':8} {'SNR dB':>6} " + " ".join(f"{'WER ' + m:>14}" for m in MODES) + "   finals")
        rows: list = []
        for kind in args.noise:
            for snr in args.snr:
                audio = session_audio(clips, kind, snr, seed=len(rows))
                cells, counts = [], []
                for mode, config in MODES.items():
                    e, n, finals = score(await bench.session(audio, config, args.speed), clips)
                    cells.append(e / n)
                    counts.append(finals)
                rows.append((kind, snr, cells))
                print(f"{kind:8} {snr:>6} " + " ".join(f"{c:>14.1%}" for c in cells)
                      + "   " + "/".join(map(str, counts)), flush=True)
        means = np.mean([r[2] for r in rows], axis=0)
        print(f"{'mean':8} {'':>6} " + " ".join(f"{c:>14.1%}" for c in means))

        print(f"\nLatency on clean clips at {args.latency_speed}x real time "
              f"(gateway histograms, mean over utterances, {args.latency_runs} session(s) per mode):")
        clean = session_audio(clips, None, 0)
        for mode in ("off", "raw"):
            before = bench.histogram_means()
            for _ in range(args.latency_runs):
                await bench.session(clean, MODES[mode], args.latency_speed)
            after = bench.histogram_means()
            parts = []
            for name, (total, count) in after.items():
                d_total, d_count = total - before[name][0], count - before[name][1]
                parts.append(f"{name} {1000 * d_total / max(d_count, 1):7.1f} ms (n={int(d_count)})")
            print(f"  denoise {mode:4}: " + "; ".join(parts), flush=True)
    finally:
        bench.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snr", type=float, nargs="+", default=[0, 5, 10])
    parser.add_argument("--noise", nargs="+", default=["white", "pink", "babble"])
    parser.add_argument("--speed", type=float, default=4.0, help="pacing of the WER sessions (x real time)")
    parser.add_argument("--latency-speed", type=float, default=1.0)
    parser.add_argument("--latency-runs", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.monotonic()
    asyncio.run(run(args))
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
