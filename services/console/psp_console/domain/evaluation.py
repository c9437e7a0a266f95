"""The evaluation page's figures (pure): a month range, and the services' /v1/stats answers turned into charts.

Months are UTC calendar months (``YYYY-MM``), as the notification service counts them. A count the service
suppressed (JSON null) stays None: it is shown as ``<min_cell``, never as a number and never drawn as zero.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from psp_console.domain.charts import Chart, Series

MAX_MONTHS = 24
DEFAULT_MONTHS = 6
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
OUTCOMES = (("support_given", "Support given"), ("support_declined", "Support declined"), ("no_answer", "No answer"))
REFERRALS = (
    ("eap", "Employee assistance"),
    ("spiritual_care", "Spiritual care"),
    ("occupational_health", "Occupational health"),
    ("professional_counselling", "Professional counselling"),
    ("crisis", "Crisis line"),
)


class RangeError(ValueError):
    """A month range the page cannot show; ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class MonthRange:
    """First and last month shown (inclusive)."""

    first: str
    last: str

    @property
    def months(self) -> tuple[str, ...]:
        """Every month from first to last."""
        y, m = _ym(self.first)
        out = []
        while f"{y:04d}-{m:02d}" <= self.last:
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return tuple(out)

    @property
    def since(self) -> datetime:
        """Start of the first month (UTC)."""
        return month_start(self.first)

    @property
    def until(self) -> datetime:
        """Start of the month after the last one (UTC)."""
        return next_month_start(self.last)


def _ym(month: str) -> tuple[int, int]:
    return int(month[:4]), int(month[5:7])


def month_start(month: str) -> datetime:
    """Midnight UTC on the first of ``month``."""
    y, m = _ym(month)
    return datetime(y, m, 1, tzinfo=UTC)


def next_month_start(month: str) -> datetime:
    """Midnight UTC on the first of the month after ``month``."""
    y, m = _ym(month)
    return datetime(y + 1, 1, 1, tzinfo=UTC) if m == 12 else datetime(y, m + 1, 1, tzinfo=UTC)


def month_range(first: str | None, last: str | None, today: date) -> MonthRange:
    """The range asked for (``YYYY-MM`` each), or the last six months up to ``today``'s; RangeError if bad."""
    default_last = f"{today.year:04d}-{today.month:02d}"
    last = last or default_last
    if not MONTH.match(last):
        raise RangeError("to", "Last month must be a month like 2026-11.")
    if not first:
        y, m = _ym(last)
        m -= DEFAULT_MONTHS - 1
        while m < 1:
            y, m = y - 1, m + 12
        first = f"{y:04d}-{m:02d}"
    if not MONTH.match(first):
        raise RangeError("from", "First month must be a month like 2026-06.")
    if first > last:
        raise RangeError("from", "First month must not be after the last month.")
    chosen = MonthRange(first, last)
    if len(chosen.months) > MAX_MONTHS:
        raise RangeError("from", f"Choose at most {MAX_MONTHS} months.")
    return chosen


def _counts(by_month: dict[str, dict[str, Any]], field: str) -> dict[tuple[str, str], float | None]:
    return {(key, month): value for month, body in by_month.items() for key, value in (body.get(field) or {}).items()}


def trigger_chart(months: tuple[str, ...], cases: dict[str, dict[str, Any]], min_cell: int) -> Chart:
    """Cases per month by the rule that triggered their outreach (notification /v1/stats per month: ``by_trigger``)."""
    keys = sorted({k for body in cases.values() for k in (body.get("by_trigger") or {})})
    return Chart(
        "triggers",
        "Cases per month by trigger",
        "Outreach cases opened each month, counted once under each rule that triggered them (a case can have "
        "more than one trigger); several reports about one incident make one case.",
        "Month (UTC)",
        "Cases",
        months,
        tuple(Series(k, k) for k in keys),
        _counts(cases, "by_trigger"),
        min_cell,
    )


def paging_chart(months: tuple[str, ...], rules: dict[str, dict[str, Any]], min_cell: int) -> Chart:
    """Reports decided but paged for nobody (rules /v1/stats ``not_paged``), beside all reports decided."""
    keys = ("not_paged", "decisions")
    values = {(k, month): body.get(k) for month, body in rules.items() for k in keys}
    return Chart(
        "paging",
        "Decided, not paged",
        "Incident reports the rules decided (rules fired, counted) but paged nobody for: historical imports and "
        "reports older than the outreach max age, beside all reports decided, by the month they were decided.",
        "Month (UTC)",
        "Reports",
        months,
        (Series("not_paged", "Not paged (historical or too old)"), Series("decisions", "All reports decided")),
        values,
        min_cell,
    )


def first_contact_chart(months: tuple[str, ...], monthly: dict[str, dict[str, Any]], min_cell: int) -> Chart:
    """Minutes from the first match to the first contact, percentiles per month (notification ``monthly``)."""
    values: dict[tuple[str, str], float | None] = {}
    names: list[str] = []
    for month, body in monthly.items():
        ttfc = body.get("time_to_first_contact_minutes") or {}
        if ttfc.get("count") == 0:
            continue  # nobody first contacted: no value (absent), not a zero
        for name, value in (ttfc.get("percentiles") or {}).items():
            if name not in names:
                names.append(name)
            values[(name, month)] = value
    return Chart(
        "first_contact",
        "Time to first contact",
        "Minutes from a case's first match to its first contact, by the month of that contact: the median (p50) "
        "and the slower percentiles.",
        "Month (UTC)",
        "Minutes",
        months,
        tuple(Series(n, "median (p50)" if n == "p50" else n) for n in names),
        values,
        min_cell,
        unit=" min",
        absent="none",
    )


def outcome_chart(months: tuple[str, ...], monthly: dict[str, dict[str, Any]], min_cell: int) -> Chart:
    """Encounters per month by outcome."""
    values = {(k, month): body.get(k) for month, body in monthly.items() for k, _ in OUTCOMES}
    return Chart(
        "encounters",
        "Encounters per month by outcome",
        "Support encounters supporters logged, by the month they happened and how they ended.",
        "Month (UTC)",
        "Encounters",
        months,
        tuple(Series(k, label) for k, label in OUTCOMES),
        values,
        min_cell,
    )


def referral_chart(months: tuple[str, ...], monthly: dict[str, dict[str, Any]], min_cell: int) -> Chart:
    """Encounters with a referral of each kind, per month."""
    return Chart(
        "referrals",
        "Referrals per month by kind",
        "Encounters in which the supporter made a referral of each kind (an encounter can make several).",
        "Month (UTC)",
        "Referrals",
        months,
        tuple(Series(k, label) for k, label in REFERRALS),
        _counts(monthly, "referrals"),
        min_cell,
    )


def declined_chart(months: tuple[str, ...], monthly: dict[str, dict[str, Any]], min_cell: int) -> Chart:
    """Encounters where support was declined, beside all encounters of the month."""
    values = {(k, month): body.get(k) for month, body in monthly.items() for k in ("support_declined", "contacts")}
    return Chart(
        "declined",
        "Declined support",
        "Encounters in which the person declined support, beside all encounters logged that month.",
        "Month (UTC)",
        "Encounters",
        months,
        (Series("support_declined", "Support declined"), Series("contacts", "All encounters")),
        values,
        min_cell,
    )


def charts(
    chosen: MonthRange,
    rules: dict[str, dict[str, Any]],
    notification: dict[str, Any],
    cases: dict[str, dict[str, Any]],
) -> list[Chart]:
    """Every chart of the page, from rules and notification /v1/stats per month and notification's for the range."""
    months = chosen.months
    monthly = {m["month"]: m for m in notification.get("monthly", []) if m.get("month") in months}
    rules_min = min((int(b.get("min_cell", 5)) for b in rules.values()), default=5)
    min_cell = int(notification.get("min_cell", 5))
    return [
        trigger_chart(months, cases, min((int(b.get("min_cell", 5)) for b in cases.values()), default=5)),
        paging_chart(months, rules, rules_min),
        first_contact_chart(months, monthly, min_cell),
        outcome_chart(months, monthly, min_cell),
        referral_chart(months, monthly, min_cell),
        declined_chart(months, monthly, min_cell),
    ]


def to_csv(all_charts: list[Chart]) -> str:
    """The charts' data, one row per cell: a suppressed cell has an empty value and ``suppressed`` = yes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["chart", "month", "series", "value", "suppressed"])
    for c in all_charts:
        for month in c.categories:
            for s in c.series:
                if c.is_absent(s.key, month):
                    continue
                value = c.value(s.key, month)
                hidden = value is None
                writer.writerow([c.title, month, s.label, "" if hidden else value, "yes" if hidden else ""])
    return out.getvalue()
