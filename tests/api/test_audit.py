"""Audit log: every API read and change is recorded with actor and status; append-only on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from psp_common.pseudonym import Pseudonymizer
from psp_common.stack import SERVICES
from tests.api.apps import offline_app
from tests.support import auth_headers, running


async def test_reads_and_changes_are_audited_with_actor_and_status(sqlite_url: str) -> None:
    app = offline_app("rules", sqlite_url)
    s = app.state.runtime.settings
    alice = auth_headers(s, ["coordinator"], subject="alice")
    async with running(app, scopes=None) as client:
        assert (await client.post("/v1/opt-outs", json={"staff_id": "S-7"}, headers=alice)).status_code == 201
        assert (await client.get("/v1/opt-outs/S-7", headers=alice)).status_code == 200
        ann = auth_headers(s, ["analyst"], subject="ann")
        assert (await client.get("/v1/rulesets", headers=ann)).status_code == 403
        assert (await client.get("/v1/decisions")).status_code == 401
        await client.get("/healthz")  # probes are not audited
        page = (await client.get("/v1/audit", headers=alice, params={"limit": 3})).json()
        rest = (await client.get("/v1/audit", headers=alice, params={"before": page["next_before"]})).json()
        only_ann = (await client.get("/v1/audit", headers=alice, params={"actor": "ann"})).json()
    entries = [(e["actor"], e["action"], e["resource"], e["status"]) for e in page["items"] + rest["items"]]
    assert entries == [
        ("anonymous", "GET", "/v1/decisions", 401),
        ("ann", "GET", "/v1/rulesets", 403),
        ("alice", "GET", f"/v1/opt-outs/{{staff_id}} staff_id={Pseudonymizer.from_settings(s).pseudonym('S-7')}", 200),
        ("alice", "POST", "/v1/opt-outs", 201),
    ]
    assert all("S-7" not in e[2] for e in entries)  # people appear only as pseudonyms
    assert page["items"][0]["scopes"] == "" and page["items"][2]["scopes"] == "coordinator"
    assert rest["next_before"] is None and [e["actor"] for e in only_ann["items"]] == ["ann"]


async def test_audit_paging_bounds(sqlite_url: str) -> None:
    app = offline_app("notification", sqlite_url)
    async with running(app) as client:
        for _ in range(3):
            await client.get("/v1/deliveries")
        r = await client.get("/v1/audit", params={"limit": 2})
        assert r.status_code == 200 and len(r.json()["items"]) == 2 and r.json()["next_before"]
        assert (await client.get("/v1/audit", params={"limit": 0})).status_code == 422
        assert (await client.get("/v1/audit", params={"before": 2**63})).status_code == 422


@pytest.mark.postgres
@pytest.mark.parametrize("service", SERVICES)
async def test_audit_log_is_append_only_on_postgres(pg_url: str, service: str) -> None:
    app = offline_app(service, pg_url)
    async with running(app) as client:
        assert (await client.get("/v1/audit")).status_code == 200
        assert (await client.get("/v1/audit")).json()["items"][0]["status"] == 200
    engine = create_async_engine(pg_url)
    try:
        for statement in ("UPDATE audit_log SET status = 200", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(sa.text(statement))
        async with engine.connect() as conn:
            count: Any = (await conn.execute(sa.text("SELECT count(*) FROM audit_log"))).scalar()
        assert count >= 2
    finally:
        await engine.dispose()


async def test_huge_ruleset_version_is_a_4xx_not_a_500(sqlite_url: str) -> None:
    """Regression (schemathesis): a version beyond SQLite INTEGER overflowed into a 500."""
    async with running(offline_app("rules", sqlite_url)) as client:
        r = await client.get("/v1/rulesets/default/versions/9223372036854775808")
        assert r.status_code == 422 and "version" in r.text
        assert (await client.get("/v1/rulesets/default/versions/0")).status_code == 422
        assert (await client.get("/v1/rulesets/default/versions/7")).status_code == 404


async def test_audit_filters_by_time_action_status_and_resource(sqlite_url: str) -> None:
    app = offline_app("rules", sqlite_url)
    s = app.state.runtime.settings
    alice = auth_headers(s, ["coordinator"], subject="alice")
    async with running(app, scopes=None) as client:
        assert (await client.post("/v1/opt-outs", json={"staff_id": "S-7"}, headers=alice)).status_code == 201
        assert (await client.get("/v1/opt-outs/S-7", headers=alice)).status_code == 200
        assert (await client.get("/v1/decisions")).status_code == 401
        assert (await client.get("/v1/rulesets/x%25_y", headers=alice)).status_code == 422  # bad name

        everything = (await client.get("/v1/audit", headers=alice)).json()["items"]
        assert len(everything) == 4
        upto = everything[0]["id"] + 1  # the audit reads below are audited too: leave them out

        async def listed(**params: Any) -> list[tuple[str, str, int]]:
            r = await client.get("/v1/audit", headers=alice, params={"before": upto, **params})
            assert r.status_code == 200, r.text
            return [(e["action"], e["resource"].split(" ")[0], e["status"]) for e in r.json()["items"]]

        assert await listed(action="post") == [("POST", "/v1/opt-outs", 201)]
        assert await listed(status_min=400, status_max=499) == [
            ("GET", "/v1/rulesets/{scope}", 422),
            ("GET", "/v1/decisions", 401),
        ]
        assert await listed(status_min=200, status_max=299, action="GET") == [("GET", "/v1/opt-outs/{staff_id}", 200)]
        assert await listed(resource_prefix="/v1/opt-outs") == [
            ("GET", "/v1/opt-outs/{staff_id}", 200),
            ("POST", "/v1/opt-outs", 201),
        ]
        assert await listed(resource_prefix="/v1/opt") == await listed(resource_prefix="/v1/opt-outs")
        assert await listed(resource_contains="decisions") == [("GET", "/v1/decisions", 401)]
        # LIKE wildcards are matched literally: "%" finds only the resource that contains it
        assert await listed(resource_contains="x%_y") == [("GET", "/v1/rulesets/{scope}", 422)]
        assert await listed(resource_contains="%") == [("GET", "/v1/rulesets/{scope}", 422)]
        # time range: [since, until), offsets honoured
        times = sorted(e["at"] for e in everything)
        assert len(await listed(since=times[1])) == 3
        assert len(await listed(until=times[1])) == 1
        assert len(await listed(since=times[1], until=times[3])) == 2
        assert await listed(since="2000-01-01T00:00:00+05:00", until="2000-01-02T00:00:00Z") == []
        for bad in (
            {"status_min": 99},
            {"status_max": 600},
            {"action": "GET;"},
            {"since": "yesterday"},
            {"until": "9999-12-31T23:00:00-05:00"},  # beyond year 9999 in UTC: a 422, not an overflow
        ):
            r = await client.get("/v1/audit", headers=alice, params=bad)
            assert r.status_code == 422 and next(iter(bad)) in r.text
