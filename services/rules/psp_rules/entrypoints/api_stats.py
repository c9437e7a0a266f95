"""Rules aggregates for analysts: what the rules decided and why, as counts only (no refs, no pseudonyms)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from psp_common.auth import AUTH_RESPONSES, Scope, require
from psp_common.http import as_utc
from psp_rules.adapters.orm import cases, decisions

router = APIRouter(responses=AUTH_RESPONSES)


class RuleStats(BaseModel):
    """Counts of decisions and cases in a window; survives retention (pseudonyms are not counted)."""

    decisions: int = Field(description="Incident versions decided.")
    no_trigger: int = Field(description="Of which no rule fired.")
    by_rule: dict[str, int] = Field(description="Decisions each rule fired in.")
    by_action: dict[str, int] = Field(description="Actions taken: opened, merged, escalated, suppressed, ...")
    by_urgency: dict[str, int] = Field(description="Decisions by resulting urgency (fired only).")
    by_mode: dict[str, int] = Field(description="Decisions by support mode (fired only).")
    by_facility: dict[str, int] = Field(description="Decisions by facility code.")
    cases_opened: int = Field(description="Cases opened in the window.")
    cases_closed: int = Field(description="Of which closed since.")
    cases_purged: int = Field(description="Of which retention purged the members.")


@router.get(
    "/v1/stats",
    response_model=RuleStats,
    tags=["evaluation"],
    dependencies=[Depends(require(Scope.ANALYST, Scope.COORDINATOR))],
    summary="Aggregates for evaluation: decisions by rule, action, urgency, mode and facility; case counts.",
)
async def stats(
    request: Request,
    since: Annotated[datetime | None, Query(description="Decided/opened at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Decided/opened before (ISO 8601).")] = None,
) -> RuleStats:
    """Counts only: no incident reference, case id or pseudonym."""
    since, until = as_utc(since), as_utc(until)
    dq = select(decisions.c.fired, decisions.c.detail, decisions.c.urgency, decisions.c.mode, decisions.c.facility)
    cq = select(cases.c.status, cases.c.purged_at)
    if since is not None:
        dq, cq = dq.where(decisions.c.decided_at >= since), cq.where(cases.c.opened_at >= since)
    if until is not None:
        dq, cq = dq.where(decisions.c.decided_at < until), cq.where(cases.c.opened_at < until)
    async with request.app.state.container.runtime.session() as session:
        rows = (await session.execute(dq)).all()
        case_rows = (await session.execute(cq)).all()
    rule: Counter[str] = Counter()
    action: Counter[str] = Counter()
    urgency: Counter[str] = Counter()
    mode: Counter[str] = Counter()
    facility: Counter[str] = Counter()
    for fired, detail, urg, mod, fac in rows:
        rule.update(set(fired or []))
        action.update(a.get("kind", "unknown") for a in detail or [] if isinstance(a, dict))
        facility[fac] += 1
        if fired:
            urgency[urg or "unknown"] += 1
            mode[mod or "unknown"] += 1
    return RuleStats(
        decisions=len(rows),
        no_trigger=sum(1 for r in rows if not r.fired),
        by_rule=dict(sorted(rule.items())),
        by_action=dict(sorted(action.items())),
        by_urgency=dict(sorted(urgency.items())),
        by_mode=dict(sorted(mode.items())),
        by_facility=dict(sorted(facility.items())),
        cases_opened=len(case_rows),
        cases_closed=sum(1 for r in case_rows if r.status == "closed"),
        cases_purged=sum(1 for r in case_rows if r.purged_at is not None),
    )
