"""Listener domain: the parsed report and the amendment rule (pure Python)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from psp_listener.domain.triage import TriageReason


class Disposition(StrEnum):
    """What the listener did with an incoming report version."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    SUPERSEDED = "superseded"
    TRIAGED = "triaged"  # accepted, held for a coordinator: staff or facility could not be determined


def amendment_disposition(stored_version: int | None, incoming_version: int) -> Disposition:
    """A newer version supersedes, the same version is a no-op, an older one arriving late is ignored."""
    if stored_version is None or incoming_version > stored_version:
        return Disposition.ACCEPTED
    if incoming_version == stored_version:
        return Disposition.DUPLICATE
    return Disposition.SUPERSEDED


@dataclass(frozen=True)
class Outcome:
    """Result of taking in one report."""

    disposition: Disposition
    incident_ref: str
    version: int
    event_id: str | None = None
    triage_id: str | None = None
    reasons: tuple[TriageReason, ...] = ()
