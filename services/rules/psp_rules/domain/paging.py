"""Which decisions may page: historical imports and incidents older than the outreach max age never do.

They are still decided (rules fire, urgency and mode are worked out) and recorded, so they are counted in the
stats; every action that would open, merge into or escalate a case becomes a ``not paged`` action instead.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from psp_rules.domain.engine import Action, ActionKind, Decision

HISTORICAL = "historical import"
# Actions that change a case or page someone; the others (opted out, already covered) change nothing anyway.
# A triage request is held too: a historical or too old report is never put before the coordinator.
PAGING = frozenset({ActionKind.OPEN, ActionKind.MERGE, ActionKind.ESCALATE, ActionKind.UPDATE, ActionKind.TRIAGE})


def not_paged_reason(historical: bool, occurred_at: datetime, now: datetime, max_age_days: float | None) -> str | None:
    """Why a decision on an incident that occurred at ``occurred_at``, decided at ``now``, must not page; or None."""
    if historical:
        return HISTORICAL
    if max_age_days is not None and now - occurred_at > timedelta(days=max_age_days):
        return f"occurred more than {max_age_days:g} days before the decision"
    return None


def hold(decision: Decision, reason: str) -> Decision:
    """The same decision with every paging action turned into a ``not paged`` one (no case, nothing published)."""
    if not any(a.kind in PAGING for a in decision.actions):
        return decision
    actions = tuple(_held(a, reason) if a.kind in PAGING else a for a in decision.actions)
    return replace(decision, actions=actions, outcome=f"not paged ({reason}); would have: {decision.outcome}")


def _held(action: Action, reason: str) -> Action:
    note = f"{reason}; would have: {action.kind.value}"
    return replace(action, kind=ActionKind.HELD, case_id="", publish=False, note=note)
