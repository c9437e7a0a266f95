"""The sample report a coordinator tries the rules on: a form's fields -> an IncidentObserved body.

No narrative and no patient fields: only what the rules read (facility, unit, class, harm, category, age group,
CIS flags, huddle, staff roles and count), how long ago it occurred and whether it is a historical import (the
rules decide both but page nobody for them: the answer says so). The staff are made-up pseudonyms, so no real
person's opt-out or open case colours the answer, and nothing is stored: the rules service's dry-run has no side
effects.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from psp_common.events.intake import IncidentObserved, SourceKind
from psp_common.events.vocab import CisTrigger, EventClass, HarmLevel
from psp_common.field_names import dotted

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ROLE = re.compile(r"^[A-Za-z][A-Za-z0-9 _-]{0,31}$")
AGE_GROUPS = ("neonate", "child", "adult", "unknown")
HUDDLES = ("morning", "evening", "ad_hoc")
MAX_SAMPLE_STAFF = 50
MAX_DAYS_AGO = 3650
HARM_LEVELS = [h.value for h in HarmLevel]
EVENT_CLASSES = [e.value for e in EventClass]
CIS_FLAGS = [c.value for c in CisTrigger]
SOURCE_KINDS = [s.value for s in SourceKind]


@dataclass
class Sample:
    """The form as typed (shown again with its errors) and, when it is valid, the event body."""

    values: dict[str, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # form field -> what to fix
    body: dict[str, Any] | None = None


def blank(facility: str) -> Sample:
    """The form's starting values."""
    values = {"facility": facility, "unit": "ICU", "event_class": "incident", "harm_level": "death"}
    return Sample(values | {"staff_count": "1", "staff_role": "rn", "source_kind": "native", "days_ago": "0"})


def _one(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def read_sample(form: dict[str, list[str]], now: datetime) -> Sample:
    """Check the form and build the event body (occurring ``days_ago`` days before ``now``)."""
    names = ("facility", "unit", "event_class", "harm_level", "category", "patient_age_group", "huddle_call")
    s = Sample({n: _one(form, n) for n in (*names, "staff_count", "staff_role", "source_kind", "days_ago")})
    s.values["days_ago"] = s.values["days_ago"] or "0"
    s.values["historical"] = "on" if _one(form, "historical") else ""
    s.flags = [f for f in form.get("cis_flags", []) if f in CIS_FLAGS]
    v, e = s.values, s.errors
    for name in ("facility", "unit"):
        if not CODE.match(v[name]):
            e[name] = "Give a code of letters and digits (up to 64), e.g. GEN or ICU."
    choices = {"event_class": EVENT_CLASSES, "harm_level": HARM_LEVELS, "patient_age_group": AGE_GROUPS}
    for name, allowed in (choices | {"huddle_call": HUDDLES, "source_kind": SOURCE_KINDS}).items():
        if v[name] and v[name] not in allowed:
            e[name] = "Choose one of the listed values."
    if len(v["category"]) > 64:
        e["category"] = "Keep the category to 64 characters (e.g. fall, medication)."
    count = int(v["staff_count"]) if v["staff_count"].isdigit() else 0
    if not 1 <= count <= MAX_SAMPLE_STAFF:
        e["staff_count"] = f"Give a number of staff from 1 to {MAX_SAMPLE_STAFF}."
    if v["staff_role"] and not ROLE.match(v["staff_role"]):
        e["staff_role"] = "Give a role such as rn, physician or rt (letters, digits, spaces)."
    days = int(v["days_ago"]) if v["days_ago"].isdigit() else -1
    if not 0 <= days <= MAX_DAYS_AGO:
        e["days_ago"] = f"Give a number of days from 0 to {MAX_DAYS_AGO}."
    if e:
        return s
    s.body = _body(s, count, now - timedelta(days=days))
    return s


def _body(s: Sample, count: int, occurred_at: datetime) -> dict[str, Any] | None:
    v = s.values
    staff = [
        {"pseudonym": f"sample-person-{i:03d}", "key_id": "sample", "role": v["staff_role"] or None}
        for i in range(1, count + 1)
    ]
    body: dict[str, Any] = {
        "occurred_at": occurred_at.isoformat(),
        "correlation_id": str(uuid.uuid4()),
        "incident_ref": f"sample-{uuid.uuid4().hex}",
        "report_version": 1,
        "source_kind": v["source_kind"] or "native",
        "facility": v["facility"],
        "unit": v["unit"],
        "event_class": v["event_class"] or "incident",
        "harm_level": v["harm_level"] or None,
        "category": v["category"] or None,
        "patient_age_group": v["patient_age_group"] or None,
        "huddle_call": v["huddle_call"] or None,
        "cis_flags": s.flags,
        "staff": staff,
        "historical": bool(v["historical"]),
    }
    try:
        IncidentObserved.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors():
            s.errors[dotted(err).split(".")[0] or "facility"] = str(err.get("msg", "invalid"))
        return None
    return body
