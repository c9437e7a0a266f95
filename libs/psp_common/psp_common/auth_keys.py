"""Where bearer-token keys come from: the HS256 dev secret, an identity provider's PEM key, or its JWKS.

One source per deployment, chosen by the settings (checked at start; a problem is :class:`AuthConfigError`
naming the variable):

- ``PSP_AUTH_OIDC_ISSUER`` and/or ``PSP_AUTH_JWKS_URL``: keys from the identity provider's JWKS (the URL, or
  the ``jwks_uri`` of the issuer's ``/.well-known/openid-configuration``), cached ``PSP_AUTH_JWKS_CACHE_S``
  and refetched when a token names an unknown ``kid`` (at most once per ``PSP_AUTH_JWKS_REFRESH_COOLDOWN_S``).
  An unreachable provider is not fatal at start (the pipeline does not need it); API calls get 503 until it
  answers.
- ``PSP_AUTH_JWT_PUBLIC_KEY``: one PEM key (RSA >= 2048 bits, EC P-256/384/521 or Ed25519).
- otherwise HS256 with ``PSP_AUTH_JWT_SECRET`` (dev, or a deployment without an identity provider).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from psp_common.settings import ServiceSettings

log = logging.getLogger("psp.auth")

EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
MIN_RSA_BITS = 2048


class AuthConfigError(ValueError):
    """The token settings cannot work; the message names the variable."""


class KeysUnavailable(Exception):
    """The identity provider's keys cannot be had right now (HTTP 503, never 500)."""


class MissingKeyId(jwt.InvalidTokenError):
    """A token checked against a JWKS names no ``kid``."""


class UnknownKeyId(jwt.InvalidTokenError):
    """A token's ``kid`` is not in the identity provider's JWKS, even after a refetch."""


class KeySource(Protocol):
    """The key (and the algorithms allowed with it) a token is verified with."""

    algorithms: list[str]
    remote: bool  # may block on the network: call from a worker thread

    def key_for(self, token: str) -> Any:
        """The verification key for ``token``."""

    def warm(self) -> None:
        """Fetch what can be fetched ahead of the first token; never raise."""


@dataclass
class StaticKey:
    """One configured key: the HS256 secret or a PEM public key."""

    key: Any
    algorithms: list[str]
    remote: bool = False

    def key_for(self, token: str) -> Any:
        """The configured key, whatever the token."""
        return self.key

    def warm(self) -> None:
        """Nothing to fetch."""


class JwksKeys:
    """Keys from an identity provider's JWKS, discovered from its OIDC issuer when no URL is given."""

    remote = True

    def __init__(self, settings: ServiceSettings, algorithms: list[str]) -> None:
        self.algorithms = algorithms
        self._settings = settings
        self._jwks_url = settings.auth_jwks_url or None
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()
        self._failed_at: float | None = None  # monotonic time of the last failed discovery

    def _discover(self) -> str:
        issuer = str(self._settings.auth_oidc_issuer)
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = httpx.get(url, timeout=self._settings.auth_jwks_timeout_s, follow_redirects=False)
            response.raise_for_status()
            doc = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise KeysUnavailable(f"OIDC discovery failed: {type(exc).__name__}") from exc
        if not isinstance(doc, dict) or doc.get("issuer") != issuer or not isinstance(doc.get("jwks_uri"), str):
            raise KeysUnavailable("OIDC discovery document lacks jwks_uri or names another issuer")
        jwks_uri: str = doc["jwks_uri"]
        check_url(jwks_uri, "jwks_uri of PSP_AUTH_OIDC_ISSUER", self._settings)
        return jwks_uri

    def client(self) -> jwt.PyJWKClient:
        """The JWKS client, discovering its URL on first use."""
        with self._lock:
            if self._client is None:
                s = self._settings
                if self._failed_at is not None and time.monotonic() - self._failed_at < s.auth_jwks_refresh_cooldown_s:
                    raise KeysUnavailable("OIDC discovery failed recently; not retried yet")
                try:
                    url = self._jwks_url or self._discover()
                except (AuthConfigError, KeysUnavailable) as exc:
                    self._failed_at = time.monotonic()
                    raise KeysUnavailable(str(exc)) from exc
                self._client = jwt.PyJWKClient(
                    url,
                    cache_jwk_set=True,
                    lifespan=s.auth_jwks_cache_s,
                    timeout=s.auth_jwks_timeout_s,
                    cooldown_duration=s.auth_jwks_refresh_cooldown_s,
                    headers={"User-Agent": "psp-outreach"},
                )
            return self._client

    def key_for(self, token: str) -> Any:
        """The JWK named by the token's ``kid`` (cached; one refetch for an unknown kid)."""
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str) or not kid:
            raise MissingKeyId("token names no kid")
        client = self.client()
        try:
            client.get_signing_keys()
        except (jwt.PyJWKClientError, jwt.PyJWKSetError) as exc:
            raise KeysUnavailable(f"JWKS fetch failed: {type(exc).__name__}") from exc
        try:
            return client.get_signing_key(kid)
        except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError) as exc:
            raise KeysUnavailable(f"JWKS fetch failed: {type(exc).__name__}") from exc
        except jwt.PyJWKClientError as exc:
            raise UnknownKeyId("token's kid is not in the identity provider's JWKS") from exc

    def warm(self) -> None:
        """Discover and fetch the JWKS at start; an unreachable provider is logged, not fatal."""
        try:
            self.client().get_signing_keys()
        except (KeysUnavailable, jwt.PyJWKClientError, jwt.PyJWKSetError) as exc:
            log.warning("identity provider keys not reachable at start (%s); API calls get 503 until they are", exc)


def check_url(url: str, variable: str, settings: ServiceSettings) -> None:
    """An https URL with a host (http allowed when ``PSP_ENV=dev``)."""
    parts = urlsplit(url)
    allowed = ("https", "http") if settings.env == "dev" else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise AuthConfigError(f"{variable} must be an {' or '.join(allowed)} URL with a host")


def _pem_algorithms(pem: str, allowed: list[str]) -> tuple[Any, list[str]]:
    try:
        key = serialization.load_pem_public_key(pem.replace("\\n", "\n").strip().encode())
    except (ValueError, TypeError) as exc:
        raise AuthConfigError("PSP_AUTH_JWT_PUBLIC_KEY is not a PEM public key") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise AuthConfigError(f"PSP_AUTH_JWT_PUBLIC_KEY is an RSA key shorter than {MIN_RSA_BITS} bits")
        fits = [a for a in allowed if a[:2] in ("RS", "PS")]
    elif isinstance(key, ec.EllipticCurvePublicKey):
        fits = [a for a in allowed if a == EC_ALGORITHMS.get(key.curve.name)]
    elif isinstance(key, ed25519.Ed25519PublicKey):
        fits = [a for a in allowed if a == "EdDSA"]
    else:
        raise AuthConfigError("PSP_AUTH_JWT_PUBLIC_KEY must be an RSA, EC or Ed25519 public key")
    if not fits:
        raise AuthConfigError("PSP_AUTH_ALGORITHMS allows no algorithm for the key in PSP_AUTH_JWT_PUBLIC_KEY")
    return key, fits


def key_source(settings: ServiceSettings) -> KeySource:
    """The key source the settings describe; :class:`AuthConfigError` when they cannot work."""
    remote = bool(settings.auth_oidc_issuer or settings.auth_jwks_url)
    if settings.auth_jwt_public_key and remote:
        raise AuthConfigError("set PSP_AUTH_JWT_PUBLIC_KEY or PSP_AUTH_OIDC_ISSUER / PSP_AUTH_JWKS_URL, not both")
    if settings.auth_jwt_public_key:
        key, algorithms = _pem_algorithms(settings.auth_jwt_public_key, settings.auth_algorithms)
        return StaticKey(key, algorithms)
    if remote:
        if settings.auth_oidc_issuer:
            check_url(settings.auth_oidc_issuer, "PSP_AUTH_OIDC_ISSUER", settings)
        if settings.auth_jwks_url:
            check_url(settings.auth_jwks_url, "PSP_AUTH_JWKS_URL", settings)
        return JwksKeys(settings, list(settings.auth_algorithms))
    return StaticKey(settings.auth_jwt_secret.get_secret_value(), ["HS256"])


def config_problems(settings: ServiceSettings) -> list[str]:
    """Start-up check: the token settings as one line naming the variable, or nothing."""
    try:
        key_source(settings)
    except AuthConfigError as exc:
        return [str(exc)]
    return []
