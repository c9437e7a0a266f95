"""The workload tallies in the database: read in O(supporters) rows, kept true by every writer of team rows.

Each writer of team rows (``CaseRepository.save``, ``batch.save_closed_and_joined``) calls ``record`` with the
rows it adds, in the same transaction: it reads the other team rows of those cases (one query; the cases are
locked, so no other transaction adds to them meanwhile) and adds what the new rows change to the tallies, in one
upsert per table (``n = n + excluded.n``). A consumed batch of requests (``batch.save_cases``) read those rows
before deciding and counted its own rows in memory by the same rule (``workload_index.deltas``): it ``write``s
what it counted. A supporter's tallies only ever change
this way, under the case's lock; the monthly cap's supporter locks (``WorkloadRepository.lock``) order writers
of the same supporter.

Not changed by: the retention purge (it keeps the team rows: a month's counts are history and stay); re-keying
(supporter refs are opaque roster ids and are never renamed). The months are those of the cap's time zone as
configured when the rows were counted: after changing ``cap_time_zone``, rebuild them (migrate down to 0004
and up again with the new ``PSP_CAP_TIME_ZONE``: migration 0005 backfills them from the team rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, String, Table, any_, bindparam, func, literal_column, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware, dialect_of
from psp_common.deferred import deferred_rows
from psp_matching.adapters.orm import members, workload_days, workload_months
from psp_matching.adapters.workload_index import Counts, Deltas, Known, Row, Tallies, deltas


def one_of(column: Any, name: str, pg: bool, item: Any = String) -> Any:
    """``column`` is one of the list bound as ``name``: ``= ANY(array)`` on PostgreSQL (one statement text and one
    prepared statement whatever the list's length; an expanding IN renders one per length), an IN elsewhere."""
    if pg:
        return column == any_(bindparam(name, type_=postgresql.ARRAY(item)))
    return column.in_(bindparam(name, expanding=True))


def _statements(pg: bool) -> dict[str, Any]:
    """Built once per dialect: constructing a statement per call costs about as much as running it."""
    m, d = workload_months.c, workload_days.c
    in_months, since = one_of(m.month, "months", pg, Date), d.day >= bindparam("since")
    of_refs = (one_of(m.supporter_ref, "refs", pg), one_of(d.supporter_ref, "refs", pg))
    return {
        "case_rows": select(
            members.c.assignment_id, members.c.supporter_ref, members.c.case_id, members.c.created_at
        ).where(one_of(members.c.case_id, "ids", pg)),
        "months": select(m.month, m.supporter_ref, m.n).where(one_of(m.month, "months", pg, Date), m.n != 0),
        "recent": select(d.supporter_ref, func.sum(d.n))
        .where(d.day >= bindparam("since"), d.n != 0)
        .group_by(d.supporter_ref),
        "months_of": select(m.month, m.supporter_ref, m.n).where(in_months, of_refs[0], m.n != 0),
        # both tables in one round trip, each row tagged with its table (MONTH, DAY)
        "tallies": union_all(
            select(literal_column(MONTH), m.month, m.supporter_ref, m.n).where(in_months, m.n != 0),
            select(literal_column(DAY), d.day, d.supporter_ref, d.n).where(since, d.n != 0),
        ),
        "tallies_of": union_all(
            select(literal_column(MONTH), m.month, m.supporter_ref, m.n).where(in_months, of_refs[0], m.n != 0),
            select(literal_column(DAY), d.day, d.supporter_ref, d.n).where(since, of_refs[1], d.n != 0),
        ),
    }


MONTH, DAY = "0", "1"  # tags of the rows of ``tallies``: index in ``Tallies(months, days)``
STATEMENTS = {pg: _statements(pg) for pg in (True, False)}


def _q(session: AsyncSession, name: str) -> Any:
    return STATEMENTS[dialect_of(session) == "postgresql"][name]


def _utc(at: datetime) -> datetime:
    when = aware(at)
    assert when is not None
    return when.astimezone(UTC)


async def case_rows(session: AsyncSession, case_ids: Iterable[str]) -> list[tuple[str, Row]]:
    """Team rows of these cases, stored or queued in this transaction: (assignment id, row)."""
    ids = sorted(set(case_ids))
    if not ids:
        return []
    found = [(a, (ref, c, _utc(at))) for a, ref, c, at in await session.execute(_q(session, "case_rows"), {"ids": ids})]
    wanted = set(ids)
    found += [
        (m["assignment_id"], (m["supporter_ref"], m["case_id"], _utc(m["created_at"])))
        for m in deferred_rows(session, members)
        if m["case_id"] in wanted
    ]
    return found


async def record(session: AsyncSession, rows: Sequence[dict[str, Any]], tz: str) -> list[dict[str, Any]]:
    """Count new team rows (``members`` values) in the tallies; the ones not stored yet, to insert."""
    if not rows:
        return []
    stored = await case_rows(session, {r["case_id"] for r in rows})
    known = Known(tz, (row for _, row in stored))
    keys = {(a, row[0]) for a, row in stored}
    fresh = []
    for r in rows:
        if (r["assignment_id"], r["supporter_ref"]) not in keys:
            keys.add((r["assignment_id"], r["supporter_ref"]))
            fresh.append(r)
    await write(session, *deltas(known, ((r["supporter_ref"], r["case_id"], _utc(r["created_at"])) for r in fresh)))
    return fresh


async def write(session: AsyncSession, months: Deltas, days: Deltas) -> None:
    """Add what new team rows change (``workload_index.deltas``) to the tallies: one upsert per table."""
    await _add(session, workload_months, "month", months)
    await _add(session, workload_days, "day", days)


def _upsert(dialect: str, table: Table, key: str) -> Any:
    stmt = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    return stmt.on_conflict_do_update(index_elements=[key, "supporter_ref"], set_={"n": table.c.n + stmt.excluded.n})


UPSERTS = {
    (dialect, table.name): _upsert(dialect, table, key)
    for dialect in ("postgresql", "sqlite")
    for table, key in ((workload_months, "month"), (workload_days, "day"))
}


async def _add(session: AsyncSession, table: Table, key: str, deltas: Deltas) -> None:
    """Add ``deltas`` to ``table``'s counts in one statement."""
    values = [{key: k, "supporter_ref": ref, "n": n} for (k, ref), n in sorted(deltas.items()) if n]
    if not values:
        return
    stmt = UPSERTS.get((dialect_of(session), table.name))
    if stmt is None:
        raise NotImplementedError("workload tallies need PostgreSQL or SQLite")
    await session.execute(stmt, values)


def _counts(rows: Iterable[Any]) -> Counts:
    out: Counts = {}
    for k, ref, n in rows:
        out.setdefault(_date(k), {})[ref] = n
    return out


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def read(session: AsyncSession, months: Iterable[date], since: date) -> Tallies:
    """Every supporter's tallies for these months and for days from ``since`` on (one query)."""
    return _tallies(await session.execute(_q(session, "tallies"), {"months": sorted(set(months)), "since": since}))


def _tallies(rows: Iterable[Any]) -> Tallies:
    """Tagged rows of both tables (``tallies``, ``tallies_of``) as tallies."""
    got: tuple[Counts, Counts] = ({}, {})
    for tag, k, ref, n in rows:
        got[int(tag)].setdefault(_date(k), {})[ref] = n
    return Tallies(*got)


async def month_and_recent(session: AsyncSession, month: date, since: date) -> tuple[dict[str, int], dict[str, int]]:
    """Every supporter's cases in the month starting ``month``, and from day ``since`` on (summed in the database)."""
    got = _counts(await session.execute(_q(session, "months"), {"months": [month]}))
    recent = {ref: int(n) for ref, n in await session.execute(_q(session, "recent"), {"since": since}) if n}
    return got.get(month, {}), recent


async def read_of(session: AsyncSession, refs: Iterable[str], months: Iterable[date], since: date | None) -> Tallies:
    """These supporters' tallies for these months and for days from ``since`` on (``None``: no days; one query)."""
    who, first = sorted(set(refs)), sorted(set(months))
    if since is None:
        return Tallies(_counts(await session.execute(_q(session, "months_of"), {"months": first, "refs": who})), {})
    return _tallies(await session.execute(_q(session, "tallies_of"), {"months": first, "refs": who, "since": since}))
