"""Rules context: decisions that a person or team should get proactive outreach."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from psp_common.events.envelope import AwareDatetime, Envelope, Frozen
from psp_common.events.intake import IncidentObserved, SourceKind
from psp_common.events.referral import ReferralFacts
from psp_common.events.vocab import CisTrigger, EventClass, HarmLevel, StaffRef, SupportMode, Urgency


def _absent(value: object) -> bool:
    """Fields added after the first consumers are left out of the JSON when None: a consumer built before them
    (``extra="forbid"``) keeps accepting every event that does not use them, and None and absent read the same."""
    return value is None


class RuleHit(Frozen):
    """A rule that fired, with its explanation."""

    rule_id: str = Field(description="Stable id of the rule in the rule set.")
    text: str = Field(description="Human-readable explanation of why it fired.")


class IncidentFacts(Frozen):
    """The incident's codes as rules read them (no people, no narrative, no patient data): enough for a coordinator
    to recognise the incident and for rules to decide it again when it is dispatched from triage."""

    source_kind: SourceKind = Field(description="Which intake format the incident came from.")
    event_class: EventClass = Field(description="Incident, near miss or unsafe condition.")
    category: str | None = Field(None, description="Event category, e.g. 'medication', 'fall'.")
    harm_level: HarmLevel | None = Field(None, description="AHRQ harm level, if rated.")
    patient_age_group: Literal["neonate", "child", "adult", "unknown"] | None = Field(
        None, description="Age group of the patient, never an identifier."
    )
    cis_flags: tuple[CisTrigger, ...] = Field((), description="Critical Incident Stress triggers flagged.")
    huddle_call: Literal["morning", "evening", "ad_hoc"] | None = Field(None, description="Huddle, for huddles.")
    team_size: int | None = Field(None, ge=1, description="Head count of the affected team, when reported so.")
    facility_tz: str | None = Field(None, description="IANA time zone of the facility, when known.")

    @classmethod
    def of(cls, event: IncidentObserved) -> IncidentFacts:
        """The facts of ``event``."""
        return cls.model_validate({f: getattr(event, f) for f in cls.model_fields})


class OutreachRequested(Envelope):
    """The rules service decided that these people should be offered support."""

    case_id: UUID = Field(description="Id of the outreach case (one per person, or one per group).")
    incident_ref: str = Field(description="Opaque reference of the incident that caused it.")
    report_version: int = Field(ge=1, description="Report version the decision was made on.")
    facility: str = Field(description="Facility code.")
    unit: str = Field(description="Unit code.")
    people: tuple[StaffRef, ...] = Field(min_length=1, description="Who should be reached.")
    rules_fired: tuple[RuleHit, ...] = Field(min_length=1, description="Which rules fired and why.")
    urgency: Urgency = Field(description="How soon to reach out.")
    mode: SupportMode = Field(description="Individual (1:1) or group intervention.")
    tier: Literal[1, 2, 3] = Field(description="1 emotional first aid, 2 peer support, 3 expedited referral.")
    ruleset_version: str = Field(description="Version of the rule set that decided.")
    change: Literal["opened", "escalated", "updated"] = Field(
        "opened",
        description="opened: a new case; escalated: the same case again with higher urgency or tier (e.g. an "
        "amended report); updated: a group case gained people. Consumers keep one case per case_id.",
    )
    requested_at: AwareDatetime | None = Field(
        None,
        exclude_if=_absent,
        description="When rules decided that outreach is needed; matching judges shifts, the monthly cap, fairness "
        "and continuity at this instant, so a replay decides what live processing did. Absent on events from "
        "before this field: the envelope's produced_at is used.",
    )
    referral: ReferralFacts | None = Field(
        None,
        exclude_if=_absent,
        description="Set when a referral (psp.intake.referral-observed.v1) caused the request: its kind, the policy "
        "applied and whether the contact is an offer the person may decline. Absent for incidents; optional, so "
        "consumers that predate it keep working.",
    )
    incident: IncidentFacts | None = Field(
        None,
        exclude_if=_absent,
        description="Set when an incident (not a referral) caused the request: its codes as rules read them, so "
        "notification can hand a case whose colleague it cannot reach to the listener's triage queue "
        "(status 'colleague_unknown'). Optional, so consumers that predate it keep working.",
    )

    def partition_key(self) -> str:
        """Keyed by case."""
        return str(self.case_id)
