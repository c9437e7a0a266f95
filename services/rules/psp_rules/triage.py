"""Routing to the coordinator: the TriageRequested a triage rule publishes (pseudonyms and codes only).

A rule with ``route: triage`` asks a human instead of requesting outreach; ``outreach_and_triage`` does both. The
listener holds the incident in its triage queue (reason ``rules``); the coordinator attaches staff and dispatches
it, and the listener publishes the incident again with ``triaged: true``: rules then decide that report version
once more (even though it was decided), the triage rules acting as outreach rules, and never route it back.
"""

from __future__ import annotations

from collections.abc import Sequence

from psp_common.events.intake import IncidentObserved
from psp_common.events.outreach import RuleHit
from psp_common.events.triage import TriageRequested
from psp_rules.domain.model import Hit


def triage_event(event: IncidentObserved, hits: Sequence[Hit], ruleset_version: str) -> TriageRequested:
    """The event for ``hits`` (the triage rules that fired on ``event``), keyed by the incident."""
    return TriageRequested(
        occurred_at=event.occurred_at,
        correlation_id=event.correlation_id,
        incident=event,
        rules_fired=tuple(RuleHit(rule_id=h.rule_id, text=h.explanation()) for h in hits),
        ruleset_version=ruleset_version,
    )
