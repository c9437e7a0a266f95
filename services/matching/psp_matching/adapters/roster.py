"""Roster, staff directory and shift storage; rows become domain dataclasses here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, and_, any_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware, dialect_of
from psp_common.deferred import flush_deferred
from psp_matching.adapters.orm import members, shifts, staff, supporters
from psp_matching.domain.model import ContactHours, Person, Supporter

NamesOf = Callable[[str], tuple[str, ...]]


def to_supporter(row: Mapping[str, Any], names_of: NamesOf | None = None) -> Supporter:
    """A roster row as the matcher's dataclass (``names_of``: a staff id's pseudonyms under every active key)."""
    hours = None
    if row["contact_tz"]:
        hours = ContactHours(
            time.fromisoformat(row["contact_start"]), time.fromisoformat(row["contact_end"]), row["contact_tz"]
        )
    return Supporter(
        ref=row["supporter_ref"],
        profession=row["profession"],
        seniority_level=row["seniority_level"],
        site=row["site"],
        years_experience=row["years_experience"],
        languages=frozenset(row["languages"]),
        group_facilitation=row["group_facilitation"],
        mental_health_credentials=row["mental_health_credentials"],
        contact_hours=hours,
        accepts_immediate_outside_hours=row["accepts_immediate_outside_hours"],
        active=row["active"],
        paused=row["paused"],
        evaluates=frozenset(row["evaluates"]),
        supervises=frozenset(row["supervises"]),
        monthly_cap=row["monthly_cap"],
        aliases=frozenset(names_of(row["staff_id"])) - {row["supporter_ref"]} if names_of else frozenset(),
    )


ROSTER_MEMO = "psp.matching.roster"
TX_NOW = "psp.matching.now"
SHIFTS_MEMO = "psp.matching.on_shift"
SHIFTS_SPAN = timedelta(hours=1)
SHIFTS_OVERLAPPING = select(shifts.c.staff_ref, shifts.c.starts_at, shifts.c.ends_at).where(
    shifts.c.starts_at <= bindparam("hi"), shifts.c.ends_at > bindparam("lo")
)
STAFF_IN = select(staff).where(staff.c.staff_ref.in_(bindparam("refs", expanding=True)))
# PostgreSQL: one statement text whatever the number of names (an expanding IN renders one per length).
STAFF_ANY = select(staff).where(staff.c.staff_ref == any_(bindparam("refs", type_=postgresql.ARRAY(String))))


@dataclass
class ShiftsNear:
    """Every shift overlapping ``lo``..``hi`` (UTC): answers who is on shift at any instant in between."""

    lo: datetime
    hi: datetime
    rows: list[tuple[str, datetime | None, datetime | None]]

    def covering(self, at: datetime) -> frozenset[str]:
        """Pseudonyms with a shift covering ``at``."""
        return frozenset(ref for ref, start, end in self.rows if start and end and start <= at < end)


def profiles(
    refs: Iterable[str],
    roles: Mapping[str, str | None],
    aliases: Mapping[str, Iterable[str]] | None,
    known: Mapping[str, Any],
    roster: Iterable[Supporter],
) -> tuple[Person, ...]:
    """Profiles of the people to support from the staff directory rows ``known`` (by staff_ref) first, then the
    roster, then the event role; entries stored under the current pseudonym win over those under an alias."""
    wanted = list(dict.fromkeys(refs))
    names = {ref: (ref, *((aliases or {}).get(ref) or ())) for ref in wanted}
    every = {n for ns in names.values() for n in ns}
    peers = {s.ref: s for s in roster if s.ref in every}
    out = []
    for ref in wanted:
        d = next((known[n] for n in names[ref] if n in known), None)
        s = next((peers[n] for n in names[ref] if n in peers), None)
        profession = (d.profession if d else None) or (s.profession if s else None) or roles.get(ref)
        seniority = d.seniority_level if d and d.seniority_level is not None else None
        if seniority is None and s is not None:
            seniority = s.seniority_level
        langs = frozenset((d.languages if d else None) or (s.languages if s else None) or ())
        lower = profession.lower() if profession else None
        out.append(Person(ref, lower, seniority, langs, frozenset(names[ref][1:])))
    return tuple(out)


def transaction_time(session: AsyncSession, clock: Callable[[], datetime]) -> datetime:
    """One 'now' per transaction (as PostgreSQL's now()): a consumed batch is matched at one instant."""
    now: datetime = session.info.setdefault(TX_NOW, clock())
    return now


class RosterRepository:
    """Supporters, the staff directory and shifts."""

    def __init__(self, session: AsyncSession, names_of: NamesOf | None = None) -> None:
        self.session = session
        self.names_of = names_of  # given: supporters carry their pseudonyms under every active key

    async def get(self, ref: str) -> dict[str, Any] | None:
        """One supporter row by pseudonym."""
        row = (await self.session.execute(select(supporters).where(supporters.c.supporter_ref == ref))).first()
        return dict(row._mapping) if row else None

    async def insert(self, values: dict[str, Any]) -> None:
        """Register a new supporter."""
        self.session.info.pop(ROSTER_MEMO, None)
        await self.session.execute(insert(supporters).values(**values))

    async def update(self, ref: str, values: dict[str, Any]) -> None:
        """Change a supporter's fields."""
        self.session.info.pop(ROSTER_MEMO, None)
        await self.session.execute(update(supporters).where(supporters.c.supporter_ref == ref).values(**values))

    async def rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Supporter rows ordered by display name."""
        query = select(supporters).order_by(supporters.c.display_name, supporters.c.supporter_ref)
        if limit is not None:
            query = query.limit(limit)
        return [dict(r._mapping) for r in await self.session.execute(query)]

    async def roster(self) -> list[Supporter]:
        """Every supporter (inactive ones too, so exclusion counts are complete).

        Read once per transaction (a consumed batch matches many cases against it); a write through this
        repository forgets the copy.
        """
        memo: list[Supporter] | None = self.session.info.get(ROSTER_MEMO)
        if memo is None:
            rows = await self.session.execute(select(supporters))
            memo = [to_supporter(dict(r._mapping), self.names_of) for r in rows]
            self.session.info[ROSTER_MEMO] = memo
        return list(memo)

    async def upsert_staff(self, ref: str, values: dict[str, Any]) -> bool:
        """Insert or replace a staff directory entry; True when created."""
        exists = (await self.session.execute(select(staff.c.staff_ref).where(staff.c.staff_ref == ref))).first()
        if exists:
            await self.session.execute(update(staff).where(staff.c.staff_ref == ref).values(**values))
            return False
        await self.session.execute(insert(staff).values(staff_ref=ref, **values))
        return True

    async def staff_rows(self, limit: int) -> list[dict[str, Any]]:
        """Staff directory entries."""
        query = select(staff).order_by(staff.c.staff_ref).limit(limit)
        return [dict(r._mapping) for r in await self.session.execute(query)]

    async def people(
        self,
        refs: Iterable[str],
        roles: Mapping[str, str | None],
        aliases: Mapping[str, Iterable[str]] | None = None,
    ) -> tuple[Person, ...]:
        """Profiles of the people to support: staff directory first, then the roster, then the event role.

        ``aliases``: each person's pseudonyms under previous keys still active; entries stored under the current
        pseudonym win over those stored under an alias.
        """
        wanted = list(dict.fromkeys(refs))
        every = [n for ref in wanted for n in (ref, *((aliases or {}).get(ref) or ()))]
        return profiles(wanted, roles, aliases, await self.directory(every), await self.roster())

    async def directory(self, names: Iterable[str]) -> dict[str, Any]:
        """Staff directory rows of these pseudonyms, by staff_ref (one query)."""
        query = STAFF_ANY if dialect_of(self.session) == "postgresql" else STAFF_IN
        return {r.staff_ref: r for r in await self.session.execute(query, {"refs": sorted(set(names))})}

    async def ref_of_staff_id(self, staff_id: str) -> str | None:
        """The supporter_ref stored with exactly this staff id (any key it was registered under)."""
        q = select(supporters.c.supporter_ref).where(supporters.c.staff_id == staff_id.strip())
        return (await self.session.execute(q)).scalars().first()

    async def supporter_refs(self, names: Iterable[str]) -> frozenset[str]:
        """Which of ``names`` are stored supporter refs (a person's pseudonyms under every active key)."""
        q = select(supporters.c.supporter_ref).where(supporters.c.supporter_ref.in_(list(names)))
        return frozenset((await self.session.execute(q)).scalars())

    async def add_shifts(self, items: list[tuple[str, datetime, datetime]], source: str) -> int:
        """Store shifts not stored yet; return how many were new."""
        self.session.info.pop(SHIFTS_MEMO, None)
        seen: set[tuple[str, datetime, datetime]] = set()
        fresh = []
        for ref, raw_start, raw_end in items:
            start, end = raw_start.astimezone(UTC), raw_end.astimezone(UTC)
            key = (ref, start, end)
            if key in seen:
                continue
            seen.add(key)
            hit = await self.session.execute(
                select(shifts.c.id).where(
                    and_(shifts.c.staff_ref == ref, shifts.c.starts_at == start, shifts.c.ends_at == end)
                )
            )
            if hit.first() is None:
                fresh.append({"staff_ref": ref, "starts_at": start, "ends_at": end, "source": source})
        if fresh:
            await self.session.execute(insert(shifts), fresh)
        return len(fresh)

    async def shifts_between(self, lo: datetime, hi: datetime, limit: int) -> list[tuple[str, datetime, datetime, str]]:
        """Shifts overlapping ``lo``..``hi``, earliest first: (staff_ref, start, end, source), times in UTC."""
        query = (
            select(shifts.c.staff_ref, shifts.c.starts_at, shifts.c.ends_at, shifts.c.source)
            .where(shifts.c.starts_at < hi.astimezone(UTC), shifts.c.ends_at > lo.astimezone(UTC))
            .order_by(shifts.c.starts_at, shifts.c.staff_ref)
            .limit(limit)
        )
        rows = await self.session.execute(query)
        return [(ref, aware(start) or start, aware(end) or end, source) for ref, start, end, source in rows]

    async def on_shift(self, now: datetime, refs: Iterable[str] | None = None) -> frozenset[str]:
        """Pseudonyms with a shift covering ``now``.

        For the whole roster, the shifts around ``now`` (``SHIFTS_SPAN`` either side) are read once per
        transaction and answer every instant in that span: a batch's cases, each judged at its own instant,
        cost one read.
        """
        now = now.astimezone(UTC)
        if refs is not None:
            query = select(shifts.c.staff_ref).where(
                shifts.c.starts_at <= now, shifts.c.ends_at > now, shifts.c.staff_ref.in_(list(refs))
            )
            return frozenset(r[0] for r in await self.session.execute(query))
        memo: ShiftsNear | None = self.session.info.get(SHIFTS_MEMO)
        if memo is None or not memo.lo <= now <= memo.hi:
            lo, hi = now - SHIFTS_SPAN, now + SHIFTS_SPAN
            rows = await self.session.execute(SHIFTS_OVERLAPPING, {"lo": lo, "hi": hi})
            found = [(ref, aware(start), aware(end)) for ref, start, end in rows]
            memo = self.session.info[SHIFTS_MEMO] = ShiftsNear(lo, hi, found)
        return memo.covering(now)

    async def shifts_around(self, lo: datetime, hi: datetime) -> ShiftsNear:
        """Every shift overlapping ``lo``..``hi`` widened by ``SHIFTS_SPAN`` (one query): who is on shift at any
        instant a consumed batch judges its cases at."""
        lo, hi = lo.astimezone(UTC) - SHIFTS_SPAN, hi.astimezone(UTC) + SHIFTS_SPAN
        rows = await self.session.execute(SHIFTS_OVERLAPPING, {"lo": lo, "hi": hi})
        return ShiftsNear(lo, hi, [(ref, aware(start), aware(end)) for ref, start, end in rows])

    async def case_counts(self, since: datetime, exclude_case: str | None = None) -> dict[str, int]:
        """Distinct cases per supporter (primary or co-facilitator) since ``since``."""
        await flush_deferred(self.session)
        query = select(members.c.supporter_ref, func.count(func.distinct(members.c.case_id))).where(
            members.c.created_at >= since.astimezone(UTC)
        )
        if exclude_case is not None:
            query = query.where(members.c.case_id != exclude_case)
        query = query.group_by(members.c.supporter_ref)
        return {ref: int(n) for ref, n in await self.session.execute(query)}
