"""Parse and normalize every intake format (bytes in; an event, a draft held for triage, or ValidationError out)."""

from __future__ import annotations

import logging

from psp_common.clock import utcnow
from psp_common.events.intake import IncidentObserved, SourceKind
from psp_common.events.referral import ReferralObserved
from psp_common.pseudonym import Pseudonymizer
from psp_listener.adapters.common import Person, correlation_id, incident_ref, staff_refs
from psp_listener.adapters.drafts import Intake, resolve
from psp_listener.adapters.errors import invalid
from psp_listener.adapters.fhir import TITLE, FhirVersion, parse_resource
from psp_listener.adapters.fhir_map import FhirContext, to_intake
from psp_listener.adapters.huddles import HuddleEntryV1
from psp_listener.adapters.phrases import PhraseMatcher, load_rules
from psp_listener.adapters.referrals import ReferralV1
from psp_listener.adapters.schemas import OccurrenceReportV1
from psp_listener.referral_intake import Caller, to_event
from psp_listener.settings import ListenerSettings

log = logging.getLogger("psp.listener.normalize")


class Normalizer:
    """Turns validated intake into stripped, pseudonymized IncidentObserved events."""

    def __init__(self, settings: ListenerSettings, pseudo: Pseudonymizer) -> None:
        rules = load_rules(settings.phrase_rules_file) if settings.phrase_rules_file else settings.phrase_rules
        self.settings = settings
        self.pseudo = pseudo
        self.phrases = PhraseMatcher(rules)
        self._fhir = FhirContext(settings, pseudo, self.phrases)

    def native(self, report: OccurrenceReportV1) -> Intake:
        """Map a native report: pseudonymize staff, drop patient identifiers and narrative.

        A missing unit takes the default; a missing facility the default facility, else (like missing staff) the
        report is held for triage.
        """
        ref = incident_ref(self.pseudo, report.source_system, report.report_id)
        age = report.patient.age_group if report.patient else None
        flags = (*report.cis_flags, *self.phrases.flags([report.narrative], age))
        people = [Person(p.staff_id, p.role, p.involvement) for p in report.involved_staff]
        return resolve(
            occurred_at=report.occurred_at,
            incident_ref=ref,
            report_version=report.version,
            source_kind=SourceKind.NATIVE,
            facility=report.facility or self.settings.default_facility,
            unit=report.unit or self.settings.default_unit,
            facility_tz=report.facility_tz,
            reported_at=report.reported_at,
            event_class=report.event_class,
            category=report.category,
            harm_level=report.harm_level,
            patient_age_group=age,
            staff=staff_refs(people, self.pseudo),
            cis_flags=tuple(dict.fromkeys(flags)),
            source_system=report.source_system,
            source_id=report.report_id,
        )

    def huddle(self, entry: HuddleEntryV1) -> IncidentObserved:
        """Map a safety-huddle entry: flags from the note, team head count, the note itself dropped."""
        ref = incident_ref(self.pseudo, entry.source_system, entry.entry_id)
        flags = (*entry.flags, *self.phrases.flags([entry.note], entry.patient_age_group))
        people = [Person(p.staff_id, p.role, p.involvement) for p in entry.staff]
        return IncidentObserved(
            occurred_at=entry.occurred_at or entry.huddle_at,
            correlation_id=correlation_id(ref, entry.version),
            incident_ref=ref,
            report_version=entry.version,
            source_kind=SourceKind.HUDDLE,
            facility=entry.facility,
            unit=entry.unit,
            facility_tz=entry.facility_tz,
            reported_at=entry.huddle_at,
            event_class=entry.event_class,
            category=entry.effective_category(),
            harm_level=entry.harm_level,
            patient_age_group=entry.patient_age_group,
            staff=staff_refs(people, self.pseudo),
            cis_flags=tuple(dict.fromkeys(flags)),
            huddle_call=entry.call,
            team_size=entry.team_size,
        )

    def fhir(self, body: bytes, hint: FhirVersion | None = None) -> Intake:
        """Validate a FHIR AdverseEvent (R4 or R5) and map it (held for triage when staff or facility is missing)."""
        try:
            resource, version = parse_resource(body, hint, self.settings.fhir_max_participants)
            return to_intake(resource, version, self._fhir)
        except (TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
            log.warning("unreadable AdverseEvent: %s", type(exc).__name__)
            raise invalid(TITLE, [((), f"unreadable AdverseEvent ({type(exc).__name__})")]) from exc

    def parse_native(self, body: bytes) -> Intake:
        """Kafka: bytes of a native report -> event."""
        return self.native(OccurrenceReportV1.model_validate_json(body))

    def parse_huddle(self, body: bytes) -> IncidentObserved:
        """Kafka: bytes of a huddle entry -> event."""
        return self.huddle(HuddleEntryV1.model_validate_json(body))

    def parse_fhir(self, body: bytes) -> Intake:
        """Kafka: bytes of an AdverseEvent -> event (version from meta.profile or shape)."""
        return self.fhir(body)

    def referral(self, referral: ReferralV1, caller: Caller | None = None) -> ReferralObserved:
        """Map a referral: pseudonymize the person and the referrer (the caller's own id fills in what it may)."""
        return to_event(referral, self.pseudo, caller or Caller(), utcnow())

    def parse_referral(self, body: bytes) -> ReferralObserved:
        """Kafka: bytes of a referral (a system names everyone) -> event."""
        return self.referral(ReferralV1.model_validate_json(body))
