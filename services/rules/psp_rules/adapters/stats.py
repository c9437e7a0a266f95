"""Rules aggregates for analysts: decisions by rule, action, urgency, mode, facility; small cells suppressed."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.stats import NULL_MEANS, CellTable
from psp_rules.adapters.orm import cases, decisions
from psp_rules.domain.engine import ActionKind

BREAKDOWNS = ("by_rule", "by_action", "by_urgency", "by_mode", "by_facility")


class RuleStats(BaseModel):
    """Counts of decisions and cases in a window; survives retention (pseudonyms are not counted)."""

    min_cell: int = Field(description=f"PSP_STATS_MIN_CELL in force. {NULL_MEANS}")
    decisions: int | None = Field(description="Incident versions decided (null: suppressed).")
    no_trigger: int | None = Field(description="Of which no rule fired (null: suppressed).")
    not_paged: int | None = Field(
        description="Of which rules fired but nobody was paged: historical imports and incidents older than"
        " PSP_OUTREACH_MAX_AGE_DAYS (null: suppressed).",
    )
    by_rule: dict[str, int | None] = Field(description=f"Decisions each rule fired in. {NULL_MEANS}")
    by_action: dict[str, int | None] = Field(description=f"Actions: opened, merged, escalated, ... {NULL_MEANS}")
    by_urgency: dict[str, int | None] = Field(description=f"Decisions by urgency (fired only). {NULL_MEANS}")
    by_mode: dict[str, int | None] = Field(description=f"Decisions by support mode (fired only). {NULL_MEANS}")
    by_facility: dict[str, int | None] = Field(description=f"Decisions by facility code. {NULL_MEANS}")
    cases_opened: int | None = Field(description="Cases opened in the window (null: suppressed).")
    cases_closed: int | None = Field(description="Of which closed since (null: suppressed).")
    cases_purged: int | None = Field(description="Of which retention purged the members (null: suppressed).")


def _kind(action: Any) -> str:
    return str(action.get("kind", "unknown")) if isinstance(action, dict) else "unknown"


def _count_decisions(rows: list[Any]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {name: Counter() for name in BREAKDOWNS}
    for fired, detail, urg, mod, fac in rows:
        out["by_rule"].update(set(fired or []))
        out["by_action"].update(_kind(a) for a in detail or [] if isinstance(a, dict))
        out["by_facility"][fac] += 1
        if fired:
            out["by_urgency"][urg or "unknown"] += 1
            out["by_mode"][mod or "unknown"] += 1
    return out


def _table(rows: list[Any], case_rows: list[Any], min_cell: int) -> tuple[CellTable, dict[str, Counter[str]]]:
    """Every published count and what it adds up with (so a suppressed one cannot be recomputed)."""
    table = CellTable(min_cell)
    no_trigger = sum(1 for r in rows if not r.fired)
    table.cell("decisions", len(rows))
    table.cell("no_trigger", no_trigger)
    table.group("no_trigger", table.cell("fired", len(rows) - no_trigger))  # fired = decisions - no_trigger
    held = sum(1 for r in rows if any(_kind(a) == ActionKind.HELD.value for a in r.detail or []))
    table.group(table.cell("not_paged", held), table.cell("paged_or_quiet", len(rows) - held))
    counts = _count_decisions(rows)
    for name in ("by_urgency", "by_mode"):  # fired decisions by urgency (mode) + no_trigger = decisions
        table.breakdown(name, counts[name], with_cells=["no_trigger"])
    for name in ("by_rule", "by_action", "by_facility"):
        table.breakdown(name, counts[name])
    closed = sum(1 for r in case_rows if r.status == "closed")
    purged = sum(1 for r in case_rows if r.purged_at is not None)
    table.cell("cases_opened", len(case_rows))
    table.group(table.cell("cases_closed", closed), table.cell("cases_open", len(case_rows) - closed))
    table.group(table.cell("cases_purged", purged), table.cell("cases_kept", len(case_rows) - purged))
    return table, counts


async def rule_stats(session: AsyncSession, since: datetime | None, until: datetime | None, min_cell: int) -> RuleStats:
    """Decisions made and cases opened in [since, until), counts only, small cells suppressed."""
    dq = select(decisions.c.fired, decisions.c.detail, decisions.c.urgency, decisions.c.mode, decisions.c.facility)
    cq = select(cases.c.status, cases.c.purged_at)
    if since is not None:
        dq, cq = dq.where(decisions.c.decided_at >= since), cq.where(cases.c.opened_at >= since)
    if until is not None:
        dq, cq = dq.where(decisions.c.decided_at < until), cq.where(cases.c.opened_at < until)
    rows = list((await session.execute(dq)).all())
    case_rows = list((await session.execute(cq)).all())
    table, counts = _table(rows, case_rows, min_cell)
    return RuleStats(
        min_cell=min_cell,
        decisions=table.value("decisions"),
        no_trigger=table.value("no_trigger"),
        not_paged=table.value("not_paged"),
        **{name: table.values(name, sorted(counts[name])) for name in BREAKDOWNS},
        cases_opened=table.value("cases_opened"),
        cases_closed=table.value("cases_closed"),
        cases_purged=table.value("cases_purged"),
    )
