"""Colleagues notification cannot reach: a case requested for an incident names someone its contacts directory
does not hold. The case goes on as usual (a supporter is paged and shown the coordinator's number, so nobody waits
for a queue); a ``colleague_unknown`` status, moving nothing here, asks the listener to hold the incident for the
coordinator (triage reason ``unknown_staff``), who attaches the right person from the directory and dispatches.

Only for incidents (a referral names the person who asked or was referred, and is not an incident to dispatch
again), only when the case is opened (an escalation or a group update of the same incident is not asked twice),
and only when a directory is in use: with none imported every colleague is "unknown" and the supporter page already
says so, so the queue would only fill with every case.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psp_common.db import UnitOfWork
from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import OutreachStatus, UnknownColleagues
from psp_notification.adapters.directory import DirectoryRepository
from psp_notification.domain.events import CaseRef, StatusChanged


async def unknown_statuses(
    uow: UnitOfWork, requests: Sequence[tuple[OutreachRequested, CaseRef]], now: datetime
) -> list[StatusChanged]:
    """A ``colleague_unknown`` status for each request whose case is opened for an incident and names someone the
    directory holds under none of their names (none when no directory is in use). Two queries for a whole batch,
    none when no request opens an incident's case."""
    asked = [(e, c) for e, c in requests if e.incident is not None and e.change == "opened"]
    if not asked:
        return []
    directory = DirectoryRepository(uow.session)
    if await directory.is_empty():
        return []
    known = await directory.refs_among([n for e, _ in asked for p in e.people for n in p.names()])
    out = []
    for event, case in asked:
        unknown = tuple(p for p in event.people if not known.intersection(p.names()))
        if not unknown or event.incident is None:
            continue
        facts = UnknownColleagues(
            incident_ref=event.incident_ref,
            report_version=event.report_version,
            incident_occurred_at=event.occurred_at,
            people=unknown,
            incident=event.incident,
        )
        detail = f"{len(unknown)} of {len(event.people)} not in the contacts directory"
        out.append(StatusChanged(case, OutreachStatus.COLLEAGUE_UNKNOWN, now, detail=detail, moves_case=False,
                                 unknown=facts))  # fmt: skip
    return out
