"""Who may call what: a (route, token scope) -> status table per service, every route refuses no token,
and a supporter cannot read another supporter's case or assignment (object-level authorization)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from psp_common import demo
from psp_common.audit import OPS_PATHS
from psp_common.stack import SERVICES
from psp_matching.adapters.cases import CaseRepository
from psp_matching.domain.cases import Assignment, Candidate, Case
from tests.api.apps import offline_app
from tests.support import auth_headers, running

NONE = None  # no Authorization header
ALL = ("intake", "coordinator", "supporter", "analyst")


def report() -> dict[str, Any]:
    """A valid occurrence report with a fresh id."""
    return {**demo.reports()[0], "report_id": f"R-{uuid.uuid4().hex[:8]}"}


def referral() -> dict[str, Any]:
    """A valid colleague referral with a fresh id."""
    ref = {"source_system": "authz", "referral_id": uuid.uuid4().hex, "kind": "colleague", "facility": "GEN"}
    return {**ref, "urgency": "today", "person": {"staff_id": "E-1"}, "referrer": {"staff_id": "E-2"}}


DIRECTORY_REFUSED: dict[str | None, int] = {"supporter": 403, "analyst": 403, "intake": 403, "scim": 403, NONE: 401}
SCIM_ONLY: dict[str | None, int] = {"coordinator": 403, "supporter": 403, "analyst": 403, "intake": 403, NONE: 401}

# service -> [(method, path, json body or None, {scope or NONE: expected status})]
TABLE: dict[str, list[tuple[str, str, Any, dict[str | None, int]]]] = {
    "listener": [
        (
            "POST",
            "/v1/occurrence-reports",
            report,
            {"intake": 202, "coordinator": 202, "supporter": 403, "analyst": 403, NONE: 401},
        ),
        ("GET", "/v1/audit", None, {"coordinator": 200, "intake": 403, "analyst": 403, NONE: 401}),
        (
            "POST",
            "/v1/referrals",
            referral,
            # staff members may refer, as themselves only (token staff_id S-1 is not the body's referrer: 422)
            {"intake": 202, "coordinator": 202, "staff": 422, "supporter": 422, "analyst": 422, "scim": 403, NONE: 401},
        ),
    ],
    "rules": [
        ("GET", "/v1/rulesets", None, {"coordinator": 200, "intake": 403, "supporter": 403, "analyst": 403, NONE: 401}),
        ("POST", "/v1/opt-outs", {"staff_id": "S-1"}, {"coordinator": 201, "supporter": 403, NONE: 401}),
        ("GET", "/v1/decisions", None, {"coordinator": 200, "analyst": 403}),
        ("GET", "/v1/audit", None, {"coordinator": 200, "supporter": 403, NONE: 401}),
    ],
    "matching": [
        (
            "GET",
            "/v1/supporters",
            None,
            {"coordinator": 200, "intake": 403, "supporter": 403, "analyst": 403, NONE: 401},
        ),
        (
            "POST",
            "/v1/staff",
            {"staff_id": "S-9", "profession": "rn", "seniority_level": 2},
            {"coordinator": 201, "supporter": 403, "intake": 403},
        ),
        ("GET", "/v1/assignments", None, {"coordinator": 200, "supporter": 403, "analyst": 403, NONE: 401}),
        ("GET", "/v1/me/assignments", None, {"supporter": 200, "coordinator": 403, "analyst": 403, NONE: 401}),
        ("GET", f"/v1/cases/{uuid.UUID(int=1)}", None, {"coordinator": 404, "supporter": 404, "analyst": 403}),
        (
            "POST",
            f"/v1/cases/{uuid.UUID(int=1)}:assign",
            {"supporter_ref": "ps_0a"},
            {"coordinator": 404, "supporter": 403, "analyst": 403, NONE: 401},
        ),
        ("GET", "/v1/audit", None, {"coordinator": 200, "supporter": 403, NONE: 401}),
    ],
    "notification": [
        (
            "PUT",
            "/v1/contacts/S-1",
            {"channels": [{"kind": "console"}]},
            {"coordinator": 200, "supporter": 403, "intake": 403, "analyst": 403, NONE: 401},
        ),
        ("GET", "/v1/deliveries", None, {"coordinator": 200, "supporter": 403, "analyst": 403, NONE: 401}),
        ("GET", "/v1/board", None, {"coordinator": 200, "supporter": 403, "analyst": 403, NONE: 401}),
        ("GET", "/v1/stats", None, {"analyst": 200, "coordinator": 200, "supporter": 403, "intake": 403, NONE: 401}),
        ("GET", "/v1/me/assignments", None, {"supporter": 200, "analyst": 403, NONE: 401}),
        ("GET", "/v1/safety-calls/GEN/2026-11-23/morning", None, {"coordinator": 200, "analyst": 403, NONE: 401}),
        (
            "POST",
            f"/v1/assignments/{uuid.UUID(int=2)}/close",
            None,
            {"coordinator": 404, "supporter": 404, "analyst": 403, NONE: 401},
        ),
        # page links are authorized by their own signed token, not a bearer token: a bad link is 403 either way
        ("POST", "/v1/pages/not-a-token/ack", None, {NONE: 403, "coordinator": 403}),
        ("GET", "/v1/audit", None, {"coordinator": 200, "analyst": 403, NONE: 401}),
        *(
            (method, path, None, {"coordinator": status, **DIRECTORY_REFUSED})
            for method, path, status in (
                ("POST", "/v1/directory/import.csv", 415),
                ("POST", "/v1/directory/import.fhir", 415),
                ("GET", "/v1/directory/S-1", 404),
                ("DELETE", "/v1/directory/S-1", 404),
            )
        ),
        ("GET", "/scim/v2/Users", None, {"scim": 200, **SCIM_ONLY}),
        ("POST", "/scim/v2/Users", None, {"scim": 400, **SCIM_ONLY}),
        ("GET", f"/scim/v2/Users/{uuid.UUID(int=4)}", None, {"scim": 404, **SCIM_ONLY}),
        ("DELETE", f"/scim/v2/Users/{uuid.UUID(int=4)}", None, {"scim": 404, **SCIM_ONLY}),
    ],
}
CASES = [
    pytest.param(service, method, path, body, scope, status, id=f"{service}-{method}-{path}-{scope}")
    for service, rows in TABLE.items()
    for method, path, body, expected in rows
    for scope, status in expected.items()
]


@pytest.fixture(scope="module")
async def apps(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, tuple[FastAPI, httpx.AsyncClient]]]:
    """Every service app (migrated SQLite, no broker) with a client that sends no token by itself."""
    out: dict[str, tuple[FastAPI, httpx.AsyncClient]] = {}
    managers = []
    tmp_path = tmp_path_factory.mktemp("authz")
    for service in SERVICES:
        app = offline_app(service, f"sqlite+aiosqlite:///{tmp_path}/{service}.db")
        cm = running(app, scopes=None)
        out[service] = (app, await cm.__aenter__())
        managers.append(cm)
    yield out
    for cm in managers:
        await cm.__aexit__(None, None, None)


def headers(app: FastAPI, scope: str | None, staff_id: str | None = "S-1") -> dict[str, str]:
    if scope is None:
        return {}
    return auth_headers(app.state.runtime.settings, [scope], subject=f"{scope}-user", staff_id=staff_id)


@pytest.mark.parametrize(("service", "method", "path", "body", "scope", "status"), CASES)
async def test_scope_table(
    apps: Any, service: str, method: str, path: str, body: Any, scope: str | None, status: int
) -> None:
    app, client = apps[service]
    payload = body() if callable(body) else body
    r = await client.request(method, path, json=payload, headers=headers(app, scope))
    assert r.status_code == status, r.text


def protected_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, concrete path) of every API route except the ops probes and the signed page links."""
    out: list[tuple[str, str]] = []
    for template, ops in app.openapi()["paths"].items():
        if template in OPS_PATHS or template.startswith("/v1/pages/"):
            continue
        path = re.sub(r"\{[^}]+\}", str(uuid.UUID(int=3)), template)
        out.extend((method.upper(), path) for method in ops)
    return out


@pytest.mark.parametrize("service", SERVICES)
async def test_every_route_refuses_a_missing_or_bad_token(apps: Any, service: str) -> None:
    app, client = apps[service]
    routes = protected_routes(app)
    assert len(routes) >= 2
    forged = {"Authorization": "Bearer " + auth_headers(app.state.runtime.settings, ALL)["Authorization"][-20:]}
    for method, path in routes:
        for h in ({}, forged):
            r = await client.request(method, path, headers=h)
            assert r.status_code == 401, (method, path, r.status_code)
    assert (await client.get("/healthz")).status_code == 200  # probes stay open
    doc = app.openapi()
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            open_route = path in OPS_PATHS or path.startswith("/v1/pages/")
            assert ("security" in op) != open_route, (path, op.get("security"))


async def test_supporter_reads_only_their_own_matching_case(apps: Any) -> None:
    app, client = apps["matching"]
    c = app.state.container
    now = datetime(2026, 11, 23, 15, tzinfo=UTC)
    cases = {}
    for staff in ("S-ANN", "S-BOB"):
        case_id, aid, ref = str(uuid.uuid4()), str(uuid.uuid4()), c.pseudo.pseudonym(staff)
        async with c.runtime.uow() as uow:
            case = Case(
                case_id, str(uuid.uuid4()), "ref_x", 1, "GEN", "ICU", "within_hours", "individual", 2, "same",
                ["ps_colleague"], {}, {}, now, now, status="matched", assignment_id=aid, last_decision="matched",
                stored=False,
                new_assignment=Assignment(
                    aid, case_id, "within_hours", ref, (ref,), ("ps_colleague",),
                    (Candidate(ref, "primary", 1.0, ()),), now,
                ),
            )  # fmt: skip
            await CaseRepository(uow.session).save(case)
            await uow.commit()
        cases[staff] = (case_id, aid)
    ann = headers(app, "supporter", staff_id="S-ANN")
    assert (await client.get(f"/v1/cases/{cases['S-ANN'][0]}", headers=ann)).status_code == 200
    assert (await client.get(f"/v1/cases/{cases['S-BOB'][0]}", headers=ann)).status_code == 404
    mine = (await client.get("/v1/me/assignments", headers=ann)).json()
    assert [a["assignment_id"] for a in mine] == [cases["S-ANN"][1]]
    assert all(x["display_name"] is None for a in mine for x in a["candidates"])
    assert (await client.get("/v1/me/assignments", headers=headers(app, "supporter", None))).status_code == 403
    assert (await client.post(f"/v1/cases/{cases['S-ANN'][0]}:rematch", json={}, headers=ann)).status_code == 403
    coord = headers(app, "coordinator")
    assert (await client.get(f"/v1/cases/{cases['S-BOB'][0]}", headers=coord)).status_code == 200
