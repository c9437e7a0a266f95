"""Roles in a token become scopes (PSP_AUTH_ROLE_CLAIMS / PSP_AUTH_ROLE_SCOPES) for the services and the console
alike; the scope claim keeps working; an unmapped role grants nothing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from psp_common.auth import Scope, TokenVerifier, roles_in, scopes_from_claims
from psp_common.settings import SCOPE_NAMES, ServiceSettings
from tests.common.idp import NOW, Key

ISSUER = "https://idp.hospital.example"
RSA = Key.rsa("r1")


def settings(**over: object) -> ServiceSettings:
    return ServiceSettings(auth_jwt_public_key=RSA.public_pem(), auth_issuer=ISSUER, **over)  # type: ignore[arg-type]


def test_the_scope_names_settings_accept_are_the_scopes() -> None:
    assert set(SCOPE_NAMES) == {s.value for s in Scope}


def test_a_roles_claim_grants_its_scope_by_default() -> None:
    principal = TokenVerifier(settings()).verify(RSA.sign(ISSUER, scope="", roles=["supporter"]), now=NOW)
    assert principal.scopes == {"supporter"}


def test_groups_count_too_and_the_scope_claim_still_works() -> None:
    token = RSA.sign(ISSUER, scope="intake", groups=["analyst", "Nurses"])
    assert TokenVerifier(settings()).verify(token, now=NOW).scopes == {"intake", "analyst"}


def test_a_configured_map_names_the_providers_roles() -> None:
    mapped = settings(auth_role_scopes={"PSP.Coordinators": "coordinator"}, auth_role_claims=["roles"])
    token = RSA.sign(ISSUER, scope="", roles="PSP.Coordinators coordinator", groups=["analyst"])
    # only the configured role maps; 'coordinator' is not in this map and groups are not read
    assert TokenVerifier(mapped).verify(token, now=NOW).scopes == {"coordinator"}
    assert roles_in({"roles": "PSP.Coordinators coordinator"}, mapped) == ["PSP.Coordinators", "coordinator"]


def test_an_unmapped_role_or_a_non_string_grants_nothing() -> None:
    claims = {"roles": ["Everyone", 7, {"a": 1}], "groups": "visitors"}
    assert scopes_from_claims(claims, settings()) == frozenset()


def test_a_role_cannot_map_to_an_unknown_scope() -> None:
    with pytest.raises(ValidationError, match="roles may map only to the scopes"):
        settings(auth_role_scopes={"Admins": "root"})
