"""Listener settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from psp_common.events.intake import MAX_STAFF
from psp_common.events.vocab import HarmLevel, Involvement
from psp_common.settings import ServiceSettings
from psp_listener.adapters.phrases import DEFAULT_RULES, PhraseRule

# AdverseEvent codes (seriousness, severity, outcome; R4 and R5 spellings, compared case-folded) -> harm.
DEFAULT_FHIR_HARM = {
    "fatal": HarmLevel.DEATH,
    "death": HarmLevel.DEATH,
    "seriousresultsindeath": HarmLevel.DEATH,
    "419620001": HarmLevel.DEATH,
    "died": HarmLevel.DEATH,
    "seriousislifethreatening": HarmLevel.SEVERE,
    "seriousresultsindisability": HarmLevel.SEVERE,
    "severe": HarmLevel.SEVERE,
    "resolvedwithsequelae": HarmLevel.SEVERE,
    "seriousresultsinhospitalization": HarmLevel.MODERATE,
    "serious": HarmLevel.MODERATE,
    "seriousrequirespreventimpairment": HarmLevel.MODERATE,
    "moderate": HarmLevel.MODERATE,
    "mild": HarmLevel.MILD,
    "non-serious": HarmLevel.MILD,
    "recovering": HarmLevel.MILD,
    "resolved": HarmLevel.MILD,
    "ongoing": HarmLevel.MILD,
    "unknown": HarmLevel.UNKNOWN,
}

# R5 participant.function codes (v3 ParticipationType) -> involvement.
DEFAULT_FHIR_FUNCTIONS = {
    "pprf": Involvement.PRIMARY,
    "prf": Involvement.PRIMARY,
    "part": Involvement.PRIMARY,
    "sprf": Involvement.RESPONDER,
    "atnd": Involvement.RESPONDER,
    "con": Involvement.RESPONDER,
    "wit": Involvement.WITNESS,
    "inf": Involvement.WITNESS,
    "aut": Involvement.WITNESS,
}


class ListenerSettings(ServiceSettings):
    """Settings of the listener (env prefix ``PSP_``)."""

    service_name: str = "listener"
    http_port: int = 8001
    max_body_bytes: int = Field(256 * 1024, description="Largest intake body accepted (HTTP 413 above).")
    phrase_rules: list[PhraseRule] = Field(
        default_factory=lambda: list(DEFAULT_RULES),
        description="Narrative phrase rules (regex -> CIS trigger) applied before the narrative is dropped.",
    )
    phrase_rules_file: Path | None = Field(
        None, description="YAML file of phrase rules; when set it replaces ``phrase_rules``."
    )
    default_facility: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Facility of a report that names none (any format); without it such a report goes to triage.",
    )
    default_unit: str = Field(
        "unknown", min_length=1, max_length=64, description="Unit of a report that names none (any format)."
    )
    fhir_source_system: str = Field("fhir", description="Source system of FHIR resources without identifier.")
    fhir_facility_extension: str = Field(
        "https://psp-outreach.example/fhir/StructureDefinition/facility",
        description="Extension URL (on the AdverseEvent or its location) carrying the facility code.",
    )
    fhir_location_separator: str = Field(
        "/", description="Separator in a location display 'FACILITY/UNIT' naming facility and unit."
    )
    fhir_default_facility: str | None = Field(
        None, description="Facility when a FHIR resource names none (before default_facility)."
    )
    fhir_default_unit: str | None = Field(None, description="Unit when a FHIR resource has no location.")
    fhir_default_tz: str | None = Field(None, description="IANA time zone of FHIR-reported facilities.")
    fhir_harm_codes: dict[str, HarmLevel] = Field(
        default_factory=lambda: dict(DEFAULT_FHIR_HARM),
        description="AdverseEvent seriousness/severity/outcome codes (case-folded) -> AHRQ harm level.",
    )
    fhir_participant_functions: dict[str, Involvement] = Field(
        default_factory=lambda: dict(DEFAULT_FHIR_FUNCTIONS),
        description="R5 participant.function codes (case-folded) -> involvement.",
    )
    fhir_contributor_involvement: Involvement = Field(
        Involvement.PRIMARY, description="Involvement of R4 contributor Practitioners."
    )
    fhir_max_participants: int = Field(
        50,
        ge=1,
        le=MAX_STAFF - 1,
        description="Most entries in an AdverseEvent's participant (R5) or contributor (R4) list; more is refused.",
    )
    quarantine_retention_days: float = Field(
        30, gt=0, description="Quarantined (dead-lettered) intake is deleted this many days after it arrived."
    )
