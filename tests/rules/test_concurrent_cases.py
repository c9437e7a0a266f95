"""Two rules instances deciding on two incidents of one clinician at the same time, on PostgreSQL, open one
case (the second merges into it), never two in one merge window."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from psp_common.migrations import upgrade_async
from psp_common.runtime import Runtime
from psp_rules import handlers
from psp_rules.adapters.orm import case_members, cases, metadata
from psp_rules.adapters.repository import CaseRepository
from psp_rules.adapters.ruleset_schema import load_file
from psp_rules.bootstrap import MIGRATIONS
from psp_rules.settings import RulesSettings
from tests.rules.helpers import OCCURRED, observed, staff
from tests.support import Rendezvous

pytestmark = [pytest.mark.postgres]

CFG = handlers.RulesConfig.from_settings(RulesSettings(), load_file())


async def decide(rt: Runtime, event: Any) -> None:
    async with rt.uow() as uow:
        await handlers.on_incidents([event], uow, CFG, now=OCCURRED + timedelta(minutes=5))
        await uow.commit()


async def test_two_instances_deciding_one_persons_incidents_at_once_open_one_case(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await upgrade_async(MIGRATIONS, pg_url)
    one, two = (Runtime(RulesSettings(database_url=pg_url), metadata, MIGRATIONS) for _ in range(2))
    try:
        await decide(one, observed(ids=("OTHER",)))  # the default rule set is stored before the race
        meet = Rendezvous(2, timeout=3.0)
        read_open_cases = CaseRepository.open_cases

        async def overlapping(self: CaseRepository, *args: Any, **kwargs: Any) -> Any:
            found = await read_open_cases(self, *args, **kwargs)
            await meet.wait()  # both have looked for an open case before either opens one
            return found

        monkeypatch.setattr(CaseRepository, "open_cases", overlapping)
        # Two severe incidents for E1, keyed by their own incident refs: two partitions, two instances.
        await asyncio.gather(decide(one, observed(ids=("E1",))), decide(two, observed(ids=("E1",))))
        [person] = staff("E1")
        async with one.session() as s:
            held = select(case_members.c.case_id).where(case_members.c.pseudonym == person.pseudonym)
            opened = await s.execute(select(func.count()).select_from(cases).where(cases.c.case_id.in_(held)))
            incidents = await s.execute(
                select(func.count(func.distinct(case_members.c.incident_ref))).where(
                    case_members.c.pseudonym == person.pseudonym
                )
            )
            counts = (opened.scalar_one(), incidents.scalar_one())
    finally:
        await one.engine.dispose()
        await two.engine.dispose()
    assert meet.arrived == 2
    assert counts == (1, 2)  # one case holding both incidents (two cases before the per-person lock)
