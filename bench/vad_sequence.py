"""The VAD stage on a recording: scored frame by frame in rounds vs with Silero's sequence model.

    .venv/bin/python -m bench.vad_sequence --minutes 10 --repeats 3

In process, no Redis: a :class:`~vad_worker.stage.VadStage` with the in-process
runner of the tests gets a batch session (``"priority": "batch"``) of real speech
(the five LibriVox clips with their gaps, repeated to ``--minutes``) in records
of 100 ms, ``batch_read_count`` (16) records a round, as the runner hands a
recording over; ``--recordings`` of them at once share each round. Each mode
runs ``--repeats`` times, the modes alternating, on one model thread
(``threads=1``):

* ``rounds``: ``SileroVad(sequence=False)``, round *k* scores frame *k* of every
  recording in one call (how recordings were scored before);
* ``sequence``: the default, each recording's frames of a round in one call of
  ``silero_vad_16k_sequence.onnx``.

For each it prints the median CPU seconds of the whole stage (``process()``:
framing, scoring, segmenting, the runner's commits; ``time.process_time``, every
thread), the median seconds inside model calls (the ``model_seconds`` metric)
and the model calls, and checks that both modes wrote the same records.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time

import numpy as np
from prometheus_client import CollectorRegistry

from common.endpointing import EndpointOptions
from common.metrics import VadMetrics
from common.pipeline_config import PipelineConfig
from common.records import SAMPLE_RATE, Audio, End, Record
from common.runner import RunnerOptions
from tests.kit.faults import five_utterances
from tests.kit.support import RecordingRunner
from tests.kit.testdata import librivox_clips
from vad_worker.model import SileroVad
from vad_worker.stage import VadStage

CHUNK = SAMPLE_RATE // 10  # 100 ms records, as the gateway writes them
ROUND = RunnerOptions(stage="vad").batch_read_count  # a recording's records per round


def recording(minutes: float) -> np.ndarray:
    """The five clips with their gaps, repeated to at least ``minutes``, as int16."""
    one = (five_utterances(librivox_clips()) * 32768).astype(np.int16)  # the clips' own samples
    return np.tile(one, max(1, math.ceil(minutes * 60 * SAMPLE_RATE / len(one))))


def metric(histogram) -> tuple[float, float]:
    """(count, sum) of a histogram without labels."""
    samples = {sample.name.rsplit("_", 1)[-1]: sample.value for sample in next(iter(histogram.collect())).samples}
    return samples["count"], samples["sum"]


async def run(model: SileroVad, items: list, recordings: int) -> tuple[float, float, float, list]:
    """Feed the recordings through a fresh stage; (CPU s, model s, model calls, records written)."""
    metrics = VadMetrics(CollectorRegistry())
    runner = RecordingRunner(lambda r: VadStage(r, model, defaults=EndpointOptions(), metrics=metrics,
                                                min_round_interval=0))
    sessions = [runner.open(f"rec-{i}", config=PipelineConfig(priority="batch"), next_stage="asr")
                for i in range(recordings)]
    cpu = time.process_time()
    for first in range(0, len(items), ROUND):
        await runner.stage.process([(session, items[first:first + ROUND]) for session in sessions])
    cpu = time.process_time() - cpu
    await runner.stage.shutdown()
    calls, seconds = metric(metrics.model_seconds)
    return cpu, seconds, calls, runner.outputs()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the recording")
    parser.add_argument("--recordings", type=int, default=1, help="recordings scored side by side")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each mode (alternating)")
    args = parser.parse_args()
    pcm = recording(args.minutes)
    items: list[tuple[str, Record]] = [(f"{i + 1}-0", Audio(seq=i, offset=at, pcm=pcm[at:at + CHUNK].tobytes()))
             for i, at in enumerate(range(0, len(pcm), CHUNK))]
    items.append((f"{len(items) + 1}-0", End(seq=len(items))))
    models = {"rounds": SileroVad(sequence=False), "sequence": SileroVad()}
    assert models["sequence"].has_sequence, "the silero-vad package has no usable sequence model"
    results: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in models}
    outputs: dict[str, list] = {}
    for _ in range(args.repeats):
        for mode, model in models.items():
            cpu, seconds, calls, records = await run(model, items, args.recordings)
            results[mode].append((cpu, seconds, calls))
            outputs.setdefault(mode, records)
    same = outputs["rounds"] == outputs["sequence"]
    audio = len(pcm) / SAMPLE_RATE
    print(f"{args.recordings} recording(s) of {audio / 60:.1f} min ({audio:.0f} s of audio), "
          f"{ROUND} records of 100 ms a round, {args.repeats} runs each; same records: {same}")
    print("| mode | stage CPU s (median) | in model calls s (median) | model calls | audio s per stage CPU s |")
    print("|---|---|---|---|---|")
    for mode, runs in results.items():
        cpu = statistics.median(r[0] for r in runs)
        seconds = statistics.median(r[1] for r in runs)
        print(f"| {mode} | {cpu:.2f} | {seconds:.2f} | {int(runs[0][2])} | {audio * args.recordings / cpu:.0f} |")
    if not same:
        raise SystemExit("the two modes wrote different records")


if __name__ == "__main__":
    asyncio.run(main())
