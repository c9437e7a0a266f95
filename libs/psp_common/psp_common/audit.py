"""Append-only audit log: who read or changed what, when, with what outcome (one row per API call)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from psp_common.events.envelope import utcnow

log = logging.getLogger("psp.audit")

OPS_PATHS = frozenset({"/healthz", "/readyz", "/asyncapi.json", "/openapi.json", "/docs", "/redoc"})

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
    """The audit_log table on a service's metadata."""
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
        params = scope.get("path_params") or {}
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
