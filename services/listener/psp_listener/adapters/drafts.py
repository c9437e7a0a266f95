"""An incident as normalized, before it is known to be complete: the event, or a draft held for triage.

A draft holds only what an IncidentObserved may hold (pseudonyms, codes, flags) plus, while it is open, the
source system and report id so a coordinator can find the report in the safety system. Names are never kept:
staff named without an id (FHIR ``display`` only) are held as their involvement alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

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
        """Why this cannot take the normal path (empty: it can); see ``triage_reasons``."""
        return triage_reasons(self.staff, self.unidentified, self.team_size, self.facility)

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
        fields = {f: getattr(self, f) for f in _EVENT_FIELDS}
        fields.update(facility=facility or self.facility or "", unit=unit or self.unit, staff=tuple(merged.values()))
        return event_of(fields, triaged=triaged)


def triage_reasons(
    staff: tuple[StaffRef, ...], unidentified: tuple[Involvement, ...], team_size: int | None, facility: str | None
) -> tuple[TriageReason, ...]:
    """Why an incident cannot take the normal path (empty: it can).

    Someone named without an id holds the report only when nobody is identified or the unidentified one is the
    affected person (a staff injury): identified colleagues are not kept waiting for a witness's name.
    """
    out = []
    if not staff and not unidentified and team_size is None:
        out.append(TriageReason.NO_STAFF)
    if unidentified and (not staff or Involvement.AFFECTED in unidentified):
        out.append(TriageReason.STAFF_UNIDENTIFIED)
    if not facility:
        out.append(TriageReason.NO_FACILITY)
    return tuple(out)


# What a complete draft carries into its event (not: unidentified, source_system, source_id, rules).
_EVENT_FIELDS = frozenset(IncidentDraft.model_fields) & frozenset(IncidentObserved.model_fields)


Intake: TypeAlias = IncidentObserved | IncidentDraft


def resolve(**fields: Any) -> Intake:
    """The event when nothing is missing, else the draft (to be held for triage), from IncidentDraft's fields.

    Each is validated once, as what it becomes (a draft built only to be turned into the event cost a second
    validation per report); what only a draft holds (source ids, people named without id) is not in the event.
    """
    missing = triage_reasons(
        fields.get("staff", ()), fields.get("unidentified", ()), fields.get("team_size"), fields.get("facility")
    )
    return IncidentDraft(**fields) if missing else event_of(fields)


def event_of(fields: Mapping[str, Any], *, triaged: bool = False) -> IncidentObserved:
    """The IncidentObserved of a complete incident's draft fields (its correlation id from reference and version)."""
    event = {f: v for f, v in fields.items() if f in _EVENT_FIELDS}
    ref, version = event["incident_ref"], event["report_version"]
    return IncidentObserved(correlation_id=correlation_id(ref, version), **event, triaged=triaged)


def routed(event: IncidentObserved, rules: tuple[str, ...]) -> IncidentDraft:
    """The draft of an incident rules routed to triage: what the event holds (pseudonyms, codes), no source id."""
    return IncidentDraft(**{f: getattr(event, f) for f in _EVENT_FIELDS}, rules=rules)
