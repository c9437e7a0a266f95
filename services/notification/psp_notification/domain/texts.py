"""What a page says: templates per purpose (no clinical detail: only that a colleague may need support,
the urgency and the links). Texts live here as ``string.Template``s, not in the code that sends them."""

from __future__ import annotations

from string import Template

from psp_notification.domain.model import Purpose

URGENCY_TEXT = {
    "immediate": "as soon as possible",
    "within_hours": "within the next few hours",
    "within_days": "within the next couple of days",
}
ANY_TIME = "when you can"

PAGE_TEXTS: dict[Purpose, Template] = {
    Purpose.PAGE: Template("PSP: a colleague may need peer support, $when. Acknowledge: $ack - Decline: $decline"),
    Purpose.CHECKIN: Template("PSP: reminder to check in with the colleague you supported. Case: $case"),
    Purpose.CONTACT_OVERDUE: Template(
        "PSP coordinator: a colleague has not been contacted in time ($when). Case: $case"
    ),
    Purpose.UNMATCHED: Template(
        "PSP coordinator: no eligible supporter; a colleague may need support ($when). Case: $case"
    ),
    Purpose.REFERRAL: Template("PSP coordinator: a tier-3/crisis referral was made. Case: $case"),
    Purpose.ESCALATION: Template(
        "PSP coordinator: no supporter acknowledged; a colleague may need support ($when). Case: $case"
    ),
}

SUBJECTS: dict[str, str] = {Purpose.PAGE: "PSP: a colleague may need support"}
DEFAULT_SUBJECT = "PSP notice"


def page_text(purpose: Purpose, urgency: str | None, links: dict[str, str]) -> str:
    """The page's text from its purpose's template."""
    return PAGE_TEXTS[purpose].substitute(links, when=URGENCY_TEXT.get(urgency or "", ANY_TIME))


def subject(purpose: str) -> str:
    """Subject line of an e-mailed page."""
    return SUBJECTS.get(purpose, DEFAULT_SUBJECT)
