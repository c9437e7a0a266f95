"""Roster use cases: register, update, pause/resume, deactivate, import; staff directory; shifts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psp_common.db import UnitOfWork
from psp_common.pseudonym import Pseudonymizer
from psp_matching.adapters.roster import RosterRepository
from psp_matching.adapters.schemas import (
    ContactHoursIn,
    ShiftIn,
    StaffIn,
    SupporterFields,
    SupporterIn,
    SupporterPatch,
    SupporterView,
    TrainingIn,
)


class AlreadyRegistered(Exception):
    """POST for a staff id already on the roster."""


def supporter_values(body: SupporterFields, pseudo: Pseudonymizer, now: datetime) -> dict[str, Any]:
    """Row values of a supporter body; evaluates/supervises are stored as pseudonyms only, under every active key.

    During a key rotation an event may name a supported person under the current key or a previous one.
    """
    hours = body.contact_hours
    return {
        "display_name": body.display_name,
        "profession": body.profession,
        "seniority_level": body.seniority_level,
        "years_experience": body.years_experience,
        "site": body.site,
        "languages": body.languages,
        "group_facilitation": body.training.group_facilitation,
        "mental_health_credentials": body.training.mental_health_credentials,
        "contact_start": hours.start.strftime("%H:%M") if hours else None,
        "contact_end": hours.end.strftime("%H:%M") if hours else None,
        "contact_tz": hours.time_zone if hours else None,
        "accepts_immediate_outside_hours": body.accepts_immediate_outside_hours,
        "paused": body.paused,
        "evaluates": sorted({n for s in body.evaluates for n in pseudo.pseudonyms_of(s)}),
        "supervises": sorted({n for s in body.supervises for n in pseudo.pseudonyms_of(s)}),
        "monthly_cap": body.max_assignments_per_month,
        "updated_at": now,
    }


async def stored_ref(repo: RosterRepository, staff_id: str, pseudo: Pseudonymizer) -> str | None:
    """The supporter_ref ``staff_id`` is on the roster under (registered under the current or a previous key).

    After an old key is retired the stored staff id still finds a supporter registered under it.
    """
    names = pseudo.pseudonyms_of(staff_id)
    found = await repo.supporter_refs(names)
    return next((n for n in names if n in found), None) or await repo.ref_of_staff_id(staff_id)


async def register(uow: UnitOfWork, body: SupporterIn, pseudo: Pseudonymizer, now: datetime) -> str:
    """Add a supporter to the roster; return the supporter_ref (pseudonym)."""
    repo = RosterRepository(uow.session)
    ref = pseudo.pseudonym(body.staff_id)
    if await stored_ref(repo, body.staff_id, pseudo) is not None:
        raise AlreadyRegistered(body.staff_id)
    values = supporter_values(body, pseudo, now)
    await repo.insert({**values, "supporter_ref": ref, "staff_id": body.staff_id, "active": True, "created_at": now})
    return ref


async def replace(
    uow: UnitOfWork, staff_id: str, body: SupporterFields, pseudo: Pseudonymizer, now: datetime
) -> str | None:
    """Replace a supporter's fields (an inactive supporter stays inactive); None when unknown."""
    repo = RosterRepository(uow.session)
    ref = await stored_ref(repo, staff_id, pseudo)
    if ref is None:
        return None
    await repo.update(ref, supporter_values(body, pseudo, now))
    return ref


async def set_flags(uow: UnitOfWork, staff_id: str, pseudo: Pseudonymizer, **flags: Any) -> dict[str, Any] | None:
    """Pause, resume or deactivate; return the updated row, None when unknown."""
    repo = RosterRepository(uow.session)
    ref = await stored_ref(repo, staff_id, pseudo)
    if ref is None:
        return None
    await repo.update(ref, flags)
    return await repo.get(ref)


async def upsert_many(
    uow: UnitOfWork, bodies: list[SupporterIn], pseudo: Pseudonymizer, now: datetime
) -> tuple[int, int]:
    """Create or update supporters from an import (reactivates rows listed again); (created, updated)."""
    repo = RosterRepository(uow.session)
    created = updated = 0
    for body in bodies:
        ref = await stored_ref(repo, body.staff_id, pseudo) or pseudo.pseudonym(body.staff_id)
        values = supporter_values(body, pseudo, now)
        if await repo.get(ref) is None:
            await repo.insert(
                {**values, "supporter_ref": ref, "staff_id": body.staff_id, "active": True, "created_at": now}
            )
            created += 1
        else:
            await repo.update(ref, {**values, "active": True})
            updated += 1
    return created, updated


async def upsert_staff(uow: UnitOfWork, bodies: list[StaffIn], pseudo: Pseudonymizer, now: datetime) -> int:
    """Store staff directory entries as pseudonym + attributes; return how many were new."""
    repo = RosterRepository(uow.session)
    created = 0
    for body in bodies:
        values = {
            "profession": body.profession,
            "seniority_level": body.seniority_level,
            "languages": body.languages,
            "updated_at": now,
        }
        created += await repo.upsert_staff(pseudo.pseudonym(body.staff_id), values)
    return created


async def add_shifts(uow: UnitOfWork, items: list[ShiftIn], pseudo: Pseudonymizer, source: str) -> int:
    """Store shifts under staff pseudonyms (a supporter's under their roster ref); return how many were new."""
    repo = RosterRepository(uow.session)
    names = {s.staff_id: pseudo.pseudonyms_of(s.staff_id) for s in items}
    on_roster = await repo.supporter_refs(n for ns in names.values() for n in ns)
    ref = {i: next((n for n in ns if n in on_roster), ns[0]) for i, ns in names.items()}
    return await repo.add_shifts([(ref[s.staff_id], s.start, s.end) for s in items], source)


def current_fields(row: dict[str, Any]) -> dict[str, Any]:
    """A stored supporter as a SupporterFields body, without evaluates/supervises (stored as pseudonyms only)."""
    shown = view(row, program_cap=0).model_dump()
    keep = set(SupporterFields.model_fields) - {"evaluates", "supervises"}
    return {k: v for k, v in shown.items() if k in keep}


async def patch(
    uow: UnitOfWork, staff_id: str, changes: SupporterPatch, pseudo: Pseudonymizer, now: datetime
) -> str | None:
    """Change the fields given, keep the others (evaluates/supervises too); None when unknown.

    The merged supporter is validated as a whole (pydantic ValidationError names the field).
    """
    repo = RosterRepository(uow.session)
    ref = await stored_ref(repo, staff_id, pseudo)
    row = await repo.get(ref) if ref else None
    if ref is None or row is None:
        return None
    given = changes.model_dump(exclude_unset=True)
    merged = SupporterFields.model_validate({**current_fields(row), **given})
    values = supporter_values(merged, pseudo, now)
    for kept in ("evaluates", "supervises"):
        if kept not in given:
            del values[kept]
    await repo.update(ref, values)
    return ref


def view(row: dict[str, Any], on_shift: bool = False, this_month: int = 0, *, program_cap: int) -> SupporterView:
    """A roster row as coordinators see it (``program_cap``: PSP_MONTHLY_CAP; a lower personal limit wins)."""
    hours = None
    if row["contact_tz"]:
        hours = ContactHoursIn(start=row["contact_start"], end=row["contact_end"], time_zone=row["contact_tz"])
    return SupporterView(
        supporter_ref=row["supporter_ref"],
        staff_id=row["staff_id"],
        display_name=row["display_name"],
        profession=row["profession"],
        seniority_level=row["seniority_level"],
        years_experience=row["years_experience"],
        site=row["site"],
        languages=row["languages"],
        training=TrainingIn(
            group_facilitation=row["group_facilitation"], mental_health_credentials=row["mental_health_credentials"]
        ),
        contact_hours=hours,
        accepts_immediate_outside_hours=row["accepts_immediate_outside_hours"],
        paused=row["paused"],
        active=row["active"],
        evaluates=row["evaluates"],
        supervises=row["supervises"],
        max_assignments_per_month=row["monthly_cap"],
        on_shift_now=on_shift,
        assignments_this_month=this_month,
        monthly_cap=program_cap if row["monthly_cap"] is None else min(row["monthly_cap"], program_cap),
    )
