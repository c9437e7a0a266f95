"""Matching context: which peer supporter takes a case."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from psp_common.events.envelope import Envelope, Frozen
from psp_common.events.vocab import SupportMode, Urgency


class Candidate(Frozen):
    """A ranked supporter with the reasons for the rank."""

    supporter_ref: str = Field(description="Pseudonym of the supporter.")
    score: float = Field(description="Preference score; higher is better.")
    reasons: tuple[str, ...] = Field((), description="Why this supporter ranks where it does.")
    aliases: tuple[str, ...] = Field(
        (),
        max_length=8,
        description="The supporter's pseudonyms under the other keys still active during a key rotation "
        "(PSP_PSEUDONYM_OLD_KEYS), so contacts stored under any of them are found. Empty when no previous key "
        "is active; optional.",
    )


class SupporterMatched(Envelope):
    """A primary supporter (and ranked backups) was chosen for a case."""

    assignment_id: UUID = Field(description="Id of the assignment; notification's idempotency key.")
    case_id: UUID = Field(description="Outreach case id.")
    facility: str = Field(description="Facility code.")
    unit: str = Field(description="Unit code.")
    supported: tuple[str, ...] = Field(min_length=1, description="Pseudonyms of the people to support.")
    primary: Candidate = Field(description="The supporter to page first.")
    backups: tuple[Candidate, ...] = Field((), description="Ranked backups, paged in order on no answer.")
    urgency: Urgency = Field(description="How soon to reach out.")
    mode: SupportMode = Field(description="Individual or group.")
    tier: Literal[1, 2, 3] = Field(description="Suggested support tier.")
    co_facilitators: tuple[Candidate, ...] = Field(
        (), description="Group cases: co-facilitators who run the intervention with the primary."
    )
    supersedes: UUID | None = Field(
        None, description="Assignment this one replaces (urgency rose, new people, or a coordinator re-match)."
    )

    def partition_key(self) -> str:
        """Keyed by case."""
        return str(self.case_id)


class SupporterUnmatched(Envelope):
    """No eligible supporter: the coordinator must step in."""

    case_id: UUID = Field(description="Outreach case id.")
    facility: str = Field(description="Facility code.")
    unit: str = Field(description="Unit code.")
    supported: tuple[str, ...] = Field(min_length=1, description="Pseudonyms of the people to support.")
    urgency: Urgency = Field(description="How soon to reach out.")
    mode: SupportMode = Field(description="Individual or group.")
    reasons: tuple[str, ...] = Field(description="Why nobody was eligible, by constraint.")

    def partition_key(self) -> str:
        """Keyed by case."""
        return str(self.case_id)
