"""A local stand-in for SuperOffice: an RSA signing key, its JWKS endpoint, and signing.

Used by the local stack and the tests to produce notifications that the real
verifier accepts. It is never deployed and never holds SuperOffice's keys.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CONTEXT_CLAIM = "http://schemes.superoffice.net/identity/ctx"
JWKS_PATH = "/login/.well-known/jwks"
OPENID_PATH = "/login/.well-known/openid-configuration"
LOCAL_ISSUER = "https://superoffice.localhost"


@dataclass(frozen=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def generate(cls, kid: str) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), kid)

    @classmethod
    def from_pem(cls, pem: bytes, kid: str) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the signing key must be an RSA private key")
        return cls(key, kid)

    def pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return jwk

    def sign(
        self,
        *,
        issuer: str,
        context_identifier: str | None = None,
        lifetime_seconds: int = 300,
        extra_claims: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, Any] | None = None,
    ) -> str:
        """A notification token as SuperOffice would sign it."""
        now = int(time.time())
        claims: dict[str, Any] = {"iss": issuer, "iat": now, "nbf": now}
        if lifetime_seconds:
            claims["exp"] = now + lifetime_seconds
        if context_identifier is not None:
            claims[CONTEXT_CLAIM] = context_identifier
        claims.update(extra_claims or {})
        headers = {"kid": self.kid, **(extra_headers or {})}
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers=headers)


class JwksServer:
    """Serves a JSON Web Key Set on loopback; the key set can be changed or taken down."""

    def __init__(self, keys: list[dict[str, Any]], host: str = "127.0.0.1", port: int = 0):
        self.keys = list(keys)
        self.available = True
        # When set, served with 200 instead of the key set (a maintenance page, say).
        self.override: bytes | None = None
        # When set, the connection is reset instead of answered: "before-answer", or
        # "mid-body" after the headers and half the body.
        self.reset: str | None = None
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if not server.available:
                    self.send_error(503)
                    return
                if self.path == JWKS_PATH:
                    body: dict[str, Any] = {"keys": server.keys}
                elif self.path == OPENID_PATH:
                    body = {"issuer": LOCAL_ISSUER, "jwks_uri": server.jwks_url}
                else:
                    self.send_error(404)
                    return
                payload = (
                    server.override if server.override is not None else json.dumps(body).encode()
                )
                if server.reset == "before-answer":
                    self._reset_connection()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if server.reset == "mid-body":
                    self.wfile.write(payload[: len(payload) // 2])
                    self._reset_connection()
                    return
                self.wfile.write(payload)

            def _reset_connection(self) -> None:
                # Closing with a zero linger time sends a TCP reset rather than a FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def jwks_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{JWKS_PATH}"

    def start(self) -> JwksServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def save_local_signer(directory: Path, key: SigningKey, issuer: str) -> None:
    """Write the key, its kid and the issuer where other tools can sign with them."""
    directory.mkdir(parents=True, exist_ok=True)
    pem_path = directory / "signing-key.pem"
    pem_path.write_bytes(key.pem())
    pem_path.chmod(0o600)
    (directory / "signer.json").write_text(
        json.dumps({"kid": key.kid, "issuer": issuer, "key_file": pem_path.name}, indent=2) + "\n"
    )


def load_local_signer(directory: Path) -> tuple[SigningKey, str] | None:
    meta_path = directory / "signer.json"
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    key = SigningKey.from_pem((directory / meta["key_file"]).read_bytes(), meta["kid"])
    return key, str(meta["issuer"])
