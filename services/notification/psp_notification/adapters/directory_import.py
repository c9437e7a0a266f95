"""Staff directory imports: a CSV upload and a FHIR R4 Bundle of Practitioner + PractitionerRole.

Both yield people (staff id + entry, or staff id + None for a leaver) and errors naming the row or entry and the
column or element, never the value.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from psp_common.field_names import safe_loc
from psp_notification.domain.directory import DirectoryEntry, InvalidEntry

STAFF_ID_MAX = 128
CSV_COLUMNS = ("staff_id", "display_name", "role", "unit", "phone", "pager", "email", "active")
CSV_REQUIRED = ("staff_id", "display_name")
ACTIVE_TRUE = {"true", "yes", "y", "1", ""}
ACTIVE_FALSE = {"false", "no", "n", "0"}


@dataclass(frozen=True)
class Person:
    """One person of an import: their staff id and entry; ``entry`` None = left the hospital (remove)."""

    position: int
    staff_id: str
    entry: DirectoryEntry | None


@dataclass(frozen=True)
class Problem:
    """A rejected row (CSV line, header = 1) or Bundle entry (index into ``entry``), the field and why."""

    position: int
    field: str
    reason: str
    staff_id: str | None = None  # when readable: a rejected person is neither updated nor removed by a full sync


@dataclass
class Parsed:
    """What an import file holds."""

    people: list[Person]
    problems: list[Problem]


def staff_id_problem(value: str | None) -> str | None:
    """Why ``value`` cannot be a staff id (None when it can)."""
    text = (value or "").strip()
    if not text:
        return "required"
    if len(text) > STAFF_ID_MAX or any(not ch.isprintable() for ch in text):
        return f"at most {STAFF_ID_MAX} printable characters"
    return None


def _csv_person(number: int, row: Mapping[str, str | None]) -> Person:
    """A CSV data row as a person (InvalidEntry names the column)."""
    cells = {k: (v or "").strip() for k, v in row.items()}
    if reason := staff_id_problem(cells.get("staff_id")):
        raise InvalidEntry("staff_id", reason)
    active = cells.get("active", "").lower()
    if active not in ACTIVE_TRUE | ACTIVE_FALSE:
        raise InvalidEntry("active", "expected true/false, yes/no or 1/0")
    if active in ACTIVE_FALSE:
        return Person(number, cells["staff_id"], None)
    entry = DirectoryEntry.create(
        cells.get("display_name"),
        role=cells.get("role"),
        unit=cells.get("unit"),
        phone=cells.get("phone"),
        pager=cells.get("pager"),
        email=cells.get("email"),
    )
    return Person(number, cells["staff_id"], entry)


def parse_csv(text: str) -> Parsed:
    """Parse a directory CSV: a header naming CSV_COLUMNS (staff_id and display_name required), one person a line."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        rows = list(enumerate(reader, start=2))
    except csv.Error:  # a NUL byte, a stray quote: the line, never the text
        return Parsed([], [Problem(reader.line_num or 1, "body", "malformed CSV")])
    expected = f"unknown column; expected: {', '.join(CSV_COLUMNS)}"  # never the cell: it may be a person's data
    problems = [Problem(1, f"header[{i}]", expected) for i, c in enumerate(header) if c not in CSV_COLUMNS]
    problems += [Problem(1, c, "required column missing") for c in CSV_REQUIRED if c not in header]
    if problems:
        return Parsed([], problems)
    people: list[Person] = []
    for number, row in rows:
        if None in row:
            problems.append(Problem(number, "row", "more cells than header columns"))
            continue
        try:
            people.append(_csv_person(number, row))
        except InvalidEntry as exc:
            sid = (row.get("staff_id") or "").strip()
            problems.append(Problem(number, exc.field, exc.reason, sid if not staff_id_problem(sid) else None))
    if not people and not problems:
        problems.append(Problem(1, "body", "no data rows"))
    return Parsed(people, problems)


def validation_problems(position: int, prefix: str, exc: ValidationError) -> list[Problem]:
    """pydantic errors as problems: the location (safe: no key the sender chose), a reason without the value."""
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in safe_loc(err))
        value = err.get("input")
        reason = err["msg"]
        if isinstance(value, str | int | float) and str(value) and str(value) in reason:
            reason = "invalid value"
        out.append(Problem(position, f"{prefix}.{loc}" if loc else prefix, reason))
    return out


def as_mapping(value: Any) -> Mapping[str, Any] | None:
    """``value`` when it is a JSON object."""
    return value if isinstance(value, Mapping) else None
