"""Capacity model: each stage's cost per call, a sizing table, and the latency the spine adds.

    .venv/bin/python -m bench.capacity                          # both phases, ~7 min on 2 cores
    .venv/bin/python -m bench.capacity --phases spine --calls 50,150,300 --vad-workers 2
    .venv/bin/python -m bench.capacity --from-json run.json     # the tables again from a saved run

Every call streams the five LibriVox clips at real time through the native door. Phase
``costs``: whisper's decode time in process, then real deployments of whisper and of the denoise
stage, their CPU per call-second from ``/proc``. Phase ``spine``: ``--calls`` calls through the
gateway, ``--vad-workers`` VAD workers and an ASR worker running the stand-in engine (it sleeps
whisper's decode time), and per final the latency left once the VAD's silence wait and the
decode are taken out: Redis hops, the VAD's rounds and the relays. :mod:`bench.sizing` turns the
costs into cores, Redis shards and memory for 100 / 1,000 / 10,000 calls. On a shared box
``--autogroup-nice`` gives the bench's processes the CPU first (``nice`` alone does not reach
services in sessions of their own).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import redis as sync_redis

from bench.latency import Figures, SessionRun, Utterance, load_average, silero_bounds
from bench.latency import streamscribe_session
from bench.sizing import Budgets, Costs, table
from common import keys
from common.runner import RunnerOptions
from common.endpointing import FRAME, EndpointOptions
from tests.kit.faults import five_utterances_with_bounds, http_port, metric, scrape
from tests.kit.stack import Stack
from tests.kit.support import RedisServer, cpu_seconds, free_port, service, wait_for_workers
from tests.kit.testdata import librivox_clips, librivox_dir, librivox_samples

RATE = 16_000
CHUNK_MS = 100
GAP, TAIL = 1.5, 3.0  # seconds of silence after each clip, and more at the end
START_DELAY = 4.0  # seconds from planning a level to its first call (client processes start)
ENGINE = "standin-sleep"
STANDIN = f"{ENGINE} (STAND-IN)"  # how the bench's output names it, everywhere

_ENDPOINT = EndpointOptions()
_PADDING = _ENDPOINT.frames(_ENDPOINT.trailing_padding)
# Seconds after a final's end at which the VAD ended the utterance, and at which it saw the pause.
ENDPOINT_AFTER_END = (_ENDPOINT.frames(_ENDPOINT.silence_threshold) - _PADDING) * FRAME / RATE
PAUSE_AFTER_END = (max(1, _PADDING, _ENDPOINT.frames(_ENDPOINT.pause_threshold)) - _PADDING) * FRAME / RATE


@dataclass(frozen=True, slots=True)
class DecodeModel:
    """Whisper's decode time as a line: base seconds (final or partial) + slope x audio seconds."""

    final_sec: float
    partial_sec: float
    per_audio_sec: float

    def final(self, audio_seconds: float) -> float:
        return self.final_sec + self.per_audio_sec * audio_seconds

    def env(self) -> dict[str, str]:
        """The stand-in ASR worker's settings for this model."""
        return {"STREAMSCRIBE_ASR_ENGINE": ENGINE, "STREAMSCRIBE_ASR_ALLOW_STANDIN_ENGINE": "true",
                "STREAMSCRIBE_ASR_STANDIN_CLIPS": str(librivox_dir()),
                "STREAMSCRIBE_ASR_STANDIN_FINAL_SEC": f"{self.final_sec:.4f}",
                "STREAMSCRIBE_ASR_STANDIN_PARTIAL_SEC": f"{self.partial_sec:.4f}",
                "STREAMSCRIBE_ASR_STANDIN_SEC_PER_AUDIO_SEC": f"{self.per_audio_sec:.4f}"}


def say(record: dict) -> None:
    print(json.dumps(record), flush=True)


# -- whisper's decode time, in process ------------------------------------------------------------

def measure_whisper(repeats: int) -> dict:
    """Decode each clip as the ASR stage would (partials every second from 0.25 s, then the
    final), ``repeats`` times each; fit the stand-in's line to the median times."""
    return asyncio.run(_measure_whisper(repeats))


async def _measure_whisper(repeats: int) -> dict:
    from asr_worker.engines import DecodeRequest, load_engine, options_class

    engine = load_engine("whisper", options_class("whisper")())
    await engine.start()
    lead = np.zeros(int(_ENDPOINT.pre_roll * RATE), np.float32)
    padding = np.zeros(_PADDING * FRAME, np.float32)
    decodes = []  # (final, audio seconds, median wall seconds)
    load_before = load_average()
    try:
        for number, (samples, _) in enumerate(librivox_samples()):
            utterance = np.concatenate([lead, samples, padding])
            cuts = [(False, round(s * RATE)) for s in np.arange(0.25, len(utterance) / RATE, 1.0)]
            for final, cut in [*cuts, (True, len(utterance))]:
                times = []
                for repeat in range(repeats):
                    request = DecodeRequest(request_id=f"c{number}-{cut}-{final}-{repeat}", audio=utterance[:cut],
                                            final=final, first_words=not final and cut < RATE)
                    started = time.perf_counter()
                    await engine.transcribe(request)
                    times.append(time.perf_counter() - started)
                decodes.append((final, cut / RATE, float(np.median(times))))
    finally:
        await engine.close()
    design = np.array([[1.0 if final else 0.0, 0.0 if final else 1.0, seconds] for final, seconds, _ in decodes])
    wall = np.array([t for *_, t in decodes])
    fit = np.maximum(np.linalg.lstsq(design, wall, rcond=None)[0], 0.0)
    residual = wall - design @ fit
    finals = [(s, t) for final, s, t in decodes if final]
    partials = [t for final, _, t in decodes if not final]
    return {"phase": "whisper_decode", "repeats": repeats, "decodes": len(decodes),
            "final_sec": round(float(fit[0]), 4), "partial_sec": round(float(fit[1]), 4),
            "per_audio_sec": round(float(fit[2]), 4),
            "residual_rms_ms": round(float(np.sqrt((residual ** 2).mean())) * 1000, 1),
            "finals_ms": [[round(s, 2), round(t * 1000)] for s, t in finals],
            "partial_ms_p50_p95": [round(float(np.percentile(partials, q)) * 1000) for q in (50, 95)],
            "load_before": load_before, "load_after": load_average()}


# -- the calls' audio -------------------------------------------------------------------------------

def call_audio() -> tuple[list[np.ndarray], list[list[Utterance]]]:
    """The session audio starting at each of the five clips (PCM16), and its true speech bounds."""
    clips = librivox_clips()
    audios, utterances = [], []
    for first in range(len(clips)):
        order = clips[first:] + clips[:first]
        audio, bounds = five_utterances_with_bounds(order, GAP)
        audio = np.concatenate([audio, np.zeros(int(TAIL * RATE), np.float32)])
        spans = [(start / 1000, end / 1000) for start, end in bounds]
        speech = silero_bounds(audio, spans)
        audios.append(np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16))
        utterances.append([Utterance(s, e, text) for (s, e), (_, text) in zip(speech, order)])
    return audios, utterances


# -- the deployment ------------------------------------------------------------------------------------

class Deployment:
    """redis-server, a gateway, VAD and ASR workers (tests' Stack), and a denoise worker if asked.

    Workers run with the default lease TTL (tests' Stack gives them 2 s: on a starved box
    that churns leases, which a deployment would not see).
    """

    def __init__(self, *, vad_workers: int, capacity: int, asr_env: dict, denoise: bool,
                 autogroup_nice: int | None = None) -> None:
        self.redis = RedisServer()
        self.redis.start()
        self.denoise = None
        self.stack = None
        self.client = None
        env = {"STREAMSCRIBE_REDIS_URL": self.redis.url, "STREAMSCRIBE_GATEWAY_MAX_PENDING_PER_IP": "0",
               "STREAMSCRIBE_VAD_CAPACITY": str(capacity), "STREAMSCRIBE_ASR_CAPACITY": str(capacity),
               **asr_env}
        lease = ("--lease-ttl", str(RunnerOptions(stage="vad").lease_ttl))  # the last of a repeated flag wins
        try:
            self.stack = Stack(self.redis, vad_workers=0, asr_workers=0, extra_env=env)
            workers = [self.stack.add_worker(stage, env=env, args=lease)
                       for stage in ["vad"] * vad_workers + ["asr"]]
            if denoise:
                self.denoise = service("denoise0", "denoise_worker", "--http-port", str(free_port()), *lease,
                                       "--capacity", str(capacity), env=env)
                workers.append(self.denoise)
            for worker in workers:
                worker.wait_for_line(r"\bready\b", 120)
            wait_for_workers(self.stack.http, ["vad", "asr", *(["denoise"] if denoise else [])])
            if autogroup_nice is not None:
                for pid in (pid for pids in self.roles().values() for pid in pids):
                    set_autogroup_nice(pid, autogroup_nice)
        except BaseException:
            self.close()
            raise
        self.client = sync_redis.Redis.from_url(self.redis.url)

    @property
    def url(self) -> str:
        assert self.stack is not None  # __init__ started it (or raised)
        return self.stack.url

    def roles(self) -> dict[str, list[int]]:
        """Process ids by role (a denoise worker's denoiser processes are its children)."""
        assert self.stack is not None  # __init__ started it (or raised)
        assert self.redis.process is not None  # started
        roles = {"gateway": [self.stack.gateway.proc.pid], "vad": [w.proc.pid for w in self.stack.workers["vad"]],
                 "asr": [w.proc.pid for w in self.stack.workers["asr"]], "redis": [self.redis.process.proc.pid]}
        if self.denoise is not None:
            roles["denoise"] = [self.denoise.proc.pid]
        return roles

    def metrics_ports(self, stage: str) -> list[int]:
        if stage == "denoise":
            return [http_port(self.denoise)] if self.denoise is not None else []
        assert self.stack is not None  # __init__ started it (or raised)
        return [http_port(w) for w in self.stack.workers[stage]]

    def audio_seconds(self) -> dict[str, float]:
        """Seconds of audio each role has taken in so far: its work, whether or not it keeps up."""
        assert self.stack is not None  # __init__ started it (or raised)
        done = {"gateway": metric(scrape(self.stack.port), "streamscribe_gateway_audio_seconds_total")}
        for stage in ("vad", "asr", "denoise"):
            done[stage] = sum(metric(scrape(port), "streamscribe_stage_audio_seconds_total")
                              for port in self.metrics_ports(stage))
        return done

    def engine_line(self) -> str:
        """The ASR worker's log line naming a stand-in engine, if it runs one."""
        assert self.stack is not None  # __init__ started it (or raised)
        lines = [line for w in self.stack.workers["asr"] for line in w.lines if "STAND-IN" in line]
        return lines[0] if lines else ""

    def wait_released(self, timeout: float = 60.0) -> None:
        """Until the gateway has released every call of the level (bounded)."""
        deadline = time.monotonic() + timeout
        assert self.client is not None  # made by __init__
        while self.client.zcard(keys.slots("vad")) and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the gateway's releases, with a deadline

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.stack is not None:
            self.stack.close()
        if self.denoise is not None:
            self.denoise.stop()
        self.redis.close()


def set_autogroup_nice(pid: int, nice: int) -> None:
    """The nice value of the scheduler autogroup of ``pid``'s session (Linux, CONFIG_SCHED_AUTOGROUP).

    Each service runs in a session of its own (tests' Process), and with autogroups on the
    kernel shares the CPU fairly between sessions whatever their processes' nice values: on
    a box shared with other work, ``nice`` alone leaves each worker 1/N of the CPUs.
    """
    with open(f"/proc/{pid}/autogroup", "w") as autogroup:
        autogroup.write(str(nice))


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants alive now."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        try:
            for tid in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{tid}/children") as children:
                    stack += [int(child) for child in children.read().split()]
        except OSError:  # ended meanwhile
            continue
    return found


def role_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in (p for root in pids for p in tree(root)):
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def role_rss(pids: list[int]) -> int:
    """Resident bytes of the processes and their children."""
    total = 0
    for pid in (p for root in pids for p in tree(root)):
        try:
            with open(f"/proc/{pid}/status") as status:
                total += next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total


def redis_counters(client: sync_redis.Redis | None) -> dict:
    assert client is not None  # a Deployment's, made by its __init__
    stats, memory = client.info("stats"), client.info("memory")
    return {"commands": stats["total_commands_processed"], "net_in": stats["total_net_input_bytes"],
            "net_out": stats["total_net_output_bytes"], "used_memory": memory["used_memory"],
            "by_command": {name.removeprefix("cmdstat_"): value["calls"]
                           for name, value in client.info("commandstats").items()}}


def snapshot(deployment: Deployment) -> dict:
    return {"t": time.monotonic(), "cpu": {role: role_cpu(pids) for role, pids in deployment.roles().items()},
            "redis": redis_counters(deployment.client), "audio": deployment.audio_seconds()}


def stage_metrics(deployment: Deployment, stage: str) -> dict:
    texts = [scrape(port) for port in deployment.metrics_ports(stage)]
    return {"sessions": [metric(t, "streamscribe_stage_sessions_active") for t in texts],
            "queue_lag_s": [round(metric(t, "streamscribe_stage_queue_lag_seconds"), 3) for t in texts],
            # Counters since the worker started: a lease lapsed under load shows here.
            "takeovers": sum(metric(t, "streamscribe_stage_lease_takeovers_total") for t in texts),
            "leases_lost": sum(metric(t, "streamscribe_stage_leases_lost_total") for t in texts)}


def asr_counters(deployment: Deployment) -> dict:
    text = scrape(deployment.metrics_ports("asr")[0])
    return {"decoded_audio": metric(text, "streamscribe_asr_decoded_audio_seconds_total"),
            **{f"{kind}_{part}": metric(text, f"streamscribe_asr_decode_seconds_{part}", kind=kind)
               for kind in ("final", "partial") for part in ("sum", "count")}}


# -- the calls ------------------------------------------------------------------------------------------

def callers(url: str, plan: list[tuple[int, float, int]], audios: list[np.ndarray], config: dict,
            timeout: float) -> tuple[list[tuple[int, SessionRun]], float]:
    """One client process: its calls (index, start time, which audio); their runs and its CPU seconds."""
    return asyncio.run(_callers(url, plan, audios, config, timeout))


async def _callers(url, plan, audios, config, timeout):
    started = time.process_time()

    async def call(index: int, start_at: float, which: int) -> tuple[int, SessionRun]:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))  # the call's planned start
        return index, await streamscribe_session(url, audios[which], [], chunk_ms=CHUNK_MS, finalize_after=None,
                                                 config=config, timeout=timeout)

    runs = await asyncio.gather(*(call(*entry) for entry in plan))
    return runs, time.process_time() - started


def pacing_lateness(run: SessionRun) -> list[float]:
    """Seconds each frame went out after its real-time due time (the client's own lag)."""
    if not run.sent:
        return []
    first = run.sent[0][1]
    ends = [0] + [end for end, _ in run.sent[:-1]]
    return [at - first - begin / RATE for begin, (_, at) in zip(ends, run.sent)]


def spine_added(run: SessionRun, decode: DecodeModel) -> list[float]:
    """Per final: arrival - max(sent(endpoint sample), sent(pause sample) + the stand-in's decode)."""
    added = []
    for heard in run.heard:
        if not heard.final or not heard.text.strip():
            continue
        endpoint, pause = run.sent_at(heard.end + ENDPOINT_AFTER_END), run.sent_at(heard.end + PAUSE_AFTER_END)
        if endpoint is None or pause is None:
            continue
        ready = max(endpoint, pause + decode.final(heard.end - heard.start))
        added.append(heard.at - ready)
    return added


def run_level(deployment: Deployment, calls: int, *, audios, utterances, clients: int, ramp: float,
              config: dict, decode: DecodeModel | None) -> dict:
    """``calls`` calls at real time; the deployment's costs over the window where all are live."""
    length = len(audios[0]) / RATE
    roles = deployment.roles()
    load_before = load_average()
    idle_rss = {role: role_rss(pids) for role, pids in roles.items()}
    idle_memory = redis_counters(deployment.client)["used_memory"]
    first = time.monotonic() + START_DELAY
    plan = [(i, first + i * ramp / calls, i % len(audios)) for i in range(calls)]
    timeout = length + 90
    asr_before = asr_counters(deployment)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(clients, mp_context=context) as pool:
        futures = [pool.submit(callers, deployment.url, plan[k::clients], audios, config, timeout)
                   for k in range(clients)]
        start, end = first + ramp + 1.0, first + length - 1.0
        wait_until(start)
        before = snapshot(deployment)
        wait_until((start + end) / 2)
        middle = {"rss": {role: role_rss(pids) for role, pids in roles.items()},
                  "used_memory": redis_counters(deployment.client)["used_memory"],
                  "vad": stage_metrics(deployment, "vad"), "asr": stage_metrics(deployment, "asr")}
        wait_until(end)
        after = snapshot(deployment)
        asr_after = asr_counters(deployment)
        results = [future.result() for future in futures]
    load_after = load_average()
    deployment.wait_released()
    leases = {stage: {k: v for k, v in stage_metrics(deployment, stage).items() if k in ("takeovers", "leases_lost")}
              for stage in ("vad", "asr")}

    wall = after["t"] - before["t"]
    cores = {role: (after["cpu"][role] - before["cpu"][role]) / wall for role in before["cpu"]}
    redis0, redis1 = before["redis"], after["redis"]
    figures, added, late = Figures(), [], []
    client_cpu = 0.0
    for runs, cpu in results:
        client_cpu += cpu
        for index, run in runs:
            figures.add(run, utterances[index % len(audios)])
            if decode is not None:  # with whisper, sentence endpoints end utterances before the silence wait
                added += spine_added(run, decode)
            late += pacing_lateness(run)
    commands = {name: calls1 - redis0["by_command"].get(name, 0) for name, calls1 in redis1["by_command"].items()}
    top = sorted(((n, round(c / wall / calls, 2)) for n, c in commands.items() if c), key=lambda x: -x[1])[:8]
    return {
        "calls": calls, "window_s": round(wall, 1), "ramp_s": ramp, "load_before": load_before,
        "load_after": load_after, "failed": len(figures.failed), "failures": sorted(set(figures.failed))[:3],
        "finals": f"{figures.finals}/{figures.utterances}",
        "wer": round(100 * figures.errors / figures.words, 1) if figures.words else None,
        "spine_added_ms": stats_ms(added), "eos_final_ms": stats_ms(figures.eos_final),
        "first_partial_ms": stats_ms(figures.first_partial),
        "cores": {role: round(value, 3) for role, value in cores.items()},
        "cores_per_call": {role: value / calls for role, value in cores.items()},
        # CPU seconds per second of audio the role took in: a call's cost also where it fell behind.
        "cpu_per_audio_s": {role: (after["cpu"][role] - before["cpu"][role]) / audio
                            for role in before["cpu"]
                            if (audio := after["audio"].get(role, 0) - before["audio"].get(role, 0)) > 0},
        "audio_per_call_s": {role: round((after["audio"][role] - before["audio"][role]) / wall / calls, 3)
                             for role in after["audio"]},
        "client_cores": round(client_cpu / (length + ramp), 3),
        "client_late_ms": stats_ms(late),
        "redis": {"ops_per_s": round((redis1["commands"] - redis0["commands"]) / wall),
                  "ops_per_call_s": (redis1["commands"] - redis0["commands"]) / wall / calls,
                  "bytes_per_call_s": (redis1["net_in"] - redis0["net_in"] + redis1["net_out"] - redis0["net_out"])
                  / wall / calls,
                  "memory_per_call": (middle["used_memory"] - idle_memory) / calls,
                  "top_commands_per_call_s": top},
        "rss_mb": {role: round(value / 2**20, 1) for role, value in middle["rss"].items()},
        "rss_per_call_kb": {role: round((middle["rss"][role] - idle_rss[role]) / calls / 1024, 1)
                            for role in middle["rss"]},
        "vad_per_worker": middle["vad"], "asr_per_worker": middle["asr"], "leases_since_start": leases,
        "decoded_audio_per_call_s": (asr_after["decoded_audio"] - asr_before["decoded_audio"]) / wall / calls,
        "decode_mean_ms": {kind: round(1000 * (asr_after[f"{kind}_sum"] - asr_before[f"{kind}_sum"])
                                       / max(1.0, asr_after[f"{kind}_count"] - asr_before[f"{kind}_count"]))
                           for kind in ("final", "partial")},
    }


def stats_ms(values: list[float]) -> dict:
    if not values:
        return {}
    p50, p95, p99 = np.percentile(values, [50, 95, 99]) * 1000
    return {"n": len(values), "p50": round(p50), "p95": round(p95), "p99": round(p99),
            "max": round(max(values) * 1000)}


def wait_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)  # the measurement window's edges, in wall-clock time


# -- the phases ------------------------------------------------------------------------------------------

def wait_for_quiet(load: float | None, timeout: float = 900.0) -> None:
    """On a shared box: until the 1-minute load average is under ``load`` (at most ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while load is not None and os.getloadavg()[0] > load and time.monotonic() < deadline:
        time.sleep(5)  # polling the load average, with a deadline


def measure(calls: list[int], *, engine: str, vad_workers: int, asr_env: dict, denoise: bool, clients: int,
            audios, utterances, decode: DecodeModel | None, phase: str, quiet: float | None,
            autogroup_nice: int | None) -> list[dict]:
    """Levels of ``calls`` on one deployment; each level's figures, said as they come."""
    config = {"encoding": "pcm16", **({"denoise": True} if denoise else {})}
    deployment = Deployment(vad_workers=vad_workers, capacity=max(calls) * 2, asr_env=asr_env, denoise=denoise,
                            autogroup_nice=autogroup_nice)
    results = []
    try:
        if engine == STANDIN:
            assert decode is not None  # the stand-in decodes by the model
            say({"phase": phase, "asr_engine": f"{ENGINE}: a STAND-IN, not a recogniser",
                 "engine_log": deployment.engine_line(), "decode_model": asdict(decode)})
        for n in calls:
            wait_for_quiet(quiet)
            level = run_level(deployment, n, audios=audios, utterances=utterances, clients=clients,
                              ramp=min(8.0, max(1.5, n / 50)), config=config, decode=decode)
            level = {"phase": phase, "asr_engine": engine, "vad_workers": vad_workers, **level}
            say(level)
            results.append(level)
    finally:
        deployment.close()
    return results


def phase_costs(args, audios, utterances) -> tuple[dict, list[dict]]:
    """Whisper's decode time; whisper's cost per call (no denoise); the denoiser's (stand-in ASR)."""
    wait_for_quiet(args.wait_for_load)
    fit = measure_whisper(args.repeats)
    say(fit)
    decode = DecodeModel(fit["final_sec"], fit["partial_sec"], fit["per_audio_sec"])
    common = {"vad_workers": 1, "clients": 1, "audios": audios, "utterances": utterances, "phase": "costs",
              "quiet": args.wait_for_load, "autogroup_nice": args.autogroup_nice}
    whisper = measure([args.cost_calls], engine="whisper (tiny.en, int8, CPU)", asr_env={}, denoise=False,
                      decode=None, **common)
    denoise = measure([args.denoise_calls], engine=STANDIN, asr_env=decode.env(), denoise=True, decode=decode,
                      **common)
    return fit, whisper + denoise


def phase_spine(args, audios, utterances, decode: DecodeModel) -> list[dict]:
    return measure([int(n) for n in args.calls.split(",")], engine=STANDIN, vad_workers=args.vad_workers,
                   asr_env=decode.env(), denoise=False, clients=args.clients, audios=audios,
                   utterances=utterances, decode=decode, phase="spine", quiet=args.wait_for_load,
                   autogroup_nice=args.autogroup_nice)


def kept_up(level: dict) -> bool:
    """No call failed and no VAD worker's queue lagged half a second behind."""
    return not level["failed"] and max(level["vad_per_worker"]["queue_lag_s"], default=0.0) < 0.5


def costs_of(run: dict) -> tuple[Costs, str] | None:
    """The per-call costs the sizing table needs (from a run with both phases), and where from.

    Gateway, VAD and denoise: CPU per second of audio taken in (valid also where a starved
    process fell behind); the rest per call-second at the largest spine level that kept up.
    """
    levels = [level for level in run.get("spine", []) if kept_up(level)]
    if not levels or len(run.get("costs", [])) < 2:
        return None
    spine, (whisper, denoise) = levels[-1], run["costs"]
    work, per_call = spine["cpu_per_audio_s"], spine["cores_per_call"]
    costs = Costs(gateway_cores=work["gateway"], vad_cores=work["vad"], asr_stage_cores=per_call["asr"],
                  whisper_cores=whisper["cores_per_call"]["asr"], denoise_cores=denoise["cpu_per_audio_s"]["denoise"],
                  redis_cores=per_call["redis"], redis_ops=spine["redis"]["ops_per_call_s"],
                  redis_bytes=spine["redis"]["bytes_per_call_s"], redis_memory=spine["redis"]["memory_per_call"],
                  decoded_audio=spine["decoded_audio_per_call_s"])
    source = (f"gateway, VAD, ASR stage, Redis and decoded audio from the spine level of {spine['calls']} calls "
              f"(the largest that kept up); whisper from {whisper['calls']} calls; denoise from "
              f"{denoise['calls']} calls, by audio taken in")
    return costs, source


def table_row(row: dict) -> str:
    """One level of a phase as a row of the table :func:`report` prints."""
    cores, per_call, redis = row["cores"], row["cores_per_call"], row["redis"]
    added = "/".join(str(row["spine_added_ms"].get(k, "-")) for k in ("p50", "p95", "p99", "max"))
    eos = "/".join(str(row["eos_final_ms"].get(k, "-")) for k in ("p50", "p95", "p99"))
    core_cells = " / ".join(str(cores.get(role, "-")) for role in ("gateway", "vad", "asr", "denoise", "redis"))
    cpu_ms = " / ".join(f"{per_call.get(role, 0) * 1000:.2f}" for role in ("gateway", "vad", "asr", "denoise", "redis"))
    workers = row["vad_per_worker"]
    vad = ", ".join(f"{s:.0f} ({q})" for s, q in zip(workers["sessions"], workers["queue_lag_s"]))
    return (f"| {row['phase']} | {row['asr_engine']} | {row['calls']} | {row['load_before']} → {row['load_after']} "
            f"| {row['failed']} | {row['finals']} | {row['wer']} % | {added} | {eos} "
            f"| {core_cells} / {row['client_cores']} | {cpu_ms} "
            f"| {redis['ops_per_call_s']:.1f} / {redis['bytes_per_call_s'] / 1000:.1f} "
            f"| {redis['memory_per_call'] / 1000:.1f} "
            f"| {row['rss_per_call_kb']['gateway']} / {row['rss_per_call_kb']['vad']} | {vad} |")


def report(run: dict, budgets: Budgets) -> None:
    """The run's tables in Markdown."""
    print(f"\n# {run['machine']}")
    if run.get("whisper_fit"):
        fit = run["whisper_fit"]
        print(f"\nwhisper tiny.en decode time on this box (in process, median of {fit['repeats']}): "
              f"{fit['final_sec'] * 1000:.0f} ms per final / {fit['partial_sec'] * 1000:.0f} ms per partial "
              f"+ {fit['per_audio_sec'] * 1000:.1f} ms per audio second (residual {fit['residual_rms_ms']} ms rms); "
              f"finals [audio s, ms]: {fit['finals_ms']}")
    rows = run.get("costs", []) + run.get("spine", [])
    if rows:
        print("\n| phase | ASR engine | calls | load avg before → after | failed | finals | WER "
              "| spine adds p50/p95/p99/max ms | end of speech → final p50/p95/p99 ms | cores: gateway / VAD / ASR "
              "/ denoise / Redis / clients | ms of CPU per call-second: gateway / VAD / ASR / denoise / Redis "
              "| Redis per call-second: commands / kB | Redis kB per call | RSS per call kB: gateway / VAD "
              "| VAD sessions (queue lag s) per worker |")
        print("|" + "---|" * 15)
        for row in rows:
            print(table_row(row))
    found = costs_of(run)
    if found is None:
        print("\n(no sizing table: it needs both phases and a spine level that kept up)")
        return
    costs, source = found
    print(f"\nSizing ({source}):\n\n" + table(costs, budgets=budgets))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", default="costs,spine", help="costs and/or spine (comma-separated)")
    parser.add_argument("--calls", default="50,150,300", help="spine: concurrent calls per level")
    parser.add_argument("--vad-workers", type=int, default=2, help="spine: VAD worker processes")
    parser.add_argument("--clients", type=int, default=2, help="spine: client processes")
    parser.add_argument("--cost-calls", type=int, default=4, help="costs: calls through whisper")
    parser.add_argument("--denoise-calls", type=int, default=4, help="costs: calls through the denoise stage")
    parser.add_argument("--repeats", type=int, default=3, help="costs: decodes of each request timed")
    parser.add_argument("--decode", default=None, metavar="FINAL,PARTIAL,PER_AUDIO_SEC",
                        help="spine without costs: the stand-in's sleep (seconds; default: the engine's defaults)")
    parser.add_argument("--wait-for-load", type=float, default=None, metavar="LOAD",
                        help="on a shared box: before each level, wait (up to 15 min) for a 1-minute load average "
                             "under LOAD")
    parser.add_argument("--autogroup-nice", type=int, default=None, metavar="NICE",
                        help="on a shared Linux box: the scheduler autogroup nice of the bench and of every "
                             "process it starts (e.g. -10; negative needs root). nice alone does not reach them: "
                             "each service runs in its own session, so its own autogroup")
    parser.add_argument("--json", default=None, help="write the run's figures to this file")
    parser.add_argument("--from-json", default=None, help="print the tables of a saved run; measure nothing")
    parser.add_argument("--cpu-utilisation", type=float, default=Budgets().cpu_utilisation,
                        help="sizing: planned busy share of a core")
    args = parser.parse_args(argv)
    budgets = Budgets(cpu_utilisation=args.cpu_utilisation)
    if args.from_json:
        with open(args.from_json) as saved:
            report(json.load(saved), budgets)
        return 0
    if args.autogroup_nice is not None:  # the bench's own (the in-process decodes, the client processes)
        set_autogroup_nice(os.getpid(), args.autogroup_nice)
    phases = {p.strip() for p in args.phases.split(",")}
    run: dict[str, Any] = {"machine": f"{os.cpu_count()} CPUs, load average at start {load_average()}, "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')}", "command": " ".join(sys.argv)}
    say({"machine": run["machine"]})
    audios, utterances = call_audio()
    decode = None
    if "costs" in phases:
        fit, run["costs"] = phase_costs(args, audios, utterances)
        run["whisper_fit"] = fit
        decode = DecodeModel(fit["final_sec"], fit["partial_sec"], fit["per_audio_sec"])
    if "spine" in phases:
        if decode is None:
            from asr_worker.engines.standin import StandinOptions

            defaults = StandinOptions()
            values = ([float(x) for x in args.decode.split(",")] if args.decode else
                      [defaults.standin_final_sec, defaults.standin_partial_sec, defaults.standin_sec_per_audio_sec])
            decode = DecodeModel(*values)
        run["spine"] = phase_spine(args, audios, utterances, decode)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(run, out, indent=1)
    report(run, budgets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
