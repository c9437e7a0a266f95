"""Inbound schema: safety-huddle entry v1 (morning / evening / ad hoc safety call)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from psp_common.events.envelope import AwareDatetime
from psp_common.events.intake import MAX_STAFF
from psp_common.events.vocab import CisTrigger, EventClass, HarmLevel
from psp_listener.adapters.schemas import InvolvedStaff, Strict, known_zone

OUT_OF_THE_ORDINARY = "out_of_the_ordinary"


class HuddleEntryV1(Strict):
    """One item raised at a safety huddle (what happened overnight / during the day), version 1."""

    source_system: str = Field("huddle", min_length=1, max_length=64, description="Huddle tool or board.")
    entry_id: str = Field(min_length=1, max_length=128, description="Entry id within the source system.")
    version: int = Field(1, ge=1, le=10_000, description="Version or amendment number; higher supersedes.")
    call: Literal["morning", "evening", "ad_hoc"] = Field(description="Which safety call raised it.")
    facility: str = Field(min_length=1, max_length=64, description="Facility (site) code.")
    facility_tz: str | None = Field(None, max_length=64, description="IANA time zone of the facility.")
    unit: str = Field(min_length=1, max_length=64, description="Unit or department code.")
    huddle_at: AwareDatetime = Field(description="When the huddle discussed it, with a UTC offset.")
    occurred_at: AwareDatetime | None = Field(
        None, description="When the event itself happened, with a UTC offset; default the huddle time."
    )
    event_class: EventClass = Field(EventClass.INCIDENT, description="incident, near_miss or unsafe_condition.")
    category: str | None = Field(None, max_length=64, description="Event category, e.g. 'fall'.")
    harm_level: HarmLevel | None = Field(None, description="AHRQ harm level, if rated.")
    patient_age_group: Literal["neonate", "child", "adult", "unknown"] | None = Field(
        None, description="Age group of the patient, never an identifier."
    )
    out_of_the_ordinary: bool = Field(
        True, description="Flagged as out of the ordinary; becomes category 'out_of_the_ordinary' if none given."
    )
    flags: list[CisTrigger] = Field(default_factory=list, max_length=32, description="CIS triggers raised.")
    staff: list[InvolvedStaff] = Field(default_factory=list, max_length=MAX_STAFF, description="Named staff involved.")
    team_size: int | None = Field(
        None, ge=1, le=10_000, description="Head count of the affected team or unit, instead of or besides staff."
    )
    note: str | None = Field(None, max_length=20_000, description="Free text; never leaves the listener.")

    @field_validator("facility_tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return known_zone(value)

    @model_validator(mode="after")
    def _someone_involved(self) -> Self:
        if not self.staff and self.team_size is None:
            raise ValueError("staff or team_size: name at least one staff member or give a team size")
        return self

    def effective_category(self) -> str | None:
        """The category, or 'out_of_the_ordinary' when only flagged as such."""
        if self.category is None and self.out_of_the_ordinary:
            return OUT_OF_THE_ORDINARY
        return self.category
