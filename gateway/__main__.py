"""``python -m gateway``: the WebSocket gateway."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from prometheus_client import CollectorRegistry

from common import bus
from common.config import SettingsParser, positive
from common.logs import setup_logging
from common.service import run_main

from .connection import ConnectionOptions
from .hub import HubOptions
from .pacing import PacingOptions
from .server import Gateway, ListenOptions

log = logging.getLogger("gateway")


def build_parser() -> SettingsParser:
    parser = SettingsParser(prog="python -m gateway", env_prefix="STREAMSCRIBE_GATEWAY_",
                            description="WebSocket gateway: /ws/asr, the browser demo at /, "
                                        "/healthz, /readyz and /metrics on one port.")
    parser.add_common(http_port=None)
    parser.option("--host", default="0.0.0.0", help="listen address")
    parser.option("--port", default=8000, type=int, help="listen port (0: any free port)")
    parser.option("--max-frame-bytes", default=1 << 20, type=positive(int), help="largest client frame")
    parser.flag("--permessage-deflate",
                help="offer WebSocket compression (off by default; pacing still bounds the audio rate)")
    parser.option("--drain-timeout", default=10.0, type=positive(float),
                  help="seconds connection handlers get to finish at shutdown before they are cancelled")
    parser.option("--max-audio-lead", default=10.0, type=positive(float),
                  help="seconds of audio a session may send ahead of real time in one burst")
    parser.option("--max-realtime-factor", default=4.0, type=positive(float),
                  help="sustained audio seconds per second a session may send (>= 1); "
                       "beyond it the gateway stops reading the socket")
    parser.option("--max-backlog-records", default=3000, type=positive(int),
                  help="unprocessed input records per session before its audio waits (then fails)")
    parser.option("--backlog-timeout", default=10.0, type=positive(float),
                  help="seconds audio waits for a full input stream to drain before the session fails")
    parser.option("--send-queue", default=256, type=positive(int), help="messages buffered per client")
    parser.option("--idle-timeout", default=10.0, type=positive(float),
                  help="end a session after this many seconds without audio or keep-alive")
    parser.option("--max-keepalive-idle", default=60.0, type=positive(float),
                  help="keep-alives alone hold a session without audio this many seconds at most")
    parser.option("--session-ttl", default=30.0, type=positive(float),
                  help="seconds a session outlives its gateway (meta TTL)")
    parser.option("--max-queue-lag", default=5.0, type=positive(float),
                  help="refuse new sessions (close 1013) while a stage lags more than this many seconds")
    parser.flag("--enable-noise-suppression", help="send sessions through the denoise stage by default")
    return parser


async def serve(args) -> None:
    redis = bus.connect(args.redis_url, client_name="streamscribe-gateway")
    registry = CollectorRegistry()
    gateway = Gateway(
        redis, registry=registry,
        listen=ListenOptions(host=args.host, port=args.port, max_frame_bytes=args.max_frame_bytes,
                             permessage_deflate=args.permessage_deflate, drain_timeout=args.drain_timeout),
        connection=ConnectionOptions(
            send_queue=args.send_queue, idle_timeout=args.idle_timeout,
            max_keepalive_idle=args.max_keepalive_idle,
            pacing=PacingOptions(max_lead=args.max_audio_lead, max_realtime_factor=args.max_realtime_factor),
        ),
        hub=HubOptions(session_ttl=args.session_ttl, max_queue_lag=args.max_queue_lag,
                       max_backlog_records=args.max_backlog_records, backlog_timeout=args.backlog_timeout,
                       enable_noise_suppression=args.enable_noise_suppression),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await gateway.start()
        log.info("ready: http://%s:%d/", "localhost" if args.host in ("0.0.0.0", "::") else args.host,
                 gateway.port)
        await stop.wait()
    finally:
        await gateway.close()
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    return run_main("gateway", lambda: _run(argv))


def _run(argv: list[str] | None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(level=args.log_level, fmt=args.log_format)
    asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
