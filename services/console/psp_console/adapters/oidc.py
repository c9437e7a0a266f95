"""OpenID Connect sign-in (authorization code + PKCE S256) with Authlib, against any standard provider.

Discovery (``<issuer>/.well-known/openid-configuration``) finds the endpoints; Authlib builds the authorization
URL (state, nonce, S256 code challenge) and redeems the code; the ID token is checked here with the provider's
JWKS: signature, issuer, audience (the client id), exp / iat on the console's clock and the nonce.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from authlib.common.errors import AuthlibBaseError

with warnings.catch_warnings(record=True):  # Authlib prefers httpx2; httpx (in the lock) is its supported fallback
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from psp_console.domain.session import SignInRefused
from psp_console.settings import ConsoleSettings

log = logging.getLogger("psp.console.oidc")

UNAVAILABLE_ERRORS = {"server_error", "temporarily_unavailable"}


class ProviderUnavailable(Exception):
    """The identity provider cannot be reached or answered with a server error (try again later)."""


@dataclass(frozen=True)
class Provider:
    """The endpoints discovery found."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True)
class SignedIn:
    """What a redeemed code yields: the ID token's claims and the access token with its expiry."""

    claims: dict[str, Any]
    access_token: str
    token_expires_at: datetime
    id_token: str


class OidcClient:
    """The console's client at one OpenID Connect provider."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.issuer = str(settings.console_oidc_issuer or "")
        self._provider: Provider | None = None
        self._jwks: jwt.PyJWKSet | None = None

    def _client(self) -> AsyncOAuth2Client:
        s = self.settings
        secret = s.console_oidc_client_secret.get_secret_value() if s.console_oidc_client_secret else None
        return AsyncOAuth2Client(
            client_id=s.console_oidc_client_id,
            client_secret=secret,
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=s.console_oidc_scopes,
            redirect_uri=s.redirect_uri,
            code_challenge_method="S256",
            timeout=s.console_oidc_timeout_s,
            follow_redirects=False,
            trust_env=False,
        )

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.settings.console_oidc_timeout_s, trust_env=False) as http:
                response = await http.get(url)
                response.raise_for_status()
                body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"{type(exc).__name__} from the identity provider") from exc
        if not isinstance(body, dict):
            raise ProviderUnavailable("the identity provider answered something other than a JSON object")
        return body

    async def provider(self) -> Provider:
        """The provider's endpoints (discovered once; the issuer in the document must be the configured one)."""
        if self._provider is None:
            doc = await self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if doc.get("issuer") != self.issuer:
                raise ProviderUnavailable("the discovery document names another issuer")
            try:
                self._provider = Provider(
                    issuer=self.issuer,
                    authorization_endpoint=str(doc["authorization_endpoint"]),
                    token_endpoint=str(doc["token_endpoint"]),
                    jwks_uri=str(doc["jwks_uri"]),
                    end_session_endpoint=str(doc["end_session_endpoint"]) if doc.get("end_session_endpoint") else None,
                )
            except KeyError as exc:
                raise ProviderUnavailable("the discovery document lacks an endpoint") from exc
        return self._provider

    async def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        """Where to send the browser: the provider's sign-in with state, nonce and the S256 code challenge."""
        provider = await self.provider()
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                provider.authorization_endpoint, state=state, code_verifier=code_verifier, nonce=nonce
            )
        return str(url)

    async def end_session_url(self, id_token: str | None) -> str | None:
        """Where to end the provider's session (RP-initiated logout), or None when it offers no end_session_endpoint.

        The browser comes back to the console's signed-out page (``post_logout_redirect_uri``, to be registered at
        the provider); ``id_token_hint`` names the session that ends, ``client_id`` the client.
        """
        endpoint = (await self.provider()).end_session_endpoint
        if not endpoint:
            return None
        params = {"client_id": self.settings.console_oidc_client_id}
        params |= {"id_token_hint": id_token} if id_token else {}
        params["post_logout_redirect_uri"] = self.settings.signed_out_uri
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"

    async def redeem(self, code: str, code_verifier: str, nonce: str, now: datetime) -> SignedIn:
        """Exchange the code (with the PKCE verifier) for tokens and check the ID token; SignInRefused if bad."""
        provider = await self.provider()
        try:
            async with self._client() as client:
                token = await client.fetch_token(
                    provider.token_endpoint, grant_type="authorization_code", code=code, code_verifier=code_verifier
                )
        except AuthlibBaseError as exc:
            if exc.error in UNAVAILABLE_ERRORS:
                raise ProviderUnavailable(f"token endpoint: {exc.error}") from exc
            raise SignInRefused(f"the provider refused the code ({exc.error})") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"token endpoint: {type(exc).__name__}") from exc
        access, id_token = token.get("access_token"), token.get("id_token")
        if not isinstance(access, str) or not isinstance(id_token, str):
            raise SignInRefused("the provider sent no access token or no ID token")
        claims = await self.verify_id_token(id_token, nonce, now)
        expires_in = token.get("expires_in")
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
            expires_at = now + timedelta(seconds=float(expires_in))
        else:
            expires_at = datetime.fromtimestamp(float(claims["exp"]), tz=now.tzinfo)
        return SignedIn(claims=claims, access_token=access, token_expires_at=expires_at, id_token=id_token)

    async def _key(self, token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid")
        for attempt in range(2):
            if self._jwks is None or attempt:
                provider = await self.provider()
                self._jwks = jwt.PyJWKSet.from_dict(await self._get_json(provider.jwks_uri))
            for key in self._jwks.keys:
                if kid is None or key.key_id == kid:
                    return key
        raise SignInRefused("the ID token is signed with a key the provider does not publish")

    async def verify_id_token(self, id_token: str, nonce: str, now: datetime) -> dict[str, Any]:
        """Signature, issuer, audience, exp / iat (leeway ``PSP_AUTH_LEEWAY_S``) and nonce; SignInRefused if bad."""
        s = self.settings
        try:
            key = await self._key(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=list(s.auth_algorithms),
                audience=s.console_oidc_client_id,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise SignInRefused(f"the ID token is not valid ({type(exc).__name__})") from exc
        at, leeway = now.timestamp(), s.auth_leeway_s
        if float(claims["exp"]) <= at - leeway or float(claims["iat"]) > at + leeway:
            raise SignInRefused("the ID token is expired or not yet valid")
        if claims.get("nonce") != nonce:
            raise SignInRefused("the ID token's nonce is not this sign-in's")
        return claims
