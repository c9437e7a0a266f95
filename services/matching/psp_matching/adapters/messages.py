"""A case's domain events as the published contract events (written to the outbox in the case's transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from psp_common import topics
from psp_common.db import UnitOfWork
from psp_common.events import matching as contract
from psp_matching.adapters.roster import RosterRepository
from psp_matching.domain import events
from psp_matching.domain.model import Ranked

Aliases = Mapping[str, tuple[str, ...]]


async def publish(uow: UnitOfWork, roster: RosterRepository, recorded: Iterable[events.Event]) -> None:
    """Write each event to the outbox; supporters carry their pseudonyms under the other active keys."""
    aliases: Aliases | None = None
    for event in recorded:
        if isinstance(event, events.SupporterMatched):
            if aliases is None:
                aliases = {s.ref: tuple(sorted(s.aliases)) for s in await roster.roster() if s.aliases}
            uow.publish(topics.SUPPORTER_MATCHED, matched(event, aliases))
        else:
            uow.publish(topics.SUPPORTER_UNMATCHED, unmatched(event))


def matched(e: events.SupporterMatched, aliases: Aliases) -> contract.SupporterMatched:
    """The published SupporterMatched."""
    c = e.case
    return contract.SupporterMatched(
        occurred_at=e.occurred_at,
        correlation_id=uuid.UUID(c.correlation_id),
        assignment_id=uuid.UUID(e.assignment_id),
        case_id=uuid.UUID(c.case_id),
        facility=c.facility,
        unit=c.unit,
        supported=c.supported,
        primary=_candidate(e.primary, aliases, e.notes),
        backups=tuple(_candidate(r, aliases) for r in e.backups),
        co_facilitators=tuple(_candidate(r, aliases) for r in e.co_facilitators),
        urgency=c.urgency,
        mode=c.mode,
        tier=c.tier,
        supersedes=uuid.UUID(e.supersedes) if e.supersedes else None,
    )


def unmatched(e: events.SupporterUnmatched) -> contract.SupporterUnmatched:
    """The published SupporterUnmatched."""
    c = e.case
    return contract.SupporterUnmatched(
        occurred_at=e.occurred_at,
        correlation_id=uuid.UUID(c.correlation_id),
        case_id=uuid.UUID(c.case_id),
        facility=c.facility,
        unit=c.unit,
        supported=c.supported,
        urgency=c.urgency,
        mode=c.mode,
        reasons=e.reasons,
    )


def _candidate(r: Ranked, aliases: Aliases, notes: tuple[str, ...] = ()) -> contract.Candidate:
    reasons = (*r.reasons, *notes)
    return contract.Candidate(
        supporter_ref=r.ref, score=round(r.score, 4), reasons=reasons, aliases=aliases.get(r.ref, ())
    )
