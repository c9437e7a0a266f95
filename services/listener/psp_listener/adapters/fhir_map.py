"""Map a validated FHIR AdverseEvent (R4 or R5) to IncidentObserved; patient data and narrative are dropped."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psp_common.events.intake import IncidentObserved, SourceKind
from psp_common.events.vocab import CisTrigger, EventClass, HarmLevel, Involvement
from psp_common.pseudonym import Pseudonymizer
from psp_listener.adapters.common import Person, correlation_id, incident_ref, staff_refs
from psp_listener.adapters.errors import invalid
from psp_listener.adapters.fhir import TITLE, FhirVersion
from psp_listener.adapters.phrases import PhraseMatcher
from psp_listener.settings import ListenerSettings

SEVERITY = (HarmLevel.DEATH, HarmLevel.SEVERE, HarmLevel.MODERATE, HarmLevel.MILD, HarmLevel.NO_HARM, HarmLevel.UNKNOWN)
_FRACTION = re.compile(r"\.\d{7,}")
_PRACTITIONER = re.compile(r"(?:^|/)Practitioner/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
Issues = list[tuple[tuple[str | int, ...], str]]


@dataclass(frozen=True)
class FhirContext:
    """What mapping needs besides the resource: settings, pseudonyms and phrase rules."""

    settings: ListenerSettings
    pseudo: Pseudonymizer
    phrases: PhraseMatcher


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else ([value] if isinstance(value, dict) else [])


def codes(concept: Any) -> list[str]:
    """Case-folded codes and text of a CodeableConcept."""
    cc = _dict(concept)
    out = [str(c["code"]).casefold() for c in _list(cc.get("coding")) if isinstance(c, dict) and c.get("code")]
    if isinstance(cc.get("text"), str):
        out.append(cc["text"].strip().casefold())
    return out


def practitioner_id(reference: Any) -> str | None:
    """Staff id of a Practitioner reference (literal ``Practitioner/<id>`` or logical identifier)."""
    ref = _dict(reference)
    literal = ref.get("reference")
    if isinstance(literal, str):
        found = _PRACTITIONER.search(literal)
        return found["id"] if found else None
    ident = _dict(ref.get("identifier"))
    if ref.get("type") == "Practitioner" and isinstance(ident.get("value"), str) and ident["value"].strip():
        return str(ident["value"]).strip()[:128]
    return None


def _when(resource: dict[str, Any], version: FhirVersion, issues: Issues) -> datetime | None:
    if version is FhirVersion.R4:
        field, raw = "date", resource.get("date") or resource.get("detected")
    elif "occurrencePeriod" in resource:
        field, raw = "occurrencePeriod", _dict(resource["occurrencePeriod"]).get("start")
    else:
        field, raw = "occurrenceDateTime", resource.get("occurrenceDateTime") or resource.get("detected")
    parsed = _instant(raw)
    if parsed is None:
        issues.append(((field,), "required: when it occurred, as a dateTime with time and time zone"))
    return parsed


def _instant(raw: Any) -> datetime | None:
    if not isinstance(raw, str) or "T" not in raw:
        return None
    try:
        value = datetime.fromisoformat(_FRACTION.sub(lambda m: m[0][:7], raw))
    except ValueError:
        return None
    return value if value.utcoffset() is not None else None


def _harm(resource: dict[str, Any], table: dict[str, HarmLevel]) -> HarmLevel | None:
    found = [table[c] for name in ("seriousness", "severity") for c in codes(resource.get(name)) if c in table]
    found += [table[c] for o in _list(resource.get("outcome")) for c in codes(o) if c in table]
    return min(found, key=SEVERITY.index) if found else None


def _facility_ext(element: dict[str, Any], url: str) -> str | None:
    for ext in _list(element.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == url:
            value = ext.get("valueString") or ext.get("valueCode") or _dict(ext.get("valueIdentifier")).get("value")
            if isinstance(value, str) and value.strip():
                return value.strip()[:64]
    return None


def _place(resource: dict[str, Any], s: ListenerSettings, issues: Issues) -> tuple[str, str]:
    loc = _dict(resource.get("location"))
    display = _text(loc.get("display"))
    head, sep, tail = display.partition(s.fhir_location_separator)
    ref = _text(loc.get("reference"))
    ref_id = ref.rsplit("Location/", 1)[1].split("/")[0] if "Location/" in ref else ""
    unit = (tail.strip() if sep else "") or ref_id or display.strip() or s.fhir_default_unit or ""
    facility = (
        _facility_ext(resource, s.fhir_facility_extension)
        or _facility_ext(loc, s.fhir_facility_extension)
        or (head.strip() if sep else "")
        or s.fhir_default_facility
        or ""
    )
    if not unit:
        issues.append((("location",), "required: a Location reference or display naming the unit"))
    if not facility:
        issues.append((("extension",), "no facility: add the facility extension or a 'FACILITY/UNIT' location"))
    return facility[:64], unit[:64]


def _people(resource: dict[str, Any], version: FhirVersion, s: ListenerSettings) -> list[Person]:
    people = []
    if version is FhirVersion.R4:
        for ref in _list(resource.get("contributor")):
            sid = practitioner_id(ref)
            if sid:
                people.append(Person(sid, None, s.fhir_contributor_involvement))
        return people
    for part in _list(resource.get("participant")):
        sid = practitioner_id(_dict(part).get("actor"))
        if sid:
            fn = next(
                (
                    s.fhir_participant_functions[c]
                    for c in codes(_dict(part).get("function"))
                    if c in s.fhir_participant_functions
                ),
                Involvement.PRIMARY,
            )
            people.append(Person(sid, None, fn))
    return people


def strip_tags(markup: str) -> str:
    """Each ``<...>`` replaced by a space, in one pass: linear however many unclosed ``<`` it holds.

    Same result as ``re.sub(r"<[^>]*>", " ", markup)``, whose search restarts at every ``<`` and rescans to
    the end when no ``>`` follows (quadratic: 20,000 ``<`` took ~1 s).
    """
    out: list[str] = []
    pos = 0
    while (start := markup.find("<", pos)) != -1:
        end = markup.find(">", start)
        if end == -1:  # no '>' anywhere after: the rest is text
            break
        out += (markup[pos:start], " ")
        pos = end + 1
    out.append(markup[pos:])
    return "".join(out)


def _narrative(resource: dict[str, Any]) -> list[str]:
    texts = [html.unescape(strip_tags(str(_dict(resource.get("text")).get("div") or "")))]
    texts += [str(_dict(n).get("text") or "") for n in _list(resource.get("note"))]
    texts += [str(_dict(resource.get(k)).get("text") or "") for k in ("event", "code")]
    return texts


def _source(resource: dict[str, Any], s: ListenerSettings) -> tuple[str, str] | None:
    for ident in _list(resource.get("identifier")):
        value = _dict(ident).get("value")
        if isinstance(value, str) and value.strip():
            return str(_dict(ident).get("system") or s.fhir_source_system), value.strip()
    rid = resource.get("id")
    return (s.fhir_source_system, rid) if isinstance(rid, str) and rid else None


def _version(resource: dict[str, Any], issues: Issues) -> int:
    raw = _dict(resource.get("meta")).get("versionId")
    if raw is None:
        return 1
    if isinstance(raw, str) and raw.isdigit() and 1 <= int(raw) <= 10_000:
        return int(raw)
    issues.append((("meta", "versionId"), "must be a whole number 1..10000 (the amendment number)"))
    return 1


def to_incident(resource: dict[str, Any], version: FhirVersion, ctx: FhirContext) -> IncidentObserved:
    """Normalize; raise a ValidationError naming every element the PSP needs but cannot find."""
    s, issues = ctx.settings, Issues()
    source = _source(resource, s)
    if source is None:
        issues.append((("identifier",), "required: a resource id or an identifier value"))
    occurred = _when(resource, version, issues)
    facility, unit = _place(resource, s, issues)
    report_version = _version(resource, issues)
    subject = practitioner_id(resource.get("subject"))
    people = ([Person(subject, None, Involvement.AFFECTED)] if subject else []) + _people(resource, version, s)
    if not people:
        field = "contributor" if version is FhirVersion.R4 else "participant"
        issues.append(((field,), "no Practitioner reference: at least one involved staff member is required"))
    if issues or source is None or occurred is None:
        raise invalid(TITLE, issues)
    flags = list(ctx.phrases.flags(_narrative(resource)))
    if subject:
        flags.insert(0, CisTrigger.SERIOUS_ON_THE_JOB_INJURY)
    category = next(
        (
            str(c["code"])
            for cc in _list(resource.get("category"))
            for c in _list(_dict(cc).get("coding"))
            if isinstance(c, dict) and c.get("code")
        ),
        None,
    )
    ref = incident_ref(ctx.pseudo, *source)
    return IncidentObserved(
        occurred_at=occurred,
        correlation_id=correlation_id(ref, report_version),
        incident_ref=ref,
        report_version=report_version,
        source_kind=SourceKind.FHIR,
        facility=facility,
        unit=unit,
        facility_tz=s.fhir_default_tz,
        reported_at=_instant(resource.get("recordedDate")),
        event_class=EventClass.NEAR_MISS if resource.get("actuality") == "potential" else EventClass.INCIDENT,
        category=category[:64] if category else None,
        harm_level=_harm(resource, s.fhir_harm_codes),
        staff=staff_refs(people, ctx.pseudo),
        cis_flags=tuple(dict.fromkeys(flags)),
    )
