"""Intake context: normalized, pseudonymized incidents published by the listener."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from psp_common.events.envelope import AwareDatetime, Envelope
from psp_common.events.vocab import CisTrigger, EventClass, HarmLevel, StaffRef


def _unset(value: object) -> bool:
    """Flags added after the first consumers are left out of the JSON when false: a consumer built before them
    (``extra="forbid"``) keeps accepting every live, undispatched event, and false and absent read the same."""
    return value is False


# Most staff one incident may name (the native and huddle intake contracts share the cap).
MAX_STAFF = 200


class SourceKind(StrEnum):
    """Which intake produced the incident."""

    NATIVE = "native"
    FHIR = "fhir"
    HUDDLE = "huddle"


class IncidentObserved(Envelope):
    """An occurrence report, FHIR AdverseEvent or huddle entry, stripped of patient data and narrative."""

    incident_ref: str = Field(description="Opaque reference of the source report (HMAC of system + id).")
    report_version: int = Field(ge=1, description="Version or amendment number of the source report.")
    source_kind: SourceKind = Field(description="Which intake format the incident came from.")
    facility: str = Field(min_length=1, description="Facility (site) code.")
    unit: str = Field(min_length=1, description="Unit or department code.")
    facility_tz: str | None = Field(None, description="IANA time zone of the facility, when known.")
    reported_at: AwareDatetime | None = Field(None, description="When the report was filed.")
    event_class: EventClass = Field(description="Incident, near miss or unsafe condition.")
    category: str | None = Field(None, description="Event category, e.g. 'medication', 'fall'.")
    harm_level: HarmLevel | None = Field(None, description="AHRQ harm level, if rated.")
    patient_age_group: Literal["neonate", "child", "adult", "unknown"] | None = Field(
        None, description="Age group of the patient, never an identifier."
    )
    staff: tuple[StaffRef, ...] = Field(max_length=MAX_STAFF, description="Involved staff, pseudonymized.")
    cis_flags: tuple[CisTrigger, ...] = Field((), description="Critical Incident Stress triggers flagged.")
    huddle_call: Literal["morning", "evening", "ad_hoc"] | None = Field(
        None, description="Which safety huddle reported it, for huddle entries."
    )
    team_size: int | None = Field(
        None, ge=1, description="Head count of the affected team or unit, when reported as a group (huddles)."
    )
    historical: bool = Field(
        False,
        exclude_if=_unset,
        description="Imported from a past export (the listener's historical import), not reported live: rules "
        "decide and count it but never request outreach for it. Absent means false (a live report).",
    )
    triaged: bool = Field(
        False,
        exclude_if=_unset,
        description="Dispatched by a PSP coordinator from the listener's triage queue: a person decided, so rules "
        "never route it back to triage (a triage rule then applies as an outreach rule), and decide it even when "
        "rules already routed this report version to triage. Absent means false.",
    )

    def partition_key(self) -> str:
        """Keyed by incident so its versions stay ordered."""
        return self.incident_ref
