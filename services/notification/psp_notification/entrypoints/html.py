"""Server-side HTML of the supporter pages (Jinja2, autoescaped; no script; one inline stylesheet allowed by hash)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from psp_notification.domain.encounters import DurationBand, Kind, Mode, Outcome, Referral
from psp_notification.domain.offers import Offer
from psp_notification.settings import NotificationSettings
from psp_notification.supporter_page import CaseView

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CSS = (TEMPLATES / "supporter.css").read_text(encoding="utf-8")
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
URGENCY = {"immediate": "Immediate", "within_hours": "Within hours", "within_days": "Within days"}

CHOICES: dict[str, list[tuple[str, str]]] = {
    "mode": [(Mode.PHONE, "Phone"), (Mode.IN_PERSON, "In person"), (Mode.VIDEO, "Video"), (Mode.MESSAGE, "Message")],
    "duration": [
        (DurationBand.UNDER_15M, "Under 15 min"),
        (DurationBand.FROM_15_TO_30M, "15 to 30 min"),
        (DurationBand.FROM_30_TO_60M, "30 to 60 min"),
        (DurationBand.OVER_60M, "Over an hour"),
    ],
    "kind": [(Kind.ONE_TO_ONE, "One to one"), (Kind.GROUP, "Group session")],
    "outcome": [
        (Outcome.SUPPORT_GIVEN, "Support given"),
        (Outcome.SUPPORT_DECLINED, "Support declined"),
        (Outcome.NO_ANSWER, "No answer"),
    ],
    "referrals": [
        (Referral.EAP, "EAP"),
        (Referral.SPIRITUAL_CARE, "Spiritual care"),
        (Referral.OCCUPATIONAL_HEALTH, "Occupational health"),
        (Referral.PROFESSIONAL_COUNSELLING, "Professional counselling (tier 3: the coordinator is paged)"),
        (Referral.CRISIS, "Crisis (the coordinator is paged)"),
    ],
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True
)


def wants_html(request: Request) -> bool:
    """A browser (``Accept: text/html``) gets pages; API clients keep getting JSON."""
    return "text/html" in request.headers.get("accept", "")


def page(template: str, title: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A rendered page."""
    body = _env.get_template(template).render(title=title, css=CSS, **context)
    return HTMLResponse(body, status_code=status)


def message(title: str, *lines: str, status: int = 200) -> HTMLResponse:
    """A page with a heading and a few sentences."""
    return page("message.html", title, status, lines=lines)


def urgency_label(urgency: str | None) -> str:
    """How an urgency reads on the page."""
    return URGENCY.get(urgency or "", "Not stated")


def duration(minutes: float) -> str:
    """``30 min``, ``12 h``, ``1 h 30 min``."""
    total = round(minutes)
    hours, mins = divmod(total, 60)
    if not hours:
        return f"{mins} min"
    return f"{hours} h" + (f" {mins} min" if mins else "")


def local(at: datetime, zone: str) -> str:
    """A time as the supporter's facility reads it: ``Sun 29 Nov 14:30 EST``."""
    return at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M %Z")


def case_context(v: CaseView, settings: NotificationSettings) -> dict[str, Any]:
    """The case page's template values (times in the facility's zone)."""
    zone = settings.facility_timezones.get(v.facility, settings.default_timezone)
    return {
        "urgency": urgency_label(v.urgency),
        "group": v.group,
        "people": [
            {
                "name": e.display_name,
                "role": e.role,
                "unit": e.unit,
                "phone": e.phone,
                "phone_dial": (e.phone or "").replace(";ext=", ","),
                "pager": e.pager,
                "email": e.email,
            }
            for e in v.people
        ],
        "missing": v.missing,
        "coordinator_phone": v.coordinator_phone,
        "callback": duration(settings.callback_minutes),
        "meet": duration(settings.contact_deadline_hours * 60),
        "callback_by": local(v.callback_by, zone),
        "meet_by": local(v.meet_by, zone),
        "expires": local(v.expires_at, zone),
        "script": v.guide.script_for(v.approach),
        "approach": v.approach.value,
        "offer_open": v.offer is not None and v.offer is not Offer.DECLINED,
        "resources": v.guide.resources,
        "form_token": v.form_token,
        "contacted": v.contacted,
        "choices": CHOICES,
    }
