"""Mapping file: which CSV column feeds which native occurrence-report field, with value maps (see README).

A row becomes the body of an ``OccurrenceReportV1``, which then validates it exactly as the HTTP intake does.
Columns the mapping does not name are never read (patient identifiers in an export stay where they are).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from psp_common.events.vocab import Involvement
from psp_listener.adapters.errors import invalid
from psp_listener.adapters.schemas import OccurrenceReportV1, known_zone

NativeField = Literal[
    "source_system",
    "report_id",
    "version",
    "facility",
    "facility_tz",
    "unit",
    "occurred_at",
    "reported_at",
    "event_class",
    "category",
    "harm_level",
    "patient_age_group",
    "cis_flags",
    "narrative",
]
REQUIRED = ("source_system", "report_id", "facility", "unit", "occurred_at", "event_class")
TIMESTAMPS = ("occurred_at", "reported_at")
TITLE = "historical row"


class Strict(BaseModel):
    """Unknown keys in a mapping file are typos: refuse them."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StaffColumns(Strict):
    """Staff of one involvement: a column of staff ids (several per cell, split on ``separator``)."""

    id: str = Field(min_length=1, description="Column holding the staff id(s).")
    role: str | None = Field(None, description="Column holding the role(s), in the same order as the ids.")
    involvement: Involvement = Field(Involvement.PRIMARY, description="Involvement of everyone in this column.")


class Mapping(Strict):
    """One export format: CSV columns -> native fields, constants, value maps, timestamp formats."""

    description: str = Field("", description="What export this mapping reads.")
    columns: dict[NativeField, str | list[str]] = Field(
        description="Native field -> CSV column (a list: the columns' values joined by a space, e.g. date + time)."
    )
    constants: dict[NativeField, str] = Field(default_factory=dict, description="Fixed values for every row.")
    staff: list[StaffColumns] = Field(min_length=1, description="Columns naming the staff involved.")
    separator: str = Field(";", min_length=1, description="Separates several values in one cell (ids, flags).")
    timestamp_formats: list[str] = Field(
        default_factory=list, description="strptime formats tried in order; none: ISO 8601."
    )
    timezone: str | None = Field(None, description="IANA zone of timestamps without a UTC offset.")
    values: dict[NativeField | Literal["involvement"], dict[str, str]] = Field(
        default_factory=dict,
        description="Per field: export value (compared case-insensitively) -> native value; others pass as is.",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return known_zone(value)

    @model_validator(mode="after")
    def _required(self) -> Mapping:
        missing = [f for f in REQUIRED if f not in self.columns and f not in self.constants]
        if missing:
            raise ValueError(f"neither a column nor a constant for: {', '.join(missing)}")
        return self

    def named_columns(self) -> set[str]:
        """Every CSV column this mapping reads."""
        cols = {c for v in self.columns.values() for c in ([v] if isinstance(v, str) else v)}
        return cols | {s.id for s in self.staff} | {s.role for s in self.staff if s.role}

    def to_body(self, record: dict[str, str | None]) -> dict[str, Any]:
        """The native report body of one CSV record (raises ValidationError naming the field)."""
        raw: dict[str, str] = {str(k): v for k, v in self.constants.items()}
        for field, cols in self.columns.items():
            text = " ".join((record.get(c) or "").strip() for c in ([cols] if isinstance(cols, str) else cols))
            if text.strip():
                raw[field] = text.strip()
        body: dict[str, Any] = {k: self._value(k, v) for k, v in raw.items() if k not in TIMESTAMPS}
        zone = self.timezone or body.get("facility_tz")
        issues = []
        for name in TIMESTAMPS:
            if name in raw:
                try:
                    body[name] = self._timestamp(raw[name], zone)
                except ValueError as exc:
                    issues.append(((name,), str(exc)))
        if issues:
            raise invalid(TITLE, issues)
        if "cis_flags" in body:
            body["cis_flags"] = [self._value("cis_flags", f) for f in self._split(raw["cis_flags"])]
        if "patient_age_group" in body:
            body["patient"] = {"age_group": body.pop("patient_age_group")}
        body["involved_staff"] = [p for s in self.staff for p in self._people(s, record)]
        return body

    def _value(self, name: str, value: str) -> str:
        table = {k.casefold(): v for k, v in self.values.get(name, {}).items()}  # type: ignore[call-overload]
        return table.get(value.strip().casefold(), value)

    def _split(self, cell: str | None) -> list[str]:
        return [p.strip() for p in (cell or "").split(self.separator) if p.strip()]

    def _people(self, cols: StaffColumns, record: dict[str, str | None]) -> list[dict[str, str | None]]:
        ids = self._split(record.get(cols.id))
        roles = self._split(record.get(cols.role)) if cols.role else []
        return [
            {"staff_id": sid, "role": roles[i] if i < len(roles) else None, "involvement": cols.involvement.value}
            for i, sid in enumerate(ids)
        ]

    def _timestamp(self, text: str, zone: str | None) -> datetime:
        when = _parse(text, self.timestamp_formats)
        if when.tzinfo is None:
            if zone is None:
                raise ValueError("timestamp without a UTC offset and the mapping names no timezone")
            when = when.replace(tzinfo=ZoneInfo(zone))
        return when


def _parse(text: str, formats: list[str]) -> datetime:
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    if formats:
        raise ValueError("timestamp matches none of the mapping's timestamp_formats")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not an ISO 8601 timestamp") from None


def load_mapping(path: Path) -> Mapping:
    """Read and check a YAML mapping file (ValidationError or yaml.YAMLError when it is wrong)."""
    return Mapping.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def to_report(mapping: Mapping, record: dict[str, str | None]) -> OccurrenceReportV1:
    """Map and validate one record as the intake does (ValidationError naming fields, never values)."""
    return OccurrenceReportV1.model_validate(mapping.to_body(record))
