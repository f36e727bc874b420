"""The batch lane: live calls with and without a recording beside them, and a recording's throughput.

    .venv/bin/python -m bench.batch_lane --live 8 --recording-minutes 60 --rounds 4 --skip throughput,offline
    .venv/bin/python -m bench.batch_lane --recording-minutes 10 --skip live --beams 1

Starts a private stack with default flags. Live: ``--live`` sessions of :mod:`bench.latency` in
rounds alone and beside a recording sent unpaced as a batch session (``--beside-from whole``: one
recording from its first final to its last), the pooled live p95 change with a 90 % interval over
rounds, and per round the CPU by process. Throughput: the recording alone over the WebSocket and
``POST /v1/listen``, audio seconds per CPU second of the whole stack, beside faster-whisper's
``transcribe`` and ``BatchedInferencePipeline`` on the same audio and model, with and without word
timings. ``--env NAME=VALUE`` sets a variable of the stack's processes.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from bench.latency import (RATE, Figures, OwnStack, whisper_model_path, load_average, percentiles, run_level,
                           session_audio)
from common import aio
from tests.kit.faults import five_utterances
from tests.kit.support import cpu_seconds, normalise, word_errors
from tests.kit.testdata import librivox_clips


@dataclass
class Recording:
    """A batch session's finals as they arrived: (wall time, end of the final's audio in s, text)."""

    finals: list[tuple[float, float, str]]
    error: str | None = None

    def transcribed(self, since: float, until: float) -> float:
        """Seconds of the recording's audio whose finals arrived between ``since`` and ``until``."""
        ends = [end for at, end, _ in self.finals if since <= at <= until]
        before = [end for at, end, _ in self.finals if at < since]
        return (max(ends) - max(before, default=0.0)) if ends else 0.0

    @property
    def transcript(self) -> str:
        return " ".join(text for _, _, text in self.finals)


# Frames of a second, as docs/batch.md advises for a recording (until 2026-11-23 this bench sent
# 100 ms frames: the gateway then spent about 0.8 CPU s more on a 10-minute recording).
RECORDING_FRAME_MS = 1000


def recording_audio(minutes: float) -> tuple[np.ndarray, str]:
    """The five clips with their gaps, repeated to at least ``minutes``; its reference transcript."""
    clips = librivox_clips()
    one = five_utterances(clips)
    repeats = max(1, math.ceil(minutes * 60 * RATE / len(one)))
    return np.tile(one, repeats), " ".join([" ".join(text for _, text in clips)] * repeats)


async def send_recording(url: str, audio: np.ndarray, recording: Recording, *, started: asyncio.Event | None = None,
                         timeout: float) -> None:
    """Stream ``audio`` as a batch session, unpaced; note its finals in ``recording``."""
    from streamscribe_client import StreamClosed, file_frames, stream

    def on_message(message: dict) -> None:
        if message["type"] == "final":
            recording.finals.append((time.monotonic(), message["end_ms"] / 1000, message["text"]))
            if started is not None:
                started.set()
        elif message["type"] == "error":
            recording.error = f"{message['code']}: {message['message']}"

    try:
        await stream(url, file_frames(audio, RATE, chunk_ms=RECORDING_FRAME_MS, speed=0), sample_rate=RATE,
                     config={"priority": "batch"}, on_message=on_message, timeout=timeout)
    except (StreamClosed, OSError, TimeoutError) as exc:
        recording.error = recording.error or str(exc)


class StackCpu:
    """CPU seconds of the stack's processes and of every process they started (the ASR worker's
    nice-19 child that decodes recordings), from ``/proc``."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self._start = self._now()

    def spent(self) -> float:
        """CPU seconds since this was made (or last asked); a process started meanwhile counts whole."""
        return sum(self.spent_by_process().values())

    def spent_by_process(self) -> dict[str, float]:
        """:meth:`spent`, apart for each process (named by :func:`process_name`; one started
        meanwhile counts whole, one gone meanwhile not at all)."""
        now = self._now()
        spent: dict[str, float] = {}
        for pid, seconds in now.items():
            name = process_name(pid)
            spent[name] = spent.get(name, 0.0) + seconds - self._start.get(pid, 0.0)
        self._start = now
        return spent

    def _now(self) -> dict[int, float]:
        found, todo = {}, list(self.pids)
        while todo:
            pid = todo.pop()
            try:
                found[pid] = cpu_seconds(pid)
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(child) for child in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
        return found


def process_name(pid: int) -> str:
    """``asr_worker`` for ``python -m asr_worker``, ``asr_worker child`` for a process it spawned
    (multiprocessing), else the program's name (``redis-server``)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return "gone"
    if "-m" in args[:-1]:
        return args[args.index("-m") + 1]
    if any("multiprocessing" in arg for arg in args):
        return f"{process_name(parent)} child"
    return Path(args[0]).name.split(" ")[0] or "?"  # redis-server sets its title to "redis-server HOST:PORT"


async def quiet(pids: list[int], *, idle_cpu: float = 0.05, timeout: float = 120.0) -> float:
    """Wait (at most ``timeout`` s) until the stack spends under ``idle_cpu`` CPU seconds in a
    second; the seconds waited."""
    cpu, started = StackCpu(pids), time.monotonic()
    while time.monotonic() - started < timeout:
        await asyncio.sleep(1.0)  # a measuring interval, not a synchronisation
        if cpu.spent() < idle_cpu:
            break
    return time.monotonic() - started


def asr_decodes(url: str) -> tuple[float, float]:
    """The ASR worker's decodes so far and the seconds of audio they took in, from its metrics."""
    from tests.kit.faults import metric

    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return (metric(text, "streamscribe_asr_decode_seconds_count"),
            metric(text, "streamscribe_asr_decoded_audio_seconds_total"))


def batch_child_pauses(url: str) -> tuple[float, ...]:
    """The ASR's batch child so far: seconds stopped, pauses, shares run under live load (0 without pauses)."""
    from tests.kit.faults import metric

    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return tuple(metric(text, f"streamscribe_asr_batch_child_{name}_total")
                 for name in ("paused_seconds", "pauses", "share_runs"))


class StageTimes:
    """Where a round's time went, from the VAD's and the ASR's metrics: a snapshot now,
    :meth:`since` the figures of what happened after it."""

    def __init__(self, vad_url: str, asr_url: str) -> None:
        self.urls = vad_url, asr_url
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        from tests.kit.faults import metric

        vad, asr = (urllib.request.urlopen(url, timeout=10).read().decode() for url in self.urls)
        found = {name: metric(vad, f"streamscribe_stage_processing_seconds_{name}")
                 for name in ("count", "sum")}
        for le in ("0.025", "0.05", "0.1"):
            found[f"le{le}"] = metric(vad, "streamscribe_stage_processing_seconds_bucket", le=le)
        for kind in ("final", "partial"):
            for name in ("count", "sum"):
                found[f"{kind}_{name}"] = metric(asr, f"streamscribe_asr_decode_seconds_{name}", kind=kind)
        return found

    def since(self) -> str:
        """The figures since the snapshot: VAD steps (mean, how many over 25/50/100 ms), live decodes (mean)."""
        now = self._now()
        d = {name: now[name] - self.start[name] for name in now}
        steps = d["count"] or 1
        over = ", ".join(f"{d['count'] - d['le' + le]:.0f} over {float(le) * 1000:.0f} ms"
                         for le in ("0.025", "0.05", "0.1"))
        decodes = "; ".join(f"{d[kind + '_count']:.0f} {kind} decodes, "
                            f"mean {1000 * d[kind + '_sum'] / (d[kind + '_count'] or 1):.0f} ms"
                            for kind in ("final", "partial"))
        return f"VAD {d['count']:.0f} steps, mean {1000 * d['sum'] / steps:.1f} ms, {over}; ASR {decodes}"


def wer(reference: str, hypothesis: str) -> str:
    errors, words = word_errors(reference, hypothesis)
    return f"{100 * errors / words:.1f} %" if words else "n/a"


class LiveRounds:
    """Rounds of ``--live`` calls, each printed as a row of the table; their latencies by mode."""

    def __init__(self, own: OwnStack, args) -> None:
        self.own, self.args = own, args
        self.audio, self.utterances, _ = session_audio(1.5, 3.0)
        self.level = argparse.Namespace(chunk_ms=100, finalize_after=None, config={}, dump=None)
        self.summary: dict[str, list[Figures]] = {"alone": [], "beside a recording": []}

    def header(self, recording: np.ndarray, beside: str) -> None:
        print(f"\n## {self.args.live} live calls ({len(self.audio) / RATE:.1f} s each, real time), alone and beside a "
              f"{len(recording) / RATE / 60:.1f}-minute recording (batch lane; {beside})\n", flush=True)
        print("| run | live end of speech -> final p50 / p95 / p99 ms | finals | WER | recording transcribed "
              "meanwhile | server CPU s | load avg |\n|---|---|---|---|---|---|---|", flush=True)

    async def run(self, mode: str, recorded: Recording | None = None, *, note: str = "") -> tuple[float, float]:
        """One round (``recorded``: the recording beside it, whose progress the row gives); its
        start and end (monotonic)."""
        own = self.own
        pauses = await asyncio.to_thread(batch_child_pauses, own.asr_metrics)
        times = await asyncio.to_thread(StageTimes, own.vad_metrics, own.asr_metrics)
        cpu, started = StackCpu(own.pids), time.monotonic()
        figures = await run_level("streamscribe", own.url, self.args.live, self.audio, self.utterances, self.level,
                                  finalize=False, model="")
        ended = time.monotonic()
        apart = cpu.spent_by_process()
        spent_where = await asyncio.to_thread(times.since)
        spent_where += f"; CPU s {cpu_by_process(apart)}"
        meanwhile = "n/a"
        if recorded is not None:
            done = recorded.transcribed(started, ended)
            meanwhile = f"{done:.0f} s in {ended - started:.0f} s ({done / (ended - started):.1f}x real time)"
            if recorded.error:
                meanwhile += f"; error: {recorded.error}"
            paused, stops, shares = (after - before for after, before in zip(
                await asyncio.to_thread(batch_child_pauses, own.asr_metrics), pauses))
            meanwhile += f"; child stopped {paused:.0f} s ({stops:.0f} pauses, {shares:.0f} shares)"
        if note:
            meanwhile += f"; {note}"
        self.summary[mode].append(figures)
        wer_text = f"{100 * figures.errors / figures.words:.1f} %" if figures.words else "n/a"
        print(f"| {mode} | {percentiles(figures.eos_final)} | {figures.finals}/{figures.utterances} | {wer_text} "
              f"| {meanwhile} | {sum(apart.values()):.1f} | {load_average()} |", flush=True)
        print(f"#   {mode}: {spent_where}", flush=True)
        for error in sorted(set(figures.failed))[:3]:
            print(f"#   {figures.failed.count(error)} live session(s) failed: {error}", flush=True)
        return started, ended

    def print_change(self) -> None:
        pooled = {mode: [v for f in runs for v in f.eos_final] for mode, runs in self.summary.items()}
        if not all(pooled.values()):
            return
        alone, beside = (np.percentile(pooled[m], 95) * 1000 for m in self.summary)
        low, high = p95_change_interval([f.eos_final for f in self.summary["alone"]],
                                        [f.eos_final for f in self.summary["beside a recording"]])
        print(f"\nlive p95 over every run: alone {alone:.0f} ms, beside a recording {beside:.0f} ms "
              f"({100 * (beside - alone) / alone:+.1f} %; target < +10 %; 90 % interval over rounds "
              f"{100 * low:+.1f} to {100 * high:+.1f} %)", flush=True)


async def start_recording(own: OwnStack, recording: np.ndarray, recorded: Recording) -> asyncio.Task:
    """Send ``recording`` as a batch session in a task; return once its first final has come."""
    flowing = asyncio.Event()
    background = asyncio.create_task(send_recording(own.url, recording, recorded, started=flowing,
                                                    timeout=len(recording) / RATE + 600))
    waiter = asyncio.create_task(flowing.wait())
    await asyncio.wait({background, waiter}, return_when=asyncio.FIRST_COMPLETED, timeout=120)
    waiter.cancel()
    if not flowing.is_set():
        background.cancel()
        raise RuntimeError(f"the recording did not start: {recorded.error}")
    return background


async def live_runs(own: OwnStack, args, recording: np.ndarray) -> None:
    """Rounds alone and rounds beside a recording started anew for each (``--beside-from``)."""
    rounds = LiveRounds(own, args)
    rounds.header(recording, "a new recording for each round beside it, measured from "
                  + ("its start-up settled" if args.beside_from == "settled" else "its first final"))
    for _ in range(args.rounds):
        await rounds.run("alone")
        recorded = Recording([])
        background = await start_recording(own, recording, recorded)
        note = ""
        if args.beside_from == "settled":
            # Its start-up left out: the ASR reads a recording's first packs ahead
            # (--batch-pack-depth, ~450 s of audio), all through the VAD at nice 0 in
            # the first seconds; the round measures what follows.
            settling = await quiet([own.vad_pid], idle_cpu=0.05, timeout=300)
            note = f"VAD settled {settling:.0f} s after its first final"
        await rounds.run("beside a recording", recorded, note=note)
        background.cancel()  # the client goes away: the session ends
        await asyncio.gather(background, return_exceptions=True)
        # The decodes of its packs already in the batch child run on: the next round
        # alone must not have them beside it.
        await quiet(own.pids)
    rounds.print_change()


async def whole_recording_runs(own: OwnStack, args, recording: np.ndarray) -> None:
    """``--rounds`` rounds alone, then rounds back to back beside one recording from its first
    final to its last (its start-up included, once, as for a real recording), then ``--rounds``
    alone again: the issue's case, one recording transcribed beside the calls. A round during
    which the recording ended (partly alone) is printed and left out."""
    rounds = LiveRounds(own, args)
    rounds.header(recording, "one recording, every round from its first final to its last, alone rounds before "
                  "and after it")
    for _ in range(args.rounds):
        await rounds.run("alone")
    recorded = Recording([])
    background = await start_recording(own, recording, recorded)
    begun = time.monotonic()
    while not background.done():
        _, ended = await rounds.run("beside a recording", recorded)
        if background.done():
            last = max((at for at, _, _ in recorded.finals), default=ended)
            if last < ended:  # the round went on alone after the recording's last final: not kept
                rounds.summary["beside a recording"].pop()
                print("#   (the round above is left out of the summary: the recording ended during it)", flush=True)
    seconds = len(recording) / RATE
    wall = max((at for at, _, _ in recorded.finals), default=begun) - begun
    print(f"#   the recording: {seconds:.0f} s of audio, its finals over {wall:.0f} s from its first "
          f"({seconds / max(wall, 1e-9):.1f}x real time){'; error: ' + recorded.error if recorded.error else ''}",
          flush=True)
    await asyncio.gather(background, return_exceptions=True)
    await quiet(own.pids)
    for _ in range(args.rounds):
        await rounds.run("alone")
    rounds.print_change()


def p95_change_interval(alone: list[list[float]], beside: list[list[float]], *, draws: int = 2000,
                        seed: int = 0) -> tuple[float, float]:
    """A 90 % bootstrap interval of the pooled p95's relative change, beside / alone - 1: the rounds
    (each a list of latencies) of each kind resampled with replacement. Rounds, not latencies, are
    the unit: the latencies of one round share its box's state."""
    rng = np.random.default_rng(seed)
    changes = []
    for _ in range(draws):
        pick = [np.concatenate([runs[i] for i in rng.integers(0, len(runs), len(runs))]) for runs in (alone, beside)]
        changes.append(np.percentile(pick[1], 95) / np.percentile(pick[0], 95) - 1)
    return float(np.percentile(changes, 5)), float(np.percentile(changes, 95))


async def throughput(own: OwnStack, recording: np.ndarray, reference: str) -> None:
    seconds = len(recording) / RATE
    print(f"\n## Throughput on a {seconds / 60:.1f}-minute recording ({seconds:.0f} s of audio), "
          f"whisper tiny.en int8 on the CPU\n", flush=True)
    print("| system | wall s | CPU s | audio s per CPU s | audio s per wall s | WER | load avg |\n"
          "|---|---|---|---|---|---|---|", flush=True)
    done = Recording([])
    before = await asyncio.to_thread(asr_decodes, own.asr_metrics)
    cpu, started = StackCpu(own.pids), time.monotonic()
    await send_recording(own.url, recording, done, timeout=seconds + 600)
    wall, apart = time.monotonic() - started, cpu.spent_by_process()
    spent = sum(apart.values())
    label = "streamscribe batch lane (gateway + VAD + ASR + Redis)" + (f"; error: {done.error}" if done.error else "")
    print(f"| {label} | {wall:.1f} | {spent:.1f} | {seconds / spent:.1f} | {seconds / wall:.1f} "
          f"| {wer(reference, done.transcript)} | {load_average()} |", flush=True)
    print_cpu_by_process(apart)
    decodes, decoded = (after - then for after, then in zip(await asyncio.to_thread(asr_decodes, own.asr_metrics),
                                                            before))
    print(f"#   ASR decodes: {decodes:.0f} of {decoded:.0f} s of audio in all, {len(done.finals)} finals", flush=True)


def cpu_by_process(apart: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.1f}" for name, value in sorted(apart.items(), key=lambda item: -item[1]))


def print_cpu_by_process(apart: dict[str, float]) -> None:
    print(f"#   CPU s by process: {cpu_by_process(apart)}", flush=True)


async def prerecorded(own: OwnStack, recording: np.ndarray, reference: str) -> None:
    """The same recording as a WAV POSTed to ``/v1/listen`` (Deepgram's pre-recorded API), first
    byte to the response; the stack's CPU as for the WebSocket row."""
    body = io.BytesIO()
    soundfile.write(body, recording, RATE, format="WAV", subtype="PCM_16")
    request = urllib.request.Request(f"{own.stack.http}/v1/listen?punctuate=true", data=body.getvalue(),
                                     method="POST", headers={"Content-Type": "audio/wav"})
    seconds = len(recording) / RATE

    def post() -> dict:
        with urllib.request.urlopen(request, timeout=seconds + 600) as response:
            return json.loads(response.read())

    cpu, started = StackCpu(own.pids), time.monotonic()
    result = await asyncio.to_thread(post)
    wall, apart = time.monotonic() - started, cpu.spent_by_process()
    spent = sum(apart.values())
    transcript = result["results"]["channels"][0]["alternatives"][0]["transcript"]
    print(f"| streamscribe POST /v1/listen (WAV body, same stack) | {wall:.1f} | {spent:.1f} | {seconds / spent:.1f} "
          f"| {seconds / wall:.1f} | {wer(reference, transcript)} | {load_average()} |", flush=True)
    print_cpu_by_process(apart)


def offline(recording: np.ndarray, reference: str, *, beams: list[int], batch_size: int) -> None:
    """faster-whisper's own offline transcription of the recording, in this process."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    seconds = len(recording) / RATE
    model = WhisperModel(whisper_model_path("tiny.en"), device="cpu", compute_type="int8")
    pipeline = BatchedInferencePipeline(model)
    # The lane's finals carry word timings (an alignment pass per pack): the like-for-like
    # offline runs ask for them too (word_timestamps=True).
    runs = []
    for words in (False, True):
        suffix = ", word timings" if words else ""
        runs += [(f"faster-whisper WhisperModel.transcribe, beam {beam}{suffix}",
                  lambda beam=beam, words=words: model.transcribe(recording, language="en", beam_size=beam,
                                                                 word_timestamps=words)) for beam in beams]
        runs += [(f"faster-whisper BatchedInferencePipeline, batch {batch_size}, beam {beam}{suffix}",
                  lambda beam=beam, words=words: pipeline.transcribe(
                      recording, language="en", beam_size=beam, batch_size=batch_size, word_timestamps=words))
                 for beam in beams]
    for label, transcribe in runs:
        cpu, started = time.process_time(), time.monotonic()
        segments, _ = transcribe()
        text = " ".join(segment.text.strip() for segment in segments)  # decoding happens as segments are read
        wall, spent = time.monotonic() - started, time.process_time() - cpu
        print(f"| {label} | {wall:.1f} | {spent:.1f} | {seconds / spent:.1f} | {seconds / wall:.1f} "
              f"| {wer(reference, text)} | {load_average()} |", flush=True)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--live", type=int, default=8, help="live calls streaming at real time")
    parser.add_argument("--recording-minutes", type=float, default=10.0,
                        help="length of the recording (the five-clip stream repeated)")
    parser.add_argument("--rounds", type=int, default=1, help="live runs of each kind, alternating")
    parser.add_argument("--beams", default="1,5", help="beam sizes of the faster-whisper offline runs")
    parser.add_argument("--batch-size", type=int, default=8, help="BatchedInferencePipeline's batch size")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: live, throughput (and prerecorded), "
                        "prerecorded, offline")
    parser.add_argument("--beside-from", choices=("whole", "settled", "first-final"), default="whole",
                        help="whole: every round beside one recording, from its first final to its last (its start-up "
                        "once), alone rounds before and after; else a new recording for each round beside it, the "
                        "round starting once the VAD has caught up with the ASR's read-ahead of its first packs "
                        "(settled: its start-up left out) or at its first final")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a variable of the stack's processes (repeatable), e.g. STREAMSCRIBE_ASR_BATCH_PAUSE=false")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, aio.current_task().cancel)
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    recording, reference = recording_audio(args.recording_minutes)
    assert normalise(reference)
    print(f"# bench.batch_lane: {os.cpu_count()} CPUs, load average at start {load_average()}"
          + "".join(f", {name}={value}" for name, value in env.items()), flush=True)
    own = OwnStack(env) if {"live", "throughput"} - skip else None
    try:
        if "live" not in skip:
            assert own is not None  # started for live rounds
            await (whole_recording_runs if args.beside_from == "whole" else live_runs)(own, args, recording)
        if "throughput" not in skip:
            assert own is not None  # started for throughput
            await throughput(own, recording, reference)
            if "prerecorded" not in skip:
                await prerecorded(own, recording, reference)
    finally:
        if own is not None:
            own.close()
    if "offline" not in skip:
        if "throughput" in skip:
            print("| system | wall s | CPU s | audio s per CPU s | audio s per wall s | WER | load avg |\n"
                  "|---|---|---|---|---|---|---|", flush=True)
        offline(recording, reference, beams=[int(b) for b in args.beams.split(",")], batch_size=args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
