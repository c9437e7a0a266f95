"""Illegal transitions of a matching case (entrypoints map them to answers; events that hit them are ignored)."""

from __future__ import annotations


class CaseError(Exception):
    """A case cannot do what was asked; ``detail`` and ``reason`` name the rule, never an identifier."""

    detail = "case error"
    reason = "not allowed"
    field = "case_id"

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


class UnknownSupporter(CaseError):
    """The supporter named for the case is not on the roster."""

    detail = "unknown supporter"
    reason = "not on the roster"
    field = "supporter_ref"


class NotEligible(CaseError):
    """The supporter named for the case fails a constraint a coordinator cannot waive (named in ``reason``)."""

    detail = "supporter not eligible"
    field = "supporter_ref"

    def __init__(self, explanations: list[str]) -> None:
        self.reason = "fails: " + "; ".join(explanations)
        super().__init__()
