"""Calls through a rolling restart: HAProxy in front of 3 gateways, every gateway restarted mid-call.

    .venv/bin/python -m bench.rolling_restart                   # 20 calls, the stand-in ASR engine
    .venv/bin/python -m bench.rolling_restart --engine whisper  # whisper tiny.en (CPU; heavy for 2 cores)

It starts a private redis-server, one VAD and one ASR worker, three gateways
and HAProxy (the Debian package; tests/kit/balancer.py: round robin, ``/readyz``
checks every 0.5 s, a refused connection redispatched). Then two runs of
``--calls`` resumable calls (``StreamscribeClient``) through the balancer, each
streaming the five LibriVox clips of tests/kit/testdata.py twice at real time
(call ``i`` starts at clip ``i mod 5``, 1 s of silence after each clip):

- ``baseline``: no restart;
- ``rolling``: ``--settle`` s after every call opened, each gateway in turn gets
  SIGTERM (it parks its resumable calls in Redis and closes them with 1012; the
  clients reconnect through HAProxy to another gateway and resume), and a new
  gateway is started on its port and waited for (``ready``) before the next.

Per run it prints: calls completed, finals, finals repeated (an utterance id
twice in a call), WER of every call's finals against the clips' transcripts,
and for the rolling run the resumes, the reconnect gap (client side: from the
lost connection to ``session_resumed``; p50/p95/max) and how long each old
gateway took to exit.

The default engine is ``standin-sleep``, a STAND-IN that recognises nothing
(asr_worker/engines/standin.py: it finds the clip the audio comes from, sleeps
whisper's measured decode time and returns the clip's text; a final whose audio
was cut or doubled by a resume would come out different). ``--engine whisper``
runs the real whisper tiny.en on the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time

import numpy as np

from streamscribe_client import StreamClosed, StreamscribeClient
from tests.kit.balancer import Balancer
from tests.kit.stack import Stack
from tests.kit.support import RedisServer, paced, pcm_chunks, wait_for_workers, word_errors
from tests.kit.testdata import librivox_dir, librivox_samples

RATE = 16_000
GATEWAYS = 3
STANDIN = "standin-sleep (STAND-IN)"


def engine_env(engine: str) -> dict[str, str]:
    if engine == "whisper":
        return {}
    return {"STREAMSCRIBE_ASR_ENGINE": "standin-sleep", "STREAMSCRIBE_ASR_ALLOW_STANDIN_ENGINE": "true",
            "STREAMSCRIBE_ASR_STANDIN_CLIPS": str(librivox_dir())}


def call_audio(clips: list[tuple[np.ndarray, str]], first: int, passes: int) -> tuple[bytes, str]:
    """PCM16 of the clips from ``first`` on, ``passes`` times over, 1 s of silence after each; and the reference."""
    parts, words = [np.zeros(RATE // 2, np.float32)], []
    for index in range(len(clips) * passes):
        samples, text = clips[(first + index) % len(clips)]
        parts += [samples, np.zeros(RATE, np.float32)]
        words.append(text)
    pcm = (np.clip(np.concatenate(parts) * 32768, -32768, 32767).astype("<i2")).tobytes()
    return pcm, " ".join(words)


async def one_run(url: str, audios: list[tuple[bytes, str]], *, restart=None, settle: float) -> dict:
    opened = asyncio.Event()
    created = []

    def on_message(message: dict) -> None:
        if message["type"] == "session_created":
            created.append(message["session_id"])
            if len(created) == len(audios):
                opened.set()

    clients = [StreamscribeClient(url, sample_rate=RATE, timeout=60, max_attempts=8, on_message=on_message)
               for _ in audios]
    calls = [asyncio.create_task(client.run(paced(pcm_chunks(pcm), 100))) for client, (pcm, _) in zip(clients, audios)]
    exits: list[float] = []

    async def restarts() -> None:
        await opened.wait()
        await asyncio.sleep(settle)  # the calls run a while before the first restart: pacing, not sync
        for index in range(GATEWAYS):
            exits.append(await asyncio.to_thread(restart, index))

    restarting = asyncio.create_task(restarts()) if restart is not None else None
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    if restarting is not None:
        await restarting
    completed, finals, repeated, errors, words = 0, 0, 0, 0, 0
    failures = []
    for client, outcome, (_, reference) in zip(clients, outcomes, audios):
        if isinstance(outcome, BaseException):
            failures.append(repr(outcome) if not isinstance(outcome, StreamClosed) else str(outcome))
            continue
        completed += 1
        call_finals = [m for m in outcome if m["type"] == "final"]
        finals += len(call_finals)
        repeated += len(call_finals) - len({m["utterance_id"] for m in call_finals})
        wrong, total = word_errors(reference, " ".join(m["text"] for m in call_finals))
        errors += wrong
        words += total
    gaps = sorted(gap for client in clients for gap in client.gaps)
    return {"calls": len(audios), "completed": completed, "finals": finals, "finals_repeated": repeated,
            "wer": round(errors / words, 4) if words else None, "resumes": sum(c.reconnects for c in clients),
            "restarts_seen": sum(c.restarts for c in clients),
            "gap_p50_s": round(statistics.median(gaps), 3) if gaps else None,
            "gap_p95_s": round(gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))], 3) if gaps else None,
            "gap_max_s": round(gaps[-1], 3) if gaps else None,
            "gateway_exit_s": [round(e, 2) for e in exits], "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rolling_restart", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--passes", type=int, default=2, help="times each call streams the five clips")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of calls before the first restart")
    parser.add_argument("--engine", choices=("standin", "whisper"), default="standin")
    args = parser.parse_args(argv)
    clips = librivox_samples()
    audios = [call_audio(clips, i % len(clips), args.passes) for i in range(args.calls)]
    engine = STANDIN if args.engine == "standin" else "whisper tiny.en (CPU)"
    env = {"STREAMSCRIBE_GATEWAY_MAX_PENDING_PER_IP": "0", "STREAMSCRIBE_VAD_CAPACITY": "64",
           "STREAMSCRIBE_ASR_CAPACITY": "64", **engine_env(args.engine)}
    redis = RedisServer()
    redis.start()
    stack = balancer = None
    try:
        stack = Stack(redis, extra_env=env)
        for _ in range(GATEWAYS - 1):
            stack.add_gateway()
        wait_for_workers(stack.http, ["vad", "asr"])
        balancer = Balancer([port for _, port in stack.gateways])
        results = {}
        for name, restart in (("baseline", None), ("rolling", stack.restart_gateway)):
            started = time.monotonic()
            results[name] = asyncio.run(one_run(balancer.url, audios, restart=restart, settle=args.settle))
            results[name]["wall_s"] = round(time.monotonic() - started, 1)
            print(json.dumps({"run": name, **results[name]}), flush=True)
    finally:
        if balancer is not None:
            balancer.close()
        if stack is not None:
            stack.close()
        redis.close()
    print(f"\nrolling restart of {GATEWAYS} gateways behind HAProxy; {args.calls} resumable calls, "
          f"{args.passes} x 5 LibriVox clips each at real time; ASR: {engine}; "
          f"{platform.node()}, {platform.processor() or platform.machine()}")
    print("| run | calls completed | finals | finals repeated | WER | resumes | gap p50 | gap p95 | gap max |")
    print("|---|---|---|---|---|---|---|---|---|")
    def gap(seconds: float | None) -> str:
        return "-" if seconds is None else f"{seconds * 1000:.0f} ms"

    for name, r in results.items():
        print(f"| {name} | {r['completed']}/{r['calls']} | {r['finals']} | {r['finals_repeated']} | {r['wer']} | "
              f"{r['resumes']} | {gap(r['gap_p50_s'])} | {gap(r['gap_p95_s'])} | {gap(r['gap_max_s'])} |")
    ok = all(r["completed"] == r["calls"] and not r["finals_repeated"] for r in results.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
