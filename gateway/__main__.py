"""``python -m gateway``: the WebSocket gateway."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys

from prometheus_client import CollectorRegistry

from common import bus
from common.config import SettingsParser, from_args, program, redis_url
from common.logs import setup_logging
from common.service import run_main

from .calls.connection import ConnectionOptions
from .core.hub import HubOptions
from .core.pacing import PacingOptions
from .diarization.pool import DiarizeOptions
from .doors import ROUTES
from .http.prerecorded import PrerecordedOptions
from .http.status import StatusOptions
from .outputs.follow import FollowOptions
from .outputs.transcript_log import TranscriptOptions
from .outputs.webhook import WebhookOptions
from .security.auth import KeyOptions
from .security.gate import AccessOptions
from .security.tls import TlsOptions
from .server import Gateway, ListenOptions
from .tcp import TcpListener, TcpOptions

log = logging.getLogger("gateway")

GC_THRESHOLD = 50_000  # allocations between young-generation collections (Python's default: 700)

# The classes whose fields are the gateway's flags, in --help's order; the doors' own follow.
OPTIONS = (ListenOptions, PacingOptions, ConnectionOptions, HubOptions, DiarizeOptions, KeyOptions, AccessOptions,
           TlsOptions, PrerecordedOptions)
OUTPUT_OPTIONS = (TranscriptOptions, FollowOptions, StatusOptions, WebhookOptions, TcpOptions)
# The flags --help leaves to --help-advanced: limits, timeouts and retention whose defaults suit a
# deployment (docs/configuration.md says what each does).
TUNING = (
    "--max-frame-bytes", "--permessage-deflate", "--ping-interval", "--ping-timeout", "--close-timeout",
    "--max-audio-lead", "--max-realtime-factor", "--config-timeout", "--send-queue", "--results-timeout",
    "--idle-timeout", "--echo-gate-db", "--min-audio-share", "--audio-share-window", "--max-keepalive-idle", "--resume-grace",
    "--max-queue-lag", "--asr-overbooking", "--batch-share", "--batch-backlog-timeout", "--session-ttl",
    "--max-backlog-records", "--backlog-timeout", "--diarize-wait", "--diarize-load-wait",
    "--max-pending-per-key", "--self-signed-cert-dir", "--audiohook-language",
    "--prerecorded-max-bytes", "--prerecorded-memory-bytes", "--prerecorded-body-timeout", "--prerecorded-callback-attempts",
    "--prerecorded-callback-backlog", "--prerecorded-callback-backlog-bytes", "--prerecorded-callback-retention",
    "--prerecorded-callback-senders", "--redacted-audio-max-bytes", "--redacted-audio-retention",
    "--transcript-log-maxlen", "--finals-maxlen", "--transcript-retention", "--max-followers",
    "--max-followers-per-key", "--max-failed-follows", "--max-status-sockets", "--max-status-per-key",
    "--finals-webhook-attempts",
)


def door_options() -> list[type]:
    """The options classes of the doors that have some."""
    return list(dict.fromkeys(door.options_class for door in ROUTES.values() if door.options_class is not None))


def build_parser() -> SettingsParser:
    parser = SettingsParser(prog=program("gateway"), env_prefix="STREAMSCRIBE_GATEWAY_",
                            description="WebSocket gateway: /ws/asr, the browser demo at /, "
                                        "/healthz, /readyz and /metrics on one port.")
    parser.add_common(http_port=None)
    for options in (*OPTIONS, *door_options(), *OUTPUT_OPTIONS):
        parser.add_options(options)
    parser.advanced(*TUNING)
    return parser


def access_options(args) -> AccessOptions:
    """Who may connect; the API keys are read here."""
    keys = from_args(KeyOptions, args).load()
    if keys.enabled:
        log.info("API keys required: %d key(s) of %d tenant(s)%s", len(keys), keys.tenants,
                 f" (file {keys.keys_file})" if keys.keys_file else "")
    return from_args(AccessOptions, args, api_keys=keys)


async def serve(args) -> None:
    listen = from_args(ListenOptions, args, tls=from_args(TlsOptions, args).context(host=args.host))
    access = access_options(args)
    connection = from_args(ConnectionOptions, args, pacing=from_args(PacingOptions, args))
    # --tcp-port is off when 0.
    tcp = from_args(TcpOptions, args, host=listen.host) if args.tcp_port else None
    redis = bus.connect(redis_url(args), client_name="streamscribe-gateway")
    gateway = Gateway(
        redis, registry=CollectorRegistry(), access=access, listen=listen, connection=connection,
        hub=from_args(HubOptions, args), doors=[from_args(options, args) for options in door_options()],
        transcripts=from_args(TranscriptOptions, args, webhook=from_args(WebhookOptions, args)), follow=from_args(FollowOptions, args),
        status=from_args(StatusOptions, args), recordings=from_args(PrerecordedOptions, args),
        diarize=from_args(DiarizeOptions, args),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task] = set()

    def reload_keys() -> None:
        task = loop.create_task(access.api_keys.reload(), name="reload-api-keys")
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload_keys)
    listener = TcpListener(gateway.hub, options=tcp, connection=connection) if tcp is not None else None
    try:
        await gateway.start()
        if listener is not None:
            await listener.start()
        log.info("ready: %s://%s:%d/", "https" if listen.tls else "http",
                 "localhost" if listen.host in ("0.0.0.0", "::") else listen.host, gateway.port)
        # What exists now (modules, classes, the server) lives as long as the process:
        # out of the collector's sight, full collections walk only the sessions' objects
        # (each full collection pauses every session's audio for its duration). A frame's
        # objects live about a frame period (100 ms); with the default threshold (700
        # allocations) a busy gateway collected gen0 every few ms, promoted them, and ran a
        # full collection every ~5 s (seen: 150-190 ms pauses at 1000 sessions).
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        await stop.wait()
    finally:
        # Both doors drain at once: the same --drain-timeout bounds the whole shutdown.
        await asyncio.gather(gateway.drain(), *([listener.close(drain_timeout=listen.drain_timeout)]
                                                if listener is not None else []))
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
