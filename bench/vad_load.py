"""VAD stage throughput: streams per core of a real VAD worker vs the raw batched Silero model.

    .venv/bin/python -m bench.vad_load --sessions 200 --seconds 20
    .venv/bin/python -m bench.vad_load --sessions 200 --seconds 20 --recordings 4

Starts a private redis-server and one VAD worker process (``python -m
vad_worker``), then plays the gateway for N sessions: every 100 ms it appends
the next 100 ms of each session's audio (the five LibriVox clips with pauses,
each session starting at a different point) in one pipeline and rings the
sessions' bells. The sessions' pipeline is the VAD alone, so its outputs go to
the result streams, which the bench counts and trims.

Over the measured window it reports the worker's CPU (``/proc/<pid>/stat``, and
per thread: the event loop's and the model thread's), whether it kept up (its
queue lag, sampled once a second), the model's
share of the time and its mean batch (from the worker's metrics), and the
stage's streams per core = sessions / worker cores. Then, in the same run, the
raw model: ``SileroVad`` at batch 64 on one thread, as streams per core
(frames per CPU second / 31.25 frames per second of audio). The ratio of the
two is the stage's efficiency.

``--recordings K`` adds K batch sessions (recordings) beside the live ones, each
with ``--recording-seconds`` of audio in its input before the feeder starts, in
records of 500 ms as the gateway cuts a recording's: what the live sessions'
rounds (their mean step, the queue lag) and the worker's CPU become when it
scores recordings as fast as it can beside them, and how much of the recordings
it scored.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
import uuid

import numpy as np
import redis as sync_redis

from common import keys
from common.endpointing import FRAME
from common.pipeline_config import PipelineConfig
from common.records import SAMPLE_RATE, Audio, encode
from tests.kit.faults import five_utterances
from tests.kit.support import RedisServer, cpu_seconds, free_port, service
from tests.kit.testdata import librivox_clips
from vad_worker.model import CONTEXT, STATE_SHAPE, SileroVad

CHUNK = SAMPLE_RATE // 10  # 100 ms per append, as the gateway sends
LAG = 'streamscribe_stage_queue_lag_seconds{stage="vad"}'


def thread_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid`` (the main thread's id is ``pid``)."""
    seconds = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            seconds[int(tid)] = cpu_seconds(pid, thread=int(tid))
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return seconds


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def model_limit(seconds: float, batch: int = 64) -> float:
    """Streams per core of the raw model: ``batch`` frames per call, one thread."""
    model = SileroVad(threads=1)
    rng = np.random.default_rng(0)
    frames = rng.normal(0, 0.1, (batch, CONTEXT + FRAME)).astype(np.float32)
    state = np.zeros((STATE_SHAPE[0], batch, STATE_SHAPE[1]), np.float32)
    for _ in range(20):
        model(frames, state)
    calls = 0
    started = time.thread_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, state = model(frames, state)
        calls += 1
    cpu = time.thread_time() - started
    return calls * batch / cpu / (SAMPLE_RATE / FRAME)


def add_recordings(client, recordings: list[str], audio: np.ndarray, seconds: float) -> None:
    """Batch sessions of the VAD alone, each with ``seconds`` of ``audio`` (repeated) in its input
    in records of 500 ms, announced to the worker."""
    chunk = SAMPLE_RATE // 2
    config = PipelineConfig(stages=("vad",), priority="batch").encode()
    for sid in recordings:
        sk = keys.SessionKeys(sid)
        client.hset(sk.meta, mapping={"config": config, "gateway": "bench"})
        client.expire(sk.meta, 3600)
        for first in range(0, int(seconds * 2), 200):
            with client.pipeline(transaction=False) as pipe:
                for seq in range(first, min(first + 200, int(seconds * 2))):
                    start = seq * chunk % (len(audio) - chunk)
                    record = Audio(seq=seq, offset=seq * chunk, pcm=audio[start:start + chunk].tobytes())
                    pipe.xadd(sk.input("vad"), {"r": encode(record)})
                pipe.execute()
        client.xadd(keys.control_stream("vad"), {"sid": sid})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--min-round-interval", type=float, default=0.03, help="the worker's flag of that name")
    parser.add_argument("--model-seconds", type=float, default=5.0, help="seconds of the raw model measurement")
    parser.add_argument("--recordings", type=int, default=0, help="batch sessions beside the live ones")
    parser.add_argument("--recording-seconds", type=float, default=1200.0,
                        help="audio in each recording's input from the start (it must last the run)")
    args = parser.parse_args()
    print(json.dumps({"uptime": open("/proc/loadavg").read().strip(), "cpus": os.cpu_count()}), flush=True)
    audio = (five_utterances(librivox_clips()) * 32767).astype(np.int16)
    server = RedisServer()
    server.start()
    worker = None
    client = sync_redis.Redis.from_url(server.url)
    try:
        http_port = free_port()
        worker = service("vad", "vad_worker", "--http-port", str(http_port), "--capacity", str(args.sessions * 2),
                         "--min-round-interval", str(args.min_round_interval),
                         "--log-level", "WARNING", env={"STREAMSCRIBE_REDIS_URL": server.url})
        deadline = time.monotonic() + 120
        while not client.zcard(keys.workers("vad")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the VAD worker did not register:\n{worker.tail()}")
            time.sleep(0.2)  # polling for the worker's registration, with a deadline
        sessions = [uuid.uuid4().hex for _ in range(args.sessions)]
        starts = np.random.default_rng(1).integers(0, len(audio) // CHUNK, args.sessions) * CHUNK
        config = PipelineConfig(stages=("vad",)).encode()
        with client.pipeline(transaction=False) as pipe:
            for sid in sessions:
                sk = keys.SessionKeys(sid)
                pipe.hset(sk.meta, mapping={"config": config, "gateway": "bench"})
                pipe.expire(sk.meta, 3600)
            for sid in sessions:
                pipe.xadd(keys.control_stream("vad"), {"sid": sid})
            pipe.execute()
        recordings = [uuid.uuid4().hex for _ in range(args.recordings)]
        add_recordings(client, recordings, audio, args.recording_seconds)
        total = args.warmup + args.seconds
        started = time.monotonic()
        tick = 0
        outputs = 0
        measured = None
        lags: list[float] = []  # the worker's queue lag, once a second in the measured window
        while True:
            due = started + tick * 0.1
            now = time.monotonic()
            if now >= started + total:
                break
            if due > now:
                time.sleep(due - now)  # real-time pacing of the feeder
            if measured is None and time.monotonic() >= started + args.warmup:
                measured = (cpu_seconds(worker.proc.pid), time.monotonic(), scrape(http_port),
                            thread_seconds(worker.proc.pid))
            with client.pipeline(transaction=False) as pipe:
                for i, sid in enumerate(sessions):
                    sk = keys.SessionKeys(sid)
                    start = (starts[i] + tick * CHUNK) % (len(audio) - CHUNK)
                    record = Audio(seq=tick, offset=tick * CHUNK, pcm=audio[start:start + CHUNK].tobytes())
                    pipe.xadd(sk.input("vad"), {"r": encode(record)})
                for sid in sessions:
                    pipe.publish(keys.SessionKeys(sid).bell("vad"), "1")
                if tick % 10 == 0:  # the results: counted and trimmed once a second
                    for sid in sessions:
                        pipe.xlen(keys.SessionKeys(sid).out)
                        pipe.xtrim(keys.SessionKeys(sid).out, maxlen=0)
                replies = pipe.execute()
            if tick % 10 == 0:
                outputs += sum(replies[2 * len(sessions)::2])
                if measured is not None:
                    lags.append(scrape(http_port).get(LAG, 0.0))
            tick += 1
        cpu1, wall1, metrics1 = cpu_seconds(worker.proc.pid), time.monotonic(), scrape(http_port)
        threads1 = thread_seconds(worker.proc.pid)
        assert measured is not None  # taken once the warm-up ticks are done
        cpu0, wall0, metrics0, threads0 = measured
        cores = (cpu1 - cpu0) / (wall1 - wall0)
        # The event loop runs on the main thread; the model (and the numpy of its rounds) on another.
        loop_cpu = threads1[worker.proc.pid] - threads0[worker.proc.pid]
        busiest = sorted(((threads1[t] - threads0.get(t, 0.0), t) for t in threads1 if t != worker.proc.pid),
                         reverse=True)
        model_thread_cpu = busiest[0][0] if busiest else 0.0

        def delta(name: str) -> float:
            return metrics1.get(name, 0.0) - metrics0.get(name, 0.0)

        live_seconds = args.sessions * (wall1 - wall0)  # fed at real time
        steps = delta('streamscribe_stage_processing_seconds_count{stage="vad"}')

        calls = delta("streamscribe_vad_model_batch_size_count")
        model_cores = delta("streamscribe_vad_model_seconds_sum") / (wall1 - wall0)
        stage = {
            "sessions": args.sessions, "worker_cores": round(cores, 3),
            "stage_streams_per_core": round(args.sessions / cores, 1),
            # Audio the worker scored per CPU second: the same figure, valid also when it fell behind.
            "scored_streams_per_core": round(delta("streamscribe_vad_model_batch_size_sum")
                                             / (SAMPLE_RATE / FRAME) / (cpu1 - cpu0), 1),
            "model_share_wall": round(model_cores / cores, 3) if cores else None,
            "loop_thread_cores": round(loop_cpu / (wall1 - wall0), 3),
            "model_thread_cores": round(model_thread_cpu / (wall1 - wall0), 3),
            "mean_batch": round(delta("streamscribe_vad_model_batch_size_sum") / calls, 1) if calls else None,
            "model_calls_per_s": round(calls / (wall1 - wall0), 1),
            # Age of the oldest record each read found: stays near the round interval when the worker keeps up.
            "queue_lag_s_max": round(max(lags), 3) if lags else None,
            "queue_lag_s_mean": round(float(np.mean(lags)), 3) if lags else None,
            "outputs": outputs, "loadavg_after": open("/proc/loadavg").read().strip(),
        }
        if args.recordings:
            stage["recordings"] = args.recordings
            # Of every session's scored audio, what is not the live sessions' (about: they are fed at real time).
            scored = delta('streamscribe_stage_audio_seconds_total{stage="vad"}') - live_seconds
            stage["recordings_scored_audio_s_per_s"] = round(scored / (wall1 - wall0), 1)
            stage["live_steps"] = steps
            stage["live_step_ms_mean"] = round(
                1000 * delta('streamscribe_stage_processing_seconds_sum{stage="vad"}') / steps, 1) if steps else None
        print(json.dumps(stage), flush=True)
        worker.stop()
        worker = None
        limit = model_limit(args.model_seconds)
        print(json.dumps({"model_streams_per_core_batch64": round(limit, 1),
                          "stage_fraction_of_model": round(stage["stage_streams_per_core"] / limit, 3),
                          "scored_fraction_of_model": round(stage["scored_streams_per_core"] / limit, 3),
                          "loadavg": open("/proc/loadavg").read().strip()}), flush=True)
    finally:
        client.close()
        if worker is not None:
            worker.stop()
        server.close()


if __name__ == "__main__":
    main()
