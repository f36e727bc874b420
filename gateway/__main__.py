"""``python -m gateway``: the WebSocket gateway."""

from __future__ import annotations

import asyncio
import base64
import binascii
import gc
import logging
import os
import signal
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from common import bus
from common.config import SettingsParser, positive
from common.errors import ConfigError
from common.logs import setup_logging
from common.service import run_main

from .core.connection import ConnectionOptions
from .core.hub import HubOptions
from .core.pacing import PacingOptions
from .doors.base import DoorOptions
from .outputs.follow import FollowOptions
from .outputs.transcript_log import TranscriptOptions
from .outputs.webhook import WebhookOptions
from .security import tls
from .security.auth import ApiKeys
from .security.origins import OriginPolicy
from .server import AccessOptions, Gateway, ListenOptions
from .tcp import LOOPBACK, TcpListener, TcpOptions, parse_networks

log = logging.getLogger("gateway")

GC_THRESHOLD = 50_000  # allocations between young-generation collections (Python's default: 700)
API_KEY_ENV = "STREAMSCRIBE_GATEWAY_API_KEY"  # not a default of --api-key: --help would print the keys


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
    parser.option("--ping-interval", default=20.0, type=positive(float),
                  help="seconds between WebSocket keepalive pings")
    parser.option("--ping-timeout", default=20.0, type=positive(float),
                  help="seconds to wait for a pong before closing a follower or status socket "
                       "(calls end by their idle timeout instead)")
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
    parser.option("--resume-grace", default=30.0, type=float,
                  help="seconds a resumable session (native config resumable: true) whose client dropped "
                       "waits for it to reconnect (0: sessions end at once)")
    parser.option("--session-ttl", default=30.0, type=positive(float),
                  help="seconds a session outlives its gateway (meta TTL)")
    parser.option("--max-queue-lag", default=5.0, type=positive(float),
                  help="refuse new sessions (close 1013) while a stage lags more than this many seconds")
    parser.option("--asr-overbooking", default=2.0, type=positive(float),
                  help="sessions admitted per ASR slot (ASR workers count only sessions that are speaking)")
    parser.flag("--enable-noise-suppression", help="send sessions through the denoise stage by default")
    add_access_options(parser)
    parser.option("--twilio-auth-token", default=None, secret=True,
                  help="Twilio auth token: /twilio then requires a valid X-Twilio-Signature header")
    parser.option("--audiohook-client-secret", default=None, secret=True,
                  help="the Genesys AudioHook integration's Client Secret (base64, as Genesys shows it): "
                       "/audiohook then requires a valid Signature header made with it")
    parser.option("--audiohook-client-secret-file", default="",
                  help="file holding --audiohook-client-secret (read at the start)")
    add_follow_options(parser)
    parser.option("--tcp-port", default=0, type=int,
                  help="serve the raw TCP whisper-streaming protocol on this port (0: off)")
    parser.option("--tcp-allowed-networks", default=",".join(LOOPBACK),
                  help="comma-separated networks (CIDR) whose TCP clients are served; raw PCM carries no "
                       "API key, so this is the TCP listener's only access check")
    return parser


def add_follow_options(parser: SettingsParser) -> None:
    """Followers (/ws/follow/{call_id}), the calls' transcript logs, ss:finals and the finals webhook."""
    parser.option("--transcript-retention", default=60.0, type=positive(float),
                  help="seconds a call's transcript log stays readable for followers after the call ended")
    parser.option("--transcript-log-maxlen", default=10_000, type=positive(int),
                  help="entries (partials, finals) kept per call's transcript log")
    parser.option("--finals-maxlen", default=100_000, type=positive(int),
                  help="entries kept (approximately) in the ss:finals stream of every call's finals")
    parser.option("--max-followers", default=1000, type=positive(int),
                  help="open follower connections per gateway; more are refused (close 1013)")
    parser.option("--finals-webhook", default=None,
                  help="POST each final as JSON to this URL (Idempotency-Key: the utterance id), with retries")
    parser.option("--finals-webhook-attempts", default=6, type=positive(int),
                  help="deliveries tried per final before it counts as failed")


def transcript_options(args) -> TranscriptOptions:
    webhook = None
    if args.finals_webhook:
        if not args.finals_webhook.startswith(("http://", "https://")):
            raise ConfigError(f"--finals-webhook must be an http:// or https:// URL, not {args.finals_webhook!r}")
        webhook = WebhookOptions(url=args.finals_webhook, attempts=args.finals_webhook_attempts)
    return TranscriptOptions(retention=args.transcript_retention, log_maxlen=args.transcript_log_maxlen,
                             finals_maxlen=args.finals_maxlen, webhook=webhook)


def add_access_options(parser: SettingsParser) -> None:
    """Who may connect: API keys, origins, per-key and per-address limits, TLS."""
    parser.add_argument("--api-key", action="append", dest="api_key", default=None,
                        help="an API key clients must present (repeatable; none and no --api-keys-file: "
                             f"open to all) [env {API_KEY_ENV}, comma-separated]")
    parser.option("--api-keys-file", default="",
                  help="file of API keys, one a line, '#' comments; read again on SIGHUP")
    parser.option("--allowed-origins", default="",
                  help="comma-separated origins (scheme://host[:port]) whose pages may connect, or '*'; "
                       "same-origin pages and clients without an Origin header are always accepted")
    parser.option("--max-sessions-per-key", default=0, type=int,
                  help="concurrent sessions of one API key over all gateways (0: no limit)")
    parser.option("--max-pending-per-ip", default=50, type=int,
                  help="connections from one address that have not sent a config yet (0: no limit)")
    parser.option("--ssl-certfile", default="", help="TLS certificate chain (PEM): serve https:// and wss://")
    parser.option("--ssl-keyfile", default="", help="TLS private key (PEM) of --ssl-certfile")
    parser.flag("--generate-self-signed-cert",
                help="serve TLS with a self-signed certificate for localhost and this host, made "
                     "(or reused) in --self-signed-cert-dir; logs its path and SHA-256 fingerprint")
    parser.option("--self-signed-cert-dir", default=tls.DEFAULT_DIR,
                  help="directory of the certificate of --generate-self-signed-cert")


def access_options(args, environ=os.environ) -> AccessOptions:
    """The access settings; ``--api-key`` flags replace the keys of the environment variable."""
    if args.max_sessions_per_key < 0 or args.max_pending_per_ip < 0:
        raise ConfigError("--max-sessions-per-key and --max-pending-per-ip must be 0 (no limit) or more")
    listed = args.api_key if args.api_key is not None else environ.get(API_KEY_ENV, "").split(",")
    keys = ApiKeys(listed, keys_file=Path(args.api_keys_file) if args.api_keys_file else None)
    if keys.enabled:
        log.info("API keys required: %d key(s)%s", len(keys),
                 f" (file {args.api_keys_file})" if args.api_keys_file else "")
    return AccessOptions(api_keys=keys, origins=OriginPolicy.parse(args.allowed_origins),
                         max_sessions_per_key=args.max_sessions_per_key,
                         max_pending_per_ip=args.max_pending_per_ip)


def audiohook_client_secret(args) -> bytes | None:
    """The decoded AudioHook Client Secret of ``--audiohook-client-secret(-file)``, None when neither is set."""
    raw, where = args.audiohook_client_secret, "--audiohook-client-secret"
    if args.audiohook_client_secret_file:
        if raw:
            raise ConfigError("give --audiohook-client-secret or --audiohook-client-secret-file, not both")
        where = args.audiohook_client_secret_file
        try:
            raw = Path(where).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the AudioHook client secret file {where}: {exc}") from None
    if raw is None:
        return None
    try:
        secret = base64.b64decode(raw.strip(), validate=True)
    except binascii.Error:
        secret = b""
    if not secret:
        raise ConfigError(f"{where}: the AudioHook Client Secret must be non-empty base64, as Genesys shows it")
    return secret


def tls_context(args):
    """The server's TLS context from the flags, or None for plain http:// and ws://."""
    if args.ssl_certfile:
        return tls.server_context(args.ssl_certfile, args.ssl_keyfile or None)
    if args.ssl_keyfile:
        raise ConfigError("--ssl-keyfile needs --ssl-certfile")
    if not args.generate_self_signed_cert:
        return None
    extra = () if args.host in ("0.0.0.0", "::", "") else (args.host,)
    cert = tls.self_signed(args.self_signed_cert_dir, names=tls.host_names(extra))
    log.info("self-signed TLS certificate %s (key %s), SHA-256 fingerprint %s",
             cert.certfile, cert.keyfile, cert.fingerprint)
    return tls.server_context(cert.certfile, cert.keyfile)


def tcp_options(args) -> TcpOptions | None:
    """The raw TCP listener's settings, or None when ``--tcp-port`` is 0 (off)."""
    if not args.tcp_port:
        return None
    if not 0 < args.tcp_port < 65536:
        raise ConfigError(f"--tcp-port {args.tcp_port} is not a port number")
    try:
        networks = parse_networks(args.tcp_allowed_networks)
    except ValueError as exc:
        raise ConfigError(f"--tcp-allowed-networks: {exc}") from None
    return TcpOptions(host=args.host, port=args.tcp_port, allowed_networks=networks)


async def serve(args) -> None:
    access = access_options(args)
    context = tls_context(args)
    redis = bus.connect(args.redis_url, client_name="streamscribe-gateway")
    registry = CollectorRegistry()
    tcp = tcp_options(args)
    connection = ConnectionOptions(
        send_queue=args.send_queue, idle_timeout=args.idle_timeout, max_keepalive_idle=args.max_keepalive_idle,
        resume_grace=args.resume_grace,
        pacing=PacingOptions(max_lead=args.max_audio_lead, max_realtime_factor=args.max_realtime_factor),
    )
    gateway = Gateway(
        redis, registry=registry, access=access,
        listen=ListenOptions(host=args.host, port=args.port, max_frame_bytes=args.max_frame_bytes, tls=context,
                             permessage_deflate=args.permessage_deflate, drain_timeout=args.drain_timeout,
                             ping_interval=args.ping_interval, ping_timeout=args.ping_timeout),
        connection=connection,
        hub=HubOptions(session_ttl=args.session_ttl, max_queue_lag=args.max_queue_lag,
                       asr_overbooking=args.asr_overbooking,
                       max_backlog_records=args.max_backlog_records, backlog_timeout=args.backlog_timeout,
                       enable_noise_suppression=args.enable_noise_suppression),
        doors=DoorOptions(twilio_auth_token=args.twilio_auth_token,
                          audiohook_client_secret=audiohook_client_secret(args)),
        transcripts=transcript_options(args), follow=FollowOptions(max_followers=args.max_followers),
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
        log.info("ready: %s://%s:%d/", "https" if context else "http",
                 "localhost" if args.host in ("0.0.0.0", "::") else args.host, gateway.port)
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
        if listener is not None:
            await listener.close(drain_timeout=args.drain_timeout)
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
