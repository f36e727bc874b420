"""GPU benchmark: how many real-time streaming sessions one Qwen3-ASR engine sustains.

Each simulated session streams LibriVox clips at real-time pace and decodes the
way the ASR worker does: every ``--chunk-size-sec`` of new audio it decodes the
whole utterance so far (one decode in flight per session; audio that arrives
meanwhile is folded into the next decode), with the stable-prefix rollback
after the first ``--unfixed-chunk-num`` chunks, and decodes a final (no prefix)
when the clip ends. Each clip is one utterance, as after VAD endpointing.

Latencies, measured per decode:

- first partial: from the moment the first chunk of an utterance is complete
  to its first partial result,
- partial: from the moment the newest audio sample included in a decode
  arrived to its result,
- final: from the end of the utterance's audio to its final result.

For each N in ``--sessions`` it prints p50/p90/p99 of each and the word error
rate of the finals against the clips' transcripts, then the capacity: the
largest N whose partial p90 and final p90 meet the targets.

Example (GPU machine with vLLM and the weights on disk)::

    python -m bench.asr_gpu_bench --engine qwen3-vllm --model /models/Qwen3-ASR-0.6B \\
        --sessions 1,8,16,32,64,128 --target-partial-p90-ms 800 --target-final-p90-ms 1000

``--fake`` swaps vLLM for the labelled fake of tests/kit/fakes: it checks the
harness itself on a machine without a GPU and measures nothing about a model.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import glob
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000
DEFAULT_AUDIO = ROOT.parent / "shared" / "testdata" / "librivox"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--engine", default="qwen3-vllm", choices=["qwen3-vllm", "qwen3-transformers"])
    parser.add_argument("--model", default=os.environ.get("STREAMSCRIBE_ASR_MODEL"),
                        help="local directory with the Qwen3-ASR weights (default: $STREAMSCRIBE_ASR_MODEL)")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default="auto", help="qwen3-transformers only")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.8)
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--max-num-seqs", type=int, default=128)
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=256, help="token limit of finals")
    parser.add_argument("--max-new-tokens-partial", type=int, default=64, help="token limit of partials")
    parser.add_argument("--sessions", default="1,4,8,16,32,64", help="comma-separated session counts to sweep")
    parser.add_argument("--utterances", type=int, default=3, help="clips streamed one after another per session")
    parser.add_argument("--chunk-size-sec", type=float, default=1.0)
    parser.add_argument("--unfixed-chunk-num", type=int, default=2)
    parser.add_argument("--unfixed-token-num", type=int, default=5)
    parser.add_argument("--language", default=None, help="force a language (default: auto-detect)")
    parser.add_argument("--context", default="", help="context text given to every session")
    parser.add_argument("--audio-dir", default=str(DEFAULT_AUDIO), help="directory of 16 kHz mono *.wav clips "
                        "(a same-named .txt holds each transcript)")
    parser.add_argument("--target-partial-p90-ms", type=float, default=800.0)
    parser.add_argument("--target-final-p90-ms", type=float, default=1000.0)
    parser.add_argument("--stop-after-failures", type=int, default=1,
                        help="stop the sweep after this many session counts miss the targets (0: never)")
    parser.add_argument("--burst", default="", help="comma-separated counts: before the sweep, time that many "
                        "partial decodes sent at once (the engine's batch cost without streaming's arrival pattern)")
    parser.add_argument("--new-lengths", type=int, default=0, help="before the sweep, time this many lone "
                        "decodes of lengths not decoded before, each twice (what a first-seen input shape costs: "
                        "streaming decodes are nearly all of new lengths)")
    parser.add_argument("--attention", default="engine", choices=["engine", "cudnn", "no-cudnn"],
                        help="qwen3-transformers only, to compare the engine's scope that leaves cuDNN's attention "
                             "out of each generate (engine) with cuDNN's attention on (cudnn) or off for the whole "
                             "process (no-cudnn)")
    parser.add_argument("--json", dest="json_path", help="also write the results here as JSON")
    parser.add_argument("--fake", action="store_true",
                        help="use the FAKE vLLM from tests/kit/fakes (harness check only, no GPU)")
    return parser


@dataclass
class Clip:
    name: str
    audio: np.ndarray
    text: str


@dataclass
class Stats:
    first_partial: list[float] = field(default_factory=list)
    partial: list[float] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    errors: int = 0
    words: int = 0
    word_errors: int = 0
    decode_failures: int = 0


def load_clips(directory: str) -> list[Clip]:
    import soundfile

    clips = []
    for path in sorted(glob.glob(os.path.join(directory, "*.wav"))):
        audio, rate = soundfile.read(path, dtype="float32", always_2d=False)
        if rate != SAMPLE_RATE or audio.ndim != 1:
            raise SystemExit(f"{path}: need 16 kHz mono, got {rate} Hz with shape {audio.shape}")
        txt = Path(path).with_suffix(".txt")
        clips.append(Clip(Path(path).stem, audio, txt.read_text(encoding="utf-8").strip() if txt.exists() else ""))
    if not clips:
        raise SystemExit(f"no *.wav clips in {directory}; pass --audio-dir")
    return clips


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference words) after lower-casing and dropping punctuation."""
    norm = lambda s: re.sub(r"[^\w' ]+", " ", s.lower()).split()  # noqa: E731
    ref, hyp = norm(reference), norm(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)


def load(args: argparse.Namespace):
    from asr_worker.engines import load_engine
    from asr_worker.engines.qwen3_transformers import Qwen3TransformersOptions
    from asr_worker.engines.qwen3_vllm import Qwen3VllmOptions

    vllm = args.fake or args.engine == "qwen3-vllm"  # the fake is a fake vLLM
    options = (Qwen3VllmOptions if vllm else Qwen3TransformersOptions)(
        model=args.model, device=args.device, dtype=args.dtype, max_num_seqs=args.max_num_seqs,
        max_new_tokens=args.max_new_tokens, max_new_tokens_partial=args.max_new_tokens_partial,
        **(dict(gpu_memory_utilization=args.gpu_memory_utilization, max_model_len=args.max_model_len,
                tensor_parallel_size=args.tensor_parallel_size) if vllm else {}))
    if not args.fake:
        if args.attention != "engine":
            _attention_without_the_engines_scope(cudnn=args.attention == "cudnn")
        return load_engine(args.engine, options)
    import tempfile

    from asr_worker.engines import qwen3_vllm
    from tests.kit.fakes import fake_vllm
    from tests.kit.fakes.fake_tokenizer import FakeTokenizer

    print("WARNING: --fake: FAKE vLLM, no model; these numbers measure the harness only", file=sys.stderr)
    options = dataclasses.replace(options, model=tempfile.mkdtemp(prefix="fake-model-"))
    assert isinstance(options, Qwen3VllmOptions)  # the fake is a fake vLLM
    engine = qwen3_vllm.load(options, api=fake_vllm, tokenizer=FakeTokenizer())
    engine._bench_fake = fake_vllm  # type: ignore[attr-defined]  # this bench's mark: run() finds the fake here
    return engine


def _attention_without_the_engines_scope(*, cudnn: bool) -> None:
    """Replace the engine's per-``generate`` attention scope by nothing, cuDNN's kernel on or off process-wide.

    The A/B of docs/engines.md: whether the scope costs anything against the process-wide switch
    it replaced, and what cuDNN's kernel costs beside both, in one run on one machine.
    """
    import contextlib

    import torch

    from asr_worker.engines import qwen3_transformers

    qwen3_transformers._without_cudnn_attention = contextlib.nullcontext
    torch.backends.cuda.enable_cudnn_sdp(cudnn)


async def run_session(engine, clips: list[Clip], index: int, n: int, args, stats: Stats, stagger: float) -> None:
    from asr_worker.engines import DecodeRequest
    from asr_worker.rollback import stable_prefix

    loop = asyncio.get_running_loop()
    chunk = int(args.chunk_size_sec * SAMPLE_RATE)
    await asyncio.sleep(stagger)
    for u in range(args.utterances):
        clip = clips[(index + u) % len(clips)]
        audio, t0 = clip.audio, loop.time()
        arrived = lambda now: min(len(audio), int((now - t0) * SAMPLE_RATE))  # noqa: E731
        token_ids: tuple[int, ...] = ()
        decoded, decodes, first = 0, 0, True
        while True:
            next_ready = min(len(audio), decoded + chunk)
            wait = t0 + next_ready / SAMPLE_RATE - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # real-time pacing of the stream, not synchronisation
            if next_ready >= len(audio):
                break
            end = max(next_ready, (arrived(loop.time()) // chunk) * chunk)  # fold what arrived meanwhile
            prefix = stable_prefix(token_ids, chunk_index=decodes, unfixed_chunk_num=args.unfixed_chunk_num,
                                   unfixed_token_num=args.unfixed_token_num, detokenize=engine.detokenize)
            request = DecodeRequest(request_id=f"n{n}-s{index}-u{u}-p{decodes}", audio=audio[:end], final=False,
                                    prefix=prefix, language=args.language, context=args.context)
            try:
                hyp = await engine.transcribe(request)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the bench goes on
                stats.decode_failures += 1
                print(f"decode failed: {exc}", file=sys.stderr)
                hyp = None
            done = loop.time()
            (stats.first_partial if first else stats.partial).append(done - (t0 + end / SAMPLE_RATE))
            first = False
            decoded, decodes = end, decodes + 1
            if hyp is not None:
                token_ids = hyp.token_ids
        request = DecodeRequest(request_id=f"n{n}-s{index}-u{u}-final", audio=audio, final=True,
                                language=args.language, context=args.context)
        try:
            hyp = await engine.transcribe(request)
        except Exception as exc:  # noqa: BLE001
            stats.decode_failures += 1
            print(f"final decode failed: {exc}", file=sys.stderr)
            continue
        stats.final.append(loop.time() - (t0 + len(audio) / SAMPLE_RATE))
        if clip.text:
            errors, words = word_errors(clip.text, "" if hyp.no_speech else hyp.text)
            stats.word_errors += errors
            stats.words += words


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "n": 0}
    ms = np.asarray(values) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)),
            "p99": float(np.percentile(ms, 99)), "n": len(values)}


async def sweep(args) -> dict:
    clips = load_clips(args.audio_dir)
    engine = load(args)
    start = getattr(engine, "start", None)
    began = time.perf_counter()
    if start is not None:
        await start()
    if args.fake:
        engine._llm.responder = engine._bench_fake.TranscriptResponder(clips[0].text or "hello", chars_per_second=15)
    print(f"engine {engine.name} ready in {time.perf_counter() - began:.1f} s; clips: {len(clips)} "
          f"({sum(len(c.audio) for c in clips) / SAMPLE_RATE:.0f} s of audio)", flush=True)
    from asr_worker.engines import DecodeRequest

    await engine.transcribe(DecodeRequest(request_id="warmup", audio=clips[0].audio, final=True))

    bursts = [await burst(engine, clips, int(n)) for n in args.burst.split(",") if n.strip()]
    lengths = await new_lengths(engine, clips[0], args.new_lengths) if args.new_lengths else None
    results, capacity, failures = [], 0, 0
    header = (f"{'N':>5} {'first p50/p90/p99 ms':>24} {'partial p50/p90/p99 ms':>26} {'final p50/p90/p99 ms':>24} "
              f"{'WER':>6} {'loop lag p99':>12}")
    print(header)
    for n in [int(x) for x in args.sessions.split(",") if x.strip()]:
        stats = Stats()
        interval = args.chunk_size_sec
        lags: list[float] = []
        watch = asyncio.create_task(loop_lag(lags))
        try:
            await asyncio.gather(*(run_session(engine, clips, i, n, args, stats, stagger=interval * i / n)
                                   for i in range(n)))
        finally:
            watch.cancel()
        row: dict[str, Any] = {"sessions": n, "first_partial_ms": percentiles(stats.first_partial),
               "partial_ms": percentiles(stats.partial), "final_ms": percentiles(stats.final),
               "wer": stats.word_errors / stats.words if stats.words else None,
               "decode_failures": stats.decode_failures, "loop_lag_ms": percentiles(lags)}
        ok = (row["partial_ms"]["p90"] is not None and row["partial_ms"]["p90"] <= args.target_partial_p90_ms
              and row["final_ms"]["p90"] is not None and row["final_ms"]["p90"] <= args.target_final_p90_ms
              and not stats.decode_failures)
        row["meets_target"] = ok
        results.append(row)
        fmt = lambda p: "/".join("-" if p[k] is None else f"{p[k]:.0f}" for k in ("p50", "p90", "p99"))  # noqa: E731
        wer = "-" if row["wer"] is None else f"{row['wer']:.1%}"
        print(f"{n:>5} {fmt(row['first_partial_ms']):>24} {fmt(row['partial_ms']):>26} "
              f"{fmt(row['final_ms']):>24} {wer:>6} {row['loop_lag_ms']['p99'] or 0:>9.0f} ms {'ok' if ok else 'MISSED'}",
              flush=True)
        if ok:
            capacity = max(capacity, n)
        else:
            failures += 1
            if args.stop_after_failures and failures >= args.stop_after_failures:
                break
    await engine.close()
    print(f"capacity: {capacity} concurrent real-time sessions at partial p90 <= {args.target_partial_p90_ms:.0f} ms "
          f"and final p90 <= {args.target_final_p90_ms:.0f} ms (chunk {args.chunk_size_sec} s)")
    return {"engine": engine.name, "model": args.model, "fake": args.fake, "attention": args.attention, "chunk_size_sec": args.chunk_size_sec,
            "targets_ms": {"partial_p90": args.target_partial_p90_ms, "final_p90": args.target_final_p90_ms},
            "capacity_sessions": capacity, "bursts": bursts, "new_lengths": lengths, "results": results}


async def loop_lag(lags: list[float], *, tick: float = 0.01) -> None:
    """How late the event loop wakes from a ``tick`` s sleep, until cancelled: a decode thread that
    holds the GIL shows here (the sessions' pacing and arrivals run on this loop)."""
    while True:
        began = time.perf_counter()
        await asyncio.sleep(tick)
        lags.append(time.perf_counter() - began - tick)


async def new_lengths(engine, clip: Clip, n: int) -> dict[str, float]:
    """p50 ms of ``n`` lone partial decodes of lengths not decoded before, and of the same again."""
    from asr_worker.engines import DecodeRequest

    first: list[float] = []
    again: list[float] = []
    for i in range(n):
        # Odd lengths between 1 s and the clip's: no earlier decode (warm-up, bursts) had them.
        audio = clip.audio[:SAMPLE_RATE + (i * 7919 + 1231) % max(1, len(clip.audio) - SAMPLE_RATE)]
        for times in (first, again):
            began = time.perf_counter()
            await engine.transcribe(DecodeRequest(request_id=f"length-{i}-{len(times)}", audio=audio, final=False))
            times.append(1000 * (time.perf_counter() - began))
    result = {"decodes": n, "first_ms": float(np.median(first)), "again_ms": float(np.median(again))}
    print(f"{n} lone decodes of new lengths: p50 {result['first_ms']:.0f} ms the first time, "
          f"{result['again_ms']:.0f} ms again", flush=True)
    return result


async def burst(engine, clips: list[Clip], n: int, *, repeats: int = 2) -> dict[str, float]:
    """Time ``n`` partial decodes sent together (the last of ``repeats`` tries: the first warms the shapes)."""
    from asr_worker.engines import DecodeRequest

    for rep in range(repeats):
        began = time.perf_counter()
        await asyncio.gather(*(engine.transcribe(DecodeRequest(request_id=f"burst-{n}-{rep}-{i}",
                                                               audio=clips[i % len(clips)].audio, final=False))
                               for i in range(n)))
        seconds = time.perf_counter() - began
    print(f"burst of {n:>4} partial decodes: {1000 * seconds:.0f} ms for all", flush=True)
    return {"decodes": n, "ms": 1000 * seconds}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from common.errors import StreamscribeError

    try:
        report = asyncio.run(sweep(args))
    except StreamscribeError as exc:
        print(f"asr_gpu_bench: {exc}", file=sys.stderr)
        return 2
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
