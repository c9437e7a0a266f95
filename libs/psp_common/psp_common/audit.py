"""Append-only audit log: who read or changed what, when, with what outcome (one row per API call)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Select, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from psp_common.auth import AUTH_RESPONSES, require
from psp_common.auth import Scope as Role
from psp_common.clock import utcnow
from psp_common.db import aware
from psp_common.http import as_utc
from psp_common.pseudonym import Pseudonymizer

log = logging.getLogger("psp.audit")

OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/asyncapi.json", "/openapi.json", "/docs", "/redoc"})
SECRET_PARAMS = frozenset({"token"})  # path parameters that are credentials (page links): never stored

# PostgreSQL refuses UPDATE and DELETE on the audit table (append-only), whoever asks.
APPEND_ONLY_SQL = (
    """
    CREATE OR REPLACE FUNCTION psp_audit_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION psp_audit_append_only()
    """,
)


def audit_table(metadata: MetaData) -> Table:
    """The audit_log table on a service's metadata (the existing one when already defined)."""
    if "audit_log" in metadata.tables:
        return metadata.tables["audit_log"]
    return Table(
        "audit_log",
        metadata,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
        Column("at", DateTime(timezone=True), nullable=False, index=True),
        Column("actor", String(128), nullable=False),
        Column("scopes", String(200), nullable=False),
        Column("action", String(16), nullable=False),
        Column("resource", String(300), nullable=False),
        Column("status", Integer, nullable=False),
    )


class AuditMiddleware:
    """Writes one audit row per API request (not the ops probes) after the response status is known."""

    def __init__(self, app: ASGIApp, engine: AsyncEngine, table: Table) -> None:
        self.app = app
        self.engine = engine
        self.table = table
        self._pseudo: Pseudonymizer | None = None

    def _pseudonym(self, scope: Scope, staff_id: str) -> str:
        if self._pseudo is None:
            self._pseudo = Pseudonymizer.from_settings(scope["app"].state.runtime.settings)
        return self._pseudo.pseudonym(staff_id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPS_PATHS:
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await self._record(scope, status["code"])

    async def _record(self, scope: Scope, status: int) -> None:
        state: Any = scope.get("state") or {}
        principal = state.get("principal") if isinstance(state, dict) else None
        route = scope.get("route")
        resource = getattr(route, "path_format", None) or scope.get("path", "")
        params = dict(scope.get("path_params") or {})
        for name, value in params.items():
            if "staff_id" in name:  # the audit log names people only by pseudonym
                params[name] = self._pseudonym(scope, str(value))
            elif name in SECRET_PARAMS:
                params[name] = "[redacted]"
        if params:
            resource += " " + ",".join(f"{k}={v}" for k, v in sorted(params.items()))
        row = {
            "at": utcnow(),
            "actor": principal.subject if principal else "anonymous",
            "scopes": " ".join(sorted(principal.scopes)) if principal else "",
            "action": scope.get("method", "?"),
            "resource": resource[:300],
            "status": status,
        }
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(self.table).values(**row))
        except Exception as exc:  # an audit failure is loud but does not hide the answer already sent
            log.error("audit write failed: %s", type(exc).__name__)


class AuditEntry(BaseModel):
    """One audited API call."""

    id: int = Field(description="Row id (increasing); use it as the ``before`` cursor.")
    at: datetime = Field(description="When the call was answered (UTC).")
    actor: str = Field(description="Token subject, or 'anonymous' when no valid token was shown.")
    scopes: str = Field(description="Scopes of the token, space separated.")
    action: str = Field(description="HTTP method.")
    resource: str = Field(description="Route template and its path parameters.")
    status: int = Field(description="HTTP status answered.")


class AuditPage(BaseModel):
    """A page of the audit log, newest first."""

    items: list[AuditEntry] = Field(description="Entries, newest first.")
    next_before: int | None = Field(description="Pass as ``before`` for the next (older) page; null at the end.")


@dataclass(frozen=True)
class AuditFilter:
    """Which audit entries to list (every field optional; all given ones must hold)."""

    before: int | None = None
    actor: str | None = None
    action: str | None = None
    status_min: int | None = None
    status_max: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    resource_prefix: str | None = None
    resource_contains: str | None = None


def audit_query(table: Table, f: AuditFilter, limit: int) -> Select[Any]:
    """Newest first (by id), at most ``limit`` rows matching ``f``; ``at`` bounds are [since, until)."""
    c = table.c
    conditions = [
        c.id < f.before if f.before is not None else None,
        c.actor == f.actor if f.actor is not None else None,
        c.action == f.action.upper() if f.action else None,
        c.status >= f.status_min if f.status_min is not None else None,
        c.status <= f.status_max if f.status_max is not None else None,
        c.at >= f.since if f.since is not None else None,
        c.at < f.until if f.until is not None else None,
        c.resource.startswith(f.resource_prefix, autoescape=True) if f.resource_prefix else None,
        c.resource.contains(f.resource_contains, autoescape=True) if f.resource_contains else None,
    ]
    query = select(table).order_by(c.id.desc()).limit(limit)
    for condition in conditions:
        if condition is not None:
            query = query.where(condition)
    return query


async def read_audit(engine: AsyncEngine, table: Table, f: AuditFilter, limit: int) -> AuditPage:
    """One page of ``table`` matching ``f``, newest first, with the cursor of the next page."""
    async with engine.connect() as conn:
        rows = [dict(r._mapping) for r in await conn.execute(audit_query(table, f, limit))]
    items = [AuditEntry(**{**r, "at": aware(r["at"])}) for r in rows]
    return AuditPage(items=items, next_before=items[-1].id if len(items) == limit else None)


def _utc(name: str, value: datetime | None) -> datetime | None:
    """A time filter in UTC; one that cannot be expressed in UTC (year 1 or 9999 with an offset) is a 422."""
    try:
        return as_utc(value)
    except OverflowError:
        error = {"type": "value_error", "loc": ("query", name), "msg": "time out of range", "input": None}
        raise RequestValidationError([error]) from None


def _filter(
    before: int | None = Query(None, ge=1, le=2**62, description="Only entries with a smaller id."),
    actor: str | None = Query(None, max_length=128, description="Only this token subject."),
    action: str | None = Query(
        None, pattern="^[A-Za-z]{1,16}$", description="Only this HTTP method (GET, POST, ...; any case)."
    ),
    status_min: int | None = Query(None, ge=100, le=599, description="Only entries answered with this status or more."),
    status_max: int | None = Query(None, ge=100, le=599, description="Only entries answered with this status or less."),
    since: datetime | None = Query(None, description="Only entries at or after this time (ISO 8601 with offset)."),
    until: datetime | None = Query(None, description="Only entries before this time (ISO 8601 with offset)."),
    resource_prefix: str | None = Query(
        None, max_length=300, description="Only entries whose resource (route template) starts with this."
    ),
    resource_contains: str | None = Query(
        None, max_length=300, description="Only entries whose resource (route and parameters) contains this."
    ),
) -> AuditFilter:
    return AuditFilter(
        before=before,
        actor=actor,
        action=action,
        status_min=status_min,
        status_max=status_max,
        since=_utc("since", since),
        until=_utc("until", until),
        resource_prefix=resource_prefix,
        resource_contains=resource_contains,
    )


def audit_router(table: Table) -> APIRouter:
    """``GET /v1/audit``: the audit log for coordinators, newest first, filtered, paginated by id cursor."""
    router = APIRouter(tags=["audit"], dependencies=[Depends(require(Role.COORDINATOR))], responses=AUTH_RESPONSES)

    @router.get("/v1/audit", response_model=AuditPage, summary="Audit log of API reads and changes (coordinators).")
    async def list_audit(
        request: Request,
        f: AuditFilter = Depends(_filter),
        limit: int = Query(100, ge=1, le=1000, description="Most entries returned."),
    ) -> AuditPage:
        """Who read or changed what, when, with what outcome; filters combine (all must hold)."""
        return await read_audit(request.app.state.runtime.engine, table, f, limit)

    return router


def install_audit(app: FastAPI, engine: AsyncEngine, table: Table) -> None:
    """Add the audit middleware and ``GET /v1/audit`` to a service app."""
    app.include_router(audit_router(table))
    app.add_middleware(AuditMiddleware, engine=engine, table=table)
