"""Triage context: an incident version a human (the PSP coordinator) must look at before outreach."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from psp_common.events.envelope import Envelope
from psp_common.events.intake import IncidentObserved
from psp_common.events.outreach import RuleHit


class TriageRoute(StrEnum):
    """Who sent the incident to triage, and why."""

    RULES = "rules"  # a rule whose route is 'triage' (or 'outreach_and_triage') fired


class TriageRequested(Envelope):
    """Rules routed an incident version to the listener's triage queue (pseudonyms and codes only).

    The coordinator attaches staff from the directory and dispatches it (the listener then publishes the incident
    again with ``triaged: true``, which rules decides without routing it back) or dismisses it with a reason.
    """

    route: TriageRoute = Field(TriageRoute.RULES, description="Why it is held: 'rules' (a triage rule fired).")
    incident: IncidentObserved = Field(
        description="The incident version as rules received it: pseudonymized staff, codes and flags; no patient "
        "data, no narrative. Dispatch republishes it with the attached staff added."
    )
    rules_fired: tuple[RuleHit, ...] = Field(min_length=1, description="The triage rules that fired, and why.")
    ruleset_version: str = Field(description="Version of the rule set that decided.")

    def partition_key(self) -> str:
        """Keyed by incident, like its IncidentObserved."""
        return self.incident.incident_ref
