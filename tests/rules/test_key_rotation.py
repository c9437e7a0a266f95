"""Rules after a pseudonym key rotation: opt-outs and open cases stored under k1 still apply under k2."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from psp_common.migrations import upgrade_async
from psp_common.runtime import Runtime
from psp_rules.adapters.orm import case_members, metadata, opt_outs
from psp_rules.adapters.repository import OptOutRepository
from psp_rules.bootstrap import MIGRATIONS, build
from psp_rules.settings import RulesSettings
from tests.rotation import AFTER, BEFORE, retired, rotated, rotated_env, staff_after
from tests.rules.helpers import OCCURRED, observed
from tests.rules.test_handlers import handle, outcomes, published
from tests.support import client_for


@pytest.fixture
async def rt(sqlite_url: str) -> AsyncIterator[Runtime]:
    await upgrade_async(MIGRATIONS, sqlite_url)
    runtime = Runtime(RulesSettings(database_url=sqlite_url), metadata, MIGRATIONS)
    yield runtime
    await runtime.engine.dispose()


async def opt_out_under_k1(rt: Runtime, staff_id: str) -> None:
    async with rt.uow() as uow:  # what POST /v1/opt-outs stored before the rotation
        await OptOutRepository(uow.session).add(BEFORE.pseudonym(staff_id), "all", OCCURRED)
        await uow.commit()


async def test_opted_out_clinician_stays_opted_out_after_key_rotation(rt: Runtime) -> None:
    await opt_out_under_k1(rt, "E1")
    await handle(rt, observed(ids=(), staff=staff_after("E1")))
    assert await published(rt) == []
    assert await outcomes(rt) == ["suppressed: opted out"]
    async with rt.session() as s:  # copied to the current pseudonym: the old key can be retired for it
        names = set((await s.execute(select(opt_outs.c.pseudonym))).scalars())
    assert names == {BEFORE.pseudonym("E1"), AFTER.pseudonym("E1")}


async def test_open_case_from_before_rotation_merges_and_is_rekeyed(rt: Runtime) -> None:
    await handle(rt, observed(ids=("E1",), harm_level="severe"))  # a case opened under k1 before the rotation
    await handle(rt, observed(ids=(), staff=staff_after("E1"), harm_level="death"))
    assert await outcomes(rt) == ["outreach requested", "merged; escalated"]
    opened, escalated = await published(rt)
    assert escalated.case_id == opened.case_id and escalated.change == "escalated"
    assert [(p.pseudonym, p.aliases) for p in escalated.people] == [(AFTER.pseudonym("E1"), (BEFORE.pseudonym("E1"),))]
    async with rt.session() as s:
        rows = (await s.execute(select(case_members.c.pseudonym, case_members.c.key_id))).all()
    assert {tuple(r) for r in rows} == {(AFTER.pseudonym("E1"), "k2")}, "members re-keyed to the current key"


async def test_outreach_carries_the_aliases_for_matching(rt: Runtime) -> None:
    await handle(rt, observed(ids=(), staff=staff_after("E1", "E2")))
    out = await published(rt)
    assert {(p.pseudonym, p.aliases) for o in out for p in o.people} == {
        (AFTER.pseudonym("E1"), (BEFORE.pseudonym("E1"),)),
        (AFTER.pseudonym("E2"), (BEFORE.pseudonym("E2"),)),
    }


async def test_opt_out_api_finds_and_withdraws_a_pre_rotation_opt_out(sqlite_url: str) -> None:
    await upgrade_async(MIGRATIONS, sqlite_url)
    app = build(RulesSettings(**rotated(database_url=sqlite_url, kafka_create_topics=False)))
    async with app.state.container.runtime.uow() as uow:
        await OptOutRepository(uow.session).add(BEFORE.pseudonym("E-9"), "all", OCCURRED)
        await uow.commit()
    async with client_for(app, base_url="http://t") as client:
        state: Any = (await client.get("/v1/opt-outs/E-9")).json()
        assert state == {"pseudonym": AFTER.pseudonym("E-9"), "opted_out": True, "scopes": ["all"]}
        assert (await client.delete("/v1/opt-outs/E-9")).json()["opted_out"] is False
        r: httpx.Response = await client.post("/v1/opt-outs", json={"staff_id": "E-10"})
        assert r.status_code == 201
    async with app.state.container.runtime.session() as s:
        names = set((await s.execute(select(opt_outs.c.pseudonym))).scalars())
    assert names == {AFTER.pseudonym("E-10"), BEFORE.pseudonym("E-10")}, "stored under every active key"
    await app.state.container.runtime.engine.dispose()


async def test_rekey_command_lets_the_old_key_be_retired(sqlite_url: str) -> None:
    await upgrade_async(MIGRATIONS, sqlite_url)
    runtime = Runtime(RulesSettings(database_url=sqlite_url), metadata, MIGRATIONS)
    await opt_out_under_k1(runtime, "E1")
    await handle(runtime, observed(ids=("E2",), harm_level="severe"))  # E2's open case, members under k1
    await runtime.engine.dispose()
    env = {**os.environ, **rotated_env(), "PSP_DATABASE_URL": sqlite_url}
    run = [sys.executable, "-m", "psp_rules.rekey"]
    done = subprocess.run(run, input="E1\nE2\n\nE3\n", env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["case_members: 1 re-keyed", "opt_outs: 1 re-keyed"]
    assert "E1" not in done.stdout + done.stderr and "E2" not in done.stdout + done.stderr
    again = subprocess.run(run, input="E1\nE2\n", env=env, capture_output=True, text=True, timeout=60)
    assert again.stdout.splitlines() == ["case_members: 0 re-keyed", "opt_outs: 0 re-keyed"]
    # k1 retired: events carry k2 pseudonyms only, and both safety rules still hold.
    retired_rt = Runtime(RulesSettings(**retired(database_url=sqlite_url)), metadata, MIGRATIONS)
    only_k2 = tuple(s.model_copy(update={"aliases": ()}) for s in staff_after("E1", "E2"))
    await handle(retired_rt, observed(ids=(), staff=only_k2, harm_level="severe"))
    assert await outcomes(retired_rt) == ["outreach requested", "suppressed: opted out; merged"]
    assert len(await published(retired_rt)) == 1, "E1 suppressed, E2 merged into the case opened under k1"
    await retired_rt.engine.dispose()
