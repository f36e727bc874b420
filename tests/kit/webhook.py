"""A finals webhook receiver: a real HTTP server on a loopback port, for the webhook tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gateway.outputs.webhook import SIGNATURE_HEADER

from .support import free_port


class WebhookReceiver:
    """A finals webhook on a loopback port; answers requests with ``statuses`` in turn, then 200.

    With ``hold`` (an event), each request waits for it (60 s at most) before its answer: a
    delivery in flight for as long as a test needs; :meth:`wait_arrivals` sees it arrive.
    While ``failing`` (an event) is set, every request is answered 503 (``Retry-After: 0``): a
    receiver that is down until a test says it is back. POST and PUT are taken alike.
    """

    def __init__(self, statuses=(), *, hold: threading.Event | None = None,
                 failing: threading.Event | None = None) -> None:
        self.statuses = list(statuses)
        self.hold = hold
        self.failing = failing
        self.arrivals = 0  # requests received, answered or not
        self.requests: list[tuple[int, str, dict]] = []  # (status answered, Idempotency-Key, body)
        self.signed: list[tuple[str | None, bytes]] = []  # (Streamscribe-Signature, raw body) of each
        self.headers: list[dict[str, str]] = []  # the headers of each
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(raw)
                with receiver.changed:
                    receiver.arrivals += 1
                    receiver.changed.notify_all()
                if receiver.hold is not None:
                    receiver.hold.wait(60)
                with receiver.changed:
                    if receiver.failing is not None and receiver.failing.is_set():
                        status = 503
                    else:
                        status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append((status, self.headers.get("Idempotency-Key"), body))
                    receiver.signed.append((self.headers.get(SIGNATURE_HEADER), raw))
                    receiver.headers.append(dict(self.headers.items()))
                    receiver.changed.notify_all()
                self.send_response(status)
                if status == 503:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST  # noqa: N815 (the http.server API)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/finals"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def delivered(self) -> list[tuple[str, dict]]:
        with self.changed:
            return [(key, body) for status, key, body in self.requests if status == 200]

    def wait_for(self, keys: set[str], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(
                lambda: keys <= {key for status, key, _ in self.requests if status == 200}, timeout)

    def wait_until(self, done, timeout: float) -> bool:
        """Wait until ``done()`` (called under the receiver's lock, after each request) is true."""
        with self.changed:
            return self.changed.wait_for(done, timeout)

    def wait_arrivals(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.arrivals >= count, timeout)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
