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

from psp_notification.settings import NotificationSettings
from psp_notification.supporter_page import CaseView

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CSS = (TEMPLATES / "supporter.css").read_text(encoding="utf-8")
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
URGENCY = {"immediate": "Immediate", "within_hours": "Within hours", "within_days": "Within days"}

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
        "script": v.guide.approach_script,
        "resources": v.guide.resources,
    }
