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
from .protocols.base import DoorOptions
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
    parser.option("--send-queue", default=256, type=positive(int), help="messages buffered per client")
    parser.option("--session-ttl", default=30.0, type=positive(float),
                  help="seconds a session outlives its gateway (meta TTL)")
    parser.option("--max-queue-lag", default=5.0, type=positive(float),
                  help="refuse new sessions (close 1013) while a stage lags more than this many seconds")
    parser.flag("--enable-noise-suppression", help="send sessions through the denoise stage by default")
    parser.option("--twilio-auth-token", default=None,
                  help="Twilio auth token: /twilio then requires a valid X-Twilio-Signature header")
    return parser


async def serve(args) -> None:
    redis = bus.connect(args.redis_url, client_name="streamscribe-gateway")
    registry = CollectorRegistry()
    gateway = Gateway(
        redis, registry=registry,
        listen=ListenOptions(host=args.host, port=args.port, max_frame_bytes=args.max_frame_bytes),
        connection=ConnectionOptions(send_queue=args.send_queue),
        hub=HubOptions(session_ttl=args.session_ttl, max_queue_lag=args.max_queue_lag,
                       enable_noise_suppression=args.enable_noise_suppression),
        doors=DoorOptions(twilio_auth_token=args.twilio_auth_token),
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
