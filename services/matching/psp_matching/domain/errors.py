"""Illegal transitions of a matching case (entrypoints map them to answers; events that hit them are ignored)."""

from __future__ import annotations


class CaseError(Exception):
    """A case cannot do what was asked; ``detail`` and ``reason`` name the rule, never an identifier."""

    detail = "case error"
    reason = "not allowed"

    def __init__(self) -> None:
        super().__init__(self.reason)


class UnknownCase(CaseError):
    """Matching has not seen the case."""

    detail = "unknown case"
    reason = "matching has not seen it"


class CaseClosed(CaseError):
    """The outreach closed: the case is not matched again (a new report opens a new case)."""

    detail = "case is closed"
    reason = "the outreach was closed; a new report opens a new case"


class NotThisCase(CaseError):
    """The assignment named is not one of this case's."""

    detail = "unknown assignment"
    reason = "the assignment is not this case's"
