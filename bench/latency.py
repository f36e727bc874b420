"""Latency at the client: real clips streamed at real time by N concurrent sessions.

    .venv/bin/python -m bench.latency --sessions 1,4,8,16 [--model base] [--speech all]
    .venv/bin/python -m bench.latency --sessions 1,4,8 --peer-python /work/wl-venv/bin/python
    .venv/bin/python -m bench.latency --url ws://host:8000/ws/asr --asr-metrics http://host:9101/metrics

Starts its own stack (redis-server, gateway, VAD and ASR worker on free ports) unless ``--url``
names one, and with ``--peer-python`` a WhisperLive server on the same model. Each session
streams ``--speech`` (``clips``: the five LibriVox clips with ``--gap`` s of silence after each;
``continuous``: the clips joined, twice through; ``calls``: two espeak-ng parties taking turns)
in 100 ms frames, session ``i`` starting 0.37 i s after the first. Speech bounds come from Silero
on the clean audio, before any session. Per system, mode and N: end of speech -> final,
``finalize`` -> final, speech start -> first partial, WER, the servers' CPU from ``/proc``, and
for the other kinds the finals that overlap or repeat an earlier one (:func:`contract_counts`).
BENCHMARKS.md, "Live latency", defines each figure and has the latest.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import re
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common import aio
from common.contract import Event, check
from tests.kit import mixes
from tests.kit.faults import five_utterances_with_bounds
from tests.kit.support import Process, RedisServer, cpu_seconds, free_port, normalise, word_errors
from tests.kit.testdata import librivox_clips, librivox_samples

RATE = 16000
VAD_FRAME = 512
STAGGER = 0.37  # seconds between session starts
SPECULATIVE = "streamscribe_asr_speculative_decodes_total"
SPEECH = ("clips", "continuous", "calls")  # --speech: the kinds of session
CONTINUOUS_PASSES = 2  # the clips twice through: 49 s of read speech in one stretch
CALL_TURNS = 5  # turns per party of a call
CALL_GAPS = (0.2, 1.0)  # seconds between a call's turns


@dataclass(frozen=True)
class Utterance:
    start: float  # true speech start, seconds of session audio
    end: float  # true speech end
    text: str


@dataclass(frozen=True)
class Heard:
    """A result as the client received it: arrival time, audio span (seconds), text."""

    at: float
    final: bool
    start: float
    end: float
    text: str


@dataclass
class SessionRun:
    heard: list[Heard] = field(default_factory=list)
    sent: list[tuple[int, float]] = field(default_factory=list)  # (samples sent so far, wall time)
    finalized: dict[int, float] = field(default_factory=dict)  # utterance index -> wall time of finalize
    transcript: str = ""
    error: str | None = None

    def sent_at(self, seconds: float) -> float | None:
        """Wall time at which the audio up to ``seconds`` had been sent."""
        sample = round(seconds * RATE)
        index = bisect.bisect_left(self.sent, (sample, -1.0))
        return self.sent[index][1] if index < len(self.sent) else None


# -- the session audio and its true speech bounds ------------------------------------------


def session_audio(gap: float, tail: float, *, speech: str = "clips",
                  ) -> tuple[np.ndarray, list[Utterance], list[tuple[float, float]]]:
    """The session of kind ``speech`` (:data:`SPEECH`) in one stream, ``tail`` seconds of silence
    after it, the utterances' true speech bounds and each utterance's span (a clip, a turn)."""
    if speech == "clips":
        clips = librivox_clips()
        audio, clip_ms = five_utterances_with_bounds(clips, gap)
        texts = [text for _, text in clips]
        spans = [(start / 1000, end / 1000) for start, end in clip_ms]
    elif speech == "continuous":
        audio, spans, texts = continuous_audio()
    elif speech == "calls":
        audio, turns = mixes.build(mixes.VOICES, turns=CALL_TURNS, gaps=CALL_GAPS)
        spans, texts = [(t.start, t.end) for t in turns], [t.text for t in turns]
    else:
        raise ValueError(f"speech must be one of {', '.join(SPEECH)}, not {speech!r}")
    audio = np.concatenate([audio, np.zeros(int(tail * RATE), np.float32)])
    speech_bounds = silero_bounds(audio, spans)
    return audio, [Utterance(s, e, text) for (s, e), text in zip(speech_bounds, texts)], spans


def continuous_audio() -> tuple[np.ndarray, list[tuple[float, float]], list[str]]:
    """The clips joined without added silence (0.5 s before the first), :data:`CONTINUOUS_PASSES`
    times through: float32 audio, each clip's span (s) and its text."""
    parts, spans, texts, cursor = [np.zeros(RATE // 2, np.float32)], [], [], RATE // 2
    for _ in range(CONTINUOUS_PASSES):
        for samples, text in librivox_samples():
            parts.append(samples)
            spans.append((cursor / RATE, (cursor + len(samples)) / RATE))
            texts.append(text)
            cursor += len(samples)
    return np.concatenate(parts).astype(np.float32), spans, texts


def silero_bounds(audio: np.ndarray, spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """First and last 32 ms frame Silero scores >= 0.5 within each clip's span."""
    from vad_worker.model import CONTEXT, STATE_SHAPE, SileroVad

    model = SileroVad()
    state = np.zeros((STATE_SHAPE[0], 1, STATE_SHAPE[1]), np.float32)
    context = np.zeros(CONTEXT, np.float32)
    probs = []
    for start in range(0, len(audio) - VAD_FRAME + 1, VAD_FRAME):
        frame = audio[start:start + VAD_FRAME]
        prob, state = model(np.concatenate([context, frame])[None, :], state)
        context = frame[-CONTEXT:]
        probs.append(float(prob[0]))
    scores = np.array(probs)
    frame_s = VAD_FRAME / RATE
    result = []
    for clip_start, clip_end in spans:
        first, last = int(clip_start / frame_s), int(np.ceil(clip_end / frame_s))
        speech = np.nonzero(scores[first:last] >= 0.5)[0]
        if not len(speech):
            raise RuntimeError(f"Silero finds no speech in the clip at {clip_start:.2f} s")
        result.append((max(clip_start, (first + speech[0]) * frame_s),
                       min(clip_end, (first + speech[-1] + 1) * frame_s)))
    return result


def energy_bounds(audio: np.ndarray, spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """First and last 10 ms frame within 20 dB of the clip's loud frames (95th percentile)."""
    result = []
    for clip_start, clip_end in spans:
        clip = audio[round(clip_start * RATE):round(clip_end * RATE)]
        frames = clip[: len(clip) // 160 * 160].reshape(-1, 160)
        level = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
        loud = np.nonzero(level > np.percentile(level, 95) - 20)[0]
        result.append((clip_start + loud[0] * 0.01, clip_start + (loud[-1] + 1) * 0.01))
    return result


# -- pacing ----------------------------------------------------------------------------------


async def paced(audio: np.ndarray, run: SessionRun, *, chunk_ms: int, marks: dict[int, int] | None = None):
    """Yield the audio in frames at real time, recording when each was handed over.

    ``marks`` maps a sample index to an utterance index: the frame is cut there and
    ``("mark", utterance)`` is yielded right after the audio up to that sample.
    """
    step = RATE * chunk_ms // 1000
    cuts = sorted(set(range(0, len(audio), step)) | set((marks or {}).keys()) | {len(audio)})
    started = time.monotonic()
    for begin, end in zip(cuts, cuts[1:]):
        due = started + begin / RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing at real time, not synchronisation
        yield audio[begin:end]
        run.sent.append((end, time.monotonic()))
        if marks and end in marks:
            yield ("mark", marks[end])


# -- clients -----------------------------------------------------------------------------------


async def streamscribe_session(url: str, audio: np.ndarray, utterances: list[Utterance], *, chunk_ms: int,
                               finalize_after: float | None, config: dict, timeout: float) -> SessionRun:
    """One native /ws/asr session; with ``finalize_after`` a finalize follows each speech end."""
    from streamscribe_client import StreamClosed, stream

    run = SessionRun()
    marks = None
    if finalize_after is not None:
        marks = {min(len(audio), round((u.end + finalize_after) * RATE)): i for i, u in enumerate(utterances)}

    async def frames():
        async for item in paced(audio, run, chunk_ms=chunk_ms, marks=marks):
            if isinstance(item, tuple):
                run.finalized[item[1]] = time.monotonic()
                yield json.dumps({"type": "finalize"})
            else:
                yield item.tobytes()

    def on_message(message: dict) -> None:
        if message["type"] in ("partial", "final"):
            run.heard.append(Heard(time.monotonic(), message["type"] == "final", message["start_ms"] / 1000,
                                   message["end_ms"] / 1000, message["text"]))
        elif message["type"] == "error":
            run.error = f"{message['code']}: {message['message']}"

    try:
        await stream(url, frames(), sample_rate=RATE, config=config, on_message=on_message, timeout=timeout)
    except (StreamClosed, OSError, TimeoutError) as exc:
        run.error = str(exc)
    run.transcript = " ".join(h.text for h in run.heard if h.final)
    return run


async def whisperlive_session(url: str, audio: np.ndarray, *, chunk_ms: int, model: str,
                              timeout: float) -> SessionRun:
    """One WhisperLive session: JSON options, float32 frames, ``END_OF_AUDIO``; segments back."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from common.aio import within

    run = SessionRun()
    uid = str(uuid.uuid4())
    completed: dict[tuple, Heard] = {}
    last_open: list[str] = []
    ready = asyncio.Event()

    def on_segments(segments: list[dict], now: float) -> None:
        last_open.clear()
        for segment in segments:
            start, end, text = float(segment["start"]), float(segment["end"]), segment["text"]
            if segment.get("completed"):
                key = (segment["start"], segment["end"], text)
                if key not in completed:
                    completed[key] = Heard(now, True, start, end, text)
                    run.heard.append(completed[key])
            else:
                last_open.append(text)
                run.heard.append(Heard(now, False, start, end, text))

    try:
        async with connect(url, max_size=1 << 24, open_timeout=timeout) as websocket:
            await websocket.send(json.dumps({"uid": uid, "language": "en", "task": "transcribe", "model": model,
                                             "use_vad": True, "send_last_n_segments": 10}))

            async def receive() -> None:
                async for raw in websocket:
                    now = time.monotonic()
                    message = json.loads(raw)
                    if message.get("message") == "SERVER_READY":
                        ready.set()
                    elif message.get("status") in ("WAIT", "ERROR"):
                        run.error = f"{message['status']}: {message.get('message')}"
                        ready.set()
                    elif "segments" in message:
                        on_segments(message["segments"], now)

            receiver = asyncio.create_task(receive())
            try:
                await within(ready.wait(), timeout)
                if run.error is None:
                    async for frame in paced(audio, run, chunk_ms=chunk_ms):
                        await websocket.send(frame.astype(np.float32).tobytes())
                    await websocket.send(b"END_OF_AUDIO")
                    await within(receiver, timeout)  # the server closes after END_OF_AUDIO
            except ConnectionClosed:
                pass
            finally:
                receiver.cancel()
                await asyncio.gather(receiver, return_exceptions=True)
    except (OSError, TimeoutError, ConnectionClosed) as exc:
        run.error = run.error or f"{type(exc).__name__}: {exc}"
    ordered = sorted(completed.values(), key=lambda h: h.start)
    run.transcript = " ".join([h.text for h in ordered] + last_open)
    return run


# -- scoring -------------------------------------------------------------------------------------


SLACK = 0.3  # seconds: how far a result's audio span may miss a true speech end and still cover it


def overlaps(heard: Heard, utterance: Utterance) -> bool:
    return heard.start < utterance.end and heard.end > utterance.start


def covers_end(heard: Heard, utterance: Utterance) -> bool:
    return heard.start - SLACK <= utterance.end <= heard.end + SLACK


def contract_counts(finals: Sequence[Heard]) -> tuple[int, int]:
    """(overlapping, repeated) among one channel's ``finals`` (with words, in arrival order): the
    finals :func:`common.contract.check` finds a violation of kind ``overlap``, and of kind
    ``repeated_text``, at (each final counted once per kind)."""
    events = [Event(kind="final", text=heard.text, start_ms=round(heard.start * 1000),
                    end_ms=max(round(heard.start * 1000), round(heard.end * 1000))) for heard in finals]
    found = {(violation.kind, violation.index) for violation in check(events)}
    return (sum(kind == "overlap" for kind, _ in found), sum(kind == "repeated_text" for kind, _ in found))


@dataclass
class Figures:
    eos_final: list[float] = field(default_factory=list)
    finalize_final: list[float] = field(default_factory=list)
    first_partial: list[float] = field(default_factory=list)
    finals: int = 0  # utterances that got a final
    sent: int = 0  # finals with words, counted from the results (more than utterances: utterances were split)
    utterances: int = 0
    errors: int = 0  # word errors
    words: int = 0
    overlapping: int = 0  # finals whose span overlaps an earlier final's (contract_counts)
    repeated: int = 0  # finals that repeat an earlier final's words
    failed: list[str] = field(default_factory=list)
    score: Callable[[str, str], tuple[int, int]] = word_errors  # (word errors, reference words)

    def add(self, run: SessionRun, utterances: list[Utterance]) -> None:
        self.utterances += len(utterances)
        if run.error:
            self.failed.append(run.error)
        final_at: dict[int, float] = {}
        first_at: dict[int, float] = {}
        for heard in sorted(run.heard, key=lambda h: h.at):
            if not normalise(heard.text):
                continue
            self.sent += heard.final
            for index, utterance in enumerate(utterances):
                if overlaps(heard, utterance) and index not in first_at:
                    first_at[index] = heard.at
                if heard.final and covers_end(heard, utterance) and index not in final_at:
                    final_at[index] = heard.at
        for index, utterance in enumerate(utterances):
            if index in first_at and (sent := run.sent_at(utterance.start)) is not None:
                self.first_partial.append(first_at[index] - sent)
            if index not in final_at:
                continue
            self.finals += 1
            if (sent := run.sent_at(utterance.end)) is not None:
                self.eos_final.append(final_at[index] - sent)
            if index in run.finalized:
                self.finalize_final.append(final_at[index] - run.finalized[index])
        errors, words = self.score(" ".join(u.text for u in utterances), run.transcript)
        self.errors += errors
        self.words += words
        finals = [heard for heard in sorted(run.heard, key=lambda h: h.at) if heard.final and normalise(heard.text)]
        overlapping, repeated = contract_counts(finals)
        self.overlapping += overlapping
        self.repeated += repeated


def digits_score(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word errors, reference words) with numbers compared as digits (``bench.accuracy.errors``)."""
    from bench.accuracy import errors

    wrong, said, _ = errors(reference, hypothesis)
    return wrong, said


def scorer(speech: str) -> Callable[[str, str], tuple[int, int]]:
    """WER's word comparison for a kind of session: ``clips`` as before, the others with digits."""
    return word_errors if speech == "clips" else digits_score


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p95, p99 = np.percentile(values, [50, 95, 99]) * 1000
    return f"{p50:.0f} / {p95:.0f} / {p99:.0f}"


# -- servers ---------------------------------------------------------------------------------


class OwnStack:
    """A private redis-server, one gateway, one VAD and ``asr_workers`` ASR workers (tests' Stack)."""

    def __init__(self, extra_env: dict | None = None, *, ready_timeout: float = 60.0, asr_workers: int = 1) -> None:
        from tests.kit.stack import Stack
        from tests.kit.faults import http_port

        self.redis = RedisServer()
        self.redis.start()
        try:
            # The tests' Stack runs a recording's decodes at nice 0 (so that they do not starve
            # behind other test processes) in a child started at the first recording; a
            # benchmark measures the service as it ships.
            shipped = {"STREAMSCRIBE_ASR_BATCH_NICE": "19", "STREAMSCRIBE_ASR_BATCH_CHILD_AT_START": "true"}
            self.stack = Stack(self.redis, extra_env={**shipped, **(extra_env or {})}, ready_timeout=ready_timeout,
                               asr_workers=asr_workers)
        except BaseException:
            self.redis.close()
            raise
        self.url = self.stack.url
        assert self.redis.process is not None  # started
        self.pids = [p.proc.pid for p in (self.redis.process, *self.stack.processes)]
        self.asr_metrics = f"http://127.0.0.1:{http_port(self.stack.workers['asr'][0])}/metrics"
        self.vad_metrics = f"http://127.0.0.1:{http_port(self.stack.workers['vad'][0])}/metrics"
        self.vad_pid = self.stack.workers["vad"][0].proc.pid

    def close(self) -> None:
        self.stack.close()
        self.redis.close()


class WhisperLiveServer:
    """WhisperLive's TranscriptionServer (faster_whisper backend) run by ``python``, on a free port."""

    CODE = ("import logging, sys; logging.basicConfig(level=logging.INFO);"
            "from whisper_live.server import TranscriptionServer;"
            "TranscriptionServer().run('127.0.0.1', port=int(sys.argv[1]), backend='faster_whisper',"
            " faster_whisper_custom_model_path=sys.argv[2], single_model=True,"
            " max_clients=int(sys.argv[3]), max_connection_time=3600)")

    def __init__(self, python: str, model: str, *, max_clients: int) -> None:
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.workdir = tempfile.mkdtemp(prefix="whisperlive-")
        # Its own HOME: nothing it caches lands in the user's; cwd away from this repo's tests package.
        env = {"HOME": self.workdir, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
        self.process = Process("whisperlive", [python, "-c", self.CODE, str(self.port), model, str(max_clients)],
                               env=env, cwd=Path(self.workdir))
        self.pids = [self.process.proc.pid]
        try:
            wait_listening(self.port, 60, self.process)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.process.stop()
        import shutil

        shutil.rmtree(self.workdir, ignore_errors=True)


def wait_listening(port: int, timeout: float, process: Process) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        if process.proc.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{process.name} not listening on {port} in {timeout} s:\n{process.tail()}")
            time.sleep(0.2)  # polling interval of a bounded wait for a child to listen


def server_cpu(pids: list[int]) -> float | None:
    """User + system CPU seconds of ``pids`` so far (None: not our processes, e.g. ``--url``)."""
    return sum(cpu_seconds(pid) for pid in pids) if pids else None


def speculative_wasted(metrics_url: str | None) -> float | None:
    """Sum of the speculative-decode counter's samples labelled as wasted (None: no such counter)."""
    if not metrics_url:
        return None
    try:
        with urllib.request.urlopen(metrics_url, timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return None
    # A counter with labels has no sample before its first increment: its TYPE line shows it exists.
    total, found = 0.0, f"# TYPE {SPECULATIVE.removesuffix('_total')} counter" in text
    for line in text.splitlines():
        match = re.match(rf"^{SPECULATIVE}(\{{[^}}]*\}})? ([0-9.eE+-]+)$", line)
        if not match:
            continue
        found = True
        labels = match.group(1) or ""
        if not labels or re.search(r'"(wasted|dropped|discarded|resumed)"', labels):
            total += float(match.group(2))
    return total if found else None


# -- the run -------------------------------------------------------------------------------------


async def run_level(system: str, url: str, n: int, audio, utterances, args, *, finalize: bool,
                    model: str, score: Callable[[str, str], tuple[int, int]] = word_errors) -> Figures:
    timeout = len(audio) / RATE + 120

    async def one(i: int) -> SessionRun:
        await asyncio.sleep(i * STAGGER)  # staggered starts, not synchronisation
        if system == "whisperlive":
            return await whisperlive_session(url, audio, chunk_ms=args.chunk_ms, model=model, timeout=timeout)
        return await streamscribe_session(url, audio, utterances, chunk_ms=args.chunk_ms,
                                          finalize_after=args.finalize_after if finalize else None,
                                          config=args.config, timeout=timeout)

    figures = Figures(score=score)
    for i, run in enumerate(await asyncio.gather(*(one(i) for i in range(n)))):
        figures.add(run, utterances)
        if args.dump:
            dump(args.dump, {"system": system, "mode": "finalize" if finalize else "endpoint", "sessions": n,
                             "session": i}, run, utterances)
    return figures


def dump(path: str, labels: dict, run: SessionRun, utterances: list[Utterance]) -> None:
    """Append one session's raw timeline as a JSON line (times in seconds from its first frame)."""
    zero = run.sent[0][1] if run.sent else 0.0
    line = {**labels, "error": run.error, "transcript": run.transcript,
            "utterances": [{"start": u.start, "end": u.end, "start_sent": (run.sent_at(u.start) or zero) - zero,
                            "end_sent": (run.sent_at(u.end) or zero) - zero,
                            "finalize_sent": run.finalized[i] - zero if i in run.finalized else None}
                           for i, u in enumerate(utterances)],
            "heard": [{"at": round(h.at - zero, 3), "final": h.final, "start": h.start, "end": h.end, "text": h.text}
                      for h in run.heard]}
    with open(path, "a") as out:
        out.write(json.dumps(line) + "\n")


def row(system: str, mode: str, n: int, figures: Figures, wasted: str, cpu: str, load: str, *,
        speech: str | None = None) -> str:
    """A row of :data:`HEADER`; with ``speech``, of :data:`SPEECH_HEADER`."""
    wer = f"{100 * figures.errors / figures.words:.1f} %" if figures.words else "n/a"
    cells = [system, mode, str(n), percentiles(figures.eos_final), percentiles(figures.finalize_final),
             percentiles(figures.first_partial), f"{figures.finals}/{figures.utterances} ({figures.sent} sent)", wer,
             wasted, cpu]
    if speech is not None:
        per_call = f"{float(cpu) / n:.1f}" if cpu != "n/a" else "n/a"
        cells = [speech, *cells, per_call, str(figures.overlapping), str(figures.repeated)]
    return "| " + " | ".join([*cells, load]) + " |"


HEADER = ("| system | mode | N | end of speech -> final p50/p95/p99 ms | finalize -> final p50/p95/p99 ms "
          "| speech start -> first partial p50/p95/p99 ms | finals | WER | speculative wasted | server CPU s "
          "| load avg |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")
SPEECH_HEADER = ("| speech | system | mode | N | end of speech -> final p50/p95/p99 ms "
                 "| finalize -> final p50/p95/p99 ms | speech start -> first partial p50/p95/p99 ms | finals | WER "
                 "| speculative wasted | server CPU s | server CPU s per call | overlapping finals | repeated finals "
                 "| load avg |\n" + "|---" * 15 + "|")


def report(system: str, mode: str, n: int, figures: Figures, wasted: str, cpu: str, *,
           speech: str | None = None) -> None:
    print(row(system, mode, n, figures, wasted, cpu, load_average(), speech=speech), flush=True)
    for error in sorted(set(figures.failed))[:3]:
        print(f"#   {system} {mode} N={n}: {figures.failed.count(error)} session(s) failed: {error}", flush=True)


def some_of(value: str, allowed: Sequence[str], flag: str) -> list[str]:
    """A flag's comma-separated choices among ``allowed`` (``all``: every one), in the order given."""
    chosen = list(allowed) if value == "all" else [part.strip() for part in value.split(",") if part.strip()]
    unknown = [part for part in chosen if part not in allowed]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{flag} takes all or some of {', '.join(allowed)}, not {value!r}")
    return chosen


def speech_kinds(value: str) -> list[str]:
    """``--speech``: comma-separated kinds of :data:`SPEECH`, or ``all``."""
    return some_of(value, SPEECH, "--speech")


def spent(before: float | None, pids: list[int]) -> str:
    """CPU seconds of ``pids`` since ``before`` as a table cell."""
    after = server_cpu(pids)
    return f"{after - before:.1f}" if before is not None and after is not None else "n/a"


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def whisper_model_path(spec: str) -> str:
    """The directory of the model ``--model`` names (base: joined from its wheels once)."""
    from asr_worker.engines.whisper_models import resolve_model

    return resolve_model(spec).path


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=None, help="native /ws/asr URL of a running stack (default: start one)")
    parser.add_argument("--asr-metrics", default=None,
                        help="the ASR worker's /metrics URL for the speculative counter (own stack: found)")
    parser.add_argument("--sessions", default="1,4,8,16,32", help="comma-separated concurrency levels")
    parser.add_argument("--modes", default="endpoint,finalize",
                        help="endpoint (server endpointing only) and/or finalize (client finalize after speech end)")
    parser.add_argument("--finalize-after", type=float, default=0.2, help="seconds after the true speech end")
    parser.add_argument("--config", type=json.loads, default={},
                        help='extra session config as JSON, e.g. \'{"vad": {"silence_threshold": 0.3}}\'')
    parser.add_argument("--chunk-ms", type=int, default=100, help="milliseconds of audio per frame")
    parser.add_argument("--speech", type=speech_kinds, default=["clips"],
                        help="the sessions: clips (each clip then --gap of silence), continuous (clips joined, "
                             "twice through), calls (two parties taking turns), comma-separated, or all")
    parser.add_argument("--gap", type=float, default=1.5, help="seconds of silence after each clip (clips only)")
    parser.add_argument("--tail", type=float, default=3.0, help="more seconds of silence after the last gap")
    parser.add_argument("--peer-python", default=None,
                        help="a Python with whisper-live installed: also measure WhisperLive")
    parser.add_argument("--peer-url", default=None, help="a running WhisperLive server (ws://host:port)")
    parser.add_argument("--no-streamscribe", action="store_true", help="measure the peer only")
    parser.add_argument("--model", default="tiny.en",
                        help="the whisper model of both systems: tiny.en, base (packaged) or a CTranslate2 "
                             "directory; the ASR worker's --model, and its directory for the peer")
    parser.add_argument("--dump", default=None, help="append every session's raw timeline to this JSON-lines file")
    parser.add_argument("--show-bounds", action="store_true", help="print the true speech bounds and exit")
    args = parser.parse_args()
    # SIGTERM (e.g. from `timeout`) cancels the run so that every server it started is stopped.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, aio.current_task().cancel)
    levels = [int(x) for x in args.sessions.split(",")]
    modes = [m.strip() for m in args.modes.split(",")]
    sessions = {kind: session_audio(args.gap, args.tail, speech=kind) for kind in args.speech}
    labelled = args.speech != ["clips"]  # clips alone: the table as before
    if args.show_bounds:
        for kind, (audio, utterances, spans) in sessions.items():
            for u, (clip_start, clip_end), (e_start, e_end) in zip(utterances, spans, energy_bounds(audio, spans)):
                print(f"{kind + ' ' if labelled else ''}clip {clip_start:6.2f}-{clip_end:6.2f}  "
                      f"silero {u.start:6.2f}-{u.end:6.2f}  energy {e_start:6.2f}-{e_end:6.2f}  {u.text[:40]}")
        return 0
    model = whisper_model_path(args.model)
    for kind, (audio, utterances, _) in sessions.items():
        print(f"# model {args.model}; {kind + ': ' if labelled else ''}{len(audio) / RATE:.1f} s per session, "
              f"{len(utterances)} utterances, chunk {args.chunk_ms} ms, "
              f"config {json.dumps(args.config)}; load average at start {load_average()}", flush=True)
    print(SPEECH_HEADER if labelled else HEADER, flush=True)

    # Both servers run for the whole run and the systems take turns at each N, so that both
    # see about the same machine load (the box may be shared).
    own = peer = None
    try:
        if not args.no_streamscribe and not args.url:
            own = OwnStack({"STREAMSCRIBE_ASR_MODEL": args.model})
        if args.peer_python and not args.peer_url:
            peer = WhisperLiveServer(args.peer_python, model, max_clients=max(levels))
        url = args.url or (own.url if own else None)
        assert url is not None or args.no_streamscribe  # --url, or the stack started above
        metrics = args.asr_metrics or (own.asr_metrics if own else None)
        peer_url = args.peer_url or (peer.url if peer else None)
        for n in levels:
            for kind, (audio, utterances, _) in sessions.items():
                label = kind if labelled else None
                if url is not None:
                    for mode in modes:
                        before, cpu = speculative_wasted(metrics), server_cpu(own.pids if own else [])
                        figures = await run_level("streamscribe", url, n, audio, utterances, args,
                                                  finalize=mode == "finalize", model=model, score=scorer(kind))
                        after = speculative_wasted(metrics)
                        wasted = f"{after - before:.0f}" if before is not None and after is not None else "n/a"
                        report("streamscribe", mode, n, figures, wasted, spent(cpu, own.pids if own else []),
                               speech=label)
                if peer_url:
                    cpu = server_cpu(peer.pids if peer else [])
                    figures = await run_level("whisperlive", peer_url, n, audio, utterances, args, finalize=False,
                                              model=model, score=scorer(kind))
                    report("whisperlive", "endpoint", n, figures, "n/a", spent(cpu, peer.pids if peer else []),
                           speech=label)
    finally:
        for server in (peer, own):
            if server is not None:
                server.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
