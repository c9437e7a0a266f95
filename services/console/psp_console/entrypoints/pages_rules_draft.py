"""Rules (coordinators): edit the shared draft with validation, try a sample report, publish or discard it.

The draft lives in the rules service (one per scope, shared by every coordinator, revision-checked); nothing in
it decides anything until it is published. Publishing and discarding are POSTs (CSRF-checked) behind a
confirmation page; the rules service audits each call under the user.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from psp_console.adapters.services import BackendError, Conflict, Invalid, NotFound
from psp_console.adapters.sessions import WebSession
from psp_console.domain import rules_sample
from psp_console.domain.rules_view import rule_changes
from psp_console.entrypoints.pages_rules import BAD_SCOPE, SCOPE, get_draft, rules_api
from psp_console.entrypoints.web import MAX_FORM_BYTES, NOTICES, Form, act, checked_form, page, refusal_lines, render

router = APIRouter()
NOTICES.update(
    {
        "draft_started": "A draft was started from the active rule set. Edit it, check it, then publish it.",
        "draft_saved": "The draft is saved. Other coordinators see it; it takes effect only when published.",
        "draft_discarded": "The draft is discarded. The active rule set is unchanged.",
        "rules_published": "The draft is published: it is now the active rule set, and the draft is cleared.",
    }
)
STALE = (
    "Someone else saved, published or discarded this draft since you opened it. Your text is kept below: "
    "open the draft again in another tab, merge your change into it, and save."
)
CHANGED = "The draft changed or does not validate any more; review it again before publishing."
GONE = "There is no draft to publish any more: someone published or discarded it. Open the rules to see them."
NEW_OVERRIDE = """name: {code}
description: Rules of facility {code} on top of the default rule set.
extends_default: true
disable: []
rules:
  - id: {slug}-example
    text: Example rule of {code}; change or remove it
    when: {{harm_levels_any: [severe]}}
    urgency: within_hours
    tier: 2
"""


def _one(form: Form, name: str) -> str:
    return (form.get(name) or [""])[0]


def _scope_ok(scope: str) -> bool:
    return bool(re.fullmatch(SCOPE, scope))


def _bad(request: Request, user: WebSession) -> HTMLResponse:
    return render(request, user, "error.html", "No such rule set", 404, errors=[BAD_SCOPE])


async def _save(request: Request, user: WebSession, scope: str, text: str, revision: int) -> dict[str, Any]:
    response = await rules_api(request).request(
        "PUT", f"/v1/rulesets/{scope}/draft", user.access_token, content=text.encode(), params={"revision": revision}
    )
    saved: dict[str, Any] = response.json()
    return saved


@router.post("/rules/new", summary="Start a facility's rule set.")
async def new_scope(request: Request, form: Form = Depends(checked_form("rules"))) -> Response:
    """A draft override for a facility that has none, from a template that extends the default."""
    user: WebSession = request.state.user
    code = _one(form, "facility").strip()
    if not _scope_ok(code) or code == "default":
        errors = ["Give the facility code (letters, digits, '.', '_' or '-'), e.g. GEN, then start again."]
        return render(request, user, "error.html", "Cannot start that rule set", 422, errors=errors)
    slug = re.sub(r"[^a-z0-9]+", "-", code.lower()).strip("-") or "facility"
    call = _start(request, user, code, lambda: _text(NEW_OVERRIDE.format(code=code, slug=slug)))
    return await act(call, f"/rules/{code}/draft?notice=draft_started", _not_started(request, user))


@router.post("/rules/{scope}/draft/start", summary="Start a draft from the active rule set.")
async def start_draft(scope: str, request: Request, form: Form = Depends(checked_form("rules"))) -> Response:
    """Copy the active text into a new shared draft (or open the one that exists)."""
    user: WebSession = request.state.user
    if not _scope_ok(scope):
        return _bad(request, user)

    async def active_text() -> str:
        active = await rules_api(request).get_json(f"/v1/rulesets/{scope}", user.access_token)
        return (
            str(active["source"]) if active["source_scope"] == scope else NEW_OVERRIDE.format(code=scope, slug="local")
        )

    call = _start(request, user, scope, active_text)
    return await act(call, f"/rules/{scope}/draft?notice=draft_started", _not_started(request, user))


async def _text(text: str) -> str:
    return text


async def _start(request: Request, user: WebSession, scope: str, text: Callable[[], Awaitable[str]]) -> None:
    """A draft of ``text()`` unless the scope has one (then, or when someone starts one meanwhile, theirs opens)."""
    if await get_draft(request, scope, user.access_token) is None:
        with contextlib.suppress(Conflict):  # someone started one at the same moment: open theirs
            await _save(request, user, scope, await text(), 0)


def _not_started(request: Request, user: WebSession) -> Callable[[BackendError], Awaitable[Response]]:
    async def refused(exc: BackendError) -> Response:
        lines = ["The draft was not started.", *refusal_lines(exc)]
        return render(request, user, "error.html", "Cannot start that rule set", exc.status, errors=lines)

    return refused


def _editor(
    request: Request, user: WebSession, scope: str, draft: dict[str, Any], status: int = 200, **extra: Any
) -> HTMLResponse:
    context = {"text": draft["source"], "problems": draft["problems"], "checked": None, "errors": []} | extra
    sample = rules_sample.blank(scope if scope != "default" else "GEN")
    errors = context.pop("errors")
    return render(
        request,
        user,
        "rules_draft.html",
        f"Edit draft: {scope}",
        status,
        errors,
        scope=scope,
        draft=draft,
        sample=sample,
        vocab=rules_sample,
        **context,
    )


@router.get("/rules/{scope}/draft", summary="Edit the shared draft.")
async def edit_draft(scope: str, request: Request, user: WebSession = Depends(page("rules"))) -> HTMLResponse:
    """The draft's text with its problems, a sample report to try, and the way to publish."""
    if not _scope_ok(scope):
        return _bad(request, user)
    draft = await get_draft(request, scope, user.access_token)
    if draft is None:
        return render(request, user, "rules_no_draft.html", f"No draft: {scope}", scope=scope)
    return _editor(request, user, scope, draft)


@router.post("/rules/{scope}/draft", summary="Save or check the draft.")
async def save_draft(scope: str, request: Request, form: Form = Depends(checked_form("rules"))) -> Response:
    """``action=check`` validates the text without saving; otherwise it is saved as the next revision."""
    user: WebSession = request.state.user
    if not _scope_ok(scope):
        return _bad(request, user)
    draft = await get_draft(request, scope, user.access_token)
    if draft is None:
        return render(request, user, "rules_no_draft.html", f"No draft: {scope}", 404, scope=scope)
    text = _one(form, "source").replace("\r\n", "\n")
    if len(await request.body()) >= MAX_FORM_BYTES:
        too_big = "The text is too large to send from this form; shorten it (the limit is about 40,000 characters)."
        return _editor(request, user, scope, draft, 413, text=text, errors=[too_big])
    revision = int(_one(form, "revision")) if _one(form, "revision").isdigit() else 0
    if _one(form, "action") == "check":
        checked = await rules_api(request).request(
            "POST", f"/v1/rulesets/{scope}/draft:validate", user.access_token, content=text.encode()
        )
        result = checked.json()
        return _editor(request, user, scope, draft, text=text, problems=result["problems"], checked=result)

    async def refused(exc: BackendError) -> Response:
        if isinstance(exc, Conflict):
            return _editor(request, user, scope, draft, 409, text=text, problems=[], errors=[STALE])
        return _editor(request, user, scope, draft, exc.status, text=text, errors=refusal_lines(exc))

    call = _save(request, user, scope, text, revision)
    return await act(call, f"/rules/{scope}/draft?notice=draft_saved#source", refused)


@router.post("/rules/{scope}/dry-run", summary="Try a sample report on the active rules and the draft.")
async def dry_run(scope: str, request: Request, form: Form = Depends(checked_form("rules"))) -> Response:
    """The active rule set's and the draft's decision for the sample, side by side (nothing is stored)."""
    user: WebSession = request.state.user
    if not _scope_ok(scope):
        return _bad(request, user)
    sample = rules_sample.read_sample(form, request.app.state.console.clock.now())
    results: list[dict[str, Any]] = []
    if sample.body is not None:
        api = rules_api(request)
        active = await api.post_json("/v1/dry-run", user.access_token, sample.body)
        results.append({"label": "Active rules", "result": active, "problem": ""})
        if await get_draft(request, scope, user.access_token) is not None:
            results.append(await _draft_run(request, user, scope, sample.body))
    fragment = request.headers.get("HX-Request") == "true"
    template = "rules_dry_run.html" if fragment else "rules_dry_run_page.html"
    status = 422 if sample.errors and not fragment else 200
    return render(
        request,
        user,
        template,
        f"Try a sample: {scope}",
        status,
        scope=scope,
        sample=sample,
        results=results,
        vocab=rules_sample,
    )


async def _draft_run(request: Request, user: WebSession, scope: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = await rules_api(request).request(
            "POST", "/v1/dry-run", user.access_token, json=body, params={"draft": scope}
        )
    except Invalid as exc:
        reason = "; ".join(r for _, r in exc.fields) or exc.message
        return {"label": "Draft", "result": None, "problem": f"The draft cannot decide this sample: {reason}."}
    return {"label": "Draft", "result": response.json(), "problem": ""}


@router.get("/rules/{scope}/publish", summary="Confirm publishing the draft.")
async def confirm_publish(scope: str, request: Request, user: WebSession = Depends(page("rules"))) -> HTMLResponse:
    """What publishing would change (rules added, removed, changed) and the button that does it."""
    if not _scope_ok(scope):
        return _bad(request, user)
    draft = await get_draft(request, scope, user.access_token)
    if draft is None:
        return render(request, user, "rules_no_draft.html", f"No draft: {scope}", 404, scope=scope)
    active = await rules_api(request).get_json(f"/v1/rulesets/{scope}", user.access_token)
    own = active["source_scope"] == scope
    changes = rule_changes(active["document"] if own else {}, draft["document"]) if draft["document"] else None
    return render(
        request,
        user,
        "rules_publish.html",
        f"Publish draft: {scope}",
        scope=scope,
        draft=draft,
        active=active,
        own=own,
        changes=changes,
    )


@router.post("/rules/{scope}/publish", summary="Publish the draft.")
async def publish(scope: str, request: Request, form: Form = Depends(checked_form("rules"))) -> Response:
    """The draft at the reviewed revision becomes the scope's next version; the draft is cleared."""
    user: WebSession = request.state.user
    if not _scope_ok(scope):
        return _bad(request, user)
    revision = _one(form, "revision")

    async def refused(exc: BackendError) -> Response:
        reason = "; ".join(r for _, r in getattr(exc, "fields", [])) or exc.message
        lines = [GONE] if isinstance(exc, NotFound) else [CHANGED, reason.capitalize()]
        return render(request, user, "error.html", "Not published", exc.status, errors=lines)

    call = rules_api(request).request(
        "POST", f"/v1/rulesets/{scope}/draft:publish", user.access_token, params={"revision": revision or "0"}
    )
    return await act(call, f"/rules/{quote(scope)}?notice=rules_published", refused)


@router.get("/rules/{scope}/discard", summary="Confirm discarding the draft.")
async def confirm_discard(scope: str, request: Request, user: WebSession = Depends(page("rules"))) -> HTMLResponse:
    """Ask before the shared draft is thrown away."""
    if not _scope_ok(scope):
        return _bad(request, user)
    draft = await get_draft(request, scope, user.access_token)
    if draft is None:
        return render(request, user, "rules_no_draft.html", f"No draft: {scope}", 404, scope=scope)
    return render(request, user, "rules_discard.html", f"Discard draft: {scope}", scope=scope, draft=draft)


@router.post("/rules/{scope}/discard", summary="Discard the draft.")
async def discard(scope: str, request: Request, form: Form = Depends(checked_form("rules"))) -> Response:
    """Delete the shared draft; the active rule set stays as it is."""
    user: WebSession = request.state.user
    if not _scope_ok(scope):
        return _bad(request, user)

    async def delete() -> None:
        with contextlib.suppress(NotFound):  # already discarded or published by someone else: nothing left to do
            await rules_api(request).request("DELETE", f"/v1/rulesets/{scope}/draft", user.access_token)

    async def refused(exc: BackendError) -> Response:
        lines = ["The draft was not discarded.", *refusal_lines(exc)]
        return render(request, user, "error.html", "Not discarded", exc.status, errors=lines)

    return await act(delete(), f"/rules/{quote(scope)}?notice=draft_discarded", refused)
