"""Listener tables: latest version of each source report, quarantine, audit log, inbox and outbox."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table

from psp_common.audit import audit_table
from psp_common.db import messaging_tables, new_metadata
from psp_common.quarantine import quarantine_table

metadata = new_metadata()
inbox, outbox = messaging_tables(metadata)
quarantine = quarantine_table(metadata)
audit_log = audit_table(metadata)

reports = Table(
    "reports",
    metadata,
    Column("incident_ref", String(64), primary_key=True),
    Column("source_kind", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("facility", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)
