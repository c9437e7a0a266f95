"""Domain errors of the notification service: what cannot be done, the field concerned and why (pure Python).

No HTTP here: ``entrypoints/errors.py`` maps each kind to a status code. A reason never carries a value a
caller sent (a token, a name), only which field and why.
"""

from __future__ import annotations


class DomainError(Exception):
    """An action the domain refuses: the field concerned and why (never the value)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


class NotFound(DomainError):
    """No such thing, or not the caller's (answered alike so nothing is learned)."""


class NotAllowed(DomainError):
    """The caller may not do this: an unknown or altered link, a form not from the page, not the holder."""


class Conflict(DomainError):
    """Not possible in the current state."""


class Gone(DomainError):
    """A link that expired or was used up."""


class Invalid(DomainError):
    """Values that do not fit."""


class UnknownAssignment(NotFound):
    """No assignment with this id."""


class NotTheHolder(NotAllowed):
    """The supporter does not hold this case (never acknowledged it, or someone else has it now)."""


class NotHeld(Conflict):
    """Nobody holds the case (it is being paged, escalated or closed)."""


class AlreadyTaken(Conflict):
    """The case is already acknowledged, contacted or closed: this answer comes too late."""


class CaseClosed(Conflict):
    """The case is closed."""


class PageDeclined(Conflict):
    """This page was declined: it cannot be acknowledged any more."""


class NoAnswerNeeded(Conflict):
    """This page asks for no answer (a coordinator or reminder page, or a page of no assignment)."""


class LinkRefused(NotAllowed):
    """An unknown, altered or withdrawn link, or a link for another action."""


class FormRefused(NotAllowed):
    """The case page's form token is missing or from another page (CSRF)."""


class LinkSpent(Gone):
    """The link expired or was already used."""


class AlreadyAnswered(Conflict):
    """The page was answered (or its answer ran out) already."""


class AlreadyEscalated(Conflict):
    """The coordinator was already paged for this assignment's missed contact deadline."""


class NotDue(Conflict):
    """A deadline that has not passed yet."""
