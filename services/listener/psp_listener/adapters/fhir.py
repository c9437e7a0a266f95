"""FHIR AdverseEvent intake: detect R4 / R5, validate with fhir.resources, answer with OperationOutcome."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from fhir.resources.adverseevent import AdverseEvent as AdverseEventR5
from fhir.resources.R4B.adverseevent import AdverseEvent as AdverseEventR4
from pydantic import ValidationError

from psp_common.field_names import safe_loc
from psp_listener.adapters.common import decode_json
from psp_listener.adapters.errors import invalid

TITLE = "AdverseEvent"
FHIR_JSON = "application/fhir+json"


class FhirVersion(StrEnum):
    """FHIR releases the listener accepts."""

    R4 = "4.0"
    R5 = "5.0"


# Elements only one release has (R4 is validated with the R4B model: AdverseEvent did not change).
R5_ONLY = frozenset(
    {
        "status",
        "code",
        "participant",
        "occurrenceDateTime",
        "occurrencePeriod",
        "occurrenceTiming",
        "resultingEffect",
        "contributingFactor",
        "preventiveAction",
        "mitigatingAction",
        "supportingInfo",
        "note",
        "expectedInResearchStudy",
    }
)
R4_ONLY = frozenset(
    {
        "contributor",
        "severity",
        "date",
        "event",
        "resultingCondition",
        "subjectMedicalHistory",
        "referenceDocument",
    }
)
# The elements listing involved staff (R5, R4).
PEOPLE = ("participant", "contributor")
# Top-level element names of either release: a misplaced one may be named in an error (any other key is not).
ELEMENTS = frozenset(
    name
    for model in (AdverseEventR4, AdverseEventR5)
    for field_name, info in model.model_fields.items()
    for name in (field_name, info.alias)
    if name
)
_PROFILE = re.compile(r"(?:/|\|)(?P<major>[45])\.\d")


def json_schema() -> dict[str, Any]:
    """What the Kafka intake accepts: an AdverseEvent of either release (documented in AsyncAPI)."""
    return {
        "title": "AdverseEvent (FHIR R4 or R5)",
        "anyOf": [
            {**AdverseEventR5.model_json_schema(), "title": "AdverseEvent R5"},
            {**AdverseEventR4.model_json_schema(), "title": "AdverseEvent R4"},
        ],
    }


def version_from_label(label: str, field: str) -> FhirVersion:
    """Map a fhirVersion label ('4.0', '4.0.1', '4.3', '5.0', '5.0.0') to a release."""
    major = label.strip().split(".")[0]
    if major == "4":
        return FhirVersion.R4
    if major == "5":
        return FhirVersion.R5
    raise invalid(TITLE, [((field,), "unsupported fhirVersion: only 4.0 (R4/R4B) and 5.0 (R5)")])


def version_from_content_type(content_type: str | None) -> FhirVersion | None:
    """The ``fhirVersion`` parameter of a media type, if any."""
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().casefold() == "fhirversion":
            return version_from_label(value.strip().strip('"'), "content-type.fhirVersion")
    return None


def detect_version(resource: dict[str, Any], hint: FhirVersion | None = None) -> FhirVersion:
    """Explicit hint, else meta.profile, else the shape of the resource (R4 when undecidable)."""
    if hint is not None:
        return hint
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    for profile in profiles if isinstance(profiles, list) else []:
        found = _PROFILE.search(profile) if isinstance(profile, str) else None
        if found:
            return FhirVersion.R5 if found["major"] == "5" else FhirVersion.R4
    keys = set(resource)
    if keys & R5_ONLY or isinstance(resource.get("outcome"), list):
        return FhirVersion.R5
    return FhirVersion.R4


def _required(resource: dict[str, Any], version: FhirVersion) -> list[tuple[tuple[str | int, ...], str]]:
    needed = ("actuality", "status") if version is FhirVersion.R5 else ("actuality",)
    return [((name,), "Field required") for name in needed if name not in resource]


def _too_many_people(resource: dict[str, Any], cap: int) -> list[tuple[tuple[str | int, ...], str]]:
    return [
        ((name,), f"at most {cap} entries")
        for name in PEOPLE
        if isinstance(resource.get(name), list) and len(resource[name]) > cap
    ]


def parse_resource(
    body: bytes, hint: FhirVersion | None = None, max_people: int = 50
) -> tuple[dict[str, Any], FhirVersion]:
    """Decode and validate an AdverseEvent; raise ValidationError naming the element and the reason.

    A participant / contributor list longer than ``max_people`` is refused before the (costly) model validation.
    """
    resource = decode_json(body, TITLE)
    if not isinstance(resource, dict):
        raise invalid(TITLE, [((), "body must be a JSON object (a FHIR resource)")])
    if resource.get("resourceType") != "AdverseEvent":
        raise invalid(TITLE, [(("resourceType",), "resourceType must be 'AdverseEvent'")])
    if too_many := _too_many_people(resource, max_people):
        raise invalid(TITLE, too_many)
    version = detect_version(resource, hint)
    model = AdverseEventR5 if version is FhirVersion.R5 else AdverseEventR4
    issues = _required(resource, version)
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        issues += [(_element_loc(e), _short(e["msg"])) for e in exc.errors(include_input=False)]
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        issues.append(((), f"invalid FHIR resource: {type(exc).__name__}"))
    if issues:
        raise invalid(TITLE, issues[:50])
    return resource, version


def _element_loc(error: Any) -> tuple[str | int, ...]:
    at_top = len(error["loc"]) == 1
    return safe_loc(error, ELEMENTS if at_top else ())


def _short(message: str) -> str:
    return " ".join(message.split())[:300]


def expression(loc: tuple[Any, ...]) -> str:
    """FHIRPath-like expression of an error location, e.g. ``AdverseEvent.participant[0].actor``."""
    out = TITLE
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def operation_outcome(exc: ValidationError) -> tuple[int, dict[str, Any]]:
    """HTTP status and OperationOutcome for a rejected resource (never echoing input values)."""
    errors = exc.errors(include_input=False, include_url=False)
    malformed = any(e["type"] == "json_invalid" for e in errors)
    issues = []
    for err in errors[:50]:
        issue: dict[str, Any] = {
            "severity": "error",
            "code": "structure" if malformed else ("required" if err["type"] == "missing" else "invalid"),
            "diagnostics": _short(str(err["msg"])),
        }
        issue["expression"] = [expression(safe_loc(err))]
        issues.append(issue)
    return (400 if malformed else 422), {"resourceType": "OperationOutcome", "issue": issues}


def outcome_message(code: str, diagnostics: str, expr: str | None = None) -> dict[str, Any]:
    """A single-issue OperationOutcome."""
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expr:
        issue["expression"] = [expr]
    return {"resourceType": "OperationOutcome", "issue": [issue]}
