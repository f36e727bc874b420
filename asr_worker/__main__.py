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
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_main("asr_worker", lambda: _run(argv))


def _run(argv: list[str] | None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(level=args.log_level, fmt=args.log_format)
    engine = load_engine(args.engine, EngineOptions(
        model=args.model, device=args.device, compute_type=args.compute_type,
        cpu_threads=args.cpu_threads, num_workers=args.num_workers, dtype=args.dtype,
        gpu_memory_utilization=args.gpu_memory_utilization, max_model_len=args.max_model_len,
        max_num_seqs=args.max_num_seqs, tensor_parallel_size=args.tensor_parallel_size,
        max_new_tokens=args.max_new_tokens,
    ))
    defaults = StreamingOptions(chunk_size_sec=args.chunk_size_sec, first_partial_sec=args.first_partial_sec,
                                unfixed_chunk_num=args.unfixed_chunk_num,
                                unfixed_token_num=args.unfixed_token_num,
                                final_with_prefix=args.final_with_prefix)
    registry = CollectorRegistry()
    metrics = AsrMetrics(registry)
    # The stage starts the engine (vLLM needs the running loop) and closes it.
    asyncio.run(run_stage(lambda runner: AsrStage(runner, engine, defaults=defaults, metrics=metrics),
                          redis_url=args.redis_url, options=runner_options(args, "asr"),
                          registry=registry, http_host=args.http_host, http_port=args.http_port))


if __name__ == "__main__":
    sys.exit(main())
