"""SCIM 2.0 User resources (RFC 7643) <-> directory entries, and PATCH operations (RFC 7644 3.5.2).

Mapping: the staff id is ``userName`` or ``externalId`` (setting); ``displayName`` (else ``name.formatted``,
else given + family) -> display name; ``title`` -> role; enterprise ``department`` -> unit; ``phoneNumbers``
of type work -> phone, of type pager -> pager; ``emails`` of type work (else the primary) -> e-mail;
``active`` false -> the person is removed. Errors name the attribute, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from psp_notification.adapters.directory import StoredEntry
from psp_notification.domain.directory import DirectoryEntry, InvalidEntry

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ATTRIBUTES = {
    "display_name": "displayName",
    "role": "title",
    "unit": f"{ENTERPRISE}:department",
    "phone": 'phoneNumbers[type eq "work"].value',
    "pager": 'phoneNumbers[type eq "pager"].value',
    "email": 'emails[type eq "work"].value',
    "contact": "phoneNumbers",
}
CANONICAL = {
    n.lower(): n
    for n in ("userName", "externalId", "active", "displayName", "name", "title", "phoneNumbers", "emails", "schemas")
}
_PATH = re.compile(r'^(?P<attr>[A-Za-z]\w*)(?:\[type eq "(?P<type>\w+)"\])?(?:\.(?P<sub>[A-Za-z]\w*))?$')


class ScimError(Exception):
    """A SCIM error answer (RFC 7644 3.12): HTTP status, scimType and a detail naming the attribute."""

    def __init__(
        self, status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type, self.headers = status, detail, scim_type, headers

    def body(self) -> dict[str, Any]:
        """The error resource."""
        out: dict[str, Any] = {"schemas": [ERROR], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            out["scimType"] = self.scim_type
        return out


def _get(resource: Mapping[str, Any], name: str) -> Any:
    """An attribute by case-insensitive name (RFC 7643 2.1)."""
    return next((v for k, v in resource.items() if k.lower() == name.lower()), None)


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):  # Entra ID sends "False"
        return value.lower() == "true"
    raise ScimError(400, f"{name} must be a boolean", "invalidValue")


def _text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ScimError(400, f"{name} must be a string", "invalidValue")


def staff_id_of(resource: Mapping[str, Any], attribute: str) -> str:
    """The staff id carried by ``attribute`` (userName or externalId)."""
    value = _text(_get(resource, attribute), attribute)
    if not value or not value.strip():
        raise ScimError(400, f"{attribute} is required (it carries the staff id)", "invalidValue")
    if len(value) > 128 or not value.isprintable():
        raise ScimError(400, f"{attribute}: at most 128 printable characters", "invalidValue")
    return value.strip()


def _typed(items: Any, name: str, kind: str, primary_fallback: bool = False) -> str | None:
    if items is None:
        return None
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise ScimError(400, f"{name} must be a list of objects", "invalidValue")
    for item in items:
        if str(_get(item, "type") or "").lower() == kind:
            return _text(_get(item, "value"), f"{name}.value")
    if primary_fallback:
        first = next((i for i in items if _get(i, "primary") is True), None)
        return _text(_get(first, "value"), f"{name}.value") if first else None
    return None


def _display_name(resource: Mapping[str, Any]) -> str | None:
    name = _get(resource, "name")
    name = name if isinstance(name, Mapping) else {}
    parts = [_text(_get(name, k), f"name.{k}") for k in ("givenName", "familyName")]
    given_family = " ".join(p for p in parts if p)
    return (
        _text(_get(resource, "displayName"), "displayName")
        or _text(_get(name, "formatted"), "name.formatted")
        or given_family
    )


def entry_of(resource: Mapping[str, Any]) -> DirectoryEntry | None:
    """The directory entry a User resource describes; None when ``active`` is false (the person left)."""
    active = _get(resource, "active")
    if active is not None and not _bool(active, "active"):
        return None
    ext = _get(resource, ENTERPRISE)
    department = _get(ext, "department") if isinstance(ext, Mapping) else None
    phones = _get(resource, "phoneNumbers")
    try:
        return DirectoryEntry.create(
            _display_name(resource),
            role=_text(_get(resource, "title"), "title"),
            unit=_text(department, "department"),
            phone=_typed(phones, "phoneNumbers", "work"),
            pager=_typed(phones, "phoneNumbers", "pager"),
            email=_typed(_get(resource, "emails"), "emails", "work", primary_fallback=True),
        )
    except InvalidEntry as exc:
        raise ScimError(400, f"{ATTRIBUTES.get(exc.field, exc.field)}: {exc.reason}", "invalidValue") from None


def resource_of(stored: StoredEntry, user_name: str, base_url: str) -> dict[str, Any]:
    """A stored entry as a SCIM User (``user_name``: the caller's own value, or the pseudonym: never stored)."""
    e = stored.entry
    phones = [{"type": "work", "value": e.phone}] if e.phone else []
    phones += [{"type": "pager", "value": e.pager}] if e.pager else []
    out: dict[str, Any] = {
        "schemas": [USER, ENTERPRISE],
        "id": stored.scim_id,
        "userName": user_name,
        "active": True,
        "displayName": e.display_name,
        "name": {"formatted": e.display_name},
        "meta": {
            "resourceType": "User",
            "lastModified": stored.updated_at.isoformat(),
            "location": f"{base_url.rstrip('/')}/scim/v2/Users/{stored.scim_id}",
        },
    }
    if e.role:
        out["title"] = e.role
    if phones:
        out["phoneNumbers"] = phones
    if e.email:
        out["emails"] = [{"type": "work", "value": e.email, "primary": True}]
    if e.unit:
        out[ENTERPRISE] = {"department": e.unit}
    return out


def _put(holder: dict[str, Any], key: str, value: Any, op: str) -> None:
    if op == "remove":
        holder.pop(key, None)
    else:
        holder[key] = value


def _set(resource: dict[str, Any], path: str, value: Any, op: str) -> None:
    """Apply one operation at ``path`` (an attribute, ``attr.sub``, ``attr[type eq "x"].sub``, an extension's)."""
    if path.lower() == ENTERPRISE.lower():
        resource[ENTERPRISE] = {} if op == "remove" else {**resource.get(ENTERPRISE, {}), **(value or {})}
        return
    if path.lower().startswith(ENTERPRISE.lower() + ":"):
        _put(resource.setdefault(ENTERPRISE, {}), path[len(ENTERPRISE) + 1 :], value, op)
        return
    m = _PATH.match(path)
    if m is None:
        raise ScimError(400, "unsupported path", "invalidPath")
    attr = CANONICAL.get(m["attr"].lower(), m["attr"])
    if m["type"]:
        items = resource.setdefault(attr, [])
        item = next((i for i in items if str(i.get("type", "")).lower() == m["type"].lower()), None)
        if op == "remove":
            resource[attr] = [i for i in items if i is not item]
        elif item is None:
            items.append({"type": m["type"], m["sub"] or "value": value})
        else:
            item[m["sub"] or "value"] = value
    elif m["sub"]:
        _put(resource.setdefault(attr, {}), m["sub"], value, op)
    elif op == "remove":
        resource.pop(attr, None)
    elif op == "add" and isinstance(resource.get(attr), list) and isinstance(value, list):
        resource[attr] = [*resource[attr], *value]
    else:
        resource[attr] = value


def apply_patch(resource: dict[str, Any], body: Any) -> dict[str, Any]:
    """``resource`` after a PatchOp's operations (add, replace, remove; with or without a path)."""
    ops = _get(body, "Operations") if isinstance(body, Mapping) else None
    if not isinstance(ops, list) or not ops:
        raise ScimError(400, "Operations must be a non-empty list", "invalidSyntax")
    for i, op in enumerate(ops):
        kind = str(_get(op, "op") or "").lower() if isinstance(op, Mapping) else ""
        if kind not in ("add", "replace", "remove"):
            raise ScimError(400, f"Operations[{i}].op must be add, replace or remove", "invalidSyntax")
        path, value = _get(op, "path"), _get(op, "value")
        if path is not None and not isinstance(path, str):
            raise ScimError(400, f"Operations[{i}].path must be a string", "invalidPath")
        try:
            if path:
                _set(resource, path, value, kind)
            elif isinstance(value, Mapping) and kind != "remove":
                for key, item in value.items():
                    _set(resource, str(key), item, kind)
            else:
                raise ScimError(400, f"Operations[{i}]: a path, or an object value", "noTarget")
        except (AttributeError, TypeError):  # e.g. a typed path into an attribute a previous op made a string
            raise ScimError(400, f"Operations[{i}]: the value does not fit the attribute", "invalidValue") from None
    return resource
