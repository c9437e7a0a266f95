"""Safety-call feeds: build a facility's morning/evening list and render it for print."""

from __future__ import annotations

import html
import uuid
from datetime import date
from zoneinfo import ZoneInfo

from psp_common.events.feed import FeedEntry, SafetyCallFeedPublished
from psp_common.events.outreach import RuleHit
from psp_notification.adapters.repository import Repository
from psp_notification.domain.feeds import call_window
from psp_notification.settings import NotificationSettings


def facility_zone(settings: NotificationSettings, facility: str) -> ZoneInfo:
    """The facility's IANA time zone (or the default one)."""
    return ZoneInfo(settings.facility_timezones.get(facility, settings.default_timezone))


def feed_id(facility: str, call: str, day: date) -> uuid.UUID:
    """Deterministic event id of one facility/call/date feed (downstream dedupes on it)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"psp-safety-call:{facility}:{call}:{day.isoformat()}")


async def build_feed(
    repo: Repository, settings: NotificationSettings, facility: str, call: str, day: date
) -> SafetyCallFeedPublished:
    """Flagged events of ``facility`` in the window of ``call`` on local date ``day``."""
    window_cfg = settings.safety_calls[call]
    tz = facility_zone(settings, facility)
    window = call_window(day, window_cfg.start, window_cfg.end, tz)
    rows = await repo.feed_cases(facility, window.start, window.end)
    entries = tuple(
        FeedEntry(
            case_id=uuid.UUID(r.case_id),
            unit=r.unit,
            occurred_at=r.occurred_at,
            triggers=tuple(RuleHit.model_validate(t) for t in r.triggers),
            urgency=r.urgency,
            mode=r.mode,
            status=r.status,
        )
        for r in rows
    )
    fid = feed_id(facility, call, day)
    return SafetyCallFeedPublished(
        event_id=fid,
        correlation_id=fid,
        occurred_at=window.end,
        facility=facility,
        call=call,
        call_date=day,
        timezone=tz.key,
        window_start=window.start,
        window_end=window.end,
        entries=entries,
    )


def render_print(feed: SafetyCallFeedPublished) -> str:
    """Printable HTML of a feed: unit, local time, triggers, urgency, status; no identifiers."""
    tz = ZoneInfo(feed.timezone)
    esc = html.escape
    rows = []
    for e in feed.entries:
        triggers = "<br>".join(esc(t.text or t.rule_id) for t in e.triggers) or "-"
        urgency = esc(e.urgency.value.replace("_", " ")) if e.urgency else "-"
        rows.append(
            f"<tr><td>{esc(e.unit)}</td><td>{e.occurred_at.astimezone(tz):%a %H:%M}</td>"
            f"<td>{triggers}</td><td>{urgency}</td><td>{esc(e.status.value)}</td></tr>"
        )
    body = "\n".join(rows) or '<tr><td colspan="5">No flagged events in this window.</td></tr>'
    start, end = feed.window_start.astimezone(tz), feed.window_end.astimezone(tz)
    title = f"{esc(feed.facility)} {esc(feed.call)} safety call, {feed.call_date.isoformat()}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #999;padding:4px;text-align:left;vertical-align:top}}</style></head>
<body><h1>{title}</h1>
<p>Window: {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({esc(feed.timezone)}). {len(feed.entries)} flagged event(s).
Peer support outreach only: no patient or staff identifiers.</p>
<table><thead><tr><th>Unit</th><th>When</th><th>Triggers</th><th>Urgency</th><th>Outreach status</th></tr></thead>
<tbody>
{body}
</tbody></table></body></html>
"""
