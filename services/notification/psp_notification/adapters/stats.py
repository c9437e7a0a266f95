"""Aggregates for evaluation (analysts): counts and time-to-contact percentiles, never identifiers.

Small cells are suppressed (``psp_common.stats``): a count below ``min_cell``, and any count that would let one be
recomputed, is None; percentiles over fewer than ``min_cell`` contacted cases are None.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_common.stats import CellTable
from psp_notification.adapters.orm import assignments, cases


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _trigger_ids(triggers: object) -> set[str]:
    """Rule ids of a case's stored triggers (RuleHit dicts); the explanation text is not counted."""
    if not isinstance(triggers, list):
        return set()
    return {str(t.get("rule_id")) if isinstance(t, dict) else str(t) for t in triggers}


BREAKDOWNS = ("by_urgency", "by_trigger", "by_status", "by_mode", "by_offer")  # by_offer: referral offers only


def _suppressed(
    counts: dict[str, Counter[str]],
    cases_n: int,
    purged: int,
    minutes: list[float],
    percentiles: list[float],
    min_cell: int,
) -> dict[str, Any]:
    """The response body: every count that could single someone out is None."""
    table = CellTable(min_cell)
    table.cell("cases", cases_n)
    table.group(table.cell("purged", purged), table.cell("kept", cases_n - purged))
    table.group(table.cell("contacted", len(minutes)), table.cell("not_contacted", cases_n - len(minutes)))
    for name in BREAKDOWNS:  # urgency, status and mode each partition the cases; triggers overlap
        table.breakdown(name, counts[name])
    contacted = table.value("contacted")
    return {
        "min_cell": table.min_cell,
        "cases": table.value("cases"),
        "purged": table.value("purged"),
        **{name: table.values(name, sorted(counts[name])) for name in BREAKDOWNS},
        "time_to_contact_minutes": {
            "count": contacted,
            "percentiles": {f"p{p:g}": percentile(minutes, p) if contacted else None for p in percentiles},
        },
    }


async def case_stats(
    session: AsyncSession, since: datetime | None, until: datetime | None, percentiles: list[float], min_cell: int
) -> dict[str, Any]:
    """Cases created in [since, until) by urgency, trigger, status and mode; time from match to contact."""
    query = select(
        cases.c.case_id,
        cases.c.urgency,
        cases.c.triggers,
        cases.c.status,
        cases.c.mode,
        cases.c.purged_at,
        cases.c.offer,
    )
    if since is not None:
        query = query.where(cases.c.created_at >= since)
    if until is not None:
        query = query.where(cases.c.created_at < until)
    rows = (await session.execute(query)).all()
    urgency: Counter[str] = Counter()
    triggers: Counter[str] = Counter()
    status: Counter[str] = Counter()
    mode: Counter[str] = Counter()
    offer: Counter[str] = Counter()  # referral offers: offered (no answer yet), accepted, declined
    for r in rows:
        if r.offer:
            offer[r.offer] += 1
        urgency[r.urgency or "unknown"] += 1
        status[r.status] += 1
        mode[r.mode or "unknown"] += 1
        triggers.update(_trigger_ids(r.triggers))
    ids = [r.case_id for r in rows]
    minutes: list[float] = []
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        first_contact = (
            select(
                assignments.c.case_id, func.min(assignments.c.matched_at), func.min(assignments.c.first_contacted_at)
            )
            .where(assignments.c.case_id.in_(chunk), assignments.c.first_contacted_at.is_not(None))
            .group_by(assignments.c.case_id)
        )
        for _, matched_at, contacted_at in await session.execute(first_contact):
            delta = aware(contacted_at) - aware(matched_at)  # type: ignore[operator]
            minutes.append(max(delta.total_seconds(), 0.0) / 60)
    minutes.sort()
    counts = {"by_urgency": urgency, "by_trigger": triggers, "by_status": status, "by_mode": mode, "by_offer": offer}
    purged = sum(1 for r in rows if r.purged_at is not None)
    return _suppressed(counts, len(rows), purged, minutes, percentiles, min_cell)
