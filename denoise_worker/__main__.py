"""``python -m denoise_worker``: the DeepFilterNet3 noise suppression stage.

The denoiser pool uses the spawn start method: its children import this
module again, so nothing here runs at import time.
"""

from __future__ import annotations

import asyncio
import os
import sys

from prometheus_client import CollectorRegistry

from common.config import SettingsParser, positive
from common.errors import ConfigError
from common.logs import setup_logging
from common.metrics import DenoiseMetrics
from common.service import add_runner_options, run_main, run_stage, runner_options


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _beta(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{raw} is not between 0 and 1")
    return value


def build_parser() -> SettingsParser:
    cpus = _cpus()
    parser = SettingsParser(prog="python -m denoise_worker", env_prefix="STREAMSCRIBE_DENOISE_",
                            description="DeepFilterNet3 worker: streaming noise suppression before the VAD.")
    parser.add_common(http_port=9101)
    # About 5 real-time streams fit on one core (RTF ~0.17); keep headroom.
    add_runner_options(parser, capacity=4 * cpus)
    parser.option("--processes", default=cpus, type=positive(int),
                  help="denoiser processes (default: %(default)s, the CPUs this process may use)")
    parser.option("--dfn-model", default="DeepFilterNet3",
                  help="DeepFilterNet model: DeepFilterNet3 (bundled) or the path of an official .tar.gz model")
    parser.option("--dfn-post-filter", default=0.0, type=_beta,
                  help="DeepFilterNet post-filter beta (0 disables; 0.02 is DeepFilterNet's usual value)")
    parser.option("--atten-lim-db", default=None, type=float,
                  help="maximum attenuation in dB (default: no limit)")
    parser.option("--checkpoint-interval", default=1.0, type=positive(float),
                  help="seconds between checkpoints of a session")
    return parser


async def serve(args) -> None:
    """Serve the stage; it starts the denoiser pool first (failing fast on a bad model)."""
    from .pool import DenoisePool
    from .stage import DenoiseStage

    registry = CollectorRegistry()
    pool = DenoisePool(processes=args.processes, model=args.dfn_model, post_filter=args.dfn_post_filter,
                       atten_lim_db=args.atten_lim_db)
    metrics = DenoiseMetrics(registry)
    options = runner_options(args, "denoise", checkpoint_interval=args.checkpoint_interval)
    await run_stage(lambda runner: DenoiseStage(runner, pool, metrics=metrics),
                    redis_url=args.redis_url, options=options,
                    registry=registry, http_host=args.http_host, http_port=args.http_port)


def main(argv: list[str] | None = None) -> int:
    return run_main("denoise_worker", lambda: _run(argv))


def _run(argv: list[str] | None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(level=args.log_level, fmt=args.log_format)
    from .dsp import resolve_model_path

    resolve_model_path(args.dfn_model)  # a clear ConfigError before any process starts
    if args.atten_lim_db is not None and not args.atten_lim_db > 0:
        raise ConfigError(f"--atten-lim-db must be > 0 dB, got {args.atten_lim_db}")
    asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
