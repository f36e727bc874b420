"""Live decodes beside a recording's, with the batch child paused for them and not, interleaved.

    PYTHONPATH=$PWD .venv/bin/python -m bench.batch_pause --seconds 240 --block 15

One whisper engine (the bundled tiny.en, the ASR worker's defaults: 2 decode threads,
the batch child at nice 19) in this process, no stack: a recording's decodes
(``batch=True``, 28 s packs, one after the other, as the ASR worker sends a
recording's packs) run without end in the child, and ``--live`` loops each decode
a final of 2-6 s of speech, then wait 0.3-1.5 s (live calls' decodes come and
go). Every ``--block`` seconds the pause is switched on or off (off: the child is
continued and no longer stopped), so both modes share the box's noise (the box may
be shared). Per mode: the live decodes' latency (submit to result) p50 / p95 /
p99, and the recording's audio seconds decoded per wall second (packs that
ended in a block of that mode; one spanning a switch counts in the block where
it ended).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time

import numpy as np

from bench.latency import load_average

SR = 16_000
PACK_SEC = 28.0


def switchable():
    """A :class:`ChildPauser` that the bench can switch off (child continued, never stopped) and on."""
    from asr_worker.engines.batch_pause import ChildPauser

    class Switchable(ChildPauser):
        enabled = True

        def _signal(self, signum: int) -> None:
            if self.enabled or signum == signal.SIGCONT:
                super()._signal(signum)

        def switch(self, enabled: bool) -> None:
            with self._cond:
                self.enabled = enabled
                if not enabled:
                    super()._signal(signal.SIGCONT)
                elif not self._running:
                    super()._signal(signal.SIGSTOP)

    return Switchable


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=240.0, help="length of the run")
    parser.add_argument("--block", type=float, default=15.0, help="seconds of each mode before switching")
    parser.add_argument("--live", type=int, default=3, help="live decode loops")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from asr_worker.engines import DecodeRequest, whisper
    from tests.kit.testdata import librivox_samples

    whisper.ChildPauser = switchable()  # type: ignore[misc]  # a pauser this bench can switch off
    engine = whisper.WhisperEngine(whisper.WhisperOptions())
    speech = np.concatenate([audio for audio, _ in librivox_samples()])
    pack = np.tile(speech, int(np.ceil(PACK_SEC * SR / len(speech))))[:int(PACK_SEC * SR)]
    rng = random.Random(args.seed)
    mode = {"on": True}
    latencies: dict[str, list[float]] = {"on": [], "off": []}
    recorded: dict[str, float] = {"on": 0.0, "off": 0.0}
    spent: dict[str, float] = {"on": 0.0, "off": 0.0}
    stop = asyncio.Event()

    def name() -> str:
        return "on" if mode["on"] else "off"

    async def recording() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            await engine.transcribe(DecodeRequest(request_id=f"pack-{n}", audio=pack, final=True, language="en",
                                                  batch=True))
            recorded[name()] += PACK_SEC

    async def live(i: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            start = rng.randrange(0, len(speech) - 6 * SR)
            audio = speech[start:start + int(rng.uniform(2, 6) * SR)]
            was, began = name(), time.monotonic()
            await engine.transcribe(DecodeRequest(request_id=f"live-{i}-{n}", audio=audio, final=True,
                                                  language="en"))
            if name() == was:  # a decode spanning a switch counts in neither
                latencies[was].append(time.monotonic() - began)
            await asyncio.sleep(rng.uniform(0.3, 1.5))

    # The child starts (and loads its model) at the first recording's decode: before the clock.
    await engine.transcribe(DecodeRequest(request_id="warm", audio=pack[:SR], final=True, language="en", batch=True))
    print(f"# bench.batch_pause: {os.cpu_count()} CPUs, load average at start {load_average()}, "
          f"{args.live} live loops, blocks of {args.block:.0f} s", flush=True)
    tasks = [asyncio.create_task(recording())] + [asyncio.create_task(live(i)) for i in range(args.live)]
    started = time.monotonic()
    try:
        while time.monotonic() - started < args.seconds:
            block = time.monotonic()
            await asyncio.sleep(args.block)
            spent[name()] += time.monotonic() - block
            mode["on"] = not mode["on"]
            engine.pauser.switch(mode["on"])  # type: ignore[union-attr]  # the switchable one set above
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await engine.close()
    print("| pause | live decodes | live latency p50 / p95 / p99 ms | recording audio s per wall s | wall s |\n"
          "|---|---|---|---|---|")
    for key in ("on", "off"):
        values = np.array(latencies[key]) * 1000
        p50, p95, p99 = (np.percentile(values, q) for q in (50, 95, 99)) if len(values) else (0, 0, 0)
        print(f"| {key} | {len(values)} | {p50:.0f} / {p95:.0f} / {p99:.0f} | "
              f"{recorded[key] / max(spent[key], 1e-9):.2f} | {spent[key]:.0f} |")
    print(f"\nload average at the end {load_average()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
