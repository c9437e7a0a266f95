"""The case page's encounter form -> the domain's ``Encounter`` (closed choices; errors name the field)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from psp_notification.adapters.encounter_schemas import EncounterIn
from psp_notification.domain.encounters import Encounter, InvalidEncounter

FIELDS = ("mode", "duration", "kind", "attendance", "outcome", "follow_up_on")


def _when(value: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The form's ``occurred_at`` (a local ``datetime-local`` in the facility's zone); empty means now."""
    if not value:
        return now
    try:
        return datetime.fromisoformat(value).replace(tzinfo=zone)
    except ValueError:
        raise InvalidEncounter("occurred_at", "occurred_at is not a date and time") from None


def parse(form: dict[str, list[str]], zone: ZoneInfo, now: datetime) -> Encounter:
    """The encounter the form describes; InvalidEncounter naming the first field that does not fit."""
    for f in (*FIELDS, "occurred_at", "debrief_wanted"):
        if len(form.get(f, [])) > 1:
            raise InvalidEncounter(f, f"{f} is given more than once")
    values: dict[str, object] = {f: form[f][0] for f in FIELDS if form.get(f, [""])[0] != ""}
    values["occurred_at"] = _when(form.get("occurred_at", [""])[0], zone, now)
    values["referrals"] = form.get("referrals", [])
    values["debrief_wanted"] = form.get("debrief_wanted", [""])[0] == "yes"
    try:
        return EncounterIn.model_validate(values).to_domain()
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        field = str(loc[0]) if loc else "form"
        raise InvalidEncounter(field, f"{field} is missing or not one of the choices") from None


def declined(form: dict[str, list[str]], now: datetime) -> Encounter:
    """A declined offer's encounter from the case page's small form (how and how long), now, one to one."""
    given: dict[str, list[str]] = {f: form[f] for f in ("mode", "duration") if f in form}
    return parse({**given, "kind": ["one_to_one"], "outcome": ["support_declined"]}, ZoneInfo("UTC"), now)
