"""Rules HTTP API for the PSP coordinator: rule sets, opt-outs and the decision log (thin; drafts and dry-run:
api_drafts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import yaml
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from psp_common.auth import AUTH_RESPONSES, Scope, require
from psp_common.http import ERROR_RESPONSES, ErrorResponse, FieldError, validation_response
from psp_rules import drafts, handlers
from psp_rules.adapters.drafts import DraftRepository
from psp_rules.adapters.repository import (
    ALL_SCOPE,
    CaseRepository,
    OptOutRepository,
    RuleSetRepository,
    StoredRuleSet,
)
from psp_rules.adapters.ruleset_schema import BadDocument, load_text, parse_text, valid_scope

router = APIRouter(dependencies=[Depends(require(Scope.COORDINATOR))], responses=AUTH_RESPONSES)
SCOPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _error(status: int, detail: str, field: str, reason: str) -> JSONResponse:
    body = ErrorResponse(detail=detail, errors=[FieldError(field=field, reason=reason)]).model_dump()
    return JSONResponse(body, status_code=status)


class VersionInfo(BaseModel):
    """One stored version."""

    version: int = Field(description="Version number within the scope (1, 2, ...).")
    created_at: datetime = Field(description="When it was stored.")


class ScopeInfo(BaseModel):
    """A rule set scope and its versions."""

    scope: str = Field(description="'default' or a facility code.")
    current_version: int = Field(description="The active (newest) version.")
    versions: list[VersionInfo] = Field(description="All versions, oldest first.")


class RuleSetIndex(BaseModel):
    """Every stored rule set."""

    scopes: list[ScopeInfo] = Field(description="Scopes with their versions.")
    default_is_packaged: bool = Field(description="True while no default is stored (the packaged file applies).")
    drafts: list[str] = Field(default_factory=list, description="Scopes with an unpublished draft.")


class ActiveRuleSet(BaseModel):
    """The rule set that applies to a scope."""

    scope: str = Field(description="The scope asked for.")
    source_scope: str = Field(description="Where the document comes from ('default' when not overridden).")
    version: str = Field(description="Version label, as carried on OutreachRequested.ruleset_version.")
    document: dict[str, Any] = Field(description="The validated rule set document.")
    source: str = Field("", description="The rule set as text (YAML as stored; generated for older versions).")
    stored_at: datetime | None = Field(None, description="When this version was stored (None: the packaged file).")


@router.get("/v1/rulesets", response_model=RuleSetIndex, tags=["rulesets"], summary="Rule sets and versions.")
async def list_rulesets(request: Request) -> RuleSetIndex:
    """Every scope with its current version and history."""
    async with request.app.state.container.runtime.session() as session:
        found = await RuleSetRepository(session).versions()
        with_draft = await DraftRepository(session).scopes()
    scopes = [
        ScopeInfo(scope=s, current_version=v[-1][0], versions=[VersionInfo(version=n, created_at=t) for n, t in v])
        for s, v in found.items()
    ]
    packaged = handlers.DEFAULT_SCOPE not in found
    return RuleSetIndex(scopes=scopes, default_is_packaged=packaged, drafts=with_draft)


def _active(scope: str, stored: StoredRuleSet) -> ActiveRuleSet:
    return ActiveRuleSet(
        scope=scope,
        source_scope=stored.scope,
        version=stored.label,
        document=stored.document,
        source=readable_source(stored.source, stored.document),
        stored_at=stored.created_at,
    )


def readable_source(source: str, document: dict[str, Any]) -> str:
    """The stored text when it is the document's text, else the document as YAML (e.g. the seeded default)."""
    try:
        if isinstance(parse_text(source), dict):
            return source
    except BadDocument:
        pass
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


@router.get(
    "/v1/rulesets/{scope}",
    response_model=ActiveRuleSet,
    responses=ERROR_RESPONSES,
    tags=["rulesets"],
    summary="The active rule set of 'default' or a facility.",
)
async def get_ruleset(request: Request, scope: str) -> Any:
    """The newest stored version of ``scope``; a facility without override gets the default."""
    container = request.app.state.container
    if not valid_scope(scope):
        return _error(422, "bad scope", "scope", "must be 'default' or a facility code")
    async with container.runtime.session() as session:
        repo = RuleSetRepository(session)
        stored = await repo.latest(scope) or await repo.latest(handlers.DEFAULT_SCOPE)
    if stored is None:
        return ActiveRuleSet(
            scope=scope,
            source_scope=handlers.DEFAULT_SCOPE,
            version="default:packaged",
            document=container.config.default_doc.model_dump(mode="json"),
            source=container.config.default_source,
        )
    return _active(scope, stored)


@router.get(
    "/v1/rulesets/{scope}/versions/{version}",
    response_model=ActiveRuleSet,
    responses=ERROR_RESPONSES,
    tags=["rulesets"],
    summary="One stored version of a rule set.",
)
async def get_ruleset_version(
    request: Request,
    scope: str,
    version: int = Path(ge=1, le=2**31 - 1, description="Version number within the scope (1, 2, ...)."),
) -> Any:
    """A specific version, for audit."""
    async with request.app.state.container.runtime.session() as session:
        stored = await RuleSetRepository(session).get(scope, version)
    if stored is None:
        return _error(404, "no such rule set version", "version", "not stored")
    return _active(scope, stored)


@router.put(
    "/v1/rulesets/{scope}",
    status_code=201,
    response_model=ActiveRuleSet,
    responses=ERROR_RESPONSES,
    tags=["rulesets"],
    summary="Store a new version of a rule set (YAML or JSON body).",
)
async def put_ruleset(request: Request, scope: str) -> Any:
    """Validate the document and store it as the next version of ``scope``."""
    container = request.app.state.container
    if not valid_scope(scope):
        return _error(422, "bad scope", "scope", "must be 'default' or a facility code")
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
        doc = load_text(text)
    except (UnicodeDecodeError, BadDocument) as exc:
        reason = str(exc) if isinstance(exc, BadDocument) else "not UTF-8 text"
        return _error(400, "malformed rule set", "body", reason)
    except ValidationError as exc:
        return validation_response(exc)
    async with container.runtime.uow() as uow:
        repo = RuleSetRepository(uow.session)
        problem = await drafts.scope_problem(repo, scope, doc, container.config.default_doc)
        if problem:
            return _error(422, "rule set does not fit its scope", problem.field, problem.reason)
        try:
            stored = await repo.add(scope, doc.model_dump(mode="json"), text, container.clock.now())
            await uow.commit()
        except IntegrityError:
            return _error(409, "concurrent update", "scope", "another version was stored at the same time; retry")
    return _active(scope, stored)


class OptOutIn(BaseModel):
    """An opt-out of proactive outreach."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    staff_id: str = Field(min_length=1, max_length=128, description="Staff id; only its pseudonym is stored.")
    scope: str = Field(ALL_SCOPE, pattern=SCOPE_PATTERN, description="'all' or a facility code.")


class OptOutState(BaseModel):
    """Whether a person opted out."""

    pseudonym: str = Field(description="Pseudonym of the staff id (the id itself is never stored).")
    opted_out: bool = Field(description="True when at least one scope is opted out.")
    scopes: list[str] = Field(description="Scopes opted out of ('all' or facility codes).")


@router.post(
    "/v1/opt-outs",
    status_code=201,
    response_model=OptOutState,
    responses=ERROR_RESPONSES,
    tags=["opt-outs"],
    summary="Opt a person out of proactive outreach.",
)
async def opt_out(body: OptOutIn, request: Request) -> OptOutState:
    """Store the pseudonyms (never the staff id) under every active key, with the scope."""
    container = request.app.state.container
    names = container.pseudo.pseudonyms_of(body.staff_id)
    pseudonym = names[0]
    async with container.runtime.uow() as uow:
        repo = OptOutRepository(uow.session)
        for name in names:  # during a key rotation an event may still name the person under the old key
            await repo.add(name, body.scope, container.clock.now())
        scopes = await repo.scopes(names)
        await uow.commit()
    return OptOutState(pseudonym=pseudonym, opted_out=True, scopes=scopes)


@router.get(
    "/v1/opt-outs/{staff_id:path}",
    response_model=OptOutState,
    tags=["opt-outs"],
    summary="Check whether a person opted out.",
)
async def get_opt_out(staff_id: str, request: Request) -> OptOutState:
    """Look the pseudonyms up under every active key."""
    container = request.app.state.container
    names = container.pseudo.pseudonyms_of(staff_id)
    pseudonym = names[0]
    async with container.runtime.session() as session:
        scopes = await OptOutRepository(session).scopes(names)
    return OptOutState(pseudonym=pseudonym, opted_out=bool(scopes), scopes=scopes)


@router.delete(
    "/v1/opt-outs/{staff_id:path}",
    response_model=OptOutState,
    tags=["opt-outs"],
    summary="Opt back in (one scope, or all scopes when none is given).",
)
async def delete_opt_out(
    staff_id: str,
    request: Request,
    scope: str | None = Query(None, pattern=SCOPE_PATTERN, description="Scope to remove; all when omitted."),
) -> OptOutState:
    """Remove the opt-out under every active key."""
    container = request.app.state.container
    names = container.pseudo.pseudonyms_of(staff_id)
    pseudonym = names[0]
    async with container.runtime.uow() as uow:
        repo = OptOutRepository(uow.session)
        await repo.remove(names, scope)
        scopes = await repo.scopes(names)
        await uow.commit()
    return OptOutState(pseudonym=pseudonym, opted_out=bool(scopes), scopes=scopes)


@router.get("/v1/decisions", tags=["decisions"], summary="The decision log (pseudonyms only), newest first.")
async def list_decisions(
    request: Request,
    incident_ref: str | None = Query(None, max_length=64, description="Only this incident."),
    limit: int = Query(50, ge=1, le=500, description="How many."),
) -> dict[str, Any]:
    """Recorded decisions: fired rules and outcome per incident version."""
    async with request.app.state.container.runtime.session() as session:
        rows = await CaseRepository(session).decisions(incident_ref, limit)
    return {"items": [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]}
