"""Matching's coordinator actions (re-match, assign): load the case, call the aggregate, save it (its events go
to the outbox). Consumed events are decided by ``set_based``, one event as a batch of one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from psp_common.clock import utcnow
from psp_common.db import UnitOfWork
from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_common.pseudonym import Pseudonymizer
from psp_matching.adapters.cases import CaseRepository
from psp_matching.adapters.messages import publish
from psp_matching.adapters.roster import RosterRepository, to_supporter, transaction_time
from psp_matching.adapters.workload import WorkloadRepository, month_of
from psp_matching.domain.cases import Case, Request
from psp_matching.domain.errors import CaseClosed, UnknownCase, UnknownSupporter
from psp_matching.domain.matcher import assign as named
from psp_matching.domain.model import Policy, Weights
from psp_matching.facts import gather_facts
from psp_matching.monthly_cap import match_within_cap
from psp_matching.settings import MatchingSettings

log = logging.getLogger("psp.matching")


@dataclass
class Deps:
    """What the handlers need besides the unit of work."""

    settings: MatchingSettings
    pseudo: Pseudonymizer
    clock: Callable[[], datetime] = utcnow


def policy_from(settings: MatchingSettings) -> Policy:
    """The matching policy from the settings."""
    return Policy(
        monthly_cap=settings.monthly_cap,
        max_backups=settings.max_backups,
        group_team_size=settings.group_team_size,
        fairness_window_days=settings.fairness_window_days,
        weights=Weights(
            on_shift=settings.weight_on_shift,
            discipline=settings.weight_discipline,
            same_site=settings.weight_same_site,
            language=settings.weight_language,
            fairness=settings.weight_fairness,
            continuity=settings.weight_continuity,
        ),
    )


def as_request(event: OutreachRequested) -> Request:
    """What the event asks of the case."""
    return Request(
        str(event.case_id), str(event.correlation_id), event.incident_ref, event.report_version, event.facility,
        event.unit, event.urgency.value, event.mode.value, event.tier, {p.pseudonym: p.role for p in event.people},
        {p.pseudonym: p.aliases for p in event.people if p.aliases},
    )  # fmt: skip


async def rematch(uow: UnitOfWork, case_id: str, discipline: str | None, deps: Deps) -> None:
    """A coordinator's re-match: live, so judged now on the clock (it replays nothing)."""
    case = await CaseRepository(uow.session).get(case_id, lock=True)
    if case is None:
        raise UnknownCase
    case.rematch(discipline)
    await _match(uow, deps, case, "coordinator re-match", transaction_time(uow.session, deps.clock))
    await _save(uow, deps, case)


async def assign(uow: UnitOfWork, case_id: str, supporter_ref: str, deps: Deps) -> None:
    """A coordinator assigns a named supporter (who agreed, e.g. on the phone) as primary, judged now.

    The safety constraints still hold (``domain.matcher.assign``); the new assignment supersedes the current one
    and notification pages the supporter, as after a re-match.
    """
    repo = CaseRepository(uow.session, deps.settings.cap_time_zone)
    roster = RosterRepository(uow.session, deps.pseudo.pseudonyms_of)
    case = await repo.get(case_id, lock=True)
    if case is None:
        raise UnknownCase
    if case.closed:
        raise CaseClosed
    row = await roster.get(supporter_ref)
    if row is None:
        raise UnknownSupporter
    await WorkloadRepository(uow.session).lock([supporter_ref])  # as a match would: the case's lock, then theirs
    at = transaction_time(uow.session, deps.clock)
    persons = await roster.people(case.people, case.roles, case.aliases)
    names = frozenset(n for p in persons for n in (p.ref, *p.aliases))
    facts = await gather_facts(roster, repo, case.case_id, names, deps, at, not case.stored)
    result = named(
        case.profile(persons), to_supporter(row, deps.pseudo.pseudonyms_of), facts, policy_from(deps.settings)
    )
    case.record_match(result, "coordinator assigned a named supporter", at, at)
    await _save(uow, deps, case)


def status_is_relevant(event: OutreachStatusChanged) -> bool:
    """'closed' and a supporter's 'acknowledged' change something here; other statuses need no transaction."""
    acknowledged = event.status is OutreachStatus.ACKNOWLEDGED and event.supporter_ref and event.assignment_id
    return event.status is OutreachStatus.CLOSED or bool(acknowledged)


async def _match(uow: UnitOfWork, deps: Deps, case: Case, why: str, at: datetime) -> None:
    """Match the case as of ``at`` (shifts, the cap's month, fairness, continuity; the new team is dated then)."""
    repo, roster = CaseRepository(uow.session), RosterRepository(uow.session, deps.pseudo.pseudonyms_of)
    persons = await roster.people(case.people, case.roles, case.aliases)
    names = frozenset(n for p in persons for n in (p.ref, *p.aliases))  # continuity under any key still active
    facts = await gather_facts(roster, repo, case.case_id, names, deps, at, not case.stored)
    month = month_of(at, deps.settings.cap_time_zone)
    result = await match_within_cap(roster, case.profile(persons), facts, policy_from(deps.settings), month)
    case.record_match(result, why, at, transaction_time(uow.session, deps.clock))


async def _save(uow: UnitOfWork, deps: Deps, case: Case) -> None:
    """Store the case and publish what it recorded."""
    log.info("case %s: %s", case.case_id, case.last_decision)
    await CaseRepository(uow.session, deps.settings.cap_time_zone).save(case)
    await publish(uow, RosterRepository(uow.session, deps.pseudo.pseudonyms_of), case.events)
    case.events.clear()
