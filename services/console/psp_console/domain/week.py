"""The shifts week view: seven days in the facility's zone, each supporter's shifts per day as readable labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Shift:
    """One shift of a staff member (pseudonym), aware times."""

    staff_ref: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Week:
    """Monday to Sunday in ``zone``."""

    monday: date
    zone: ZoneInfo

    @classmethod
    def containing(cls, day: date, zone: ZoneInfo) -> Week:
        """The week ``day`` falls in."""
        return cls(day - timedelta(days=day.weekday()), zone)

    @property
    def days(self) -> list[date]:
        """The seven days."""
        return [self.monday + timedelta(days=i) for i in range(7)]

    def midnight(self, day: date) -> datetime:
        """Local midnight starting ``day`` (an aware instant; DST-correct)."""
        return datetime.combine(day, time(0), tzinfo=self.zone)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """Start of Monday to the end of Sunday, local."""
        return self.midnight(self.monday), self.midnight(self.monday + timedelta(days=7))

    def label(self, shift: Shift, day: date) -> str | None:
        """How ``shift`` reads in ``day``'s cell (None when it does not touch that day)."""
        lo, hi = self.midnight(day), self.midnight(day + timedelta(days=1))
        if shift.end <= lo or shift.start >= hi:
            return None
        start, end = shift.start.astimezone(self.zone), shift.end.astimezone(self.zone)
        if shift.start <= lo and shift.end >= hi:
            return "all day"
        if shift.start < lo:
            return f"until {end:%H:%M}"
        if shift.end > hi:
            return f"from {start:%H:%M}"
        return f"{start:%H:%M} to {end:%H:%M}"

    def grid(self, shifts: list[Shift], refs: list[str]) -> dict[str, list[list[str]]]:
        """Per pseudonym in ``refs``: seven lists of labels, shifts in start order."""
        out: dict[str, list[list[str]]] = {ref: [[] for _ in range(7)] for ref in refs}
        for shift in sorted(shifts, key=lambda s: s.start):
            if shift.staff_ref not in out:
                continue
            for i, day in enumerate(self.days):
                text = self.label(shift, day)
                if text:
                    out[shift.staff_ref][i].append(text)
        return out
