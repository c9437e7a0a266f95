"""The dev provider's signing key, its JWKS and the tokens it issues (RS256)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from psp_common.auth import scopes_from_claims
from psp_console.devidp.accounts import DemoAccount
from psp_console.devidp.settings import DevIdpSettings


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636: BASE64URL(SHA256(verifier)) without padding)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class Signer:
    """A fresh RSA key per process (tokens die with it; make run restarts everything together)."""

    def __init__(self, settings: DevIdpSettings) -> None:
        self.settings = settings
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "devidp-" + secrets.token_hex(4)

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS."""
        jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [jwk | {"kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def _base(self, subject: str, now: datetime) -> dict[str, Any]:
        iat = int(now.timestamp())
        return {"iss": self.settings.issuer, "sub": subject, "iat": iat, "exp": iat + self.settings.devidp_token_ttl_s}

    def access_token(self, account: DemoAccount, now: datetime, client_id: str) -> str:
        """An access token for the services: their audience, the roles and the scopes the roles grant."""
        claims = self._base(account.subject, now) | {
            "aud": self.settings.auth_audience,
            "name": account.name,
            "roles": list(account.roles),
            "client_id": client_id,
            "jti": secrets.token_hex(8),
        }
        claims["scope"] = " ".join(sorted(scopes_from_claims({"roles": list(account.roles)}, self.settings)))
        if account.staff_id:
            claims["staff_id"] = account.staff_id
        return self._sign(claims)

    def id_token(self, account: DemoAccount, now: datetime, client_id: str, nonce: str | None) -> str:
        """The ID token for the client: who signed in, their roles, the sign-in's nonce."""
        claims = self._base(account.subject, now) | {
            "aud": client_id,
            "name": account.name,
            "roles": list(account.roles),
            "auth_time": int(now.timestamp()),
        }
        if nonce:
            claims["nonce"] = nonce
        if account.staff_id:
            claims["staff_id"] = account.staff_id
        return self._sign(claims)

    def tool_token(self, subject: str, scopes: list[str], now: datetime, staff_id: str | None) -> str:
        """A client-credentials token for dev tools (make run's demo loader, the token CLI)."""
        claims = self._base(subject, now) | {"aud": self.settings.auth_audience, "scope": " ".join(scopes)}
        if staff_id:
            claims["staff_id"] = staff_id
        return self._sign(claims)
