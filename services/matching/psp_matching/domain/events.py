"""What happened to a matching case (pure Python); ``adapters.messages`` turns them into published events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psp_matching.domain.model import Ranked


@dataclass(frozen=True)
class CaseFacts:
    """The case as an event carries it."""

    case_id: str
    correlation_id: str
    facility: str
    unit: str
    supported: tuple[str, ...]
    urgency: str
    mode: str
    tier: int


@dataclass(frozen=True)
class SupporterMatched:
    """A team was found: a new assignment (superseding ``supersedes``, the case's previous one, if any)."""

    case: CaseFacts
    assignment_id: str
    primary: Ranked
    co_facilitators: tuple[Ranked, ...]
    backups: tuple[Ranked, ...]
    notes: tuple[str, ...]
    supersedes: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class SupporterUnmatched:
    """Nobody was eligible: why, by constraint (counts only)."""

    case: CaseFacts
    reasons: tuple[str, ...]
    occurred_at: datetime


Event = SupporterMatched | SupporterUnmatched
