"""A local identity provider for tests: real RSA / EC keys, an OIDC discovery document and a JWKS over HTTP."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
AUDIENCE = "psp-outreach"


@dataclass
class Key:
    """A signing key pair with its kid and algorithm."""

    kid: str
    alg: str
    private: Any

    @classmethod
    def rsa(cls, kid: str, bits: int = 2048) -> Key:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=bits))

    @classmethod
    def ec(cls, kid: str) -> Key:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def jwk(self) -> dict[str, Any]:
        algo = jwt.algorithms.RSAAlgorithm if self.alg.startswith("RS") else jwt.algorithms.ECAlgorithm
        data: dict[str, Any] = algo.to_jwk(self.private.public_key(), as_dict=True)
        return data | {"kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, issuer: str, *, kid: str | None = "same", **over: Any) -> str:
        claims = {"sub": "idp-user", "scope": "coordinator", "iss": issuer, "aud": AUDIENCE, "iat": T, "exp": T + 600}
        headers = {"kid": self.kid if kid == "same" else kid} if kid is not None else {}
        return jwt.encode(claims | over, self.private, algorithm=self.alg, headers=headers)


@dataclass
class Idp:
    """What the local provider serves, and how often each path was asked for."""

    base: str = ""
    keys: list[Key] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)
    issuer_in_doc: str | None = None

    @property
    def issuer(self) -> str:
        return self.base

    def document(self, path: str) -> dict[str, Any] | None:
        if path == "/.well-known/openid-configuration":
            return {"issuer": self.issuer_in_doc or self.issuer, "jwks_uri": f"{self.base}/jwks"}
        if path == "/jwks":
            return {"keys": [k.jwk() for k in self.keys]}
        return None


@contextmanager
def serve_idp(*keys: Key) -> Iterator[Idp]:
    """Serve discovery and JWKS on a free local port for the duration of the block."""
    idp = Idp(keys=list(keys))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            idp.hits[self.path] += 1
            doc = idp.document(self.path)
            body = json.dumps(doc).encode() if doc is not None else b"{}"
            self.send_response(200 if doc is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    idp.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()
