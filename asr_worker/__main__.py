"""``python -m asr_worker``: streaming recognition with a chosen engine."""

from __future__ import annotations

import asyncio
import logging
import sys

from prometheus_client import CollectorRegistry

from common.config import SettingsParser, from_args, program, redis_url
from common.logs import setup_logging
from common.metrics import AsrMetrics
from common.redaction.names import NameModel
from common.redaction.names import installed as names_installed
from common.runner import TUNING_FLAGS, RunnerOptions
from common.service import run_main, run_stage

from .engines import ENGINES, load_engine, options_class
from .stage import AsrStage, StreamingOptions

# The flags --help leaves to --help-advanced: the decode recipe's knobs (measured in BENCHMARKS.md),
# the recordings' child process and packs, redaction's prompts, and the stand-in engine of tests.
TUNING = (
    "--max-new-tokens", "--scheduling-policy",
    "--window-margin-sec", "--partial-window-margin-sec", "--first-words-grace-sec", "--batch-max-batch",
    "--final-beam-size", "--final-beam-logprob", "--final-beam-compression-ratio",
    "--batch-process", "--batch-child-at-start", "--batch-cpu-threads", "--batch-nice", "--batch-pause",
    "--batch-pause-for", "--batch-pause-min-run-sec", "--batch-pause-period-sec", "--batch-pause-resume-after-sec",
    "--allow-standin-engine", "--standin-clips", "--standin-final-sec", "--standin-partial-sec",
    "--standin-sec-per-audio-sec",
    "--first-partial-sec", "--unfixed-chunk-num", "--unfixed-token-num", "--final-with-prefix",
    "--sentence-confidence", "--sentence-confidence-skip", "--sentence-short-words", "--split-replies", "--batch-pack-sec", "--batch-pack-prompt", "--batch-pack-depth",
    "--redact-hold-sec", "--redact-prompt", "--redact-digits-prompt", "--detect-min-sec", "--settle-sec",
)


def build_parser() -> SettingsParser:
    parser = SettingsParser(prog=program("asr_worker"), env_prefix="STREAMSCRIBE_ASR_",
                            description="ASR worker: partial and final transcripts of each utterance.")
    parser.add_common(http_port=9103)
    parser.add_options(RunnerOptions, defaults={"capacity": 50}, skip=("checkpoint_interval",))
    parser.option("--engine", default="whisper", choices=list(ENGINES), help="recognition engine")
    for engine in ENGINES:  # every engine's flags; one that engines share (--model) once
        parser.add_options(options_class(engine))
    parser.add_options(StreamingOptions)
    parser.advanced(*TUNING_FLAGS, *TUNING)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_main("asr_worker", lambda: _run(argv))


def _run(argv: list[str] | None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(level=args.log_level, fmt=args.log_format)
    engine = load_engine(args.engine, from_args(options_class(args.engine), args))
    defaults = from_args(StreamingOptions, args)
    registry = CollectorRegistry()
    metrics = AsrMetrics(registry)
    for collector in engine.collectors():
        registry.register(collector)
    # Names for redact=pii, when the names extra is installed (loaded at the first session that needs it).
    names = NameModel() if names_installed() else None
    logging.getLogger("asr_worker").info("name model for redact=pii: %s", "installed (loaded at first use)"
                                         if names else "not installed (sessions asking for pii are refused)")
    # The stage starts the engine (vLLM needs the running loop) and closes it.
    asyncio.run(run_stage(lambda runner: AsrStage(runner, engine, defaults=defaults, metrics=metrics, names=names),
                          redis_url=redis_url(args), options=from_args(RunnerOptions, args, stage="asr"),
                          registry=registry, http_host=args.http_host, http_port=args.http_port))


if __name__ == "__main__":
    sys.exit(main())
