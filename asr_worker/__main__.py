"""``python -m asr_worker``: streaming recognition with a chosen engine."""

from __future__ import annotations

import asyncio
import sys

from prometheus_client import CollectorRegistry

from common.config import SettingsParser, positive
from common.logs import setup_logging
from common.metrics import AsrMetrics
from common.service import add_runner_options, run_main, run_stage, runner_options

from .engines import ENGINES, EngineOptions, load_engine
from .stage import AsrStage, StreamingOptions


def build_parser() -> SettingsParser:
    parser = SettingsParser(prog="python -m asr_worker", env_prefix="STREAMSCRIBE_ASR_",
                            description="ASR worker: partial and final transcripts of each utterance.")
    parser.add_common(http_port=9103)
    add_runner_options(parser, capacity=50)
    parser.option("--engine", default="whisper", choices=list(ENGINES), help="recognition engine")
    parser.option("--model", default=None, help="model path (whisper: bundled tiny.en if unset)")
    parser.option("--device", default="auto", help="cpu, cuda or auto")
    parser.option("--compute-type", default="int8", help="CTranslate2 compute type (whisper)")
    parser.option("--cpu-threads", default=0, type=int, help="threads per decode (whisper; 0: default)")
    parser.option("--num-workers", default=2, type=positive(int), help="concurrent decodes (whisper)")
    parser.option("--max-batch", default=1, type=positive(int),
                  help="whisper: requests waiting for a decode thread decoded together in one batch "
                       "(1: none; batches pay on a GPU, not on a small CPU)")
    parser.option("--window-margin-sec", default=10.0, type=window_margin,
                  help="whisper: seconds of padding after the audio in the encoder window, "
                       "'full' for whisper's fixed 30 s window")
    parser.option("--partial-window-margin-sec", default=5.0, type=window_margin,
                  help="whisper: the same for partial decodes (narrower: cheaper, as good for partials)")
    parser.option("--dtype", default="auto", help="weights dtype (qwen3 engines)")
    parser.option("--gpu-memory-utilization", default=0.8, type=float, help="vLLM GPU memory share")
    parser.option("--max-model-len", default=4096, type=positive(int), help="vLLM max model length")
    parser.option("--max-num-seqs", default=128, type=positive(int), help="vLLM concurrent sequences")
    parser.option("--tensor-parallel-size", default=1, type=positive(int), help="vLLM tensor parallel size")
    parser.option("--max-new-tokens", default=256, type=positive(int), help="token limit of a final decode")
    parser.option("--chunk-size-sec", default=1.0, type=positive(float),
                  help="seconds of new speech between partial decodes")
    parser.option("--first-partial-sec", default=0.25, type=positive(float),
                  help="seconds of an utterance's audio before its first partial decode")
    parser.option("--unfixed-chunk-num", default=2, type=int, help="first chunks decoded without a prefix")
    parser.option("--unfixed-token-num", default=5, type=int, help="tokens rolled back from the prefix")
    parser.flag("--final-with-prefix", help="decode finals with the stable prefix (faster, less accurate)")
    parser.flag("--sentence-endpoint", default=True,
                help="end an utterance at a pause (the VAD's pause_threshold) when its text ends a sentence "
                     "(--no-sentence-endpoint: at silence_threshold only); sessions may override with the "
                     "config field sentence_endpoint")
    return parser


def window_margin(text: str) -> float | None:
    """``full`` (None: whisper's 30 s window) or seconds 0..30."""
    if text.strip().lower() == "full":
        return None
    value = float(text)
    if not 0.0 <= value <= 30.0:
        raise ValueError(f"window margin {value} is not 0..30 s or 'full'")
    return value


def main(argv: list[str] | None = None) -> int:
    return run_main("asr_worker", lambda: _run(argv))


def _run(argv: list[str] | None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(level=args.log_level, fmt=args.log_format)
    engine = load_engine(args.engine, EngineOptions(
        model=args.model, device=args.device, compute_type=args.compute_type,
        cpu_threads=args.cpu_threads, num_workers=args.num_workers, max_batch=args.max_batch,
        window_margin_sec=args.window_margin_sec, partial_window_margin_sec=args.partial_window_margin_sec,
        dtype=args.dtype,
        gpu_memory_utilization=args.gpu_memory_utilization, max_model_len=args.max_model_len,
        max_num_seqs=args.max_num_seqs, tensor_parallel_size=args.tensor_parallel_size,
        max_new_tokens=args.max_new_tokens,
    ))
    defaults = StreamingOptions(chunk_size_sec=args.chunk_size_sec, first_partial_sec=args.first_partial_sec,
                                unfixed_chunk_num=args.unfixed_chunk_num,
                                unfixed_token_num=args.unfixed_token_num,
                                final_with_prefix=args.final_with_prefix,
                                sentence_endpoint=args.sentence_endpoint)
    registry = CollectorRegistry()
    metrics = AsrMetrics(registry)
    # The stage starts the engine (vLLM needs the running loop) and closes it.
    asyncio.run(run_stage(lambda runner: AsrStage(runner, engine, defaults=defaults, metrics=metrics),
                          redis_url=args.redis_url, options=runner_options(args, "asr"),
                          registry=registry, http_host=args.http_host, http_port=args.http_port))


if __name__ == "__main__":
    sys.exit(main())
