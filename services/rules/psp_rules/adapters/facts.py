"""The facts each incident version was decided on (pseudonymized), kept so a draft can be tried on history.

One row per incident version rules decided (a version already decided is not stored again), in the order they
were decided. Retention removes the pseudonyms (and key ids, aliases) and keeps what the rules read (roles, involvement,
head count, flags, harm, ...): such a version still fires the same rules, its people just cannot be linked to
any other incident.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_rules.adapters.orm import incident_facts
from psp_rules.domain.model import Incident, Person

ANONYMOUS = "~"  # prefix of the stand-in pseudonyms of a version whose names retention removed


def fact_row(incident: Incident, recorded_at: datetime) -> dict[str, Any]:
    """The row storing ``incident`` (its own unit only: units of other versions come from the history)."""
    return {
        "incident_ref": incident.incident_ref,
        "report_version": incident.report_version,
        "facility": incident.facility,
        "unit": incident.unit,
        "source_kind": incident.source_kind,
        "event_class": incident.event_class,
        "category": incident.category,
        "harm_level": incident.harm_level,
        "patient_age_group": incident.patient_age_group,
        "huddle_call": incident.huddle_call,
        "cis_flags": " ".join(sorted(incident.cis_flags)),
        "team_size": incident.team_size,
        "people": [[p.pseudonym, p.key_id, p.role, p.involvement, list(p.aliases)] for p in incident.staff],
        "occurred_at": incident.occurred_at,
        "recorded_at": recorded_at,
    }


_READ = "incident_ref report_version facility unit source_kind event_class category harm_level patient_age_group"
_COLUMNS = [incident_facts.c[name] for name in (_READ + " huddle_call cis_flags team_size people occurred_at").split()]
WINDOW = select(*_COLUMNS).where(
    incident_facts.c.occurred_at >= bindparam("since"), incident_facts.c.occurred_at <= bindparam("until")
)


def anonymized(people: list[list[Any]]) -> list[list[Any]]:
    """``people`` without names: role and involvement stay (retention)."""
    return [[None, None, p[2], p[3], []] for p in people]


class _Reader:
    """Rows to incidents, sharing what repeats between rows (a person under one name and role, a set of flags):
    less to build, less memory."""

    def __init__(self) -> None:
        self.people: dict[tuple[Any, ...], Person] = {}
        self.flags: dict[str, frozenset[str]] = {}

    def person(self, entry: list[Any], ref: str, i: int) -> Person:
        if entry[0] is None:  # not linkable to anyone: a stand-in unique to this version
            return Person(f"{ANONYMOUS}{ref}:{i}", "", entry[2], entry[3])
        key = (entry[0], entry[1], entry[2], entry[3], *entry[4])
        found = self.people.get(key)
        if found is None:
            found = self.people[key] = Person(entry[0], entry[1], entry[2], entry[3], tuple(entry[4]))
        return found

    def incident(self, row: Any) -> Incident:
        ref, version, facility, unit, source, event_class, category, harm, age, huddle, flags, team, people, at = row
        staff = tuple(self.person(entry, ref, i) for i, entry in enumerate(people))
        cis_flags = self.flags.get(flags)
        if cis_flags is None:
            cis_flags = self.flags[flags] = frozenset(flags.split())
        if at.tzinfo is None:  # SQLite
            at = aware(at)
        return Incident(
            ref, version, facility, unit, source, event_class, staff, at, category, harm, age, huddle, cis_flags,
            team_size=team,
        )  # fmt: skip


class FactRepository:
    """Stored incident facts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, incident: Incident, recorded_at: datetime) -> None:
        """Store the facts of one newly decided version."""
        await self.add_many([fact_row(incident, recorded_at)])

    async def add_many(self, rows: list[dict[str, Any]]) -> None:
        """Store ``fact_row``s of newly decided versions, in decision order (one statement)."""
        if rows:
            await self.session.execute(insert(incident_facts), rows)

    async def facilities(self, since: datetime, until: datetime, facility: str | None) -> list[str]:
        """The facilities of the versions that occurred in [since, until] (only ``facility`` when given)."""
        query = select(incident_facts.c.facility).distinct()
        query = query.where(incident_facts.c.occurred_at >= since, incident_facts.c.occurred_at <= until)
        if facility is not None:
            query = query.where(incident_facts.c.facility == facility)
        return sorted((await self.session.execute(query)).scalars())

    async def chunks(
        self, since: datetime, until: datetime, facility: str | None, size: int = 5000
    ) -> AsyncIterator[list[Incident]]:
        """Versions that occurred in [since, until] (at ``facility`` when given), in decision order, ``size`` rows
        at a time: one query read through a server-side cursor (memory stays bounded whatever the history holds;
        one scan, where a query per chunk re-read and re-sorted the window each time)."""
        query = WINDOW if facility is None else WINDOW.where(incident_facts.c.facility == facility)
        params = {"since": since, "until": until}
        reader = _Reader()
        options = {"yield_per": size}
        result = await self.session.stream(query.order_by(incident_facts.c.id), params, execution_options=options)
        async for rows in result.partitions():
            yield [reader.incident(r) for r in rows]
