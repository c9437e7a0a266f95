"""Monthly evaluation figures from the encounter log and first contacts (counts only; small cells suppressed).

Months are UTC calendar months (``YYYY-MM``): an encounter counts in the month it happened (``occurred_at``), a
first contact in the month the case was first contacted. Per month:

* ``contacts``: encounters logged; split by outcome (``support_given``, ``support_declined``, ``no_answer``);
* ``hours``: supporter hours, each encounter counted at its duration band's midpoint (``<15m`` 7.5 min,
  ``15-30m`` 22.5, ``30-60m`` 45, ``>60m`` 90), a group session once (not per attendee); null when ``contacts``
  is suppressed;
* ``people_reached``: distinct cases with a ``support_given`` encounter, a group case counting its largest
  attendance (null whenever ``support_given`` is, so it cannot stand in for it);
* ``referrals``: encounters with a referral of each kind; ``follow_ups``, ``debrief_wanted``: encounters with one;
* ``first_contacts`` and ``time_to_first_contact_minutes``: cases first contacted that month and the minutes from
  their first match to it (percentiles null when the count is suppressed or 0).

Each month is its own ``CellTable``: a count below ``min_cell`` is null, and so is a neighbour that would let it
be recomputed (the outcomes add up to ``contacts``; follow-ups and debriefs have a derivable complement).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from psp_common.db import aware
from psp_common.stats import CellTable
from psp_notification.adapters.encounter_schemas import MonthStats, TimeToFirstContact
from psp_notification.adapters.orm import assignments, encounters
from psp_notification.adapters.stats import percentile
from psp_notification.domain.encounters import BAND_MINUTES, DurationBand, Kind, Outcome, Referral

OUTCOMES = [o.value for o in Outcome]
REFERRALS = [r.value for r in Referral]


@dataclass
class Month:
    """Raw (unsuppressed) figures of one month."""

    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    referrals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REFERRALS, 0))
    minutes: float = 0.0
    reached: dict[str, int] = field(default_factory=dict)  # case -> people reached
    follow_ups: int = 0
    debriefs: int = 0
    first_contact_minutes: list[float] = field(default_factory=list)

    @property
    def contacts(self) -> int:
        return sum(self.outcomes.values())

    def add(self, r: Any) -> None:
        """Count one encounter row."""
        self.outcomes[r.outcome] += 1
        self.minutes += BAND_MINUTES[DurationBand(r.duration)]
        for kind in r.referrals if isinstance(r.referrals, list) else []:
            if kind in self.referrals:
                self.referrals[kind] += 1
        self.follow_ups += r.follow_up_on is not None
        self.debriefs += bool(r.debrief_wanted)
        if r.outcome == Outcome.SUPPORT_GIVEN:
            people = (r.attendance or 1) if r.kind == Kind.GROUP else 1
            self.reached[r.case_id] = max(self.reached.get(r.case_id, 0), people)


def month_of(at: datetime) -> str:
    """UTC calendar month ``YYYY-MM``."""
    return aware(at).strftime("%Y-%m")  # type: ignore[union-attr]


def _window(query: Any, column: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


async def raw_months(session: AsyncSession, since: datetime | None, until: datetime | None) -> dict[str, Month]:
    """Encounters in [since, until) by month, and first contacts in [since, until) by month."""
    months: defaultdict[str, Month] = defaultdict(Month)
    query = _window(select(encounters), encounters.c.occurred_at, since, until)
    for r in (await session.execute(query)).all():
        months[month_of(r.occurred_at)].add(r)
    first = (
        select(
            assignments.c.case_id,
            func.min(assignments.c.matched_at).label("matched_at"),
            func.min(assignments.c.first_contacted_at).label("contacted_at"),
        )
        .where(assignments.c.first_contacted_at.is_not(None))
        .group_by(assignments.c.case_id)
        .subquery()
    )
    query = _window(select(first.c.matched_at, first.c.contacted_at), first.c.contacted_at, since, until)
    for matched_at, contacted_at in (await session.execute(query)).all():
        delta = aware(contacted_at) - aware(matched_at)  # type: ignore[operator]
        months[month_of(contacted_at)].first_contact_minutes.append(max(delta.total_seconds(), 0.0) / 60)
    return dict(sorted(months.items()))


def suppressed(month: str, m: Month, percentiles: list[float], min_cell: int) -> MonthStats:
    """One month's published figures: every count that could single someone out is None."""
    t = CellTable(min_cell)
    t.cell("contacts", m.contacts)
    t.breakdown("outcome", m.outcomes)
    t.cell("people_reached", sum(m.reached.values()))
    for kind, n in m.referrals.items():
        t.cell(f"referral:{kind}", n)
    t.group(t.cell("follow_ups", m.follow_ups), t.cell("no_follow_up", m.contacts - m.follow_ups))
    t.group(t.cell("debrief_wanted", m.debriefs), t.cell("no_debrief", m.contacts - m.debriefs))
    t.cell("first_contacts", len(m.first_contact_minutes))
    contacts, first = t.value("contacts"), t.value("first_contacts")
    # people reached is close to support_given (often equal): hidden with it, so it cannot stand in for it
    reached = t.value("people_reached") if t.value("outcome:support_given") is not None else None
    minutes = sorted(m.first_contact_minutes)
    return MonthStats(
        month=month,
        contacts=contacts,
        **{o: t.value(f"outcome:{o}") for o in OUTCOMES},
        hours=round(m.minutes / 60, 1) if contacts is not None else None,
        people_reached=reached,
        referrals={kind: t.value(f"referral:{kind}") for kind in REFERRALS},
        follow_ups=t.value("follow_ups"),
        debrief_wanted=t.value("debrief_wanted"),
        time_to_first_contact_minutes=TimeToFirstContact(
            count=first,
            percentiles={f"p{p:g}": percentile(minutes, p) if first else None for p in percentiles},
        ),
    )


async def monthly_stats(
    session: AsyncSession, since: datetime | None, until: datetime | None, percentiles: list[float], min_cell: int
) -> list[MonthStats]:
    """The ``monthly`` part of ``/v1/stats``, oldest month first."""
    months = await raw_months(session, since, until)
    return [suppressed(month, m, percentiles, min_cell) for month, m in months.items()]


def csv_columns(percentiles: list[float]) -> list[str]:
    """Columns of ``/v1/stats.csv``: one row per month."""
    return [
        "month",
        "contacts",
        *OUTCOMES,
        "hours",
        "people_reached",
        *(f"referrals_{kind}" for kind in REFERRALS),
        "follow_ups",
        "debrief_wanted",
        "first_contacts",
        *(f"time_to_first_contact_p{p:g}_minutes" for p in percentiles),
    ]


def to_csv(monthly: list[MonthStats], percentiles: list[float]) -> str:
    """The monthly figures as CSV, a suppressed (null) cell left empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_columns(percentiles))
    for m in monthly:
        ttfc = m.time_to_first_contact_minutes
        row = [
            m.month,
            m.contacts,
            *(getattr(m, o) for o in OUTCOMES),
            m.hours,
            m.people_reached,
            *(m.referrals[kind] for kind in REFERRALS),
            m.follow_ups,
            m.debrief_wanted,
            ttfc.count,
            *(ttfc.percentiles[f"p{p:g}"] for p in percentiles),
        ]
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()
