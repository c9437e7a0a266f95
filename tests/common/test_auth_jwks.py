"""Tokens from an OIDC issuer: discovery, cached JWKS, refetch on an unknown kid, 503 (never 500) when it is down."""

from __future__ import annotations

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from psp_common.auth import Principal, Scope, TokenVerifier, require
from psp_common.auth_keys import KeysUnavailable, MissingKeyId, UnknownKeyId
from psp_common.settings import ServiceSettings
from tests.common.idp import NOW, Idp, Key, serve_idp

RSA = Key.rsa("rsa-1")
EC = Key.ec("ec-1")


def oidc(idp: Idp, **over: object) -> TokenVerifier:
    settings = ServiceSettings(auth_oidc_issuer=idp.issuer, **over)  # type: ignore[arg-type]
    return TokenVerifier(settings, clock=lambda: NOW)


def test_rs256_and_es256_tokens_verify_with_keys_from_the_discovered_jwks() -> None:
    with serve_idp(RSA, EC) as idp:
        verifier = oidc(idp)
        assert verifier.verify(RSA.sign(idp.issuer)).subject == "idp-user"
        assert verifier.verify(EC.sign(idp.issuer, sub="ec-user")).subject == "ec-user"
        for _ in range(5):
            verifier.verify(RSA.sign(idp.issuer))
    assert idp.hits == {"/.well-known/openid-configuration": 1, "/jwks": 1}  # discovered once, keys cached


def test_a_jwks_url_works_without_discovery() -> None:
    with serve_idp(RSA) as idp:
        settings = ServiceSettings(auth_jwks_url=f"{idp.base}/jwks", auth_issuer="hospital-idp")
        assert TokenVerifier(settings).verify(RSA.sign("hospital-idp"), now=NOW).subject == "idp-user"
    assert idp.hits == {"/jwks": 1}


def test_a_key_rotated_in_at_the_provider_is_picked_up_by_its_new_kid() -> None:
    with serve_idp(RSA) as idp:
        verifier = oidc(idp, auth_jwks_refresh_cooldown_s=0)
        assert verifier.verify(RSA.sign(idp.issuer)).subject == "idp-user"
        rotated = Key.rsa("rsa-2")
        idp.keys = [rotated]
        assert verifier.verify(rotated.sign(idp.issuer, sub="after-rotation")).subject == "after-rotation"
        assert idp.hits["/jwks"] == 2
        with pytest.raises(UnknownKeyId):  # the retired key is gone from the set
            verifier.verify(RSA.sign(idp.issuer))


def test_unknown_kids_do_not_hammer_the_provider_within_the_cooldown() -> None:
    with serve_idp(RSA) as idp:
        verifier = oidc(idp, auth_jwks_refresh_cooldown_s=3600)
        verifier.verify(RSA.sign(idp.issuer))
        for i in range(5):
            with pytest.raises(UnknownKeyId):
                verifier.verify(RSA.sign(idp.issuer, kid=f"made-up-{i}"))
    assert idp.hits["/jwks"] == 1


def test_a_token_naming_no_kid_is_refused_without_a_fetch() -> None:
    with serve_idp(RSA) as idp, pytest.raises(MissingKeyId):
        oidc(idp).verify(RSA.sign(idp.issuer, kid=None))
    assert idp.hits["/jwks"] == 0


def test_the_issuer_must_be_the_oidc_issuer() -> None:
    with serve_idp(RSA) as idp, pytest.raises(jwt.InvalidIssuerError):
        oidc(idp).verify(RSA.sign("psp-dev"))


def test_a_token_signed_by_a_stranger_with_a_known_kid_is_refused() -> None:
    with serve_idp(RSA) as idp, pytest.raises(jwt.InvalidSignatureError):
        oidc(idp).verify(Key.rsa("rsa-1").sign(idp.issuer))


def test_a_discovery_document_naming_another_issuer_is_not_trusted() -> None:
    with serve_idp(RSA) as idp:
        idp.issuer_in_doc = "https://evil.example"
        with pytest.raises(KeysUnavailable):
            oidc(idp).verify(RSA.sign(idp.issuer))
    assert idp.hits["/jwks"] == 0


def app(verifier: TokenVerifier) -> FastAPI:
    a = FastAPI()

    class _RT:
        settings = verifier.settings
        tokens = verifier

    a.state.runtime = _RT()

    @a.get("/cases")
    async def cases(p: Principal = Depends(require(Scope.COORDINATOR))) -> dict[str, str]:
        return {"sub": p.subject}

    return a


async def get(verifier: TokenVerifier, token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app(verifier)), base_url="http://t") as c:
        return await c.get("/cases", headers={"Authorization": f"Bearer {token}"})


async def test_over_http_a_provider_token_passes_and_an_unknown_kid_is_401() -> None:
    with serve_idp(RSA) as idp:
        verifier = oidc(idp)
        ok = await get(verifier, RSA.sign(idp.issuer))
        unknown = await get(verifier, RSA.sign(idp.issuer, kid="nope"))
    assert ok.status_code == 200 and ok.json() == {"sub": "idp-user"}
    assert unknown.status_code == 401 and unknown.json()["detail"] == "invalid token: UnknownKeyId"


async def test_an_unreachable_provider_is_503_with_retry_after_not_500() -> None:
    with serve_idp(RSA) as idp:
        token = RSA.sign(idp.issuer)
        verifier = oidc(idp, auth_jwks_timeout_s=1)
    # the server is gone: discovery fails
    r = await get(verifier, token)
    assert r.status_code == 503 and r.headers["retry-after"] == "30"
    assert r.json()["detail"] == "identity provider keys unavailable; retry later"


async def test_a_jwks_that_stops_answering_is_503() -> None:
    with serve_idp(RSA) as idp:
        verifier = oidc(idp, auth_jwks_timeout_s=1, auth_jwks_refresh_cooldown_s=0)
        assert (await get(verifier, RSA.sign(idp.issuer))).status_code == 200
        token = Key.rsa("rsa-new").sign(idp.issuer)
    r = await get(verifier, token)  # unknown kid -> refetch -> provider down
    assert r.status_code == 503
