"""``python -m vad_worker``: the Silero VAD endpointing stage."""

from __future__ import annotations

import asyncio
import gc
import sys
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from common.config import SettingsParser, from_args, option, positive, program, redis_url
from common.endpointing import EndpointOptions
from common.logs import setup_logging
from common.metrics import VadMetrics
from common.runner import TUNING_FLAGS, RunnerOptions
from common.service import run_main, run_stage

from .model import SileroVad
from .stage import VadStage


@dataclass(frozen=True, slots=True, kw_only=True)
class VadOptions:
    """The worker's model and rounds (:class:`SileroVad` and :class:`VadStage` settings)."""

    vad_model: str | None = field(default=None, metadata=option(
        "Silero ONNX model file (default: the one in silero-vad)"))
    threads: int = field(default=1, metadata=option("ONNX Runtime threads per call", parse=positive(int)))
    min_round_interval: float = field(default=0.03, metadata=option(
        "seconds a processing round lasts at least, so that more sessions share a model call "
        "(0: process each delivery at once)"))


def build_parser() -> SettingsParser:
    parser = SettingsParser(prog=program("vad_worker"), env_prefix="STREAMSCRIBE_VAD_",
                            description="Silero VAD worker: segments session audio into utterances.")
    parser.add_common(http_port=9102)
    # A recording's records carry 500 ms (gateway.core.audio.BATCH_MAX_CHUNK): 4 are 2 s of its audio a round.
    parser.add_options(RunnerOptions, defaults={"capacity": 500, "batch_read_count": 4})
    parser.add_options(EndpointOptions)
    parser.add_options(VadOptions)
    parser.advanced(*TUNING_FLAGS, "--checkpoint-interval", "--split-search", "--min-round-interval")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_main("vad_worker", lambda: _run(argv))


def _run(argv: list[str] | None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(level=args.log_level, fmt=args.log_format)
    defaults = from_args(EndpointOptions, args)
    vad = from_args(VadOptions, args)
    registry = CollectorRegistry()
    model = SileroVad(model_path=vad.vad_model, threads=vad.threads)
    metrics = VadMetrics(registry)
    # The worker allocates a few objects per frame and record and keeps almost none:
    # at the default gen-0 threshold of 700 the collector ran 30-50 times a second at 200
    # sessions and took ~0.04 core (a fifth of the event loop's CPU) traversing the
    # modules and model loaded at startup. Those are frozen out of collection, and
    # gen 0 is collected less often; cycles are still collected.
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
    asyncio.run(run_stage(lambda runner: VadStage(runner, model, defaults=defaults, metrics=metrics,
                                                  min_round_interval=vad.min_round_interval),
                          redis_url=redis_url(args), options=from_args(RunnerOptions, args, stage="vad"),
                          registry=registry, http_host=args.http_host, http_port=args.http_port))


if __name__ == "__main__":
    sys.exit(main())
