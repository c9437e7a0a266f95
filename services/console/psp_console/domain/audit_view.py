"""The audit log viewer (pure): filters from the form, and one newest-first page merged from every source.

Each service keeps its own audit log (``GET /v1/audit``) and the console its own; the viewer asks each source for
a page with the same filters and merges them by time. The cursor holds, per source, the id to read before next
(``0``: that source has nothing older), so paging on never skips or repeats an entry.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

SOURCES = ("console", "listener", "rules", "matching", "notification")
ACTIONS = ("GET", "POST", "PUT", "PATCH", "DELETE", "VIEW", "SIGNIN", "SIGNOUT")
STATUS_CLASSES = {"2xx": (200, 299), "3xx": (300, 399), "4xx": (400, 499), "5xx": (500, 599)}
PAGE_SIZE = 50
CURSOR = re.compile(r"^(\w+):(\d{1,19})$")


class FilterError(ValueError):
    """A filter the viewer cannot use; ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class AuditQuery:
    """The viewer's filters (all optional); times are UTC."""

    service: str | None = None
    actor: str | None = None
    action: str | None = None
    status_class: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    contains: str | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        """The sources to read."""
        return (self.service,) if self.service else SOURCES

    def params(self) -> dict[str, Any]:
        """Query parameters of a service's ``GET /v1/audit``."""
        low, high = STATUS_CLASSES.get(self.status_class or "", (None, None))
        out = {
            "actor": self.actor,
            "action": self.action,
            "status_min": low,
            "status_max": high,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "resource_contains": self.contains,
        }
        return {k: v for k, v in out.items() if v is not None}


def _time(field: str, value: str, zone: ZoneInfo) -> datetime:
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(field, f"{field.capitalize()} must be a date and time like 2026-11-23T08:00.") from None
    return (local if local.tzinfo else local.replace(tzinfo=zone)).astimezone(ZoneInfo("UTC"))


def parse_query(form: dict[str, str], zone: ZoneInfo) -> AuditQuery:
    """The filters from the form's fields (empty ones ignored); times are read in ``zone``."""
    get = {k: v.strip() for k, v in form.items() if v and v.strip()}
    service = get.get("service")
    if service is not None and service not in SOURCES:
        raise FilterError("service", f"Service must be one of: {', '.join(SOURCES)}.")
    action = get.get("action")
    if action is not None and action.upper() not in ACTIONS:
        raise FilterError("action", f"Action must be one of: {', '.join(ACTIONS)}.")
    status = get.get("status")
    if status is not None and status not in STATUS_CLASSES:
        raise FilterError("status", "Status must be 2xx, 3xx, 4xx or 5xx.")
    for field, limit in (("actor", 128), ("contains", 300)):
        if len(get.get(field, "")) > limit:
            raise FilterError(field, f"{field.capitalize()} must be at most {limit} characters.")
    since = _time("from", get["from"], zone) if "from" in get else None
    until = _time("to", get["to"], zone) if "to" in get else None
    if until is not None and "to" in get and len(get["to"]) <= 16:
        until += timedelta(minutes=1)  # "to 08:00" includes the whole minute
    if since is not None and until is not None and since >= until:
        raise FilterError("from", "From must be before To.")
    return AuditQuery(
        service, get.get("actor"), action.upper() if action else None, status, since, until, get.get("contains")
    )


def parse_cursor(value: str | None, sources: tuple[str, ...]) -> dict[str, int | None]:
    """Per source: the id to read before (None: from the newest; 0: nothing older is left)."""
    out: dict[str, int | None] = dict.fromkeys(sources)
    for part in (value or "").split(","):
        if (m := CURSOR.match(part)) and m.group(1) in out:
            out[m.group(1)] = int(m.group(2))
    return out


def format_cursor(cursor: dict[str, int | None]) -> str | None:
    """The cursor for the next page's link; None when every source is exhausted."""
    if all(v == 0 for v in cursor.values()):
        return None
    return ",".join(f"{k}:{v}" for k, v in cursor.items() if v is not None)


@dataclass(frozen=True)
class Entry:
    """One audit entry and where it is from."""

    source: str
    id: int
    at: datetime
    actor: str
    action: str
    resource: str
    status: int


def merge(
    pages: dict[str, list[Entry]], cursor: dict[str, int | None], limit: int
) -> tuple[list[Entry], dict[str, int | None]]:
    """The newest ``limit`` entries of the sources' pages, and each source's cursor after them.

    ``pages[source]`` holds at most ``limit`` entries newest first *by id* (the order of the source's cursor), read
    before ``cursor[source]``; a source whose page was shorter than ``limit`` and wholly used has nothing older
    left (0). The pages are merged by time without reordering any one page: a row's time can be a little out of
    id order (a service stamps it, then inserts it, while the next request's row may be inserted first), and
    sorting a page by time would make the entry a source's cursor is built from something other than the last
    one taken in id order, so the next page would repeat or skip entries.
    """
    taken = list(islice(heapq.merge(*pages.values(), key=lambda e: e.at, reverse=True), limit))
    after = dict(cursor)
    for source, page in pages.items():
        used = sum(1 for e in taken if e.source == source)
        if used:
            after[source] = page[used - 1].id
        if used == len(page) and len(page) < limit:
            after[source] = 0
    return taken, after
