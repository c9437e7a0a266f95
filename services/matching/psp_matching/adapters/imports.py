"""CSV roster/staff imports and the iCal shift feed: parse to schemas, errors by row and field."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any, TypeVar

from icalendar import Calendar
from pydantic import BaseModel, ValidationError

from psp_common.field_names import safe_loc
from psp_matching.adapters.schemas import RowError, ShiftIn, StaffIn, SupporterIn

M = TypeVar("M", bound=BaseModel)

LIST_SEP = ";"
BOOL_TRUE = {"true", "yes", "y", "1"}
BOOL_FALSE = {"false", "no", "n", "0", ""}
TRAINING = ("group_facilitation", "mental_health_credentials")
CONTACT = ("contact_start", "contact_end", "contact_tz")
SUPPORTER_COLUMNS = (
    "staff_id",
    "display_name",
    "profession",
    "seniority_level",
    "years_experience",
    "site",
    "languages",
    *TRAINING,
    *CONTACT,
    "accepts_immediate_outside_hours",
    "paused",
    "evaluates",
    "supervises",
    "max_assignments_per_month",
)
SUPPORTER_BOOLS = (*TRAINING, "accepts_immediate_outside_hours", "paused")
LISTS = ("languages", "evaluates", "supervises")
STAFF_COLUMNS = ("staff_id", "profession", "seniority_level", "languages")
STAFF_URN = "urn:psp:staff:"
SUMMARY_PREFIX = "staff:"


class BadCell(ValueError):
    """A CSV cell that cannot be converted."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _bool(column: str, text: str) -> bool:
    low = text.strip().lower()
    if low in BOOL_TRUE:
        return True
    if low in BOOL_FALSE:
        return False
    raise BadCell(column, "expected true/false, yes/no or 1/0")


def _supporter_dict(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the JSON body of POST /v1/supporters (lists ';'-separated, empty cell = default)."""
    out: dict[str, Any] = {}
    for col, raw in row.items():
        text = (raw or "").strip()
        if col in SUPPORTER_BOOLS:
            if text:
                out[col] = _bool(col, text)
        elif col in LISTS:
            out[col] = [v.strip() for v in text.split(LIST_SEP) if v.strip()]
        elif col not in CONTACT and text:
            out[col] = text
    out["training"] = {k: out.pop(k) for k in TRAINING if k in out}
    hours = [(row.get(c) or "").strip() for c in CONTACT]
    if any(hours):
        out["contact_hours"] = {"start": hours[0], "end": hours[1], "time_zone": hours[2]}
    return out


_CSV_FIELD = {
    "training.": "",
    "contact_hours.start": "contact_start",
    "contact_hours.end": "contact_end",
    "contact_hours.time_zone": "contact_tz",
}


def _csv_field(loc: tuple[int | str, ...]) -> str:
    path = ".".join(str(p) for p in loc)
    for prefix, col in _CSV_FIELD.items():
        if path.startswith(prefix):
            return col or path[len(prefix) :]
    return str(loc[0]) if loc and str(loc[0]) in LISTS else path or "row"


def _parse_csv(
    text: str, columns: tuple[str, ...], model: type[M], to_dict: Any
) -> tuple[list[tuple[int, M]], list[RowError]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        rows = list(enumerate(reader, start=2))
    except csv.Error as exc:  # e.g. a NUL byte or a stray quote: a 422 naming the line, never a 500
        return [], [RowError(row=reader.line_num or 1, field="body", reason=f"malformed CSV: {exc}")]
    unknown = [c for c in header if c not in columns]
    missing = [c for c in columns if c in ("staff_id",) and c not in header]
    errors = [RowError(row=1, field=c, reason="unknown column") for c in unknown]
    errors += [RowError(row=1, field=c, reason="required column missing") for c in missing]
    if errors:
        return [], errors
    good: list[tuple[int, M]] = []
    for number, row in rows:
        if None in row:
            errors.append(RowError(row=number, field="row", reason="more cells than header columns"))
            continue
        try:
            good.append((number, model.model_validate(to_dict(row))))
        except BadCell as exc:
            errors.append(RowError(row=number, field=exc.column, reason=exc.reason))
        except ValidationError as exc:
            for err in exc.errors(include_input=False, include_url=False):
                errors.append(RowError(row=number, field=_csv_field(safe_loc(err)), reason=err["msg"]))
    if not good and not errors:
        errors.append(RowError(row=1, field="body", reason="no data rows"))
    return good, errors


def parse_supporters_csv(text: str) -> tuple[list[tuple[int, SupporterIn]], list[RowError]]:
    """Parse a roster CSV; the header names the columns of SUPPORTER_COLUMNS (staff_id required)."""
    return _parse_csv(text, SUPPORTER_COLUMNS, SupporterIn, _supporter_dict)


def _staff_dict(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {k: (v or "").strip() for k, v in row.items() if (v or "").strip()}
    if "languages" in out:
        out["languages"] = [v.strip() for v in out["languages"].split(LIST_SEP) if v.strip()]
    return out


def parse_staff_csv(text: str) -> tuple[list[tuple[int, StaffIn]], list[RowError]]:
    """Parse a staff directory CSV: staff_id, profession, seniority_level, languages."""
    return _parse_csv(text, STAFF_COLUMNS, StaffIn, _staff_dict)


def _staff_ids(event: Any) -> list[str]:
    """Staff ids of a VEVENT: ATTENDEE urn:psp:staff:<id> values, else a SUMMARY 'staff:<id> ...'."""
    attendees = event.get("ATTENDEE")
    if attendees is not None and not isinstance(attendees, list):
        attendees = [attendees]
    ids = [str(a)[len(STAFF_URN) :] for a in attendees or () if str(a).lower().startswith(STAFF_URN)]
    if ids:
        return [i.strip() for i in ids if i.strip()]
    summary = str(event.get("SUMMARY", "")).strip()
    if summary.lower().startswith(SUMMARY_PREFIX):
        first = summary[len(SUMMARY_PREFIX) :].split()
        return first[:1]
    return []


def _when(event: Any, prop: str) -> datetime:
    value = event.get(prop)
    if value is None:
        raise BadCell(prop, "missing")
    dt = getattr(value, "dt", None)
    if not isinstance(dt, datetime):
        raise BadCell(prop, "all-day dates are not shifts: give a date-time")
    if dt.tzinfo is None:
        raise BadCell(prop, "floating time: give a TZID or a UTC time (Z)")
    return dt


def parse_ical(text: str) -> tuple[list[ShiftIn], list[RowError]]:
    """Parse VEVENT shifts; ``row`` in errors is the VEVENT's position (first = 1)."""
    try:
        cal = Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        return [], [RowError(row=0, field="body", reason=f"not an iCalendar document ({type(exc).__name__})")]
    shifts: list[ShiftIn] = []
    errors: list[RowError] = []
    for number, event in enumerate(cal.walk("VEVENT"), start=1):
        try:
            ids = _staff_ids(event)
            if not ids:
                raise BadCell("ATTENDEE", f"no '{STAFF_URN}<id>' attendee and no '{SUMMARY_PREFIX}<id>' summary")
            start = _when(event, "DTSTART")
            if event.get("DTEND") is not None:
                end = _when(event, "DTEND")
            elif isinstance(duration := getattr(event.get("DURATION"), "dt", None), timedelta):
                end = start + duration
            else:
                raise BadCell("DTEND", "missing (and no DURATION)")
            for staff_id in ids:
                shifts.append(ShiftIn(staff_id=staff_id, start=start, end=end))
        except BadCell as exc:
            errors.append(RowError(row=number, field=exc.column, reason=exc.reason))
        except ValidationError as exc:
            for err in exc.errors(include_input=False, include_url=False):
                errors.append(RowError(row=number, field=_csv_field(safe_loc(err)), reason=err["msg"]))
    if not shifts and not errors:
        errors.append(RowError(row=0, field="body", reason="no VEVENT shifts"))
    return shifts, errors
