"""Inbound schema: referral v1 (self, colleague, manager, EAP), on ``psp.referrals.v1`` and ``POST /v1/referrals``.

No free text at all: every field is an id, a code or a choice. A field that looks like a narrative (``note``,
``reason``, ``comment``, ...) is refused by name, so an integration learns at once that the PSP takes none; any
other unknown field is refused as ``<extra field>`` (never echoing a key the sender chose).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from psp_common.events.envelope import AwareDatetime
from psp_common.events.referral import ReferralKind
from psp_listener.adapters.schemas import Strict, known_zone

# Keys a form or a system might use for free text: declared only to be refused by name (naming a schema field
# echoes nothing the sender chose); they are left out of the published JSON Schema. Any other unknown key is refused
# as ``<extra field>``.
NARRATIVE_FIELDS = ("narrative", "note", "notes", "comment", "comments", "description", "details", "reason", "text")
FREE_TEXT_REFUSED = "free text is not accepted on a referral: it must not leave the intake"
Refused = SkipJsonSchema[Any]


class ReferredStaff(Strict):
    """A staff member named on a referral (id and role only)."""

    staff_id: str = Field(min_length=1, max_length=128, description="Employee or practitioner id.")
    role: str | None = Field(None, max_length=64, description="Profession or role, e.g. 'rn'.")


class ReferralV1(Strict):
    """A referral to the peer support program, version 1 of the intake contract."""

    source_system: str = Field("api", min_length=1, max_length=64, description="Sending system, e.g. 'console'.")
    referral_id: str = Field(
        min_length=1, max_length=128, description="Id within the source system; a resend with the same id is a no-op."
    )
    kind: ReferralKind = Field(description="self, colleague, manager or eap.")
    facility: str = Field(min_length=1, max_length=64, description="Facility (site) code.")
    facility_tz: str | None = Field(None, max_length=64, description="IANA time zone of the facility.")
    unit: str | None = Field(None, min_length=1, max_length=64, description="Unit of the person, if known.")
    urgency: Literal["now", "today", "this_week"] = Field(description="How soon contact is wanted.")
    referred_at: AwareDatetime | None = Field(
        None, description="When the referral was made, with a UTC offset; default: when the listener received it."
    )
    person: ReferredStaff | None = Field(
        None,
        description="Who needs support. Required, except on a self-referral by a staff member's own token "
        "(the token's staff_id is the person).",
    )
    referrer: ReferredStaff | None = Field(
        None,
        description="Who refers them: required for colleague and manager referrals from a system (a staff "
        "member's own token is the referrer); none for a self-referral.",
    )
    person_agreed: bool = Field(False, description="The person agreed to be referred; required true for eap.")

    narrative: Refused = None
    note: Refused = None
    notes: Refused = None
    comment: Refused = None
    comments: Refused = None
    description: Refused = None
    details: Refused = None
    reason: Refused = None
    text: Refused = None

    @field_validator(*NARRATIVE_FIELDS, mode="before")
    @classmethod
    def _no_free_text(cls, value: Any) -> None:
        if value is not None:
            raise PydanticCustomError("free_text", FREE_TEXT_REFUSED)
        return None

    @field_validator("facility_tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return known_zone(value)
