"""Typed cases and assignments to and from their table rows."""

from __future__ import annotations

from typing import Any

from psp_matching.domain.cases import Assignment, Candidate, Case, TeamMember

CASE_COLUMNS = (
    "case_id", "correlation_id", "incident_ref", "report_version", "facility", "unit", "urgency", "mode", "tier",
    "discipline", "people", "roles", "aliases", "created_at", "updated_at", "status", "assignment_id", "reasons",
    "last_decision", "closed_at", "purged_at",
)  # fmt: skip


def to_case(row: dict[str, Any]) -> Case:
    """A stored case."""
    values = {k: row[k] for k in CASE_COLUMNS}
    values["aliases"] = dict(values["aliases"] or {})
    return Case(**values)


def case_values(case: Case) -> dict[str, Any]:
    """The case's row."""
    values = {k: getattr(case, k) for k in CASE_COLUMNS}
    values["aliases"] = {k: list(v) for k, v in case.aliases.items()} or None
    values["people"], values["roles"], values["reasons"] = list(case.people), dict(case.roles), list(case.reasons)
    return values


def assignment_values(a: Assignment) -> dict[str, Any]:
    """The assignment's row (active when made)."""
    return {
        "assignment_id": a.assignment_id,
        "case_id": a.case_id,
        "status": "active",
        "urgency": a.urgency,
        "primary_ref": a.primary_ref,
        "team": list(a.team),
        "supported": list(a.supported),
        "candidates": [candidate_values(c) for c in a.candidates],
        "created_at": a.created_at,
    }


def candidate_values(c: Candidate) -> dict[str, Any]:
    """A candidate as stored in its assignment (built by hand: ``dataclasses.asdict`` deep-copies, and was a tenth
    of matching's samples in a replay)."""
    return {"supporter_ref": c.supporter_ref, "role": c.role, "score": c.score, "reasons": list(c.reasons)}


def member_values(m: TeamMember) -> dict[str, Any]:
    """A team member's row."""
    return {
        "assignment_id": m.assignment_id,
        "supporter_ref": m.supporter_ref,
        "case_id": m.case_id,
        "role": m.role,
        "created_at": m.created_at,
    }
