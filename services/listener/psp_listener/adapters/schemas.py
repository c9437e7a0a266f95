"""Inbound schema: native occurrence report v1 (the JSON Schema in docs/schemas is generated from it)."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from psp_common.events.envelope import AwareDatetime
from psp_common.events.intake import MAX_STAFF
from psp_common.events.vocab import CisTrigger, EventClass, HarmLevel, Involvement


def known_zone(value: str | None) -> str | None:
    """Accept only IANA time zone names."""
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown IANA time zone") from exc
    return value


class Strict(BaseModel):
    """Rejects unknown fields so typos in an integration surface as errors, not silent loss."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class InvolvedStaff(Strict):
    """A staff member involved in the occurrence."""

    staff_id: str = Field(min_length=1, max_length=128, description="Employee or practitioner id.")
    role: str | None = Field(None, max_length=64, description="Profession or role, e.g. 'rn', 'physician'.")
    involvement: Involvement = Field(Involvement.PRIMARY, description="primary, witness, responder, affected.")


class PatientBlock(Strict):
    """Patient data some systems send; only the age group is kept, everything else is dropped at once."""

    age_group: Literal["neonate", "child", "adult", "unknown"] | None = Field(None, description="Kept.")
    mrn: str | None = Field(None, max_length=64, description="Dropped by the listener.")
    name: str | None = Field(None, max_length=256, description="Dropped by the listener.")
    birth_date: str | None = Field(None, max_length=32, description="Dropped by the listener.")


class OccurrenceReportV1(Strict):
    """Native occurrence (incident) report, version 1 of the intake contract."""

    source_system: str = Field(min_length=1, max_length=64, description="Sending system, e.g. 'rl6'.")
    report_id: str = Field(min_length=1, max_length=128, description="Report id within the source system.")
    version: int = Field(1, ge=1, le=10_000, description="Version or amendment number; higher supersedes.")
    facility: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Facility (site) code; when missing, the listener's default facility, else the report is held "
        "for triage.",
    )
    facility_tz: str | None = Field(None, max_length=64, description="IANA time zone of the facility.")
    unit: str | None = Field(
        None, min_length=1, max_length=64, description="Unit or department code; when missing, the default unit."
    )
    occurred_at: AwareDatetime = Field(description="When it happened, with a UTC offset.")
    reported_at: AwareDatetime | None = Field(None, description="When it was reported, with a UTC offset.")
    event_class: EventClass = Field(description="incident, near_miss or unsafe_condition.")
    category: str | None = Field(None, max_length=64, description="Event category, e.g. 'medication'.")
    harm_level: HarmLevel | None = Field(None, description="AHRQ harm level.")
    patient: PatientBlock | None = Field(None, description="Patient block; identifiers are dropped.")
    involved_staff: list[InvolvedStaff] = Field(
        default_factory=list,
        max_length=MAX_STAFF,
        description="Staff involved; when none is named the report is held for triage.",
    )
    cis_flags: list[CisTrigger] = Field(default_factory=list, max_length=32, description="CIS triggers.")
    narrative: str | None = Field(None, max_length=20_000, description="Free text; never leaves the listener.")

    @field_validator("facility_tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return known_zone(value)
