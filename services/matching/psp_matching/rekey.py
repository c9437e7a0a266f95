"""Re-key the matching database: ``python -m psp_matching.rekey < staff_ids.txt`` (see psp_common.rekey).

Evaluator and supervisor lists gain the current pseudonyms; staff directory entries, the people of open cases
and the continuity index move to them. Supporters keep their roster ref (an opaque id; matching derives their
pseudonyms under every active key from the stored staff id).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common import rekey
from psp_matching.adapters.orm import cases, staff, supported, supporters
from psp_matching.rotation import renamed
from psp_matching.settings import MatchingSettings


async def _lists(session: AsyncSession, current: dict[str, str]) -> int:
    changed = 0
    rows = await session.execute(select(supporters.c.supporter_ref, supporters.c.evaluates, supporters.c.supervises))
    for ref, evaluates, supervises in rows.all():
        new_e = sorted({*evaluates, *(current[n] for n in evaluates if n in current)})
        new_s = sorted({*supervises, *(current[n] for n in supervises if n in current)})
        if new_e != sorted(evaluates) or new_s != sorted(supervises):
            q = update(supporters).where(supporters.c.supporter_ref == ref)
            await session.execute(q.values(evaluates=new_e, supervises=new_s))
            changed += 1
    return changed


async def _directory(session: AsyncSession, current: dict[str, str]) -> int:
    stored = set(
        (
            await session.execute(select(staff.c.staff_ref).where(staff.c.staff_ref.in_([*current, *current.values()])))
        ).scalars()
    )
    moved = 0
    for old, new in current.items():
        if old in stored and new not in stored:
            await session.execute(update(staff).where(staff.c.staff_ref == old).values(staff_ref=new))
            moved += 1
    return moved


async def _cases(session: AsyncSession, current: dict[str, str]) -> int:
    open_cases = select(cases.c.case_id, cases.c.people, cases.c.roles, cases.c.aliases).where(
        cases.c.closed_at.is_(None)
    )
    changed = 0
    for row in (await session.execute(open_cases)).all():
        before = dict(row._mapping)
        after = renamed(before, current)
        if after is not before:
            values = {k: after[k] for k in ("people", "roles", "aliases")}
            await session.execute(update(cases).where(cases.c.case_id == row.case_id).values(**values))
            changed += 1
    return changed


async def _continuity(session: AsyncSession, current: dict[str, str]) -> int:
    moved = 0
    for old, new in current.items():
        result = await session.execute(update(supported).where(supported.c.person_ref == old).values(person_ref=new))
        moved += int(getattr(result, "rowcount", 0) or 0)
    return moved


async def apply(session: AsyncSession, names: rekey.Renames, now: datetime) -> dict[str, int]:
    """Re-key evaluator/supervisor lists, the staff directory, open cases and the continuity index."""
    current = names.current
    return {
        "supporters": await _lists(session, current),
        "staff": await _directory(session, current),
        "cases": await _cases(session, current),
        "supported_people": await _continuity(session, current),
    }


if __name__ == "__main__":
    rekey.main(MatchingSettings, apply)
