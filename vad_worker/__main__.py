"""``python -m vad_worker``: the Silero VAD endpointing stage."""

from __future__ import annotations

import asyncio
import gc
import sys

from prometheus_client import CollectorRegistry

from common.config import SettingsParser, positive
from common.logs import setup_logging
from common.metrics import VadMetrics
from common.service import add_runner_options, run_main, run_stage, runner_options

from .model import SileroVad
from common.endpointing import EndpointOptions
from .stage import VadStage


def build_parser() -> SettingsParser:
    parser = SettingsParser(prog="python -m vad_worker", env_prefix="STREAMSCRIBE_VAD_",
                            description="Silero VAD worker: segments session audio into utterances.")
    parser.add_common(http_port=9102)
    add_runner_options(parser, capacity=500)
    parser.option("--vad-threshold", default=0.5, type=float, help="speech probability that starts speech")
    parser.option("--min-speech-duration", default=0.3, type=float, help="seconds of speech before it counts")
    parser.option("--silence-threshold", default=0.8, type=float, help="seconds of silence that end an utterance")
    parser.option("--pre-roll", default=0.3, type=float, help="seconds kept before speech start")
    parser.option("--trailing-padding", default=0.2, type=float, help="seconds of silence kept after speech")
    parser.option("--pause-threshold", default=0.2, type=float,
                  help="seconds of silence that mark a pause (the ASR starts the final decode there)")
    parser.option("--max-utterance-sec", default=30.0, type=float, help="force a split of longer speech")
    parser.option("--checkpoint-interval", default=1.0, type=float, help="seconds between checkpoints in silence")
    parser.option("--vad-model", default=None, help="Silero ONNX model file (default: the one in silero-vad)")
    parser.option("--threads", default=1, type=positive(int), help="ONNX Runtime threads per call")
    parser.option("--min-round-interval", default=0.03, type=float,
                  help="seconds a processing round lasts at least, so that more sessions share a model call "
                       "(0: process each delivery at once)")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_main("vad_worker", lambda: _run(argv))


def _run(argv: list[str] | None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(level=args.log_level, fmt=args.log_format)
    defaults = EndpointOptions(
        threshold=args.vad_threshold, min_speech_duration=args.min_speech_duration,
        silence_threshold=args.silence_threshold, pre_roll=args.pre_roll,
        trailing_padding=args.trailing_padding, pause_threshold=args.pause_threshold,
        max_utterance_sec=args.max_utterance_sec,
    )
    registry = CollectorRegistry()
    model = SileroVad(model_path=args.vad_model, threads=args.threads)
    metrics = VadMetrics(registry)
    # The worker allocates a few objects per frame and record and keeps almost none:
    # at the default gen-0 threshold of 700 the collector ran 30-50 times a second at 200
    # sessions and took ~0.04 core (a fifth of the event loop's CPU) traversing the
    # modules and model loaded at startup. Those are frozen out of collection, and
    # gen 0 is collected less often; cycles are still collected.
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
    options = runner_options(args, "vad", checkpoint_interval=args.checkpoint_interval)
    asyncio.run(run_stage(lambda runner: VadStage(runner, model, defaults=defaults, metrics=metrics,
                                                  min_round_interval=args.min_round_interval),
                          redis_url=args.redis_url, options=options,
                          registry=registry, http_host=args.http_host, http_port=args.http_port))


if __name__ == "__main__":
    sys.exit(main())
