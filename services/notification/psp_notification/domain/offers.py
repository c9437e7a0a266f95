"""Referral offers (pure Python): a supporter reaching out on someone else's word offers support, which the
person may accept or decline (self-determination, seed 004). The encounter log's outcome records the answer; a
declined offer closes the case quietly: no check-ins, no escalation, nobody else paged."""

from __future__ import annotations

from enum import StrEnum

from psp_notification.domain.encounters import Outcome
from psp_notification.domain.errors import Conflict


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


class NotAnOffer(Conflict):
    """The case is no referral offer (or its offer was already declined): nothing to decline."""


def require_open(current: Offer | None) -> None:
    """An offer the person can still decline (offered, or accepted earlier: the last answer counts)."""
    if current is None:
        raise NotAnOffer("offer", "this case is not a referral offer")
    if current is Offer.DECLINED:
        raise NotAnOffer("offer", "the offer was already declined")
