"""Hand back ("I can't take this"): who may give a case back, and when (pure Python).

Only the supporter who acknowledged the assignment, while they hold it (acknowledged or contacted, not closed).
The effects (the next backup is paged, or the coordinator when none is left) are the handler's.
"""

from __future__ import annotations

from psp_notification.domain.model import AssignmentState

HOLDING = frozenset({AssignmentState.ACKNOWLEDGED, AssignmentState.CONTACTED})


class HandBackError(Exception):
    """A hand back that cannot be done: the field concerned and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


class NotTheHolder(HandBackError):
    """The supporter does not hold this case (never acknowledged it, or someone else has it now)."""


class NotHeld(HandBackError):
    """The case is in a state where nobody holds it (closed, or being paged)."""


def check_may_hand_back(supporter_ref: str, state: str, acknowledged_by: str | None) -> None:
    """The supporter may give the case back only while they hold it."""
    if acknowledged_by != supporter_ref:
        raise NotTheHolder("token", "another supporter has this case, or you do not hold it")
    if state == AssignmentState.CLOSED:
        raise NotHeld("token", "the case is closed")
    if state not in HOLDING:
        raise NotHeld("token", f"the case is {state}: nobody holds it")
