"""Rules (coordinators): what-if on history for the shared draft.

The rules service decides the stored (pseudonymized) incidents of the last months under the draft and under the
active rules, in memory, and answers counts only; this page shows them. A POST (CSRF-checked) because it asks
the service for real work; nothing is stored and nobody is paged.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from psp_console.adapters.services import Invalid, NotFound
from psp_console.adapters.sessions import WebSession
from psp_console.entrypoints.pages_rules import BAD_SCOPE, SCOPE, local_time, rules_api
from psp_console.entrypoints.web import Form, checked_form, render

router = APIRouter()
MONTHS = (1, 3, 6, 12, 24)
TIMEOUT_S = 120.0  # the replay of a large history takes seconds, more than an ordinary call may
URGENCIES = ("none", "within_days", "within_hours", "immediate")


def _months(form: Form) -> int | None:
    raw = (form.get("months") or [""])[0]
    return int(raw) if raw.isdigit() and int(raw) in MONTHS else None


def matrix(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The urgency transitions as rows (active) by columns (draft), every cell filled."""
    cells = {(t["active"], t["draft"]): t["incidents"] for t in result["urgency"]}
    return [{"active": a, "cells": [cells.get((a, d), 0) for d in URGENCIES]} for a in URGENCIES]


def by_rule(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per rule: cases added, removed, and versions it fires on under each side."""
    ids = set(result["added"]["by_rule"]) | set(result["removed"]["by_rule"])
    return [
        {
            "rule": r,
            "added": result["added"]["by_rule"].get(r, 0),
            "removed": result["removed"]["by_rule"].get(r, 0),
            "fired_active": result["active"]["rules_fired"].get(r, 0),
            "fired_draft": result["draft"]["rules_fired"].get(r, 0),
        }
        for r in sorted(ids)
    ]


@router.post("/rules/{scope}/what-if", summary="Try the draft on the stored history.")
async def what_if(scope: str, request: Request, form: Form = Depends(checked_form("rules"))) -> Response:
    """The draft and the active rules, each deciding the last months of stored incidents: the difference."""
    user: WebSession = request.state.user
    if not re.fullmatch(SCOPE, scope):
        return render(request, user, "error.html", "No such rule set", 404, errors=[BAD_SCOPE])
    months = _months(form)
    fragment = request.headers.get("HX-Request") == "true"
    template = "_rules_what_if.html" if fragment else "rules_what_if.html"
    context: dict[str, Any] = {"scope": scope, "months": months or 6, "month_choices": MONTHS, "fragment": fragment}
    context["urgencies"] = URGENCIES
    if months is None:
        errors = ["Choose how many months of history to try the draft on."]
        return render(request, user, template, f"What if: {scope}", 422, errors, problem="", result=None, **context)
    problem, result = "", None
    try:
        response = await rules_api(request).request(
            "POST",
            f"/v1/rulesets/{scope}/draft:what-if",
            user.access_token,
            params={"months": months},
            timeout=TIMEOUT_S,
        )
        result = response.json()
    except NotFound:
        problem = "There is no draft for this rule set any more (published or discarded). Start a new draft first."
    except Invalid as exc:
        reason = "; ".join(r for _, r in exc.fields) or exc.message
        problem = f"The draft cannot be tried: {reason}. Fix it in the editor, save it, and try again."
    if result is not None:
        context |= {
            "since": local_time(request, scope, result["since"]),
            "until": local_time(request, scope, result["until"]),
            "matrix": matrix(result),
            "rules": by_rule(result),
        }
    status = 422 if problem and not fragment else 200
    return render(request, user, template, f"What if: {scope}", status, problem=problem, result=result, **context)
