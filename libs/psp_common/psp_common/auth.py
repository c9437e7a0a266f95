"""OAuth2 bearer tokens (JWT) with one scope per role, checked on every API route but the ops probes."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from psp_common.auth_keys import KeySource, KeysUnavailable, key_source
from psp_common.http import ErrorResponse
from psp_common.pseudonym import Pseudonymizer
from psp_common.settings import ServiceSettings


class Scope(StrEnum):
    """What a token may do; one per role."""

    INTAKE = "intake"  # integration systems: submit reports only
    COORDINATOR = "coordinator"  # PSP coordinators: case data, roster, rules, contacts
    SUPPORTER = "supporter"  # peer supporters: only their own assignments
    ANALYST = "analyst"  # evaluation: aggregates only
    SCIM = "scim"  # the identity provider's provisioning client (Entra ID, Okta): notification's /scim/v2 only
    STAFF = "staff"  # any signed-in staff member: refer themself or a colleague (listener POST /v1/referrals) only


@dataclass(frozen=True)
class Principal:
    """Who is calling, from a verified token."""

    subject: str
    scopes: frozenset[str]
    staff_id: str | None = None

    def has(self, scope: Scope) -> bool:
        """Whether the token carries ``scope``."""
        return scope.value in self.scopes


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing, expired or invalid bearer token."},
    403: {"model": ErrorResponse, "description": "The token's scopes do not allow this."},
    503: {"model": ErrorResponse, "description": "The identity provider's keys cannot be fetched; retry later."},
}

bearer = HTTPBearer(auto_error=False, description="OAuth2 bearer token (JWT) from the hospital's identity provider.")


class TokenLifetimeTooLong(jwt.InvalidTokenError):
    """exp - iat exceeds ``PSP_AUTH_MAX_TOKEN_LIFETIME_S``."""


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise jwt.DecodeError(f"{name} must be a number")
    return float(value)


class TokenVerifier:
    """Checks bearer tokens against the configured key source, at an explicit or the real time."""

    def __init__(
        self, settings: ServiceSettings, keys: KeySource | None = None, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.settings = settings
        self.keys = keys or key_source(settings)
        self.clock = clock or (lambda: datetime.now(UTC))

    @property
    def remote(self) -> bool:
        """Whether verifying may wait on the identity provider (run it in a worker thread)."""
        return self.keys.remote

    def verify(self, token: str, now: datetime | None = None) -> Principal:
        """Signature, issuer, audience, then exp / nbf / iat within the leeway and the lifetime cap at ``now``.

        Raises jwt.InvalidTokenError (or a subclass) for a bad token, KeysUnavailable when the identity
        provider cannot be reached.
        """
        s = self.settings
        claims = jwt.decode(
            token,
            self.keys.key_for(token),
            algorithms=self.keys.algorithms,
            audience=s.auth_audience,
            issuer=s.expected_issuer,
            options={
                "require": ["exp", "iat", "sub", "iss", "aud"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
        self._check_times(claims, (now or self.clock()).timestamp())
        scopes = scopes_from_claims(claims, s)
        return Principal(subject=str(claims["sub"]), scopes=scopes, staff_id=claims.get("staff_id"))

    def _check_times(self, claims: dict[str, Any], now: float) -> None:
        leeway = self.settings.auth_leeway_s
        exp, iat = _number(claims, "exp"), _number(claims, "iat")
        if exp <= now - leeway:
            raise jwt.ExpiredSignatureError("token expired")
        if iat > now + leeway or ("nbf" in claims and _number(claims, "nbf") > now + leeway):
            raise jwt.ImmatureSignatureError("token not yet valid")
        if exp - iat > self.settings.auth_max_token_lifetime_s:
            raise TokenLifetimeTooLong("token lifetime exceeds the maximum")


def roles_in(claims: dict[str, Any], settings: ServiceSettings) -> list[str]:
    """The role names a token (or ID token) carries in the claims ``PSP_AUTH_ROLE_CLAIMS`` names, in order."""
    found: list[str] = []
    for name in settings.auth_role_claims:
        value = claims.get(name)
        items = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
        found += [r for r in items if isinstance(r, str) and r not in found]
    return found


def scopes_from_claims(claims: dict[str, Any], settings: ServiceSettings) -> frozenset[str]:
    """What a verified token may do: its ``scope`` claim plus the scopes its roles map to (``PSP_AUTH_ROLE_SCOPES``).

    The console grants pages from the same claims with this function, so a role means the same everywhere.
    """
    scopes = set(str(claims.get("scope", "")).split())
    scopes |= {settings.auth_role_scopes[r] for r in roles_in(claims, settings) if r in settings.auth_role_scopes}
    return frozenset(scopes)


def verify(token: str, settings: ServiceSettings, now: datetime | None = None) -> Principal:
    """Verify one token with a verifier built from ``settings`` (tools and tests)."""
    return TokenVerifier(settings).verify(token, now)


async def authenticate(verifier: TokenVerifier, token: str) -> Principal:
    """Verify, mapping failures to HTTP: 401 for a bad token, 503 when the identity provider is unreachable."""
    try:
        if verifier.remote:
            return await asyncio.to_thread(verifier.verify, token)
        return verifier.verify(token)
    except KeysUnavailable as exc:
        raise HTTPException(503, "identity provider keys unavailable; retry later", {"Retry-After": "30"}) from exc
    except jwt.ExpiredSignatureError as exc:
        raise HTTPException(401, "token expired", headers={"WWW-Authenticate": "Bearer"}) from exc
    except jwt.PyJWTError as exc:
        raise HTTPException(401, f"invalid token: {type(exc).__name__}", {"WWW-Authenticate": "Bearer"}) from exc


def require(*scopes: Scope) -> Callable[..., Awaitable[Principal]]:
    """FastAPI dependency: a valid token carrying at least one of ``scopes`` (401 / 403 / 503 otherwise)."""
    wanted = {s.value for s in scopes}

    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> Principal:
        if credentials is None:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        principal = await authenticate(request.app.state.runtime.tokens, credentials.credentials)
        request.state.principal = principal  # set before the scope check so refusals are audited by actor
        if not wanted & principal.scopes:
            raise HTTPException(403, f"insufficient scope: needs one of {sorted(wanted)}")
        return principal

    return dependency


def own_refs(principal: Principal, pseudo: Pseudonymizer) -> tuple[str, ...]:
    """The caller's pseudonyms under every active key, so rows stored before a key rotation are theirs too."""
    return pseudo.pseudonyms_of(principal.staff_id) if principal.staff_id else ()


def mint(
    settings: ServiceSettings,
    subject: str,
    scopes: list[str],
    ttl_s: int = 3600,
    staff_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Issue an HS256 token with the shared dev secret (make run, tests, local tools)."""
    now_s = int(now.timestamp() if now else time.time())
    claims: dict[str, object] = {
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": now_s,
        "exp": now_s + ttl_s,
        "iss": settings.expected_issuer,
        "aud": settings.auth_audience,
    }
    if staff_id is not None:
        claims["staff_id"] = staff_id
    return jwt.encode(claims, settings.auth_jwt_secret.get_secret_value(), algorithm="HS256")


def main() -> None:
    """CLI: ``python -m psp_common.auth --scope coordinator --sub alice`` prints a dev token."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--sub", default="dev")
    parser.add_argument("--scope", action="append", default=[])
    parser.add_argument("--staff-id")
    parser.add_argument("--ttl", type=int, default=3600)
    args = parser.parse_args()
    print(mint(ServiceSettings(), args.sub, args.scope or ["coordinator"], args.ttl, args.staff_id))


if __name__ == "__main__":
    main()
