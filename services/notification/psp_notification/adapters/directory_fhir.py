"""A FHIR R4 Bundle of Practitioner + PractitionerRole as directory people (validated with fhir.resources).

Practitioner: identifier (the staff id: the one of the configured system, else the first), name, telecom
(phone, pager, email; use=work preferred, unspecified accepted, home/mobile/temp/old never), active=false = left.
PractitionerRole (joined by its practitioner reference): code / specialty -> role, location / organization
display -> unit, telecom as a fallback contact. Problems name the entry index and the element, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from pydantic import ValidationError

from psp_notification.adapters.directory_import import (
    Parsed,
    Person,
    Problem,
    as_mapping,
    staff_id_problem,
    validation_problems,
)
from psp_notification.domain.directory import DirectoryEntry, InvalidEntry

CONTACT_SYSTEMS = ("phone", "pager", "email")
WORK_USES = ("work", None)  # preference order; a personal number (home, mobile) is never a work contact
NAME_USES = ("official", "usual", None)
MODELS: dict[str, Any] = {"Practitioner": Practitioner, "PractitionerRole": PractitionerRole}
ELEMENTS = {"display_name": "Practitioner.name", "role": "PractitionerRole.code", "unit": "PractitionerRole.location"}


@dataclass
class _Found:
    """Practitioners (by every reference that names them) and their roles."""

    practitioners: dict[int, Any] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)
    roles: dict[int, list[Any]] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)  # references of Practitioners already reported


def _entry_keys(entry: Mapping[str, Any] | None, resource_id: Any) -> list[str]:
    keys = [str(entry["fullUrl"])] if entry and entry.get("fullUrl") else []
    return keys + ([f"Practitioner/{resource_id}"] if resource_id else [])


def _reference_keys(ref: str) -> list[str]:
    """A practitioner reference and its 'Practitioner/<id>' tail (absolute URL or versioned form)."""
    keys = [ref]
    if "Practitioner/" in ref:
        tail = ref[ref.rindex("Practitioner/") :].split("/_history")[0]
        keys.append("/".join(tail.split("/")[:2]))
    return keys


def _concept_text(concepts: Sequence[Any] | None) -> str | None:
    for concept in concepts or ():
        if concept.text:
            return str(concept.text)
        for coding in concept.coding or ():
            if coding.display or coding.code:
                return str(coding.display or coding.code)
    return None


def _name(practitioner: Any) -> str | None:
    names = practitioner.name or []
    ranked = sorted(names, key=lambda n: NAME_USES.index(n.use) if n.use in NAME_USES else len(NAME_USES))
    for n in ranked:
        if n.text:
            return str(n.text)
        parts = [*(n.prefix or ()), *(n.given or ()), n.family, *(n.suffix or ())]
        text = " ".join(str(p) for p in parts if p)
        if text:
            return text
    return None


def _telecom(resource: Any, system: str) -> tuple[str, str] | None:
    """The work contact point of ``system`` and its element path, if any."""
    points = list(enumerate(resource.telecom or ()))
    for use in WORK_USES:
        for i, cp in points:
            if cp.system == system and cp.use == use and cp.value:
                return str(cp.value), f"{resource.get_resource_type()}.telecom[{i}].value"
    return None


def _staff_id(practitioner: Any, system: str | None) -> str | None:
    for ident in practitioner.identifier or ():
        if ident.value and (system is None or ident.system == system):
            return str(ident.value)
    return None


def _person(index: int, practitioner: Any, roles: list[Any], system: str | None) -> Person:
    """A practitioner and its roles as a person (InvalidEntry names the element)."""
    staff_id = _staff_id(practitioner, system)
    if staff_id is None:
        configured = " of the configured system (PSP_DIRECTORY_STAFF_ID_SYSTEM)" if system else ""
        raise InvalidEntry("Practitioner.identifier", f"no identifier{configured} with a value")
    if reason := staff_id_problem(staff_id):
        raise InvalidEntry("Practitioner.identifier.value", reason)
    if practitioner.active is False:
        return Person(index, staff_id.strip(), None)
    active_roles = [r for r in roles if r.active is not False]
    contacts: dict[str, tuple[str, str] | None] = {}
    for system_name in CONTACT_SYSTEMS:
        contacts[system_name] = _telecom(practitioner, system_name) or next(
            (found for r in active_roles if (found := _telecom(r, system_name))), None
        )
    role = next((r for r in active_roles), None)
    unit = None
    if role is not None:
        unit = next((loc.display for loc in role.location or () if loc.display), None)
        unit = unit or (role.organization.display if role.organization else None)
    try:
        entry = DirectoryEntry.create(
            _name(practitioner),
            role=_role_text(role),
            unit=unit,
            **{k: v[0] if v else None for k, v in contacts.items()},
        )
    except InvalidEntry as exc:
        where = contacts.get(exc.field)
        raise InvalidEntry(where[1] if where else ELEMENTS.get(exc.field, exc.field), exc.reason) from None
    return Person(index, staff_id.strip(), entry)


def _role_text(role: Any) -> str | None:
    if role is None:
        return None
    code, specialty = _concept_text(role.code), _concept_text(role.specialty)
    if code and specialty:
        return f"{code}, {specialty}"
    return code or specialty


def _collect(entries: Sequence[Any], problems: list[Problem]) -> _Found:
    found = _Found()
    pending_roles: list[tuple[int, Any]] = []
    for i, raw in enumerate(entries):
        entry = as_mapping(raw)
        resource = as_mapping(entry.get("resource")) if entry else None
        kind = resource.get("resourceType") if resource else None
        model: Any = MODELS.get(str(kind))
        if resource is None or model is None:
            problems.append(Problem(i, "resource.resourceType", "expected Practitioner or PractitionerRole"))
            continue
        try:
            parsed = model.model_validate(resource)
        except ValidationError as exc:
            problems.extend(validation_problems(i, str(kind), exc))
            found.rejected.update(_entry_keys(entry, resource.get("id")))
            continue
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError):  # e.g. an unknown contained type
            problems.append(Problem(i, str(kind), "not a valid FHIR R4 resource"))
            found.rejected.update(_entry_keys(entry, resource.get("id")))
            continue
        if model is PractitionerRole:
            pending_roles.append((i, parsed))
            continue
        found.practitioners[i] = parsed
        found.keys.update(dict.fromkeys(_entry_keys(entry, parsed.id), i))
    for i, role in pending_roles:
        ref = role.practitioner.reference if role.practitioner else None
        keys = _reference_keys(str(ref)) if ref else []
        target = next((found.keys[k] for k in keys if k in found.keys), None)
        if target is None and found.rejected.intersection(keys):
            continue  # its Practitioner was rejected (reported there)
        if target is None:
            problems.append(Problem(i, "PractitionerRole.practitioner", "refers to no Practitioner in this Bundle"))
            continue
        found.roles.setdefault(target, []).append(role)
    return found


def parse_bundle(body: Any, staff_id_system: str | None) -> Parsed:
    """Parse a Bundle (any type: collection, searchset, transaction...) of Practitioner and PractitionerRole."""
    bundle: Mapping[str, Any] | None = as_mapping(body)
    if bundle is None or bundle.get("resourceType") != "Bundle":
        return Parsed([], [Problem(-1, "resourceType", "expected a FHIR Bundle")])
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        return Parsed([], [Problem(-1, "entry", "expected a non-empty list of entries")])
    problems: list[Problem] = []
    found = _collect(entries, problems)
    people: list[Person] = []
    for i, practitioner in found.practitioners.items():
        try:
            people.append(_person(i, practitioner, found.roles.get(i, []), staff_id_system))
        except InvalidEntry as exc:
            sid = _staff_id(practitioner, staff_id_system)
            problems.append(Problem(i, exc.field, exc.reason, sid if sid and not staff_id_problem(sid) else None))
    problems.sort(key=lambda p: p.position)
    return Parsed(people, problems)
