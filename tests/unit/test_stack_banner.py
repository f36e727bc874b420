"""scripts/stack's ready message: the client line for the stack's own port (run as a process in
tests/e2e/test_stack.py)."""

from __future__ import annotations

import importlib.util
import os

from tests.kit.support import ROOT


def load_stack():
    spec = importlib.util.spec_from_file_location("stack", ROOT / "scripts" / "stack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def client_line(banner: str) -> str:
    return next(line.strip() for line in banner.splitlines() if "streamscribe-client" in line)


def test_the_ready_message_gives_the_client_line_for_the_port():
    banner = load_stack().ready_banner("http://localhost:8765/")
    assert "streamscribe is ready: open http://localhost:8765/" in banner
    assert client_line(banner) == \
        "STREAMSCRIBE_URL=ws://localhost:8765/ws/asr .venv/bin/streamscribe-client examples/speech.wav"


def test_with_tls_the_line_trusts_the_self_signed_certificate(monkeypatch):
    stack = load_stack()
    for name in ("STREAMSCRIBE_GATEWAY_SSL_CERTFILE", "STREAMSCRIBE_GATEWAY_SELF_SIGNED_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    cert = stack.self_signed_cert(["--self-signed-cert-dir", "/tmp/certs"])
    assert cert == os.path.join("/tmp/certs", "streamscribe-cert.pem")
    assert client_line(stack.ready_banner("https://localhost:8443/", cafile=cert)) == (
        "STREAMSCRIBE_URL=wss://localhost:8443/ws/asr .venv/bin/streamscribe-client examples/speech.wav "
        "--cafile /tmp/certs/streamscribe-cert.pem")
    assert stack.self_signed_cert(["--ssl-certfile", "mine.pem"]) is None  # their own: nothing to say
