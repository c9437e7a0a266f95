"""Listener tables: latest version of each source report, triage, quarantine, audit log, inbox and outbox."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text

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

# Accepted reports that could not be attributed, held for a coordinator (see domain/triage.py). ``draft`` is an
# IncidentDraft as JSON: pseudonyms and codes only; ``source_id`` is cleared once the item is decided.
triage = Table(
    "triage",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("incident_ref", String(64), nullable=False),
    Column("report_version", Integer, nullable=False),
    Column("source_kind", String(16), nullable=False),
    Column("reasons", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("facility", String(64), nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("draft", Text, nullable=False),
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("dismiss_reason", String(32), nullable=True),
    Column("event_id", String(36), nullable=True),
    Column("attached", Integer, nullable=False, default=0),
    Index("ix_triage_status_received_at", "status", "received_at"),
    Index("ix_triage_incident_ref", "incident_ref"),
)
