"""The Refer form -> a ReferralV1 body for the listener (choices and ids only: the form has no free-text field).

Who the signed-in person is comes from their access token, which the listener reads: the person of a
self-referral, the referrer of a colleague or manager referral. The form never names the referrer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

KINDS = {
    "self": "Myself",
    "colleague": "A colleague I am concerned about",
    "manager": "Someone I manage or supervise",
    "eap": "A client of the EAP / occupational health (they agreed)",
}
URGENCIES = {"now": "Now", "today": "Today", "this_week": "This week"}
FIELD_LABELS = {
    "kind": "Who needs support",
    "urgency": "How soon",
    "facility": "Facility",
    "unit": "Unit",
    "person": "Their staff id",
    "person.staff_id": "Their staff id",
    "referrer": "You",
    "person_agreed": "They agreed",
    "referral_id": "Form",
}


@dataclass(frozen=True)
class ReferralForm:
    """What the form posted (every value a choice, an id or a code)."""

    referral_id: str
    kind: str
    urgency: str
    facility: str
    unit: str
    person_staff_id: str
    person_agreed: bool

    @classmethod
    def parse(cls, form: dict[str, list[str]]) -> ReferralForm:
        """Read the posted fields (unknown ones are ignored: there is nowhere for free text to go)."""

        def one(name: str) -> str:
            return (form.get(name) or [""])[0].strip()

        return cls(
            referral_id=one("referral_id") or uuid.uuid4().hex,
            kind=one("kind"),
            urgency=one("urgency"),
            facility=one("facility"),
            unit=one("unit"),
            person_staff_id=one("person_staff_id"),
            person_agreed=one("person_agreed") == "yes",
        )

    def problems(self) -> list[str]:
        """What to fix before sending (the listener checks again and has the last word)."""
        out = []
        if self.kind not in KINDS:
            out.append("Who needs support: choose one.")
        if self.urgency not in URGENCIES:
            out.append("How soon: choose now, today or this week.")
        if not self.facility:
            out.append("Facility: enter the facility code, e.g. GEN.")
        if self.kind in KINDS and self.kind != "self" and not self.person_staff_id:
            out.append("Their staff id: enter the staff id of the person you refer.")
        if self.kind == "eap" and not self.person_agreed:
            out.append("They agreed: an EAP referral needs the person's agreement.")
        return out

    def body(self) -> dict[str, Any]:
        """The listener's ReferralV1 (the person of a self-referral and the referrer come from the token)."""
        body: dict[str, Any] = {
            "source_system": "console",
            "referral_id": self.referral_id,
            "kind": self.kind,
            "urgency": self.urgency,
            "facility": self.facility,
            "person_agreed": self.person_agreed,
        }
        if self.unit:
            body["unit"] = self.unit
        if self.kind != "self":
            body["person"] = {"staff_id": self.person_staff_id}
        return body


def field_label(field: str) -> str:
    """A listener field path as the form names it."""
    return FIELD_LABELS.get(field, field.replace("_", " ").capitalize())
