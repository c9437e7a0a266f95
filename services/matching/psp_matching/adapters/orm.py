"""Matching tables: roster, staff directory, shifts, cases, assignments (and whom they support), inbox, outbox."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Index, Integer, String, Table, UniqueConstraint

from psp_common.audit import audit_table
from psp_common.db import BigId, messaging_tables, new_metadata

metadata = new_metadata()
inbox, outbox = messaging_tables(metadata)
audit_log = audit_table(metadata)

supporters = Table(
    "supporters",
    metadata,
    Column("supporter_ref", String(64), primary_key=True),
    Column("staff_id", String(128), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("profession", String(64), nullable=False),
    Column("seniority_level", Integer, nullable=False),
    Column("years_experience", Integer, nullable=False),
    Column("site", String(64), nullable=False),
    Column("languages", JSON, nullable=False),
    Column("group_facilitation", Boolean, nullable=False),
    Column("mental_health_credentials", Boolean, nullable=False),
    Column("contact_start", String(5), nullable=True),
    Column("contact_end", String(5), nullable=True),
    Column("contact_tz", String(64), nullable=True),
    Column("accepts_immediate_outside_hours", Boolean, nullable=False),
    Column("paused", Boolean, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("evaluates", JSON, nullable=False),
    Column("supervises", JSON, nullable=False),
    Column("monthly_cap", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

staff = Table(
    "staff",
    metadata,
    Column("staff_ref", String(64), primary_key=True),
    Column("profession", String(64), nullable=True),
    Column("seniority_level", Integer, nullable=True),
    Column("languages", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

shifts = Table(
    "shifts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("staff_ref", String(64), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("source", String(16), nullable=False),
    UniqueConstraint("staff_ref", "starts_at", "ends_at", name="uq_shifts_staff_ref_span"),
)
Index("ix_shifts_span", shifts.c.starts_at, shifts.c.ends_at)

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("incident_ref", String(64), nullable=False),
    Column("report_version", Integer, nullable=False),
    Column("facility", String(64), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("tier", Integer, nullable=False),
    Column("discipline", String(8), nullable=False),
    Column("people", JSON, nullable=False),
    Column("roles", JSON, nullable=False),
    Column("aliases", JSON, nullable=True),  # {pseudonym: [pseudonyms under previous keys still active]}
    Column("correlation_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("assignment_id", String(36), nullable=True),
    Column("reasons", JSON, nullable=False),
    Column("last_decision", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),  # outreach closed (status feed)
    Column("purged_at", DateTime(timezone=True), nullable=True),  # retention removed the pseudonyms
)
Index("ix_cases_closed_at", cases.c.closed_at)

assignments = Table(
    "assignments",
    metadata,
    Column("assignment_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("primary_ref", String(64), nullable=False),
    Column("team", JSON, nullable=False),
    Column("supported", JSON, nullable=False),
    Column("candidates", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_assignments_case", assignments.c.case_id)
Index("ix_assignments_created", assignments.c.created_at)

members = Table(
    "assignment_members",
    metadata,
    Column("assignment_id", String(36), primary_key=True),
    Column("supporter_ref", String(64), primary_key=True),
    Column("case_id", String(36), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_members_supporter", members.c.supporter_ref, members.c.created_at)
Index("ix_members_case", members.c.case_id)  # a batch's cases' team rows (tally.record, batch.teams)

supported = Table(
    "supported_people",
    metadata,
    Column("assignment_id", String(36), primary_key=True),
    Column("person_ref", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_supported_people_person", supported.c.person_ref, supported.c.created_at)

# Supporters' workload, kept by every writer of team rows in the same transaction (``adapters.tally``): a batch
# reads these, O(supporters) rows, instead of every team row since the month or fairness window began.
workload_months = Table(  # distinct cases per supporter and calendar month of the cap's time zone
    "workload_months",
    metadata,
    Column("month", Date, primary_key=True),  # the month's first day, in the cap's time zone
    Column("supporter_ref", String(64), primary_key=True),
    Column("n", Integer, nullable=False),
)

workload_days = Table(  # cases per supporter on the (UTC) day of their latest team row for that supporter
    "workload_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("supporter_ref", String(64), primary_key=True),
    Column("n", Integer, nullable=False),
)
