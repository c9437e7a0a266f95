"""Rules HTTP API: what-if on history for a rule set draft (thin; the replay is psp_rules.whatif).

Coordinators only. The answer is counts: no pseudonym, case id or incident reference is listed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from psp_common.auth import AUTH_RESPONSES, Scope, require
from psp_common.http import ERROR_RESPONSES, ErrorResponse
from psp_rules import drafts, whatif
from psp_rules.adapters.drafts import DraftRepository
from psp_rules.adapters.repository import RuleSetRepository
from psp_rules.domain.compare import SAME_RULES, Change, Comparison, SideTotals
from psp_rules.entrypoints.api_drafts import _at_line, _bad_scope, _error

router = APIRouter(dependencies=[Depends(require(Scope.COORDINATOR))], responses=AUTH_RESPONSES)


class SideOut(BaseModel):
    """What one rule set makes of the history."""

    rule_sets: list[str] = Field(description="Rule set versions that decided (one per facility in the history).")
    cases: int = Field(description="Cases it opens.")
    people: int = Field(description="People in those cases (a person in two cases counts twice).")
    cases_by_urgency: dict[str, int] = Field(description="Cases by their final urgency.")
    cases_by_mode: dict[str, int] = Field(description="Cases by mode (individual, group).")
    incidents_with_rules_fired: int = Field(description="Incidents whose newest version fires at least one rule.")
    rules_fired: dict[str, int] = Field(description="Rule id -> report versions it fires on.")


class ChangeOut(BaseModel):
    """Cases only one side opens."""

    cases: int = Field(description="How many.")
    by_rule: dict[str, int] = Field(
        description="Rule id -> cases it accounts for (rules that fire on the opening version on this side only; "
        f"'{SAME_RULES}' when the same rules fire on both). A case can count for several rules."
    )


class Transition(BaseModel):
    """Incidents that go from one value under the active rules to another under the draft."""

    active: str = Field(description="Value under the active rules ('none': no rule fires).")
    draft: str = Field(description="Value under the draft.")
    incidents: int = Field(description="How many incidents.")


class WhatIfOut(BaseModel):
    """The draft and the active rule set, each deciding the same stored history in memory."""

    scope: str = Field(description="The draft's scope.")
    draft_revision: int = Field(description="The draft revision tried.")
    months: int = Field(description="How many months back.")
    since: datetime = Field(description="Versions that occurred at or after this time were decided...")
    until: datetime = Field(description="...up to this time (now).")
    report_versions: int = Field(description="Stored incident versions decided (each by both rule sets).")
    incidents: int = Field(description="Distinct incidents among them.")
    active: SideOut = Field(description="Under the active rule set.")
    draft: SideOut = Field(description="Under the draft.")
    added: ChangeOut = Field(description="Cases the draft opens and the active rules do not.")
    removed: ChangeOut = Field(description="Cases the active rules open and the draft does not.")
    urgency: list[Transition] = Field(description="Urgency of each incident, active -> draft (every pair met).")
    urgency_changed: int = Field(description="Incidents whose urgency differs.")
    mode_changes: list[Transition] = Field(description="Incidents whose mode differs, active -> draft.")
    simplification: str = Field(description="How the replay differs from live processing.")


SIMPLIFICATION = (
    "Versions are decided in the order the service decided them, on event time, with the opt-outs as they stand "
    "today. A replayed case never closes (closing is an outcome of the outreach), so a person's incident within the "
    "merge window of an incident in their case merges into it. Versions older than the retention period are "
    "decided without their people's pseudonyms: they fire the same rules but link to no other incident. Historical "
    "imports and reports too old to page are decided like any other (live, they open no case)."
)


def _side(s: SideTotals) -> SideOut:
    return SideOut(
        rule_sets=list(s.rule_sets),
        cases=s.cases,
        people=s.people,
        cases_by_urgency=s.cases_by_urgency,
        cases_by_mode=s.cases_by_mode,
        incidents_with_rules_fired=s.incidents_with_rules_fired,
        rules_fired=s.rules_fired,
    )


def _change(c: Change) -> ChangeOut:
    return ChangeOut(cases=c.cases, by_rule=c.by_rule)


def _transitions(pairs: dict[tuple[str, str], int]) -> list[Transition]:
    return [Transition(active=a, draft=d, incidents=n) for (a, d), n in sorted(pairs.items())]


def answer(c: Comparison, scope: str, revision: int, months: int, since: datetime, until: datetime) -> WhatIfOut:
    """The API's answer from a comparison."""
    return WhatIfOut(
        scope=scope,
        draft_revision=revision,
        months=months,
        since=since,
        until=until,
        report_versions=c.versions,
        incidents=c.incidents,
        active=_side(c.active),
        draft=_side(c.draft),
        added=_change(c.added),
        removed=_change(c.removed),
        urgency=_transitions(c.urgency),
        urgency_changed=sum(n for (a, d), n in c.urgency.items() if a != d),
        mode_changes=_transitions(c.mode),
        simplification=SIMPLIFICATION,
    )


@router.post(
    "/v1/rulesets/{scope}/draft:what-if",
    response_model=WhatIfOut,
    responses={404: {"model": ErrorResponse, "description": "No draft."}, **ERROR_RESPONSES},
    tags=["rulesets"],
    summary="Decide the stored history of the last months under the draft and the active rules; the difference.",
)
async def what_if(
    request: Request,
    scope: str,
    months: int = Query(6, ge=1, le=whatif.MAX_MONTHS, description="How many months back (event time)."),
) -> Any:
    """Counts only (no pseudonyms): cases under each, added and removed by rule, urgency and mode changes."""
    if (bad := _bad_scope(scope)) is not None:
        return bad
    container = request.app.state.container
    until = container.clock.now()
    since = whatif.months_before(until, months)
    async with container.runtime.session() as session:
        stored = await DraftRepository(session).get(scope)
        if stored is None:
            return _error(404, "no draft", "scope", "no draft for this scope; save one first")
        doc, problems = await drafts.validate(RuleSetRepository(session), scope, stored.source, container.config)
        if doc is None:
            return _error(422, "the draft does not validate", "scope", _at_line(problems[0]))
        found = await whatif.what_if(session, container.config, scope, doc, since, until)
        await session.rollback()
    return answer(found, scope, stored.revision, months, since, until)
