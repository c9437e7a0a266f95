"""The facts each incident version was decided on (pseudonymized), kept so a draft can be tried on history.

One row per incident version rules decided (a version already decided is not stored again), in the order they
were decided. Retention removes the pseudonyms (and key ids, aliases) and keeps what the rules read (roles, involvement,
head count, flags, harm, ...): such a version still fires the same rules, its people just cannot be linked to
any other incident.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_rules.adapters.orm import incident_facts
from psp_rules.domain.model import Incident, Person

ANONYMOUS = "~"  # prefix of the stand-in pseudonyms of a version whose names retention removed


@dataclass(frozen=True)
class StoredFact:
    """One stored incident version, as the engine sees it (``anonymized``: retention removed its pseudonyms)."""

    incident: Incident
    anonymized: bool


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


_COLUMNS = [c for c in incident_facts.c if c.name not in ("recorded_at", "purged_at")]
CHUNK = (
    select(*_COLUMNS)
    .where(
        incident_facts.c.id > bindparam("after"),
        incident_facts.c.occurred_at >= bindparam("since"),
        incident_facts.c.occurred_at <= bindparam("until"),
    )
    .order_by(incident_facts.c.id)
    .limit(bindparam("size"))
)
CHUNK_AT = CHUNK.where(incident_facts.c.facility == bindparam("facility"))


def anonymized(people: list[list[Any]]) -> list[list[Any]]:
    """``people`` without names: role and involvement stay (retention)."""
    return [[None, None, p[2], p[3], []] for p in people]


def _person(entry: list[Any], ref: str, i: int, seen: dict[tuple[Any, ...], Person]) -> Person:
    if entry[0] is None:  # not linkable to anyone: a stand-in unique to this version
        return Person(f"{ANONYMOUS}{ref}:{i}", "", entry[2], entry[3])
    key = (entry[0], entry[1], entry[2], entry[3], *entry[4])
    found = seen.get(key)
    if found is None:
        found = seen[key] = Person(entry[0], entry[1], entry[2], entry[3], tuple(entry[4]))
    return found


def _incident(row: Any, seen: dict[tuple[Any, ...], Person]) -> StoredFact:
    ref = row.incident_ref
    staff = tuple(_person(entry, ref, i, seen) for i, entry in enumerate(row.people))
    incident = Incident(
        incident_ref=ref,
        report_version=row.report_version,
        facility=row.facility,
        unit=row.unit,
        source_kind=row.source_kind,
        event_class=row.event_class,
        staff=staff,
        occurred_at=aware(row.occurred_at) or row.occurred_at,
        category=row.category,
        harm_level=row.harm_level,
        patient_age_group=row.patient_age_group,
        huddle_call=row.huddle_call,
        cis_flags=frozenset(row.cis_flags.split()),
        team_size=row.team_size,
    )
    return StoredFact(incident, bool(staff) and staff[0].pseudonym.startswith(ANONYMOUS))


class FactRepository:
    """Stored incident facts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, incident: Incident, recorded_at: datetime) -> None:
        """Store the facts of one newly decided version."""
        await self.session.execute(insert(incident_facts), fact_row(incident, recorded_at))

    async def chunks(
        self, since: datetime, until: datetime, facility: str | None, size: int = 5000
    ) -> AsyncIterator[list[StoredFact]]:
        """Versions that occurred in [since, until] (at ``facility`` when given), in decision order, ``size`` rows
        a query (keyset on the row id: memory stays bounded whatever the history holds)."""
        after = 0
        query = CHUNK if facility is None else CHUNK_AT
        seen: dict[tuple[Any, ...], Person] = {}  # one Person per name and role: less to build, less memory
        while True:
            params: dict[str, Any] = {"after": after, "since": since, "until": until, "size": size}
            if facility is not None:
                params["facility"] = facility
            rows = (await self.session.execute(query, params)).all()
            if not rows:
                return
            after = rows[-1].id
            yield [_incident(r, seen) for r in rows]
            if len(rows) < size:
                return
