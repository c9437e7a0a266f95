"""Rules aggregates for analysts: what the rules decided and why, as counts only (no refs, no pseudonyms)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from psp_common.auth import AUTH_RESPONSES, Scope, require
from psp_common.http import as_utc
from psp_rules.adapters.stats import RuleStats, rule_stats

router = APIRouter(responses=AUTH_RESPONSES)


@router.get(
    "/v1/stats",
    response_model=RuleStats,
    tags=["evaluation"],
    dependencies=[Depends(require(Scope.ANALYST, Scope.COORDINATOR))],
    summary="Aggregates for evaluation: decisions by rule, action, urgency, mode and facility; case counts "
    "(counts below PSP_STATS_MIN_CELL, and their complements, are null).",
)
async def stats(
    request: Request,
    since: Annotated[datetime | None, Query(description="Decided/opened at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Decided/opened before (ISO 8601).")] = None,
) -> RuleStats:
    """Counts only: no incident reference, case id or pseudonym."""
    c = request.app.state.container
    async with c.runtime.session() as session:
        return await rule_stats(session, as_utc(since), as_utc(until), c.settings.stats_min_cell)
