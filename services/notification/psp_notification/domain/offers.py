"""Referral offers (pure Python): a supporter reaching out on someone else's word offers support, which the
person may accept or decline (self-determination, seed 004). The encounter log's outcome records the answer; a
declined offer closes the case quietly: no check-ins, no escalation, nobody else paged."""

from __future__ import annotations

from enum import StrEnum

from psp_notification.domain.encounters import Outcome


class Offer(StrEnum):
    """Where a referral offer stands (``cases.offer``; None for every other case)."""

    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"


DECLINED_DETAIL = "offer declined"  # the 'closed' status's detail


def answer(current: Offer | None, outcome: Outcome) -> Offer | None:
    """The offer's new state after an encounter with ``outcome`` (None: not an offer, or no answer yet).

    The last answer counts: someone who declined and later accepts is supported (their case is reopened only by a
    new referral, since a declined offer closed it)."""
    if current is None or outcome is Outcome.NO_ANSWER:
        return None
    return Offer.DECLINED if outcome is Outcome.SUPPORT_DECLINED else Offer.ACCEPTED
