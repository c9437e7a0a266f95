"""Matching handlers: staff one OutreachRequested in a unit of work, publish the outcome via the outbox."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psp_common import topics
from psp_common.clock import utcnow
from psp_common.db import UnitOfWork
from psp_common.events.matching import Candidate, SupporterMatched, SupporterUnmatched
from psp_common.events.outreach import OutreachRequested
from psp_common.events.status import OutreachStatus, OutreachStatusChanged
from psp_common.pseudonym import Pseudonymizer
from psp_matching import rotation
from psp_matching.adapters.cases import ACTIVE, CaseRepository
from psp_matching.adapters.roster import RosterRepository, transaction_time
from psp_matching.adapters.workload import WorkloadRepository, month_of
from psp_matching.domain.cases import Action, PriorCase, decide
from psp_matching.domain.matcher import unmatched_reasons
from psp_matching.domain.model import (
    GROUP,
    URGENCY_RANK,
    Case,
    MatchResult,
    Policy,
    Ranked,
    Weights,
)
from psp_matching.facts import gather_facts, requested_at
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


async def on_outreach_requested(event: OutreachRequested, uow: UnitOfWork, deps: Deps) -> None:
    """Match a (possibly repeated) case; see ``domain.cases.decide`` for repeats."""
    repo = CaseRepository(uow.session)
    case_id = str(event.case_id)
    stored = rotation.as_current(await repo.get(case_id, lock=True), event)  # stored under an older key
    people = frozenset(p.pseudonym for p in event.people)
    prior = None
    if stored is not None:
        prior = PriorCase(
            stored["urgency"],
            frozenset(stored["people"]),
            stored["status"] == "matched",
            stored["tier"],
            stored["mode"],
        )
    action, why = decide(prior, event.urgency.value, people, event.tier, event.mode.value)
    now = deps.clock()
    values = {
        "case_id": case_id,
        "incident_ref": event.incident_ref,
        "report_version": event.report_version,
        "facility": event.facility,
        "unit": event.unit,
        "mode": event.mode.value,
        "tier": event.tier,
        "correlation_id": str(event.correlation_id),
        "updated_at": now,
    }
    if stored is not None and stored["closed_at"] is not None:
        action, why = Action.IGNORE, "the outreach is already closed"
    if action is Action.IGNORE:
        assert stored is not None
        await repo.save({"case_id": case_id, "last_decision": f"ignored repeat: {why}", "updated_at": now}, True)
        log.info("case %s: repeat ignored (%s)", case_id, why)
        return
    if stored is None:
        values.update(
            discipline=deps.settings.default_discipline,
            created_at=now,
            status="new",
            reasons=[],
            assignment_id=None,
            last_decision="",
        )
    merged = people | frozenset(stored["people"]) if stored else people
    roles = {**(stored["roles"] if stored else {}), **{p.pseudonym: p.role for p in event.people}}
    aliases = rotation.merged_aliases((stored or {}).get("aliases"), event)
    urgency, tier, mode = event.urgency.value, event.tier, event.mode.value
    if stored is not None:  # a case never de-escalates: keep the highest urgency and tier, group stays group
        urgency = max(urgency, stored["urgency"], key=URGENCY_RANK.__getitem__)
        tier, mode = max(tier, stored["tier"]), GROUP if GROUP in (mode, stored["mode"]) else mode
    values.update(people=sorted(merged), roles=roles, urgency=urgency, tier=tier, mode=mode)
    values["aliases"] = aliases or None
    if stored is not None:  # a new case is inserted once, with its outcome, by run_match
        await repo.save(values, exists=True)
    row = {**stored, **values} if stored is not None else values
    retry = action is Action.RETRY
    await run_match(
        uow, case_id, deps, why, publish_unmatched=not retry, row=row, new_case=stored is None, at=requested_at(event)
    )


async def _store(repo: CaseRepository, row: dict[str, Any], changes: dict[str, Any], new_case: bool) -> None:
    """Write the outcome: a new case is inserted once, with it; an existing case is updated."""
    await repo.save({**row, **changes} if new_case else changes, exists=not new_case)


async def run_match(
    uow: UnitOfWork,
    case_id: str,
    deps: Deps,
    why: str,
    publish_unmatched: bool = True,
    row: dict[str, Any] | None = None,
    new_case: bool = False,
    at: datetime | None = None,
) -> bool:
    """Match the case (``row``: the case as just saved, else read); store and publish the outcome.

    ``new_case``: the case was created in this transaction, so it has no assignment to read or supersede.
    ``at``: the instant the match is judged at (shifts, the cap's month, fairness, continuity; the new team's
    rows are dated then), for a requested case when rules requested it (``facts.requested_at``). None: now, on
    the clock; right for a coordinator re-match, which is live and replays nothing.
    """
    repo, roster = CaseRepository(uow.session), RosterRepository(uow.session, deps.pseudo.pseudonyms_of)
    row = row if row is not None else await repo.get(case_id)
    assert row is not None
    people = frozenset(row["people"])
    persons = await roster.people(row["people"], row["roles"], row.get("aliases"))
    case = Case(case_id, row["facility"], persons, row["urgency"], row["mode"], row["tier"], row["discipline"])
    names = frozenset(n for p in persons for n in (p.ref, *p.aliases))  # continuity under any key still active
    now = transaction_time(uow.session, deps.clock)  # handling time: bookkeeping only
    at = at or now
    facts = await gather_facts(roster, repo, case_id, names, deps, at, new_case)
    month = month_of(at, deps.settings.cap_time_zone)
    result = await match_within_cap(roster, case, facts, policy_from(deps.settings), month)
    if result.primary is None:
        reasons = list(unmatched_reasons(result))
        if row["assignment_id"]:
            reasons.append("the previous assignment stays active")
        await _store(
            repo,
            row,
            {
                "case_id": case_id,
                "status": "unmatched" if not row["assignment_id"] else "matched",
                "reasons": reasons,
                "last_decision": f"unmatched ({why})",
                "updated_at": now,
            },
            new_case,
        )
        if publish_unmatched:
            uow.publish(
                topics.SUPPORTER_UNMATCHED,
                SupporterUnmatched(
                    occurred_at=now,
                    correlation_id=uuid.UUID(row["correlation_id"]),
                    case_id=uuid.UUID(case_id),
                    facility=row["facility"],
                    unit=row["unit"],
                    supported=tuple(sorted(people)),
                    urgency=row["urgency"],
                    mode=row["mode"],
                    reasons=tuple(reasons),
                ),
            )
        log.info("case %s unmatched (%s): %s", case_id, why, "; ".join(reasons))
        return False
    assignment_id = uuid.uuid4()
    previous = row["assignment_id"]
    if not new_case:
        await repo.supersede(case_id)
    team = [result.primary, *result.co_facilitators]
    await repo.add_assignment(
        {
            "assignment_id": str(assignment_id),
            "case_id": case_id,
            "status": ACTIVE,
            "urgency": row["urgency"],
            "primary_ref": result.primary.ref,
            "team": [r.ref for r in team],
            "supported": sorted(people),
            "candidates": [_candidate_json(r, role) for r, role in _roles(result)],
            "created_at": at,  # judged then: the cap and fairness count it in that month and window
        },
        [(result.primary.ref, "primary"), *((r.ref, "co_facilitator") for r in result.co_facilitators)],
    )
    await _store(
        repo,
        row,
        {
            "case_id": case_id,
            "status": "matched",
            "assignment_id": str(assignment_id),
            "reasons": list(result.notes),
            "last_decision": f"matched ({why})",
            "updated_at": now,
        },
        new_case,
    )
    aliases = {s.ref: tuple(sorted(s.aliases)) for s in await roster.roster() if s.aliases}
    uow.publish(
        topics.SUPPORTER_MATCHED,
        SupporterMatched(
            occurred_at=now,
            correlation_id=uuid.UUID(row["correlation_id"]),
            assignment_id=assignment_id,
            case_id=uuid.UUID(case_id),
            facility=row["facility"],
            unit=row["unit"],
            supported=tuple(sorted(people)),
            primary=_candidate(result.primary, aliases, result.notes),
            backups=tuple(_candidate(r, aliases) for r in result.backups),
            co_facilitators=tuple(_candidate(r, aliases) for r in result.co_facilitators),
            urgency=row["urgency"],
            mode=row["mode"],
            tier=row["tier"],
            supersedes=uuid.UUID(previous) if previous else None,
        ),
    )
    log.info("case %s matched (%s): assignment %s, %d eligible", case_id, why, assignment_id, result.eligible)
    return True


def _roles(result: MatchResult) -> list[tuple[Ranked, str]]:
    assert result.primary is not None
    return [
        (result.primary, "primary"),
        *((r, "co_facilitator") for r in result.co_facilitators),
        *((r, "backup") for r in result.backups),
    ]


def _candidate(r: Ranked, aliases: dict[str, tuple[str, ...]], notes: tuple[str, ...] = ()) -> Candidate:
    reasons = (*r.reasons, *notes)
    return Candidate(supporter_ref=r.ref, score=round(r.score, 4), reasons=reasons, aliases=aliases.get(r.ref, ()))


def _candidate_json(r: Ranked, role: str) -> dict[str, object]:
    return {"supporter_ref": r.ref, "role": role, "score": round(r.score, 4), "reasons": list(r.reasons)}


def status_is_relevant(event: OutreachStatusChanged) -> bool:
    """'closed' and a supporter's 'acknowledged' change something here; other statuses need no transaction."""
    acknowledged = event.status is OutreachStatus.ACKNOWLEDGED and event.supporter_ref and event.assignment_id
    return event.status is OutreachStatus.CLOSED or bool(acknowledged)


async def on_status(event: OutreachStatusChanged, uow: UnitOfWork, deps: Deps) -> None:
    """A closed outreach starts the case's retention clock; later requests for it are not re-matched.

    A backup who acknowledged (notification paged them when the primary did not answer) took a case: they
    join the team, so the monthly cap and fairness count it from the time they acknowledged. The retention
    clock starts when the outreach closed (the event's ``occurred_at``), not when the status arrived, so a
    lagging consumer or a replay purges on the same day.
    """
    repo = CaseRepository(uow.session)
    if event.status is OutreachStatus.CLOSED:
        await repo.close(str(event.case_id), event.occurred_at.astimezone(UTC))
    elif status_is_relevant(event):
        assert event.supporter_ref is not None and event.assignment_id is not None
        await WorkloadRepository(uow.session).lock([event.supporter_ref])  # as a match would
        if await repo.add_acknowledging_backup(
            str(event.assignment_id), str(event.case_id), event.supporter_ref, event.occurred_at
        ):
            log.info("case %s: a backup acknowledged; counted toward their monthly cap", event.case_id)
