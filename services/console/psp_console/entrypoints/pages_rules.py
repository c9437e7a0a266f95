"""Rules (coordinators): the active rule set of each scope, its versions, and a diff of any two of them.

Everything comes from the rules service's API with the user's token; editing, dry-runs and publishing are in
pages_rules_draft.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from psp_console.adapters.services import NotFound, ServiceApi
from psp_console.adapters.sessions import WebSession
from psp_console.domain import rules_sample
from psp_console.domain.rules_view import line_diff, rule_changes, rule_rows
from psp_console.entrypoints.web import page, render

router = APIRouter()
SCOPE = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
SIDE = re.compile(r"^(active|draft|[1-9][0-9]{0,8})$")


def rules_api(request: Request) -> ServiceApi:
    """The rules service's API."""
    api: ServiceApi = request.app.state.console.backends.rules
    return api


def local_time(request: Request, scope: str, at: str | None) -> str:
    """An ISO time from the service, in the scope's zone (the default zone for 'default')."""
    if not at:
        return ""
    zone = request.app.state.console.settings.zone_of(None if scope == "default" else scope)
    return datetime.fromisoformat(at).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


async def get_draft(request: Request, scope: str, token: str) -> dict[str, Any] | None:
    """The scope's shared draft, or None."""
    try:
        draft: dict[str, Any] = await rules_api(request).get_json(f"/v1/rulesets/{scope}/draft", token)
    except NotFound:
        return None
    return draft


@router.get("/rules", summary="Rule sets.")
async def rules_index(request: Request, user: WebSession = Depends(page("rules"))) -> HTMLResponse:
    """Every scope with its active version and whether it has a draft."""
    index = await rules_api(request).get_json("/v1/rulesets", user.access_token)
    scopes = [
        {
            "scope": s["scope"],
            "version": s["current_version"],
            "stored": local_time(request, s["scope"], s["versions"][-1]["created_at"]),
            "count": len(s["versions"]),
            "draft": s["scope"] in index["drafts"],
        }
        for s in index["scopes"]
    ]
    if index["default_is_packaged"]:
        draft = "default" in index["drafts"]
        scopes.insert(0, {"scope": "default", "version": None, "stored": "", "count": 0, "draft": draft})
    known = {s["scope"] for s in scopes}
    drafts_only = [d for d in index["drafts"] if d not in known]
    return render(request, user, "rules.html", "Rules", scopes=scopes, drafts_only=drafts_only)


@router.get("/rules/{scope}", summary="A scope's active rule set.")
async def rules_scope(request: Request, scope: str, user: WebSession = Depends(page("rules"))) -> HTMLResponse:
    """The active rule set: version, when stored, each rule readably and the YAML; its versions; its draft."""
    if not re.fullmatch(SCOPE, scope):
        return render(request, user, "error.html", "No such rule set", 404, errors=[BAD_SCOPE])
    api = rules_api(request)
    active = await api.get_json(f"/v1/rulesets/{scope}", user.access_token)
    index = await api.get_json("/v1/rulesets", user.access_token)
    versions: list[dict[str, Any]] = next((s["versions"] for s in index["scopes"] if s["scope"] == scope), [])
    history = [{"version": v["version"], "stored": local_time(request, scope, v["created_at"])} for v in versions]
    draft = await get_draft(request, scope, user.access_token)
    return render(
        request,
        user,
        "rules_scope.html",
        f"Rules: {scope}",
        scope=scope,
        active=active,
        stored=local_time(request, scope, active.get("stored_at")),
        rows=rule_rows(active["document"]),
        history=list(reversed(history)),
        draft=draft,
        sample=rules_sample.blank(scope if scope != "default" else "GEN"),
        results=[],
        vocab=rules_sample,
    )


BAD_SCOPE = "A rule set scope is 'default' or a facility code (letters, digits, '.', '_' or '-'). Go back to Rules."


@dataclass(frozen=True)
class Side:
    """One side of a diff."""

    key: str
    label: str
    text: str
    document: dict[str, Any] | None


async def _side(request: Request, scope: str, key: str, token: str) -> Side | None:
    api = rules_api(request)
    if key == "draft":
        draft = await get_draft(request, scope, token)
        if draft is None:
            return None
        return Side(key, f"draft (revision {draft['revision']})", draft["source"], draft.get("document"))
    if key == "active":
        found = await api.get_json(f"/v1/rulesets/{scope}", token)
    else:
        try:
            found = await api.get_json(f"/v1/rulesets/{scope}/versions/{key}", token)
        except NotFound:
            return None
    label = f"version {found['version']}" + (" (active)" if key == "active" else "")
    return Side(key, label, found["source"], found["document"])


@router.get("/rules/{scope}/diff", summary="Compare two versions of a rule set.")
async def rules_diff(request: Request, scope: str, user: WebSession = Depends(page("rules"))) -> HTMLResponse:
    """A line diff of the two texts and which rules were added, removed or changed."""
    old_key = request.query_params.get("from", "active")
    new_key = request.query_params.get("to", "draft")
    if not re.fullmatch(SCOPE, scope) or not SIDE.match(old_key) or not SIDE.match(new_key):
        message = "Choose two versions: 'active', 'draft' or a version number. Go back to the rule set."
        return render(request, user, "error.html", "Cannot compare", 400, errors=[message])
    old = await _side(request, scope, old_key, user.access_token)
    new = await _side(request, scope, new_key, user.access_token)
    index = await rules_api(request).get_json("/v1/rulesets", user.access_token)
    versions: list[dict[str, Any]] = next((s["versions"] for s in index["scopes"] if s["scope"] == scope), [])
    choices = ["active", "draft"] + [str(v["version"]) for v in reversed(versions)]
    missing = [k for k, side in ((old_key, old), (new_key, new)) if side is None]
    context: dict[str, Any] = {"scope": scope, "old_key": old_key, "new_key": new_key, "choices": choices}
    if old is None or new is None:
        return render(request, user, "rules_diff.html", f"Compare rules: {scope}", missing=missing, **context)
    changes = rule_changes(old.document, new.document) if old.document and new.document else None
    lines = line_diff(old.text, new.text, old.label, new.label)
    return render(
        request,
        user,
        "rules_diff.html",
        f"Compare rules: {scope}",
        old=old,
        new=new,
        lines=lines,
        changes=changes,
        missing=[],
        **context,
    )
