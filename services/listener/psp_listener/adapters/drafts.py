"""An incident as normalized, before it is known to be complete: the event, or a draft held for triage.

A draft holds only what an IncidentObserved may hold (pseudonyms, codes, flags) plus, while it is open, the
source system and report id so a coordinator can find the report in the safety system. Names are never kept:
staff named without an id (FHIR ``display`` only) are held as their involvement alone.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from pydantic import Field

from psp_common.events.envelope import AwareDatetime, Frozen
from psp_common.events.intake import IncidentObserved, SourceKind
from psp_common.events.vocab import CisTrigger, EventClass, HarmLevel, Involvement, StaffRef
from psp_listener.adapters.common import correlation_id
from psp_listener.domain.triage import TriageReason


class IncidentDraft(Frozen):
    """Everything IncidentObserved carries except that the facility may be missing and staff unidentified."""

    incident_ref: str
    report_version: int
    source_kind: SourceKind
    occurred_at: AwareDatetime
    facility: str | None = None
    unit: str
    facility_tz: str | None = None
    reported_at: AwareDatetime | None = None
    event_class: EventClass
    category: str | None = None
    harm_level: HarmLevel | None = None
    patient_age_group: Literal["neonate", "child", "adult", "unknown"] | None = None
    staff: tuple[StaffRef, ...] = ()
    unidentified: tuple[Involvement, ...] = Field((), description="Involvement of each person named without id.")
    cis_flags: tuple[CisTrigger, ...] = ()
    huddle_call: Literal["morning", "evening", "ad_hoc"] | None = None
    team_size: int | None = None
    source_system: str | None = Field(None, max_length=200)
    source_id: str | None = Field(None, max_length=128)
    rules: tuple[str, ...] = Field((), description="Ids of the rules that routed it to triage (reason 'rules').")

    def reasons(self) -> tuple[TriageReason, ...]:
        """Why this cannot take the normal path (empty: it can).

        Someone named without an id holds the report only when nobody is identified or the unidentified one is
        the affected person (a staff injury): identified colleagues are not kept waiting for a witness's name.
        """
        out = []
        if not self.staff and not self.unidentified and self.team_size is None:
            out.append(TriageReason.NO_STAFF)
        if self.unidentified and (not self.staff or Involvement.AFFECTED in self.unidentified):
            out.append(TriageReason.STAFF_UNIDENTIFIED)
        if not self.facility:
            out.append(TriageReason.NO_FACILITY)
        return tuple(out)

    def complete(
        self,
        staff: tuple[StaffRef, ...] = (),
        facility: str | None = None,
        unit: str | None = None,
        *,
        triaged: bool = False,
    ) -> IncidentObserved:
        """The event, with ``staff`` added (first mention of a pseudonym wins) and facility / unit if given;
        ``triaged`` when a coordinator dispatched it."""
        merged = {s.pseudonym: s for s in (*self.staff, *staff)}
        ref, version = self.incident_ref, self.report_version
        return IncidentObserved(
            occurred_at=self.occurred_at,
            correlation_id=correlation_id(ref, version),
            incident_ref=ref,
            report_version=version,
            source_kind=self.source_kind,
            facility=facility or self.facility or "",
            unit=unit or self.unit,
            facility_tz=self.facility_tz,
            reported_at=self.reported_at,
            event_class=self.event_class,
            category=self.category,
            harm_level=self.harm_level,
            patient_age_group=self.patient_age_group,
            staff=tuple(merged.values()),
            cis_flags=self.cis_flags,
            huddle_call=self.huddle_call,
            team_size=self.team_size,
            triaged=triaged,
        )


Intake: TypeAlias = IncidentObserved | IncidentDraft


def resolve(draft: IncidentDraft) -> Intake:
    """The event when nothing is missing, else the draft (to be held for triage)."""
    return draft if draft.reasons() else draft.complete()


def routed(event: IncidentObserved, rules: tuple[str, ...]) -> IncidentDraft:
    """The draft of an incident rules routed to triage: what the event holds (pseudonyms, codes), no source id."""
    fields = set(IncidentDraft.model_fields) & set(IncidentObserved.model_fields)
    return IncidentDraft(**{f: getattr(event, f) for f in fields}, rules=rules)
