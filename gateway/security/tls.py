"""TLS for the gateway: a server context from a certificate, or a self-signed one made here.

``--generate-self-signed-cert`` makes a key and a certificate for ``localhost``,
this host's names and its loopback addresses (with the ``cryptography``
package), or reuses the ones a previous start wrote if they still cover those
names and are not about to expire, so a browser that accepted the certificate
once keeps accepting it. Its SHA-256 fingerprint is logged so a user can check
what the browser shows.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from common.config import option
from common.errors import ConfigError

log = logging.getLogger(__name__)

CERT_NAME = "streamscribe-cert.pem"
KEY_NAME = "streamscribe-key.pem"
VALID_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsOptions:
    """Whether the gateway serves TLS, and with which certificate: one given, a self-signed one, or none."""

    certfile: str = field(default="", metadata=option(
        "TLS certificate chain (PEM): serve https:// and wss://", flag="--ssl-certfile"))
    keyfile: str = field(default="", metadata=option("TLS private key (PEM) of --ssl-certfile", flag="--ssl-keyfile"))
    generate_self_signed: bool = field(default=False, metadata=option(
        "serve TLS with a self-signed certificate for localhost and this host, made "
        "(or reused) in --self-signed-cert-dir; logs its path and SHA-256 fingerprint",
        flag="--generate-self-signed-cert"))
    self_signed_dir: str = field(default="~/.cache/streamscribe/tls", metadata=option(
        "directory of the certificate of --generate-self-signed-cert", flag="--self-signed-cert-dir"))

    def context(self, *, host: str) -> ssl.SSLContext | None:
        """The server's context, or None for plain http:// and ws://; ``host`` is the listen address."""
        if self.certfile:
            return server_context(self.certfile, self.keyfile or None)
        if self.keyfile:
            raise ConfigError("--ssl-keyfile needs --ssl-certfile")
        if not self.generate_self_signed:
            return None
        extra = () if host in ("0.0.0.0", "::", "") else (host,)
        cert = self_signed(self.self_signed_dir, names=host_names(extra))
        log.info("self-signed TLS certificate %s (key %s), SHA-256 fingerprint %s",
                 cert.certfile, cert.keyfile, cert.fingerprint)
        return server_context(cert.certfile, cert.keyfile)


@dataclass(frozen=True, slots=True)
class Certificate:
    certfile: Path
    keyfile: Path
    fingerprint: str  # SHA-256 of the DER certificate, colon-separated hex


def server_context(certfile: str | Path, keyfile: str | Path | None = None) -> ssl.SSLContext:
    """A server context (TLS 1.2 or newer) with this certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate {certfile} / key {keyfile}: {exc}") from None
    return context


def host_names(extra: tuple[str, ...] = ()) -> list[str]:
    """The names a local certificate should cover: localhost, this host, loopback, ``extra``."""
    names = ["localhost", socket.gethostname(), socket.getfqdn(), "127.0.0.1", "::1", *extra]
    out: list[str] = []
    for name in names:
        if name and name not in ("0.0.0.0", "::") and name not in out:
            out.append(name)
    return out


def self_signed(directory: str | Path, *, names: list[str]) -> Certificate:
    """The self-signed certificate in ``directory`` for ``names``, written if missing or stale."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ModuleNotFoundError:
        raise ConfigError("--generate-self-signed-cert needs the cryptography package: "
                          "pip install cryptography") from None
    folder = Path(directory).expanduser()
    certfile, keyfile = folder / CERT_NAME, folder / KEY_NAME
    wanted = _subject_names(x509, names)
    if certfile.exists() and keyfile.exists():
        try:
            existing = x509.load_pem_x509_certificate(certfile.read_bytes())
            covered = set(existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
            fresh = existing.not_valid_after_utc - RENEW_BEFORE > datetime.datetime.now(datetime.timezone.utc)
            if fresh and set(wanted) <= covered:
                return Certificate(certfile, keyfile, _fingerprint(existing, hashes))
        except (ValueError, x509.ExtensionNotFound) as exc:
            log.warning("replacing the unreadable certificate %s: %s", certfile, exc)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {folder} for the self-signed certificate: {exc}") from None
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "streamscribe (self-signed)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(wanted), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_private(keyfile, key_pem)
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Certificate(certfile, keyfile, _fingerprint(cert, hashes))


def _subject_names(x509, names: list[str]) -> list:
    out = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _fingerprint(cert, hashes) -> str:
    digest = cert.fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def _write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
