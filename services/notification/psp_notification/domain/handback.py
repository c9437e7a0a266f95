"""Hand back ("I can't take this"): who may give a case back, and when (pure Python).

Only the supporter who acknowledged the assignment, while they hold it (acknowledged or contacted, not closed).
The effects (the next backup is paged, or the coordinator when none is left) are the ``Assignment``'s.
"""

from __future__ import annotations

from psp_notification.domain.errors import NotHeld, NotTheHolder
from psp_notification.domain.model import HELD_STATES, AssignmentState

__all__ = ["NotHeld", "NotTheHolder", "check_may_hand_back"]


def check_may_hand_back(supporter_ref: str, state: str, acknowledged_by: str | None) -> None:
    """The supporter may give the case back only while they hold it."""
    if acknowledged_by != supporter_ref:
        raise NotTheHolder("token", "another supporter has this case, or you do not hold it")
    if state == AssignmentState.CLOSED:
        raise NotHeld("token", "the case is closed")
    if state not in HELD_STATES:
        raise NotHeld("token", f"the case is {state}: nobody holds it")
