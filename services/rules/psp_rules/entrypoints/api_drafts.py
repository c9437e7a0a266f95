"""Rules HTTP API: shared drafts of a rule set (save, validate, discard, publish) and the dry-run (thin).

A draft is one text per scope that coordinators edit together; nothing in it decides anything until it is
published, which stores it as the scope's next version and clears it. Every save names the revision it edited,
so a save over someone else's newer save is refused (409) instead of silently lost.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from psp_common.auth import AUTH_RESPONSES, Scope, require
from psp_common.events.intake import IncidentObserved
from psp_common.http import ERROR_RESPONSES, ErrorResponse, FieldError
from psp_rules import drafts, handlers
from psp_rules.adapters.drafts import Draft, DraftRepository, StaleDraft
from psp_rules.adapters.repository import RuleSetRepository
from psp_rules.adapters.ruleset_check import Problem
from psp_rules.adapters.ruleset_schema import MAX_DOCUMENT_CHARS, valid_scope
from psp_rules.domain.paging import hold, not_paged_reason
from psp_rules.entrypoints.api import ActiveRuleSet, readable_source

router = APIRouter(dependencies=[Depends(require(Scope.COORDINATOR))], responses=AUTH_RESPONSES)
REVISION = Query(0, ge=0, le=2**31 - 1, description="The draft revision you edited (0 or omitted: no draft yet).")
STALE_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "The draft changed since that revision."},
    **ERROR_RESPONSES,
}
TEXT_BODY = {"content": {"application/yaml": {"schema": {"type": "string"}}}, "required": True}


class ProblemOut(BaseModel):
    """One reason the text does not validate."""

    field: str = Field(description="Dotted path of the field ('body' for the whole text).")
    reason: str = Field(description="Why.")
    line: int | None = Field(None, description="1-based line of the text, when it can be located.")


class DraftOut(BaseModel):
    """The shared draft of a scope and whether it would publish."""

    scope: str = Field(description="'default' or a facility code.")
    source: str = Field(description="The draft text (YAML or JSON).")
    revision: int = Field(description="Revision of the draft (each save adds one); send it with the next save.")
    updated_at: datetime = Field(description="When it was last saved.")
    updated_by: str = Field(description="Who saved it last (the token's subject).")
    valid: bool = Field(description="True when it would publish as it is.")
    problems: list[ProblemOut] = Field(description="Why it would not publish, by field and line.")
    document: dict[str, Any] | None = Field(None, description="The validated document (None while it has problems).")


class Validation(BaseModel):
    """Whether a text is a valid rule set for a scope."""

    valid: bool = Field(description="True when it would publish as it is.")
    rules: int = Field(description="How many rules it has (0 when it does not validate).")
    problems: list[ProblemOut] = Field(description="Why not, by field and line.")


def _error(status: int, detail: str, field: str, reason: str) -> JSONResponse:
    body = ErrorResponse(detail=detail, errors=[FieldError(field=field, reason=reason)]).model_dump()
    return JSONResponse(body, status_code=status)


def _problems(problems: list[Problem]) -> list[ProblemOut]:
    return [ProblemOut(field=p.field, reason=p.reason, line=p.line) for p in problems]


async def _text(request: Request) -> str | JSONResponse:
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "malformed rule set", "body", "not UTF-8 text")
    if len(text) > MAX_DOCUMENT_CHARS:
        return _error(422, "rule set too large", "body", f"larger than {MAX_DOCUMENT_CHARS} characters")
    return text


async def _draft_out(repo: RuleSetRepository, draft: Draft, request: Request) -> DraftOut:
    doc, problems = await drafts.validate(repo, draft.scope, draft.source, request.app.state.container.config)
    return DraftOut(
        scope=draft.scope,
        source=draft.source,
        revision=draft.revision,
        updated_at=draft.updated_at,
        updated_by=draft.updated_by,
        valid=not problems,
        problems=_problems(problems),
        document=doc.model_dump(mode="json") if doc else None,
    )


def _bad_scope(scope: str) -> JSONResponse | None:
    return None if valid_scope(scope) else _error(422, "bad scope", "scope", "must be 'default' or a facility code")


@router.get(
    "/v1/rulesets/{scope}/draft",
    response_model=DraftOut,
    responses={404: {"model": ErrorResponse, "description": "No draft."}, **ERROR_RESPONSES},
    tags=["rulesets"],
    summary="The shared draft of a rule set, with its problems.",
)
async def get_draft(request: Request, scope: str) -> Any:
    """The unpublished draft of ``scope`` (404 when there is none)."""
    if (bad := _bad_scope(scope)) is not None:
        return bad
    async with request.app.state.container.runtime.session() as session:
        draft = await DraftRepository(session).get(scope)
        if draft is None:
            return _error(404, "no draft", "scope", "no draft for this scope; save one to start")
        return await _draft_out(RuleSetRepository(session), draft, request)


@router.put(
    "/v1/rulesets/{scope}/draft",
    response_model=DraftOut,
    responses=STALE_RESPONSES,
    openapi_extra={"requestBody": TEXT_BODY},
    tags=["rulesets"],
    summary="Save the shared draft (YAML or JSON body; stored even when it does not validate yet).",
)
async def put_draft(request: Request, scope: str, revision: int = REVISION) -> Any:
    """Store the text as the draft's next revision; nothing takes effect until it is published."""
    if (bad := _bad_scope(scope)) is not None:
        return bad
    text = await _text(request)
    if isinstance(text, JSONResponse):
        return text
    container = request.app.state.container
    async with container.runtime.uow() as uow:
        try:
            by, now = request.state.principal.subject, container.clock.now()
            draft = await DraftRepository(uow.session).save(scope, text, revision, by, now)
            out = await _draft_out(RuleSetRepository(uow.session), draft, request)
            await uow.commit()
        except (StaleDraft, IntegrityError):
            return _stale()
    return out


def _stale() -> JSONResponse:
    reason = "someone saved, published or discarded the draft since you opened it; reload it and apply your change"
    return _error(409, "the draft changed", "revision", reason)


@router.delete(
    "/v1/rulesets/{scope}/draft",
    status_code=204,
    response_class=Response,
    response_model=None,
    responses={404: {"model": ErrorResponse, "description": "No draft."}, **ERROR_RESPONSES},
    tags=["rulesets"],
    summary="Discard the shared draft.",
)
async def delete_draft(request: Request, scope: str) -> Any:
    """Remove the draft (the active rule set is unchanged)."""
    if (bad := _bad_scope(scope)) is not None:
        return bad
    async with request.app.state.container.runtime.uow() as uow:
        removed = await DraftRepository(uow.session).delete(scope)
        await uow.commit()
    return Response(status_code=204) if removed else _error(404, "no draft", "scope", "nothing to discard")


@router.post(
    "/v1/rulesets/{scope}/draft:validate",
    response_model=Validation,
    responses=ERROR_RESPONSES,
    openapi_extra={"requestBody": TEXT_BODY},
    tags=["rulesets"],
    summary="Validate a rule set text for a scope without storing it.",
)
async def validate_draft(request: Request, scope: str) -> Any:
    """Every problem with its field and line; nothing is stored."""
    if (bad := _bad_scope(scope)) is not None:
        return bad
    text = await _text(request)
    if isinstance(text, JSONResponse):
        return text
    container = request.app.state.container
    async with container.runtime.session() as session:
        doc, problems = await drafts.validate(RuleSetRepository(session), scope, text, container.config)
    return Validation(valid=doc is not None, rules=len(doc.rules) if doc else 0, problems=_problems(problems))


@router.post(
    "/v1/rulesets/{scope}/draft:publish",
    status_code=201,
    response_model=ActiveRuleSet,
    responses=STALE_RESPONSES,
    tags=["rulesets"],
    summary="Publish the draft: it becomes the scope's next version and the draft is cleared.",
)
async def publish_draft(
    request: Request,
    scope: str,
    revision: int = Query(ge=1, le=2**31 - 1, description="The draft revision you reviewed."),
) -> Any:
    """Validate the draft at ``revision`` and store it as the next version, in one transaction."""
    if (bad := _bad_scope(scope)) is not None:
        return bad
    container = request.app.state.container
    async with container.runtime.uow() as uow:
        repo, draft_repo = RuleSetRepository(uow.session), DraftRepository(uow.session)
        draft = await draft_repo.get(scope)
        if draft is None or draft.revision != revision:
            return _stale()
        doc, problems = await drafts.validate(repo, scope, draft.source, container.config)
        if doc is None:
            errors = [FieldError(field=p.field, reason=_at_line(p)) for p in problems]
            body = ErrorResponse(detail="the draft does not validate", errors=errors).model_dump()
            return JSONResponse(body, status_code=422)
        try:
            stored = await repo.add(scope, doc.model_dump(mode="json"), draft.source, container.clock.now())
            if not await draft_repo.delete(scope, revision):
                return _stale()
            await uow.commit()
        except IntegrityError:
            return _error(409, "concurrent update", "scope", "another version was stored at the same time; retry")
    return ActiveRuleSet(
        scope=scope,
        source_scope=scope,
        version=stored.label,
        document=stored.document,
        source=readable_source(stored.source, stored.document),
        stored_at=stored.created_at,
    )


def _at_line(p: Problem) -> str:
    return f"line {p.line}: {p.reason}" if p.line else p.reason


@router.post(
    "/v1/dry-run",
    responses={404: {"model": ErrorResponse, "description": "No draft for that scope."}, **ERROR_RESPONSES},
    tags=["decisions"],
    summary="What the rules (or a draft) would decide for an IncidentObserved, without any side effect.",
)
async def dry_run(
    event: IncidentObserved,
    request: Request,
    draft: str | None = Query(None, max_length=64, description="Decide with this scope's draft instead."),
) -> Any:
    """Evaluate and decide on a read-only session that is rolled back: no rows, no outbox, no events. A historical
    or too old incident is decided as the consumer would (at the clock's now): ``not_paged`` says why nobody would
    be paged, the outcome what would have happened."""
    container = request.app.state.container
    async with container.runtime.session() as session:
        rules = None
        if draft is not None:
            found = await _draft_rules(session, draft, event.facility, container.config)
            if isinstance(found, JSONResponse):
                return found
            rules = found
        p = await handlers.plan(event, session, container.config, seed=None, rules=rules)
        await session.rollback()
    age = container.config.outreach_max_age_days
    held = not_paged_reason(event.historical, p.incident.occurred_at, container.clock.now(), age)
    if held is not None:
        p = replace(p, decision=hold(p.decision, held))
    return dry_run_answer(p, held)


async def _draft_rules(session: Any, scope: str, facility: str, cfg: handlers.RulesConfig) -> Any:
    stored = await DraftRepository(session).get(scope) if valid_scope(scope) else None
    if stored is None:
        return _error(404, "no draft", "draft", "no draft for this scope; save one first")
    repo = RuleSetRepository(session)
    doc, problems = await drafts.validate(repo, scope, stored.source, cfg)
    if doc is None:
        return _error(422, "the draft does not validate", "draft", _at_line(problems[0]))
    try:
        return await drafts.draft_ruleset(repo, facility, cfg, scope, doc)
    except drafts.DraftNotApplicable as exc:
        return _error(422, "the draft does not apply to this facility", "facility", str(exc))


def dry_run_answer(p: handlers.Plan, not_paged: str | None = None) -> dict[str, Any]:
    """The dry-run's JSON: fired rules, urgency, tier, mode, outcome, what would be published and, for a historical
    or too old incident, why it would not be paged (``not_paged``; None when it may page)."""
    d = p.decision
    would = [
        {
            "case_id": a.case_id,
            "kind": a.kind.value,
            "people": list(a.people),
            "mode": a.mode.value,
            "urgency": a.urgency.value,
            "tier": a.tier,
        }
        for a in d.actions
        if a.publish
    ]
    return {
        "dry_run": True,
        "ruleset_version": p.ruleset.version,
        "fired": [
            {"rule_id": h.rule_id, "text": h.text, "why": list(h.reasons), "urgency": h.urgency.value, "tier": h.tier}
            for h in d.evaluation.hits
        ],
        "urgency": d.evaluation.urgency.value if d.evaluation.urgency else None,
        "tier": d.evaluation.tier or None,
        "mode": d.mode.value,
        "outcome": d.outcome,
        "actions": [handlers.action_json(a) for a in d.actions],
        "would_publish": would,
        "not_paged": not_paged,
    }
