"""Topic names: ``psp.<context>.<event>.v<N>``; a breaking change gets a new ``.v2`` topic."""

from __future__ import annotations

# Intake from hospital systems (raw, validated by the listener).
OCCURRENCE_REPORTS = "psp.occurrence-reports.v1"
SAFETY_HUDDLES = "psp.safety-huddles.v1"
FHIR_ADVERSE_EVENTS = "psp.fhir-adverse-events.v1"
REFERRALS = "psp.referrals.v1"  # self, colleague, manager and EAP referrals (ReferralV1)

# Normalized, pseudonymized events between services.
INCIDENT_OBSERVED = "psp.intake.incident-observed.v1"
REFERRAL_OBSERVED = "psp.intake.referral-observed.v1"
OUTREACH_REQUESTED = "psp.rules.outreach-requested.v1"
TRIAGE_REQUESTED = "psp.rules.triage-requested.v1"  # a rule routed an incident to the coordinator (listener)
SUPPORTER_MATCHED = "psp.matching.supporter-matched.v1"
SUPPORTER_UNMATCHED = "psp.matching.supporter-unmatched.v1"
OUTREACH_STATUS = "psp.outreach-status.v1"
SAFETY_CALL_FEED = "psp.safety-call-feed.v1"

# Poison messages, with reason, source topic and attempt count in headers.
DEAD_LETTER = "psp.dead-letter.v1"

ALL_TOPICS: tuple[str, ...] = (
    OCCURRENCE_REPORTS,
    SAFETY_HUDDLES,
    FHIR_ADVERSE_EVENTS,
    REFERRALS,
    INCIDENT_OBSERVED,
    REFERRAL_OBSERVED,
    OUTREACH_REQUESTED,
    TRIAGE_REQUESTED,
    SUPPORTER_MATCHED,
    SUPPORTER_UNMATCHED,
    OUTREACH_STATUS,
    SAFETY_CALL_FEED,
    DEAD_LETTER,
)
