"""What kind of contact a case is, which decides the supporter page's approach script (pure Python).

An incident's outreach (no referral), or a referral (seed 004, "How is a worker connected to the PSP?"): the
person asked themself; a colleague or manager was concerned and the facility reaches out (an offer the person may
decline); an EAP counsellor referred them with their agreement (an offer too); or the facility supports the
referrer, who is the one contacted (the colleague is not).
"""

from __future__ import annotations

from enum import StrEnum


class Approach(StrEnum):
    """``cases.approach`` (NULL: an incident's outreach)."""

    INCIDENT = "incident"
    SELF = "self"
    REACH_OUT = "reach_out"
    EAP = "eap"
    SUPPORT_REFERRER = "support_referrer"


def approach_of(kind: str, contacts_referrer: bool) -> Approach:
    """A referral's approach from its kind (self, colleague, manager, eap) and whether the referrer is reached."""
    if kind == "self":
        return Approach.SELF
    if contacts_referrer:
        return Approach.SUPPORT_REFERRER
    return Approach.EAP if kind == "eap" else Approach.REACH_OUT
