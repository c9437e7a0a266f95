"""Rules tables: rule set versions and drafts, opt-outs, cases and their members, decisions, the facts each
incident version was decided on (what-if); plus inbox and outbox."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, Integer, String, Table, Text, UniqueConstraint

from psp_common.audit import audit_table
from psp_common.db import BigId, messaging_tables, new_metadata

metadata = new_metadata()
inbox, outbox = messaging_tables(metadata)
audit_log = audit_table(metadata)

rulesets = Table(
    "rulesets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("scope", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", JSON, nullable=False),
    Column("source", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("scope", "version", name="uq_rulesets_scope_version"),
)

ruleset_drafts = Table(
    "ruleset_drafts",
    metadata,
    Column("scope", String(64), primary_key=True),  # one shared draft per scope, until published or discarded
    Column("source", Text, nullable=False),  # the text as typed (may not validate yet)
    Column("revision", Integer, nullable=False),  # 1, 2, ... per save: a save names the revision it edited
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),  # the coordinator's token subject
)

opt_outs = Table(
    "opt_outs",
    metadata,
    Column("pseudonym", String(64), primary_key=True),
    Column("scope", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("incident_ref", String(64), nullable=False, index=True),
    Column("facility", String(64), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("tier", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),  # handled (record keeping, stats)
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("purged_at", DateTime(timezone=True), nullable=True),  # retention removed its members
    Column("occurred_at", DateTime(timezone=True), nullable=False),  # event time of the incident it opened for
)
Index("ix_cases_status_updated", cases.c.status, cases.c.updated_at)

case_members = Table(
    "case_members",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("pseudonym", String(64), primary_key=True),
    Column("incident_ref", String(64), primary_key=True),
    Column("key_id", String(32), nullable=False),
    Column("role", String(64), nullable=True),
    Column("involvement", String(16), nullable=False),
    Column("how", String(16), nullable=False),
    Column("joined_at", DateTime(timezone=True), nullable=False),  # handled
    Column("occurred_at", DateTime(timezone=True), nullable=False),  # event time of incident_ref: merge window
    Column("aliases", JSON, nullable=True),  # pseudonyms under previous keys still active (key rotation)
)
Index("ix_case_members_pseudonym", case_members.c.pseudonym)
Index("ix_case_members_incident", case_members.c.incident_ref)

decisions = Table(
    "decisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("incident_ref", String(64), nullable=False, index=True),
    Column("report_version", Integer, nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("ruleset_version", String(200), nullable=False),
    Column("fired", JSON, nullable=False),
    Column("urgency", String(16), nullable=True),
    Column("tier", Integer, nullable=True),
    Column("mode", String(16), nullable=True),
    Column("outcome", String(300), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("purged_at", DateTime(timezone=True), nullable=True),  # retention removed the pseudonyms in detail
)
Index("ix_decisions_decided_at", decisions.c.decided_at)

incident_facts = Table(
    "incident_facts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),  # the order rules decided them in
    Column("incident_ref", String(64), nullable=False),
    Column("report_version", Integer, nullable=False),
    Column("facility", String(64), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("source_kind", String(16), nullable=False),
    Column("event_class", String(32), nullable=False),
    Column("category", Text, nullable=True),
    Column("harm_level", String(32), nullable=True),
    Column("patient_age_group", String(16), nullable=True),
    Column("huddle_call", String(16), nullable=True),
    Column("cis_flags", String(1024), nullable=False),  # trigger names, space-separated
    Column("team_size", Integer, nullable=True),
    # [[pseudonym, key_id, role, involvement, [aliases]], ...] in report order; retention nulls the names
    Column("people", JSON, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),  # event time: the what-if window, merging
    Column("recorded_at", DateTime(timezone=True), nullable=False),  # handled: the retention clock
    Column("purged_at", DateTime(timezone=True), nullable=True),  # retention removed the names
    UniqueConstraint("incident_ref", "report_version", name="uq_incident_facts_ref_version"),
)
Index("ix_incident_facts_occurred", incident_facts.c.occurred_at)
Index("ix_incident_facts_recorded", incident_facts.c.recorded_at)
