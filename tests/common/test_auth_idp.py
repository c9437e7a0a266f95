"""Tokens from an identity provider's PEM key: RS256 / ES256 with real keys, leeway, lifetime cap, config errors."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from psp_common.auth import TokenLifetimeTooLong, TokenVerifier
from psp_common.auth_keys import AuthConfigError, JwksKeys, config_problems, key_source
from psp_common.settings import ServiceSettings
from psp_common.startup import weak_secrets
from tests.common.idp import AUDIENCE, NOW, Key, T

ISSUER = "https://idp.hospital.example"
RSA = Key.rsa("r1")
EC = Key.ec("e1")


def pem_settings(key: Key, **over: object) -> ServiceSettings:
    return ServiceSettings(auth_jwt_public_key=key.public_pem(), auth_issuer=ISSUER, **over)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [RSA, EC], ids=["RS256", "ES256"])
def test_token_signed_with_the_providers_key_is_accepted(key: Key) -> None:
    principal = TokenVerifier(pem_settings(key)).verify(key.sign(ISSUER, staff_id="S-9"), now=NOW)
    assert principal.subject == "idp-user" and principal.scopes == {"coordinator"} and principal.staff_id == "S-9"


def test_pem_with_escaped_newlines_is_accepted() -> None:
    settings = ServiceSettings(auth_jwt_public_key=RSA.public_pem().replace("\n", "\\n"), auth_issuer=ISSUER)
    assert TokenVerifier(settings).verify(RSA.sign(ISSUER), now=NOW).subject == "idp-user"


def test_token_signed_by_another_key_is_refused() -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        TokenVerifier(pem_settings(RSA)).verify(Key.rsa("r1").sign(ISSUER), now=NOW)


def test_hs256_with_the_public_key_as_secret_is_refused() -> None:
    """Algorithm confusion: once a public key is set, HS256 (and the dev secret) no longer verify anything."""
    forged = jwt.encode(
        {"sub": "x", "scope": "coordinator", "iss": ISSUER, "aud": AUDIENCE, "iat": T, "exp": T + 60},
        ServiceSettings().auth_jwt_secret.get_secret_value(),
        algorithm="HS256",
    )
    with pytest.raises(jwt.InvalidAlgorithmError):
        TokenVerifier(pem_settings(RSA)).verify(forged, now=NOW)


def test_an_ec_key_only_verifies_es256() -> None:
    assert key_source(pem_settings(EC)).algorithms == ["ES256"]
    assert key_source(pem_settings(RSA)).algorithms == ["RS256"]


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"exp": T - 20}, True),  # expired 20 s ago: inside the 30 s leeway
        ({"exp": T - 31}, False),
        ({"iat": T + 20, "exp": T + 600}, True),  # issuer's clock 20 s ahead
        ({"iat": T + 40, "exp": T + 600}, False),
        ({"nbf": T + 40}, False),
    ],
)
def test_leeway_is_honoured_on_exp_iat_and_nbf(claims: dict[str, int], accepted: bool) -> None:
    verifier = TokenVerifier(pem_settings(RSA))
    token = RSA.sign(ISSUER, **claims)
    if accepted:
        assert verifier.verify(token, now=NOW).subject == "idp-user"
    else:
        with pytest.raises((jwt.ExpiredSignatureError, jwt.ImmatureSignatureError)):
            verifier.verify(token, now=NOW)


def test_a_token_valid_longer_than_the_maximum_is_refused() -> None:
    verifier = TokenVerifier(pem_settings(RSA))
    assert verifier.verify(RSA.sign(ISSUER, exp=T + 12 * 3600), now=NOW).subject == "idp-user"
    with pytest.raises(TokenLifetimeTooLong):
        verifier.verify(RSA.sign(ISSUER, exp=T + 12 * 3600 + 1), now=NOW)
    short = TokenVerifier(pem_settings(RSA, auth_max_token_lifetime_s=3600))
    with pytest.raises(TokenLifetimeTooLong):
        short.verify(RSA.sign(ISSUER, exp=T + 3601), now=NOW)


def test_a_token_without_iat_is_refused() -> None:
    token = jwt.encode(
        {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": T + 60}, RSA.private, algorithm="RS256", headers={}
    )
    with pytest.raises(jwt.MissingRequiredClaimError):
        TokenVerifier(pem_settings(RSA)).verify(token, now=NOW)


def test_verification_uses_the_given_instant_not_the_wall_clock() -> None:
    verifier = TokenVerifier(pem_settings(RSA))
    token = RSA.sign(ISSUER)
    assert verifier.verify(token, now=NOW + timedelta(seconds=600)).subject == "idp-user"  # exp - now = 0 < leeway
    with pytest.raises(jwt.ExpiredSignatureError):
        verifier.verify(token, now=NOW + timedelta(seconds=631))


def _private_pem() -> str:
    return RSA.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"auth_jwt_public_key": "not a key"}, "PSP_AUTH_JWT_PUBLIC_KEY is not a PEM public key"),
        ({"auth_jwt_public_key": _private_pem()}, "PSP_AUTH_JWT_PUBLIC_KEY is not a PEM public key"),
        (
            {"auth_jwt_public_key": Key.rsa("small", bits=1024).public_pem()},
            "PSP_AUTH_JWT_PUBLIC_KEY is an RSA key shorter than 2048 bits",
        ),
        (
            {"auth_jwt_public_key": EC.public_pem(), "auth_algorithms": ["RS256"]},
            "PSP_AUTH_ALGORITHMS allows no algorithm for the key in PSP_AUTH_JWT_PUBLIC_KEY",
        ),
        (
            {"auth_jwt_public_key": RSA.public_pem(), "auth_oidc_issuer": ISSUER},
            "set PSP_AUTH_JWT_PUBLIC_KEY or PSP_AUTH_OIDC_ISSUER / PSP_AUTH_JWKS_URL, not both",
        ),
        (
            {"env": "production", "auth_oidc_issuer": "http://idp.hospital.example"},
            "PSP_AUTH_OIDC_ISSUER must be an https URL with a host",
        ),
        ({"auth_jwks_url": "file:///etc/passwd"}, "PSP_AUTH_JWKS_URL must be an https or http URL with a host"),
    ],
)
def test_a_misconfiguration_is_one_start_up_line_naming_the_variable(settings: dict[str, object], message: str) -> None:
    s = ServiceSettings(**settings)  # type: ignore[arg-type]
    assert config_problems(s) == [message]
    with pytest.raises(AuthConfigError):
        TokenVerifier(s)


def test_symmetric_algorithms_cannot_be_allowed_for_the_provider() -> None:
    with pytest.raises(ValidationError, match="auth_algorithms"):
        ServiceSettings(auth_algorithms=["HS256"])  # type: ignore[arg-type]


def test_the_jwt_secret_is_not_required_once_a_provider_verifies_tokens() -> None:
    strong = "q8Zt3vXk1pLw9sRb7nYc5mHd2fGj4aQe6uTo0iKy"
    keys = {"pseudonym_key": strong + "1", "reference_key": strong + "2"}
    for provider in ({"auth_oidc_issuer": ISSUER}, {"auth_jwks_url": ISSUER + "/jwks"}):
        assert weak_secrets(ServiceSettings(env="production", auth_jwt_secret="", **keys, **provider)) == []  # type: ignore[arg-type]
    assert weak_secrets(ServiceSettings(env="production", auth_jwt_secret="", **keys)) != []  # type: ignore[arg-type]


def test_an_unreachable_provider_at_start_is_not_fatal() -> None:
    settings = ServiceSettings(auth_jwks_url="http://127.0.0.1:9/jwks", auth_jwks_timeout_s=1)
    keys = key_source(settings)
    assert isinstance(keys, JwksKeys)
    keys.warm()  # logs a warning, does not raise


def test_service_refuses_to_start_on_a_malformed_key() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSP_")}
    proc = subprocess.run(
        [sys.executable, "-m", "psp_rules"],
        env={**env, "PSP_ENV": "dev", "PSP_AUTH_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\nAAAA\n"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "rules: refusing to start: PSP_AUTH_JWT_PUBLIC_KEY is not a PEM public key"
    ]
