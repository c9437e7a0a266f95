"""OAuth2 bearer tokens (JWT) with one scope per role, checked on every API route but the ops probes."""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from psp_common.http import ErrorResponse
from psp_common.pseudonym import Pseudonymizer
from psp_common.settings import ServiceSettings


class Scope(StrEnum):
    """What a token may do; one per role."""

    INTAKE = "intake"  # integration systems: submit reports only
    COORDINATOR = "coordinator"  # PSP coordinators: case data, roster, rules, contacts
    SUPPORTER = "supporter"  # peer supporters: only their own assignments
    ANALYST = "analyst"  # evaluation: aggregates only


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
}

bearer = HTTPBearer(auto_error=False, description="OAuth2 bearer token (JWT) from the hospital's identity provider.")


def _settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.runtime.settings
    return settings


def verify(token: str, settings: ServiceSettings) -> Principal:
    """Verify signature, expiry, issuer and audience; raise jwt.InvalidTokenError when anything is off."""
    if settings.auth_jwt_public_key:
        key: str = settings.auth_jwt_public_key
        algorithms = ["RS256", "ES256"]
    else:
        key = settings.auth_jwt_secret.get_secret_value()
        algorithms = ["HS256"]
    claims = jwt.decode(
        token,
        key,
        algorithms=algorithms,
        audience=settings.auth_audience,
        issuer=settings.auth_issuer,
        options={"require": ["exp", "sub", "iss", "aud"]},
    )
    scopes = frozenset(str(claims.get("scope", "")).split())
    return Principal(subject=str(claims["sub"]), scopes=scopes, staff_id=claims.get("staff_id"))


def require(*scopes: Scope) -> Callable[..., Awaitable[Principal]]:
    """FastAPI dependency: a valid token carrying at least one of ``scopes`` (401 / 403 otherwise)."""
    wanted = {s.value for s in scopes}

    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> Principal:
        if credentials is None:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        try:
            principal = verify(credentials.credentials, _settings(request))
        except jwt.ExpiredSignatureError as exc:
            raise HTTPException(401, "token expired", headers={"WWW-Authenticate": "Bearer"}) from exc
        except jwt.InvalidTokenError as exc:
            raise HTTPException(401, f"invalid token: {type(exc).__name__}", {"WWW-Authenticate": "Bearer"}) from exc
        request.state.principal = principal  # set before the scope check so refusals are audited by actor
        if not wanted & principal.scopes:
            raise HTTPException(403, f"insufficient scope: needs one of {sorted(wanted)}")
        return principal

    return dependency


def own_ref(principal: Principal, pseudo: Pseudonymizer) -> str | None:
    """Pseudonym of the caller's ``staff_id`` claim (None when the token carries none)."""
    return pseudo.pseudonym(principal.staff_id) if principal.staff_id else None


def mint(
    settings: ServiceSettings, subject: str, scopes: list[str], ttl_s: int = 3600, staff_id: str | None = None
) -> str:
    """Issue an HS256 token with the shared dev secret (make run, tests, local tools)."""
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": subject,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + ttl_s,
        "iss": settings.auth_issuer,
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
