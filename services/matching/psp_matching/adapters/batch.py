"""Set-based storage for a consumed batch: what its events need, read in one query per table, and what they
decided, written in one statement per table (``psp_matching.set_based`` decides in memory in between)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import KEY, aware, dialect_of, insert_or_skip
from psp_common.deferred import defer_insert
from psp_matching.adapters import tally
from psp_matching.adapters.case_rows import assignment_values, case_values, member_values
from psp_matching.adapters.cases import ACTIVE, SUPERSEDED, row_values
from psp_matching.adapters.orm import assignments, cases, members, supported
from psp_matching.adapters.tally import one_of as _one_of
from psp_matching.adapters.tally import record
from psp_matching.adapters.workload_index import Deltas
from psp_matching.domain.cases import Assignment, Case, TeamMember


def _statements(pg: bool) -> dict[str, Any]:
    """Built once per dialect: constructing a statement per call costs about as much as running it. Rows are
    locked in case id order, so two transactions locking overlapping batches wait for each other (no deadlock)."""
    ids = _one_of(assignments.c.case_id, "ids", pg)
    return {
        "cases_locked": select(cases)
        .where(_one_of(cases.c.case_id, "ids", pg))
        .order_by(cases.c.case_id)
        .with_for_update(),
        "active_teams": select(assignments.c.case_id, members.c.supporter_ref)
        .join(members, members.c.assignment_id == assignments.c.assignment_id)
        .where(ids, assignments.c.status == ACTIVE),
        "teams": select(members.c.case_id, members.c.assignment_id, members.c.supporter_ref).where(
            _one_of(members.c.case_id, "ids", pg)
        ),
        "support": select(
            assignments.c.assignment_id,
            assignments.c.case_id,
            supported.c.person_ref,
            supported.c.created_at,
            members.c.supporter_ref,
        )
        .join(assignments, assignments.c.assignment_id == supported.c.assignment_id)
        .join(members, members.c.assignment_id == supported.c.assignment_id)
        .where(
            _one_of(supported.c.person_ref, "people", pg),
            supported.c.created_at >= bindparam("since"),
            assignments.c.status == ACTIVE,
        ),
        "supersede": update(assignments).where(ids, assignments.c.status == ACTIVE).values(status=SUPERSEDED),
    }


STATEMENTS = {pg: _statements(pg) for pg in (True, False)}


def _q(session: AsyncSession, name: str) -> Any:
    return STATEMENTS[dialect_of(session) == "postgresql"][name]


SKIP_MEMBER = {
    "postgresql": postgresql.insert(members).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(members).on_conflict_do_nothing(),
}
UPDATE_CASE = update(cases).where(cases.c.case_id == bindparam(KEY))

SupportRow = tuple[str, str, str, datetime, str]  # assignment_id, case_id, person_ref, created_at, supporter_ref


async def locked_cases(session: AsyncSession, case_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored rows of these cases, locked for update until commit (one query)."""
    ids = sorted(set(case_ids))
    return (
        {r.case_id: row_values(r) for r in await session.execute(_q(session, "cases_locked"), {"ids": ids})}
        if ids
        else {}
    )


async def active_teams(session: AsyncSession, case_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Supporters on each case's active assignment (one query)."""
    ids = sorted(set(case_ids))
    found: dict[str, set[str]] = {}
    if ids:
        for case_id, ref in await session.execute(_q(session, "active_teams"), {"ids": ids}):
            found.setdefault(case_id, set()).add(ref)
    return {case_id: frozenset(refs) for case_id, refs in found.items()}


async def teams(session: AsyncSession, case_ids: Iterable[str]) -> dict[str, dict[str, frozenset[str]]]:
    """Each case's teams by assignment id, every assignment (one query)."""
    ids = sorted(set(case_ids))
    found: dict[str, dict[str, set[str]]] = {}
    if ids:
        for case_id, aid, ref in await session.execute(_q(session, "teams"), {"ids": ids}):
            found.setdefault(case_id, {}).setdefault(aid, set()).add(ref)
    return {c: {aid: frozenset(refs) for aid, refs in by.items()} for c, by in found.items()}


async def support(session: AsyncSession, people: Iterable[str], since: datetime) -> list[SupportRow]:
    """Active assignments supporting any of ``people`` since ``since``, one row per person and team member."""
    wanted = sorted(set(people))
    if not wanted:
        return []
    params = {"people": wanted, "since": since.astimezone(UTC)}
    return [
        (aid, c, p, aware(at) or at, ref)
        for aid, c, p, at, ref in await session.execute(_q(session, "support"), params)
    ]


async def save_cases(
    session: AsyncSession,
    loaded: dict[str, dict[str, Any]],
    decided: Sequence[Case],
    made: Sequence[Assignment],
    counted: tuple[Deltas, Deltas],
) -> None:
    """Write what a batch decided: new cases and their assignments queued (one insert per table at commit),
    changed cases in one update, the previously active assignments of re-matched stored cases superseded in one.

    ``made``: the batch's new assignments in order; one superseded later in the same batch goes in superseded.
    ``counted``: what their team rows (``Assignment.members``) change in the workload tallies, as the batch
    counted them deciding (``Workload.added``: the rule ``tally.record`` follows); added in one upsert per table.
    """
    rows = [case_values(c) for c in decided]
    changed = [{KEY: r["case_id"], **r} for r in rows if r["case_id"] in loaded and loaded[r["case_id"]] != r]
    if changed:
        await session.execute(UPDATE_CASE, changed)
    for row in rows:
        if row["case_id"] not in loaded:
            defer_insert(session, cases, row)
    rematched = sorted({a.case_id for a in made} & loaded.keys())
    if rematched:
        await session.execute(_q(session, "supersede"), {"ids": rematched})
    last = {a.case_id: a.assignment_id for a in made}
    await tally.write(session, *counted)
    for a in made:
        for m in a.members():
            defer_insert(session, members, member_values(m))
    for a in made:
        values = assignment_values(a)
        if last[a.case_id] != a.assignment_id:
            values["status"] = SUPERSEDED
        defer_insert(session, assignments, values)
        for p in sorted(set(a.supported)):
            defer_insert(
                session, supported, {"assignment_id": a.assignment_id, "person_ref": p, "created_at": a.created_at}
            )


async def save_closed_and_joined(
    session: AsyncSession,
    loaded: dict[str, dict[str, Any]],
    decided: Sequence[Case],
    joined: Sequence[TeamMember],
    tz: str,
) -> None:
    """Write what a batch of status events changed: cases in one update, backups who joined in one insert
    (a team member already stored is skipped), counted in the workload tallies (``tally.record``)."""
    changed = [{KEY: c.case_id, **v} for c in decided if loaded[c.case_id] != (v := case_values(c))]
    if changed:
        await session.execute(UPDATE_CASE, changed)
    if not joined:
        return
    rows = await record(session, [member_values(m) for m in joined], tz)
    if not rows:
        return
    dialect = dialect_of(session)
    if dialect in ("postgresql", "sqlite"):
        await session.execute(SKIP_MEMBER[dialect], rows)  # one statement for the batch
        return
    for row in rows:
        await insert_or_skip(session, members, row)
