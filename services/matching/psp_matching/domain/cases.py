"""What to do with a repeated OutreachRequested for a case already seen (pure Python)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from psp_matching.domain.model import GROUP, URGENCY_RANK


class Action(StrEnum):
    """Decision for an OutreachRequested."""

    MATCH = "match"  # first time this case is seen
    REMATCH = "rematch"  # urgency/tier rose, new people, or now a group: a new assignment supersedes the old
    RETRY = "retry"  # nobody was eligible last time: try again, publish only if someone is found
    IGNORE = "ignore"  # same or lower urgency, same people: the existing assignment stands


@dataclass(frozen=True)
class PriorCase:
    """What matching stored about the case."""

    urgency: str
    people: frozenset[str]
    matched: bool
    tier: int = 1
    mode: str = "individual"


def decide(
    prior: PriorCase | None, urgency: str, people: frozenset[str], tier: int = 1, mode: str = "individual"
) -> tuple[Action, str]:
    """Decide whether a (repeated) request creates a new assignment, and why."""
    if prior is None:
        return Action.MATCH, "new case"
    if URGENCY_RANK[urgency] > URGENCY_RANK[prior.urgency]:
        return Action.REMATCH, f"urgency rose from {prior.urgency} to {urgency}"
    if not people <= prior.people:
        return Action.REMATCH, "new people on the case"
    if tier > prior.tier:
        return Action.REMATCH, f"tier rose from {prior.tier} to {tier}"
    if mode == GROUP and prior.mode != GROUP:
        return Action.REMATCH, "became a group intervention"
    if not prior.matched:
        return Action.RETRY, "previously unmatched"
    return Action.IGNORE, "same people, urgency and tier did not rise"
