"""Self-signed certificates made on the spot (with the ``openssl`` command) for TLS tests."""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Certificate", "self_signed"]


@dataclass(frozen=True)
class Certificate:
    cert: Path  # PEM; being self-signed, it is also the CA file a client trusts
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(folder: Path, *, names: str = "DNS:localhost,IP:127.0.0.1",
                common_name: str = "localhost") -> Certificate:
    """A one-day certificate for ``names`` (a subjectAltName list), and its key."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
         f"/CN={common_name}", "-addext", f"subjectAltName={names}", "-days", "1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return Certificate(cert, key)
