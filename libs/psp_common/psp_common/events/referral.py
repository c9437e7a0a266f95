"""Referrals: a person asks for support for themself, or a colleague, manager or EAP counsellor asks for them.

The listener takes referrals (``psp.referrals.v1``, ``POST /v1/referrals``), keeps no free text and publishes
:class:`ReferralObserved` (pseudonyms only) on ``psp.intake.referral-observed.v1``. Rules turns it into an
``OutreachRequested`` whose optional ``referral`` field (:class:`ReferralFacts`) tells matching and notification
what kind of contact it is.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from psp_common.events.envelope import Envelope, Frozen
from psp_common.events.vocab import StaffRef, Urgency


class ReferralKind(StrEnum):
    """Who made the referral."""

    SELF = "self"  # the person asks for support themself
    COLLEAGUE = "colleague"  # a co-worker is concerned about them
    MANAGER = "manager"  # a manager or supervisor alerts the PSP
    EAP = "eap"  # an EAP / occupational health counsellor refers them, with their agreement

    @property
    def third_party(self) -> bool:
        """Whether someone other than the person made it."""
        return self is not ReferralKind.SELF


class ReferralPolicy(StrEnum):
    """What a PSP does on a third party's word (per facility; seed 004, "How is a worker connected to the PSP?")."""

    REACH_OUT = "reach_out"  # a supporter contacts the referred person, who may accept or decline the offer
    SUPPORT_REFERRER = "support_referrer"  # a supporter contacts the referrer to help them help their colleague


# The words a person picks (the form, the intake contract) -> the bus's urgency.
CHOSEN_URGENCY: dict[str, Urgency] = {
    "now": Urgency.IMMEDIATE,
    "today": Urgency.WITHIN_HOURS,
    "this_week": Urgency.WITHIN_DAYS,
}


class ReferralObserved(Envelope):
    """A referral, pseudonymized: who needs support, who referred them, how soon; no free text."""

    referral_ref: str = Field(description="Opaque reference of the referral (HMAC of source system + id).")
    kind: ReferralKind = Field(description="self, colleague, manager or eap.")
    facility: str = Field(min_length=1, description="Facility (site) code.")
    unit: str = Field(min_length=1, description="Unit or department code ('unspecified' when not given).")
    facility_tz: str | None = Field(None, description="IANA time zone of the facility, when known.")
    urgency: Urgency = Field(description="How soon the referrer asked for contact (now, today, this week).")
    person: StaffRef = Field(description="The person who needs support (the referrer themself for a self-referral).")
    referrer: StaffRef | None = Field(
        None, description="Who referred them (third-party referrals; absent for self and for an EAP counsellor)."
    )
    person_agreed: bool = Field(False, description="The person agreed to be referred (EAP referrals require it).")

    def partition_key(self) -> str:
        """Keyed by referral."""
        return self.referral_ref


class ReferralFacts(Frozen):
    """What an OutreachRequested caused by a referral says about it (optional field ``referral``)."""

    kind: ReferralKind = Field(description="self, colleague, manager or eap.")
    policy: ReferralPolicy | None = Field(
        None, description="The facility's third-party policy applied; None for a self-referral."
    )
    offer: bool = Field(
        description="True when the person contacted did not ask themself (reach_out, EAP): they may accept or "
        "decline; a declined offer closes the case quietly."
    )
    contacts_referrer: bool = Field(
        False, description="support_referrer: the person to reach is the referrer, to help them help a colleague."
    )
