"""``python -m denoise_worker``: the DeepFilterNet3 noise suppression stage.

The denoiser pool uses the spawn start method: its children import this
module again, so nothing here runs at import time.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from common.config import SettingsParser, fraction, from_args, option, positive, program, redis_url
from common.logs import setup_logging
from common.metrics import DenoiseMetrics
from common.runner import TUNING_FLAGS, RunnerOptions
from common.service import run_main, run_stage


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class DenoiseOptions:
    """The denoiser pool's settings (:class:`~.pool.DenoisePool`)."""

    processes: int = field(default_factory=_cpus, metadata=option(
        "denoiser processes (default: %(default)s, the CPUs this process may use)", parse=positive(int)))
    model: str = field(default="DeepFilterNet3", metadata=option(
        "DeepFilterNet model: DeepFilterNet3 (bundled) or the path of an official .tar.gz model", flag="--dfn-model"))
    post_filter: float = field(default=0.0, metadata=option(
        "DeepFilterNet post-filter beta (0 disables; 0.02 is DeepFilterNet's usual value)",
        flag="--dfn-post-filter", parse=fraction))
    atten_lim_db: float | None = field(default=None, metadata=option(
        "maximum attenuation in dB (default: no limit)", parse=positive(float)))


def build_parser() -> SettingsParser:
    parser = SettingsParser(prog=program("denoise_worker"), env_prefix="STREAMSCRIBE_DENOISE_",
                            description="DeepFilterNet3 worker: streaming noise suppression before the VAD.")
    parser.add_common(http_port=9101)
    # About 5 real-time streams fit on one core (RTF ~0.17); keep headroom.
    # A recording's records carry 500 ms (gateway.core.audio.BATCH_MAX_CHUNK): 4 are 2 s of its audio a round.
    parser.add_options(RunnerOptions, defaults={"capacity": 4 * _cpus(), "batch_read_count": 4})
    parser.add_options(DenoiseOptions)
    parser.advanced(*TUNING_FLAGS, "--checkpoint-interval")
    return parser


async def serve(args) -> None:
    """Serve the stage; it starts the denoiser pool first (failing fast on a bad model)."""
    from .pool import DenoisePool
    from .stage import DenoiseStage

    registry = CollectorRegistry()
    denoise = from_args(DenoiseOptions, args)
    pool = DenoisePool(processes=denoise.processes, model=denoise.model, post_filter=denoise.post_filter,
                       atten_lim_db=denoise.atten_lim_db)
    metrics = DenoiseMetrics(registry)
    await run_stage(lambda runner: DenoiseStage(runner, pool, metrics=metrics),
                    redis_url=redis_url(args), options=from_args(RunnerOptions, args, stage="denoise"),
                    registry=registry, http_host=args.http_host, http_port=args.http_port)


def main(argv: list[str] | None = None) -> int:
    return run_main("denoise_worker", lambda: _run(argv))


def _run(argv: list[str] | None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(level=args.log_level, fmt=args.log_format)
    from .dsp import resolve_model_path

    resolve_model_path(args.dfn_model)  # a clear ConfigError before any process starts
    asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
