"""HTTP schemas of the roster, staff directory and shift feed (strict: unknown fields are errors)."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from psp_common.events.envelope import AwareDatetime

StaffId = Field(min_length=1, max_length=128, description="Employee or practitioner id.")


class Strict(BaseModel):
    """Rejects unknown fields so typos surface as errors, not silent loss."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown IANA time zone") from exc
    return value


class ContactHoursIn(Strict):
    """Daily window when the supporter accepts contact; ``end`` before ``start`` passes midnight."""

    start: time = Field(description="Local start time, e.g. '08:00'.")
    end: time = Field(description="Local end time, e.g. '20:00'.")
    time_zone: str = Field(max_length=64, description="IANA time zone, e.g. 'America/Toronto'.")

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _known_zone(value)


class TrainingIn(Strict):
    """Training flags of a supporter."""

    group_facilitation: bool = Field(False, description="Trained to facilitate group interventions.")
    mental_health_credentials: bool = Field(False, description="Holds mental-health credentials (tier 3).")


class SupporterFields(Strict):
    """Everything about a supporter except the staff id (PUT body)."""

    display_name: str = Field(min_length=1, max_length=200, description="Name shown to coordinators.")
    profession: str = Field(min_length=1, max_length=64, description="e.g. rn, physician, rt, pharmacist.")
    seniority_level: int = Field(ge=1, le=10, description="Higher = more senior (1 student .. 5 attending).")
    years_experience: int = Field(0, ge=0, le=80, description="Years of clinical experience.")
    site: str = Field(min_length=1, max_length=64, description="Facility (site) code, e.g. 'GEN'.")
    languages: list[str] = Field(default_factory=list, max_length=20, description="Languages, e.g. ['en','fr'].")
    training: TrainingIn = Field(default_factory=TrainingIn, description="Training flags.")
    contact_hours: ContactHoursIn | None = Field(None, description="Contact window; none = always available.")
    accepts_immediate_outside_hours: bool = Field(
        False, description="May be paged outside contact hours for immediate cases."
    )
    paused: bool = Field(False, description="Stepped away: not matched until resumed.")
    evaluates: list[str] = Field(default_factory=list, max_length=500, description="Staff ids they evaluate.")
    supervises: list[str] = Field(default_factory=list, max_length=500, description="Staff ids they supervise.")
    max_assignments_per_month: int | None = Field(
        None, ge=0, le=100, description="Personal limit, below the program cap; none = the program cap."
    )

    @field_validator("profession")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("languages")
    @classmethod
    def _langs(cls, value: list[str]) -> list[str]:
        out = [v.strip().lower() for v in value]
        if any(not v or len(v) > 35 for v in out):
            raise ValueError("each language must be 1-35 characters")
        return list(dict.fromkeys(out))

    @field_validator("evaluates", "supervises")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        out = [v.strip() for v in value]
        if any(not v or len(v) > 128 for v in out):
            raise ValueError("each staff id must be 1-128 characters")
        return out


class SupporterIn(SupporterFields):
    """A supporter to register (POST body)."""

    staff_id: str = StaffId


class SupporterView(BaseModel):
    """A supporter as coordinators see it."""

    supporter_ref: str = Field(description="Pseudonym used on the bus.")
    staff_id: str = Field(description="Staff id (coordinators only; never published).")
    display_name: str = Field(description="Name shown to coordinators.")
    profession: str = Field(description="Profession.")
    seniority_level: int = Field(description="Seniority level.")
    years_experience: int = Field(description="Years of experience.")
    site: str = Field(description="Facility code.")
    languages: list[str] = Field(description="Languages.")
    training: TrainingIn = Field(description="Training flags.")
    contact_hours: ContactHoursIn | None = Field(description="Contact window, none = always.")
    accepts_immediate_outside_hours: bool = Field(description="Pageable outside hours for immediate cases.")
    paused: bool = Field(description="Stepped away.")
    active: bool = Field(description="False once deactivated.")
    evaluates: list[str] = Field(description="Pseudonyms of people they evaluate.")
    supervises: list[str] = Field(description="Pseudonyms of people they supervise.")
    max_assignments_per_month: int | None = Field(description="Personal monthly limit.")
    on_shift_now: bool = Field(False, description="A shift covers the current time.")
    assignments_this_month: int = Field(0, description="Cases taken this calendar month.")
    monthly_cap: int = Field(
        description="The cap this month's cases count against: the program's, or the personal limit when lower."
    )


class SupporterPatch(Strict):
    """Fields to change (PATCH body); absent fields keep their value, so evaluates/supervises survive an edit."""

    display_name: str | None = Field(None, description="Name shown to coordinators.")
    profession: str | None = Field(None, description="Profession.")
    seniority_level: int | None = Field(None, description="Seniority level (1-10).")
    years_experience: int | None = Field(None, description="Years of clinical experience.")
    site: str | None = Field(None, description="Facility (site) code.")
    languages: list[str] | None = Field(None, description="Languages.")
    training: TrainingIn | None = Field(None, description="Training flags.")
    contact_hours: ContactHoursIn | None = Field(None, description="Contact window; null = always available.")
    accepts_immediate_outside_hours: bool | None = Field(None, description="Pageable outside hours (immediate).")
    paused: bool | None = Field(None, description="Stepped away.")
    evaluates: list[str] | None = Field(None, description="Staff ids they evaluate (replaces the stored list).")
    supervises: list[str] | None = Field(None, description="Staff ids they supervise (replaces the stored list).")
    max_assignments_per_month: int | None = Field(None, description="Personal monthly limit; null = program cap.")


class StaffIn(Strict):
    """A clinician in the staff directory (stored as pseudonym + attributes only)."""

    staff_id: str = StaffId
    profession: str | None = Field(None, max_length=64, description="Profession, e.g. 'rn'.")
    seniority_level: int | None = Field(None, ge=1, le=10, description="Seniority level, same scale as supporters.")
    languages: list[str] = Field(default_factory=list, max_length=20, description="Preferred languages.")

    @field_validator("profession")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @field_validator("languages")
    @classmethod
    def _langs(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value if v.strip()]


class StaffView(BaseModel):
    """A staff directory entry."""

    staff_ref: str = Field(description="Pseudonym of the staff member.")
    profession: str | None = Field(description="Profession.")
    seniority_level: int | None = Field(description="Seniority level.")
    languages: list[str] = Field(description="Languages.")


class ShiftIn(Strict):
    """One shift of a staff member."""

    staff_id: str = StaffId
    start: AwareDatetime = Field(description="Shift start, with a UTC offset.")
    end: AwareDatetime = Field(description="Shift end, with a UTC offset; after start.")

    @model_validator(mode="after")
    def _order(self) -> ShiftIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ShiftView(BaseModel):
    """A stored shift (the staff member by pseudonym: a supporter's is their supporter_ref)."""

    staff_ref: str = Field(description="Pseudonym of the staff member (supporter_ref for a supporter).")
    start: AwareDatetime = Field(description="Shift start (UTC).")
    end: AwareDatetime = Field(description="Shift end (UTC).")
    source: str = Field(description="Where it came from: json or ical.")


class ShiftsAccepted(BaseModel):
    """Result of a shift feed upload."""

    received: int = Field(description="Shifts in the upload.")
    stored: int = Field(description="New shifts stored (repeats of a known shift are skipped).")


class RowError(BaseModel):
    """A rejected row of an import."""

    row: int = Field(description="Line (CSV, header = 1) or VEVENT number (iCal, first = 1).")
    field: str = Field(description="Offending field or column.")
    reason: str = Field(description="Why it was rejected.")


class ImportReport(BaseModel):
    """Result of a CSV or iCal import."""

    detail: str = Field(description="Summary.")
    created: int = Field(0, description="Rows that created a record.")
    updated: int = Field(0, description="Rows that updated a record.")
    errors: list[RowError] = Field(default_factory=list, description="Rejected rows with field and reason.")
