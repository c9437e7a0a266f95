"""The triage page's pure parts: how the listener's held reports read, and the attach-and-dispatch form.

The listener's triage API (``/v1/triage``) holds reports it accepted but could not attribute. The console shows
what the PSP may hold of them (no patient data, no narrative: the listener keeps none) and turns the coordinator's
form into the API's bodies. The reason lists mirror the listener's enums (tests/console check they match).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psp_common.events.vocab import Involvement
from psp_console.domain.board import span

REASONS = {
    "no_staff": "Nobody named",
    "staff_unidentified": "Someone named without a staff id",
    "no_facility": "No facility",
    "rules": "A rule asks a coordinator to decide",
    "unknown_staff": "A colleague to reach is not in the contacts directory",
}
STATUSES = {
    "open": "Waiting for a decision",
    "dispatched": "Dispatched",
    "dismissed": "Dismissed",
    "superseded": "Superseded by a newer version",
}
DISMISS_REASONS = {
    "not_staff_related": "Not staff-related: no staff member needs outreach",
    "no_support_needed": "No support needed",
    "duplicate": "Duplicate of another report",
    "out_of_scope": "Out of the programme's scope",
    "test_or_error": "A test or a report sent in error",
    "handled_elsewhere": "Handled elsewhere (e.g. EAP, manager)",
}
INVOLVEMENTS = {
    Involvement.AFFECTED.value: "Affected (harmed or distressed)",
    Involvement.PRIMARY.value: "Primary (directly involved)",
    Involvement.WITNESS.value: "Witness",
    Involvement.RESPONDER.value: "Responder",
}
SOURCE_KINDS = {"native": "Incident reporting system", "fhir": "FHIR AdverseEvent", "huddle": "Huddle"}
ATTACH_ROWS = 4
MAX_ATTACH_ROWS = 20
MAX_ID = 128
MAX_CODE = 64


def label(table: dict[str, str], value: Any) -> str:
    """A value as the page reads it (unknown values as they are, underscores as spaces)."""
    text = str(value or "")
    return table.get(text, text.replace("_", " "))


def _at(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class QueueItem:
    """One held report as the queue lists it."""

    id: str
    status: str
    reasons: list[str]
    source_kind: str
    facility: str | None
    unit: str
    occurred_at: datetime | None
    received_at: datetime | None
    age: str
    unidentified: int
    dismiss_reason: str | None

    @classmethod
    def from_api(cls, item: dict[str, Any], now: datetime) -> QueueItem:
        """A ``TriageView`` of the listener; ``age``: time since the listener received it, at ``now``."""
        received = _at(item.get("received_at"))
        return cls(
            id=str(item["id"]),
            status=str(item.get("status", "")),
            reasons=[label(REASONS, r) for r in item.get("reasons") or []],
            source_kind=label(SOURCE_KINDS, item.get("source_kind")),
            facility=item.get("facility"),
            unit=str(item.get("unit") or ""),
            occurred_at=_at(item.get("occurred_at")),
            received_at=received,
            age=span(now - received) if received else "",
            unidentified=len(item.get("unidentified") or []),
            dismiss_reason=item.get("dismiss_reason"),
        )


@dataclass(frozen=True)
class Counts:
    """The listener's ``/v1/triage/stats`` as rows of (label, count)."""

    by_status: list[tuple[str, int]]
    open_by_reason: list[tuple[str, int]]
    dismissed_by_reason: list[tuple[str, int]]
    staff_attached: int
    open: int

    @classmethod
    def from_api(cls, stats: dict[str, Any]) -> Counts:
        """Every known status and reason listed, zero included (a decision is visibly counted)."""

        def rows(table: dict[str, str], got: dict[str, Any]) -> list[tuple[str, int]]:
            extra = [k for k in got if k not in table]
            return [(label(table, k), int(got.get(k, 0))) for k in [*table, *extra]]

        by_status = stats.get("by_status") or {}
        return cls(
            by_status=rows(STATUSES, by_status),
            open_by_reason=rows(REASONS, stats.get("open_by_reason") or {}),
            dismissed_by_reason=rows(DISMISS_REASONS, stats.get("dismissed_by_reason") or {}),
            staff_attached=int(stats.get("staff_attached") or 0),
            open=int(by_status.get("open", 0)),
        )


@dataclass
class AttachRow:
    """One line of the attach form, as typed (kept to show the form again after a refusal)."""

    staff_id: str = ""
    role: str = ""
    involvement: str = Involvement.AFFECTED.value


@dataclass
class AttachForm:
    """The dispatch form: people to attach and, when the item has none, its facility (and a unit)."""

    rows: list[AttachRow]
    facility: str = ""
    unit: str = ""


def rows_wanted(value: Any) -> int:
    """How many attach lines to show (``?rows=``), within 1..MAX_ATTACH_ROWS."""
    try:
        return min(max(int(str(value)), 1), MAX_ATTACH_ROWS)
    except ValueError:
        return ATTACH_ROWS


def blank_form(rows: int = ATTACH_ROWS, staff_id: str = "") -> AttachForm:
    """An empty form (the first line filled with a staff id just looked up)."""
    lines = [AttachRow() for _ in range(rows)]
    lines[0].staff_id = staff_id
    return AttachForm(lines)


def _one(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def read_attach(form: dict[str, list[str]]) -> AttachForm:
    """The typed form (lines ``staff_id_<n>``, ``role_<n>``, ``involvement_<n>`` for n = 1..)."""
    count = rows_wanted(_one(form, "rows") or ATTACH_ROWS)
    lines = [
        AttachRow(
            _one(form, f"staff_id_{n}"),
            _one(form, f"role_{n}"),
            _one(form, f"involvement_{n}") or Involvement.AFFECTED.value,
        )
        for n in range(1, count + 1)
    ]
    return AttachForm(lines, _one(form, "facility"), _one(form, "unit"))


def dispatch_body(
    typed: AttachForm, needs_facility: bool, identified: int = 0
) -> tuple[dict[str, Any] | None, list[str]]:
    """The ``:dispatch`` body, or the problems, each naming the field and what to do (never echoing a value).

    ``identified``: people the item already names by staff id (e.g. routed by a rule); then nobody need be attached.
    """
    problems: list[str] = []
    staff: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, row in enumerate(typed.rows, start=1):
        if not row.staff_id:
            if row.role:
                problems.append(f"Person {n}: a role without a staff id; enter the staff id or clear the role.")
            continue
        if len(row.staff_id) > MAX_ID or len(row.role) > MAX_CODE:
            problems.append(f"Person {n}: staff id (up to {MAX_ID}) or role (up to {MAX_CODE}) is too long.")
        if row.involvement not in INVOLVEMENTS:
            problems.append(f"Person {n}: choose how they were involved from the list.")
        if row.staff_id in seen:
            problems.append(f"Person {n}: the same staff id is entered twice; enter each person once.")
        seen.add(row.staff_id)
        staff.append({"staff_id": row.staff_id, "role": row.role or None, "involvement": row.involvement})
    if not staff and not problems and not identified:
        problems.append("Staff id: enter the staff id of at least one person to offer support to.")
    if needs_facility and not typed.facility:
        problems.append("Facility: this report names none; enter the facility code (e.g. GEN).")
    for name, value in (("Facility", typed.facility), ("Unit", typed.unit)):
        if len(value) > MAX_CODE:
            problems.append(f"{name}: up to {MAX_CODE} characters.")
    if problems:
        return None, problems
    body: dict[str, Any] = {"staff": staff}
    if typed.facility:
        body["facility"] = typed.facility
    if typed.unit:
        body["unit"] = typed.unit
    return body, []


def since(value: Any, now: datetime) -> str:
    """``3 h 05 min ago`` for an ISO time (empty when absent)."""
    at = _at(value)
    return f"{span(now - at)} ago" if at else ""


def is_open(item: dict[str, Any]) -> bool:
    """Whether the coordinator can still decide it."""
    return item.get("status") == "open"


STALE_AFTER = timedelta(hours=24)


def stale(q: QueueItem, now: datetime) -> bool:
    """An open item waiting longer than a day (highlighted on the queue)."""
    return q.status == "open" and q.received_at is not None and now - q.received_at > STALE_AFTER
