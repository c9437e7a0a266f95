"""The roster as the console shows and edits it: rows of the matching service's supporters view, the add/edit form
turned into the API's body, and import reports as rows with a number, a field and a reason (never a value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Form = dict[str, list[str]]

LABELS = {
    "staff_id": "Staff id",
    "display_name": "Name",
    "profession": "Profession",
    "seniority_level": "Seniority level",
    "years_experience": "Years of experience",
    "site": "Facility",
    "languages": "Languages",
    "contact_hours": "Contact hours",
    "contact_hours.start": "Contact hours from",
    "contact_hours.end": "Contact hours until",
    "contact_hours.time_zone": "Contact hours time zone",
    "max_assignments_per_month": "Personal monthly limit",
    "evaluates": "Evaluates",
    "supervises": "Supervises",
}
FORM_FIELDS = {
    "contact_hours": "contact_start",
    "contact_hours.start": "contact_start",
    "contact_hours.end": "contact_end",
    "contact_hours.time_zone": "contact_tz",
}
"""A service's field path -> the form field its problem is shown next to (the others have the same name)."""
FLAGS = ("group_facilitation", "mental_health_credentials", "accepts_immediate_outside_hours")
NUMBERS = ("seniority_level", "years_experience", "max_assignments_per_month")


@dataclass(frozen=True)
class SupporterRow:
    """One supporter as the roster table shows it."""

    staff_id: str
    name: str
    profession: str
    seniority: int
    site: str
    state: str  # active, paused, away
    on_shift: bool
    this_month: int
    cap: int

    @property
    def state_label(self) -> str:
        """How the state reads."""
        return {"active": "Active", "paused": "Paused", "away": "Stepped away"}[self.state]

    @property
    def at_cap(self) -> bool:
        """This month's cases reached the cap: not matched again this month."""
        return self.this_month >= self.cap

    @classmethod
    def of(cls, view: dict[str, Any]) -> SupporterRow:
        """A row of matching's ``GET /v1/supporters``."""
        state = "away" if not view["active"] else "paused" if view["paused"] else "active"
        return cls(
            staff_id=view["staff_id"],
            name=view["display_name"],
            profession=view["profession"],
            seniority=view["seniority_level"],
            site=view["site"],
            state=state,
            on_shift=bool(view.get("on_shift_now")),
            this_month=int(view.get("assignments_this_month", 0)),
            cap=int(view.get("monthly_cap", 0)),
        )


@dataclass(frozen=True)
class RowProblem:
    """A rejected row of an import: where (row or entry number), which field, why."""

    row: int
    field: str
    reason: str


def label(field: str) -> str:
    """A field path from a service as the form's label ('contact_hours.start' -> 'Contact hours from')."""
    return LABELS.get(field, field.replace("_", " ").capitalize())


def invalid_fields(problems: list[tuple[str, str]]) -> dict[str, str]:
    """Each problem's reason by the form field it is shown next to (the first one of a field)."""
    out: dict[str, str] = {}
    for field, reason in problems:
        out.setdefault(FORM_FIELDS.get(field, field), reason)
    return out


def _one(form: Form, name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", ";").split(";") if part.strip()]


def supporter_body(form: Form, *, new: bool) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The add (``new``: POST, with the staff id) or edit (PATCH) body of the form; problems as (field, reason).

    On an edit, empty evaluates/supervises keep the stored lists (the console cannot show them: pseudonyms); the
    ``clear_evaluates`` / ``clear_supervises`` checkboxes empty them.
    """
    problems: list[tuple[str, str]] = []
    body: dict[str, Any] = {k: _one(form, k) for k in ("display_name", "profession", "site")}
    if new:
        body["staff_id"] = _one(form, "staff_id")
    for name in NUMBERS:
        raw = _one(form, name)
        if not raw:
            body[name] = None if name == "max_assignments_per_month" else (0 if name == "years_experience" else "")
            continue
        try:
            body[name] = int(raw)
        except ValueError:
            problems.append((name, "enter a whole number"))
    if body.get("seniority_level") == "":
        problems.append(("seniority_level", "enter a level from 1 (student) to 10"))
    body["languages"] = [x.lower() for x in _ids(_one(form, "languages"))]
    body["training"] = {f: f in form for f in FLAGS[:2]}
    body["accepts_immediate_outside_hours"] = FLAGS[2] in form
    hours = [_one(form, k) for k in ("contact_start", "contact_end", "contact_tz")]
    if all(hours):
        body["contact_hours"] = {"start": hours[0], "end": hours[1], "time_zone": hours[2]}
    elif any(hours[:2]):
        problems.append(("contact_hours", "give both times (and the zone), or leave both times empty"))
    else:
        body["contact_hours"] = None
    for name in ("evaluates", "supervises"):
        ids, clear = _ids(_one(form, name)), not new and f"clear_{name}" in form
        if clear and ids:
            problems.append((name, "either clear the list or enter staff ids to replace it, not both"))
        elif ids or new or clear:
            body[name] = ids
    return body, problems


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """A supporter (matching's view) as the edit form's values."""
    hours = view.get("contact_hours") or {}
    cap = view.get("max_assignments_per_month")
    values = {
        "staff_id": view["staff_id"],
        "display_name": view["display_name"],
        "profession": view["profession"],
        "seniority_level": str(view["seniority_level"]),
        "years_experience": str(view.get("years_experience", 0)),
        "site": view["site"],
        "languages": "; ".join(view.get("languages", [])),
        "contact_start": str(hours.get("start", ""))[:5],
        "contact_end": str(hours.get("end", ""))[:5],
        "contact_tz": str(hours.get("time_zone", "")),
        "max_assignments_per_month": "" if cap is None else str(cap),
    }
    training = view.get("training") or {}
    values |= {f: "on" for f in FLAGS[:2] if training.get(f)}
    if view.get("accepts_immediate_outside_hours"):
        values[FLAGS[2]] = "on"
    return values


def submitted(form: Form) -> dict[str, str]:
    """The form as sent, to show it again with its problems (no CSRF token)."""
    return {k: v[0] for k, v in form.items() if k != "csrf" and v}


def problems_of(report: Any, number: str = "row", field: str = "field") -> list[RowProblem]:
    """The rejected rows of an import report (``number``/``field``: the report's key names)."""
    errors = report.get("errors") if isinstance(report, dict) else None
    out = []
    for e in errors if isinstance(errors, list) else []:
        if isinstance(e, dict):
            out.append(RowProblem(int(e.get(number, -1)), str(e.get(field, "")), str(e.get("reason", ""))))
    return out
