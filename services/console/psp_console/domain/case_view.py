"""The case page's timeline: status changes, pages and their answers, in time order (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

STATUS_LABELS = {
    "requested": "Outreach requested",
    "assigned": "Supporter matched",
    "notified": "Supporter paged",
    "acknowledged": "Supporter took the case",
    "declined": "Supporter declined",
    "escalated": "Escalated to the coordinator",
    "contacted": "Colleague reached",
    "encounter_logged": "Encounter logged",
    "handed_back": "Supporter handed the case back",
    "closed": "Case closed",
    "unmatched": "Nobody eligible was found",
    "colleague_unknown": "Colleague not in the contacts directory: held for the coordinator in triage",
}
PURPOSE_LABELS = {
    "page": "Page to a supporter",
    "escalation": "Escalation page to the coordinator",
    "unmatched": "Unmatched page to the coordinator",
    "contact_overdue": "Contact-overdue page to the coordinator",
    "checkin": "Check-in reminder",
    "referral": "Referral page to the coordinator",
}
ANSWERS = {"acknowledged": "took it", "declined": "declined", "expired": "no answer in time"}


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: datetime
    what: str
    who: str | None
    detail: str


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def status_entries(history: Iterable[dict[str, Any]]) -> list[Entry]:
    """Notification's status history (``GET /v1/cases/{id}/status``)."""
    out = []
    for h in history:
        at = _at(h.get("at"))
        if at is None:
            continue
        status = str(h.get("status", ""))
        detail = " · ".join(str(x) for x in (h.get("channel"), h.get("detail")) if x)
        out.append(Entry(at, STATUS_LABELS.get(status, status), h.get("supporter_ref"), detail))
    return out


def page_entries(deliveries: Iterable[dict[str, Any]]) -> list[Entry]:
    """Pages (``GET /v1/deliveries``): when sent (or created), to whom, how, and the answer."""
    out = []
    for d in deliveries:
        at = _at(d.get("sent_at")) or _at(d.get("created_at"))
        if at is None:
            continue
        answer = ANSWERS.get(str(d.get("response") or ""))
        state = str(d.get("state", ""))
        parts = [f"via {d['channel']}" if d.get("channel") else "", state, f"answer: {answer}" if answer else ""]
        what = PURPOSE_LABELS.get(str(d.get("purpose", "")), str(d.get("purpose", "")))
        out.append(Entry(at, what, d.get("supporter_ref"), " · ".join(p for p in parts if p)))
    return out


def timeline(history: Iterable[dict[str, Any]], deliveries: Iterable[dict[str, Any]]) -> list[Entry]:
    """Both, oldest first (status changes before pages at the same instant)."""
    entries = [(e, 0) for e in status_entries(history)] + [(e, 1) for e in page_entries(deliveries)]
    return [e for e, _ in sorted(entries, key=lambda p: (p[0].at, p[1]))]
