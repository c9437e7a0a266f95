"""Roster, staff directory and shift storage; rows become domain dataclasses here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_common.deferred import deferred_rows, flush_deferred
from psp_common.locks import lock_all
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
STAFF_IN = select(staff).where(staff.c.staff_ref.in_(bindparam("refs", expanding=True)))
WORKLOAD_MEMO = "psp.matching.workload"
MONTH_CASES = (
    select(members.c.supporter_ref, members.c.case_id)
    .distinct()
    .where(
        members.c.supporter_ref.in_(bindparam("refs", expanding=True)),
        members.c.created_at >= bindparam("since"),
        members.c.case_id != bindparam("case_id"),
    )
)


def supporter_lock(ref: str) -> str:
    """Advisory lock name of one supporter's workload: held from counting their cases to the commit."""
    return f"psp.matching.supporter:{ref}"


def transaction_time(session: AsyncSession, clock: Callable[[], datetime]) -> datetime:
    """One 'now' per transaction (as PostgreSQL's now()): a consumed batch is matched at one instant."""
    now: datetime = session.info.setdefault(TX_NOW, clock())
    return now


def count_new_assignment(session: AsyncSession, refs: Iterable[str], new_case: bool) -> None:
    """Keep the transaction's workload copy true after an assignment: +1 case each for a new case, else forget it."""
    memo = session.info.get(WORKLOAD_MEMO)
    if memo is None:
        return
    if not new_case:  # the team may already count this case: read again next time
        session.info.pop(WORKLOAD_MEMO, None)
        return
    _key, month, recent = memo
    for ref in set(refs):  # created now: inside both windows
        month[ref] = month.get(ref, 0) + 1
        recent[ref] = recent.get(ref, 0) + 1


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
        names = {ref: (ref, *((aliases or {}).get(ref) or ())) for ref in wanted}
        every = [n for ns in names.values() for n in ns]
        known = {r.staff_ref: r for r in await self.session.execute(STAFF_IN, {"refs": every})}
        every_set = set(every)
        peers = {s.ref: s for s in await self.roster() if s.ref in every_set}  # the transaction's roster copy
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

    async def on_shift(self, now: datetime, refs: Iterable[str] | None = None) -> frozenset[str]:
        """Pseudonyms with a shift covering ``now`` (the whole roster's answer is kept per transaction and instant)."""
        now = now.astimezone(UTC)
        query = select(shifts.c.staff_ref).where(and_(shifts.c.starts_at <= now, shifts.c.ends_at > now))
        if refs is not None:
            query = query.where(shifts.c.staff_ref.in_(list(refs)))
            return frozenset(r[0] for r in await self.session.execute(query))
        memo: dict[datetime, frozenset[str]] = self.session.info.setdefault(SHIFTS_MEMO, {})
        if now not in memo:
            memo[now] = frozenset(r[0] for r in await self.session.execute(query))
        return memo[now]

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

    async def workload(
        self, month_since: datetime, recent_since: datetime, exclude_case: str, new_case: bool = False
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Distinct cases per supporter this month (without ``exclude_case``) and recently, in one query.

        For a new case (nothing to exclude) the answer is kept for the transaction and kept true by
        ``count_new_assignment``, so a batch of new cases reads it once.
        """
        month_since, recent_since = month_since.astimezone(UTC), recent_since.astimezone(UTC)
        if new_case:
            memo = self.session.info.get(WORKLOAD_MEMO)
            if memo is None or memo[0] != (month_since, recent_since):
                month, recent = await self._workload(month_since, recent_since, None)
                memo = self.session.info[WORKLOAD_MEMO] = ((month_since, recent_since), month, recent)
            return dict(memo[1]), dict(memo[2])
        await flush_deferred(self.session)  # assignments queued in this transaction count too
        return await self._workload(month_since, recent_since, exclude_case)

    async def lock_workload(self, refs: Iterable[str]) -> None:
        """Hold these supporters' workload locks until commit (taken before adding them to any team)."""
        await lock_all(self.session, [supporter_lock(r) for r in refs])

    async def lock_month_counts(
        self, refs: Iterable[str], month_since: datetime, case_id: str, new_case: bool
    ) -> dict[str, int]:
        """Lock these supporters' workload until commit, then count their cases this month (without ``case_id``).

        Counted from what is committed now (another instance may have assigned them since this transaction read
        its workload) and what this transaction queued. Every writer of team rows takes the same locks.
        """
        wanted = sorted(set(refs))
        await self.lock_workload(wanted)
        since = month_since.astimezone(UTC)
        seen: dict[str, set[str]] = {r: set() for r in wanted}
        params = {"refs": wanted, "since": since, "case_id": case_id}
        for ref, case_ in await self.session.execute(MONTH_CASES, params):
            seen[ref].add(case_)
        for m in deferred_rows(self.session, members):
            if m["supporter_ref"] in seen and m["case_id"] != case_id and (aware(m["created_at"]) or since) >= since:
                seen[m["supporter_ref"]].add(m["case_id"])
        counts = {ref: len(cases_) for ref, cases_ in seen.items()}
        memo = self.session.info.get(WORKLOAD_MEMO)
        if memo is not None and new_case and memo[0][0] == since:  # keep the batch's copy true
            memo[1].update(counts)
        elif memo is not None:
            self.session.info.pop(WORKLOAD_MEMO, None)
        return counts

    async def _workload(
        self, month_since: datetime, recent_since: datetime, exclude_case: str | None
    ) -> tuple[dict[str, int], dict[str, int]]:
        at, case_id = members.c.created_at, members.c.case_id
        in_month_if = and_(at >= month_since, case_id != exclude_case) if exclude_case else at >= month_since
        in_month = func.count(func.distinct(case((in_month_if, case_id))))
        recent = func.count(func.distinct(case((at >= recent_since, case_id))))
        query = (
            select(members.c.supporter_ref, in_month, recent)
            .where(at >= min(month_since, recent_since))
            .group_by(members.c.supporter_ref)
        )
        month: dict[str, int] = {}
        recents: dict[str, int] = {}
        for ref, m, r in await self.session.execute(query):
            if m:
                month[ref] = int(m)
            if r:
                recents[ref] = int(r)
        return month, recents
