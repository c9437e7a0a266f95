"""Per-event lookups stay index lookups as the tables grow (PostgreSQL plans, not timings)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from psp_common.migrations import upgrade_async
from psp_rules.adapters.lookups import ARRAYS, EXPANDING
from psp_rules.adapters.orm import case_members, cases
from psp_rules.bootstrap import MIGRATIONS
from tests.support import scans_of

N = 5000


async def test_open_case_lookup_does_not_scan_every_open_case_or_member(pg_url: str) -> None:
    await upgrade_async(MIGRATIONS, pg_url)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(cases),
                [
                    {
                        "case_id": f"case-{i}",
                        "incident_ref": f"ref-{i}",
                        "facility": "GEN",
                        "unit": "ICU",
                        "mode": "individual",
                        "urgency": "within_hours",
                        "tier": 1,
                        "status": "open",  # every case open: the bench leaves them so
                        "opened_at": now,
                        "updated_at": now,
                        "occurred_at": now,
                    }
                    for i in range(N)
                ],
            )
            await conn.execute(
                insert(case_members),
                [
                    {
                        "case_id": f"case-{i}",
                        "pseudonym": f"ps_{i}",
                        "incident_ref": f"ref-{i}",
                        "key_id": "k1",
                        "involvement": "involved",
                        "how": "named",
                        "joined_at": now,
                        "occurred_at": now,
                    }
                    for i in range(N)
                ],
            )
    finally:
        await engine.dispose()
    for lookups in (ARRAYS, EXPANDING):  # PostgreSQL's statement, and SQLite's (planned by PostgreSQL here)
        scans = await scans_of(pg_url, lookups.open_cases, {"names": ["ps_7", "ps_8"], "refs": ["ref-9"]})
        assert {table for _, table, _ in scans} == {"cases", "case_members"}
        assert sum(read for _, _, read in scans) < 50, scans
