"""The console's tables: server-side sessions, sign-ins in progress and its audit log (its only data)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, String, Table, Text

from psp_common.audit import audit_table
from psp_common.db import new_metadata

metadata = new_metadata()
audit_log = audit_table(metadata)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie's random id; the id is never stored
    Column("subject", String(200), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("staff_id", String(128), nullable=True),
    Column("access_token", Text, nullable=False),  # server-side only: never in a cookie, a page or a log line
    Column("id_token", Text, nullable=True),  # server-side only: the id_token_hint of RP-initiated logout
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("token_expires_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

pending_sign_ins = Table(
    "pending_sign_ins",
    metadata,
    Column("state_hash", String(64), primary_key=True),  # SHA-256 of the OAuth2 state sent to the provider
    Column("browser_hash", String(64), nullable=False),  # SHA-256 of the sign-in cookie binding it to the browser
    Column("code_verifier", String(128), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("return_to", String(500), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
)
