"""Word timings of the streaming pipeline against an offline faster-whisper alignment.

One session holds every LibriVox clip (``--lead`` s of silence first, ``--gap`` s
between clips). It runs through the real VAD stage (Silero) and the real ASR
stage (whisper tiny.en, the bundled default) in process, with a recording
stand-in for the Redis runner: the records, utterance cuts and word times are
those of the deployed pipeline, only the bus is left out (it carries records
unchanged). Partial decodes are switched off (``chunk_size_sec`` 600): finals
decode the whole utterance afresh, so partials do not change them.

The reference is each clip aligned offline by faster-whisper on its own
(``word_timestamps=True``, default decoding options: beam 5), moved to the
clip's place in the session. Words are paired by a sequence alignment of their
normalised text; the figure is the absolute difference of word starts over the
paired words (median, p90, max).

It also prints the cost of word timings (wall time of final decodes of each
clip with and without ``word_timestamps``, median of ``--repeats``
interleaved runs) and the WER of the session's finals with words on and off.

Usage (from the repository root)::

    .venv/bin/python -m bench.word_timing [--repeats 5] [--cpu-threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import re
import statistics
import time

import numpy as np

from asr_worker.engines import load_engine
from asr_worker.engines.base import DecodeRequest
from asr_worker.engines.whisper import WhisperOptions, words_of
from asr_worker.engines.whisper_models import resolve_model
from asr_worker.stage import AsrStage, StreamingOptions
from common.aio import wait_event
from common.endpointing import EndpointOptions
from common.metrics import AsrMetrics, VadMetrics
from common.pipeline_config import AsrConfig, PipelineConfig
from common.records import Audio, End, Record, Transcript
from tests.kit.support import RecordingRunner, word_errors
from tests.kit.testdata import librivox_samples
from vad_worker.model import SileroVad
from vad_worker.stage import VadStage

RATE = 16_000
CHUNK = 1600  # 100 ms of audio per record, as the gateway batches it
TIMEOUT = 600.0


def build_session(clips, *, lead: float, gap: float) -> tuple[np.ndarray, list[int]]:
    """The session's audio and the sample offset of each clip in it."""
    parts, offsets, at = [np.zeros(int(lead * RATE), np.float32)], [], int(lead * RATE)
    for samples, _ in clips:
        offsets.append(at)
        parts += [samples, np.zeros(int(gap * RATE), np.float32)]
        at += len(samples) + int(gap * RATE)
    return np.concatenate(parts), offsets


def offline_words(clips, offsets, *, cpu_threads: int) -> list[tuple[str, float]]:
    """(word, start s in session time) from faster-whisper aligning each clip on its own."""
    from faster_whisper import WhisperModel

    model = WhisperModel(resolve_model("tiny.en").path, device="cpu", compute_type="int8", cpu_threads=cpu_threads)
    words = []
    for (samples, _), offset in zip(clips, offsets):
        segments, _ = model.transcribe(samples, language="en", word_timestamps=True)
        words += [(w.text, offset / RATE + w.start) for w in words_of(list(segments))]
    return words


async def run_vad(audio: np.ndarray) -> list:
    """The VAD stage's output records for the session audio (real Silero)."""
    runner = RecordingRunner(lambda r: VadStage(r, SileroVad(), defaults=EndpointOptions(),
                                                metrics=VadMetrics(_registry())))
    stage = runner.stage
    vad = runner.open("bench-words")
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    records: list[Record] = [Audio(seq=i, offset=at, pcm=pcm[at:at + CHUNK].tobytes())
                             for i, at in enumerate(range(0, len(pcm), CHUNK))]
    records.append(End(seq=len(records)))
    items = [(f"{i + 1}-0", r) for i, r in enumerate(records)]
    try:
        for i in range(0, len(items), 10):  # one runner tick per second of audio
            await stage.process([(vad, items[i:i + 10])])
        if not await wait_event(runner.finished, TIMEOUT):
            raise TimeoutError("the VAD stage did not end the session")
    finally:
        await stage.shutdown()
    return runner.outputs()


async def run_asr(engine, records: list, *, words: bool) -> list[Transcript]:
    """The ASR stage's finals for the VAD's records."""
    runner = RecordingRunner(lambda r: AsrStage(r, engine, defaults=StreamingOptions(chunk_size_sec=600),
                                                metrics=AsrMetrics(_registry())))
    stage = runner.stage
    asr = runner.open("bench-words", config=PipelineConfig(asr=AsrConfig(words=words)))
    try:
        await stage.process([(asr, [(f"{i + 1}-0", r) for i, r in enumerate(records)])])
        if not await wait_event(runner.finished, TIMEOUT):
            raise TimeoutError("the ASR stage did not end the session")
    finally:
        await stage.close(asr, "bench over")
    return [r for r in runner.outputs() if isinstance(r, Transcript) and r.final]


def _registry():
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


def key(word: str) -> str:
    return re.sub(r"[^a-z0-9']", "", word.lower())


def start_errors(ours: list[tuple[str, float]], reference: list[tuple[str, float]]) -> list[float]:
    """Absolute start differences (s) of the words a text alignment pairs up."""
    matcher = difflib.SequenceMatcher(a=[key(w) for w, _ in ours], b=[key(w) for w, _ in reference],
                                      autojunk=False)
    errors = []
    for block in matcher.get_matching_blocks():
        for i in range(block.size):
            errors.append(abs(ours[block.a + i][1] - reference[block.b + i][1]))
    return errors


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def decode_cost(engine, clips, repeats: int) -> tuple[float, float]:
    """Summed median wall time (s) of final decodes of every clip without and with word timestamps."""
    plain, timed = [], []
    for n, (samples, _) in enumerate(clips):
        runs: dict[bool, list[float]] = {False: [], True: []}
        for r in range(repeats):
            for words in (False, True) if r % 2 == 0 else (True, False):
                started = time.perf_counter()
                await engine.transcribe(DecodeRequest(request_id=f"cost-{n}-{r}-{words}", audio=samples,
                                                      final=True, word_timestamps=words))
                runs[words].append(time.perf_counter() - started)
        plain.append(statistics.median(runs[False]))
        timed.append(statistics.median(runs[True]))
    return sum(plain), sum(timed)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lead", type=float, default=0.5, help="silence before the first clip (s)")
    parser.add_argument("--gap", type=float, default=1.0, help="silence between clips (s)")
    parser.add_argument("--repeats", type=int, default=5, help="decodes per clip and mode for the cost")
    parser.add_argument("--cpu-threads", type=int, default=1)
    args = parser.parse_args()

    clips = librivox_samples()
    audio, offsets = build_session(clips, lead=args.lead, gap=args.gap)
    reference = offline_words(clips, offsets, cpu_threads=args.cpu_threads)
    engine = load_engine("whisper", WhisperOptions(cpu_threads=args.cpu_threads, num_workers=1))
    try:
        vad_records = await run_vad(audio)
        finals = {words: await run_asr(engine, vad_records, words=words) for words in (True, False)}
        plain_s, timed_s = await decode_cost(engine, clips, args.repeats)
    finally:
        await engine.close()

    ours = [(w.text, w.start / RATE) for t in finals[True] for w in t.words]
    errors = [e * 1000 for e in start_errors(ours, reference)]
    truth = " ".join(text for _, text in clips)
    print(f"clips {len(clips)}, audio {len(audio) / RATE:.1f} s, utterances {len(finals[True])}")
    print(f"words: pipeline {len(ours)}, offline reference {len(reference)}, paired {len(errors)}")
    print(f"word start error vs offline alignment: median {percentile(errors, 50):.0f} ms, "
          f"p90 {percentile(errors, 90):.0f} ms, max {max(errors, default=float('nan')):.0f} ms")
    for words in (False, True):
        wrong, total = word_errors(truth, " ".join(t.text for t in finals[words]))
        confidence = [t.confidence for t in finals[words] if t.confidence is not None]
        print(f"words {'on ' if words else 'off'}: WER {100 * wrong / total:.1f} % ({wrong}/{total}), "
              f"mean confidence {statistics.mean(confidence):.3f}")
    print(f"final decode of the {len(clips)} clips (median of {args.repeats}): without words {plain_s:.3f} s, "
          f"with words {timed_s:.3f} s (+{100 * (timed_s / plain_s - 1):.0f} %)")


if __name__ == "__main__":
    asyncio.run(main())
