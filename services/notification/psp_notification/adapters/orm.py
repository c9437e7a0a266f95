"""Notification tables: contacts, cases, assignments, pages (idempotency key), page-link tokens (hashed), status log,
feeds published."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    text,
)

from psp_common.audit import audit_table
from psp_common.db import BigId, messaging_tables, new_metadata

metadata = new_metadata()
inbox, outbox = messaging_tables(metadata)
audit_log = audit_table(metadata)

TS = DateTime(timezone=True)

contacts = Table(
    "contacts",
    metadata,
    Column("staff_ref", String(64), primary_key=True),
    Column("key_id", String(32), nullable=False),
    Column("channels", JSON, nullable=False),
    Column("updated_at", TS, nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("correlation_id", String(36), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("urgency", String(32)),
    Column("mode", String(16)),
    Column("triggers", JSON, nullable=False),
    Column("flagged", Boolean, nullable=False),
    Column("occurred_at", TS, nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("purged_at", TS),  # set when retention anonymized the case's rows
    Column("offer", String(16)),  # referral offers only: offered, accepted, declined (domain/offers.py)
    Column("approach", String(24)),  # referrals only: self, reach_out, eap, support_referrer (domain/approaches.py)
)
Index("ix_cases_status_updated", cases.c.status, cases.c.updated_at)
Index("ix_cases_facility_occurred", cases.c.facility, cases.c.occurred_at)

assignments = Table(
    "assignments",
    metadata,
    Column("assignment_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("correlation_id", String(36), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("urgency", String(32)),
    Column("candidates", JSON, nullable=False),
    Column("supported", JSON),  # pseudonyms of the people to support (null: matched before migration 0008)
    Column("next_index", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("acknowledged_by", String(64)),
    Column("matched_at", TS, nullable=False),
    Column("acknowledged_at", TS),
    Column("contact_deadline", TS, nullable=False),
    Column("overdue_escalated", Boolean, nullable=False),
    Column("contacted_at", TS),  # contact recorded by the current holder (cleared when they hand the case back)
    Column("closed_at", TS),
    Column("first_contacted_at", TS),  # the first contact ever recorded (time to first contact)
)
Index("ix_assignments_state_deadline", assignments.c.state, assignments.c.contact_deadline)

pages = Table(
    "pages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(64), nullable=False),
    Column("assignment_id", String(36)),
    Column("case_id", String(36), nullable=False),
    Column("recipient_ref", String(64), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("urgency", String(32)),
    Column("state", String(16), nullable=False),
    Column("response", String(16)),
    Column("channel", String(16)),
    Column("attempts", Integer, nullable=False),
    Column("due_at", TS, nullable=False),
    Column("lease_until", TS),
    Column("lease_owner", String(36)),
    Column("sent_at", TS),
    Column("ack_deadline", TS),
    Column("responded_at", TS),
    Column("last_error", String(300)),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("idempotency_key", name="uq_pages_idempotency_key"),
)
Index("ix_pages_state_due", pages.c.state, pages.c.due_at)
Index("ix_pages_assignment", pages.c.assignment_id)
# The unanswered-page scan reads only pages still awaiting an answer, not every page ever sent.
UNANSWERED_SQL = "purpose = 'page' AND state = 'sent' AND response IS NULL"
Index(
    "ix_pages_unanswered",
    pages.c.ack_deadline,
    postgresql_where=text(UNANSWERED_SQL),
    sqlite_where=text(UNANSWERED_SQL),
)

# Page links: only the SHA-256 of each random token is stored, with the page, recipient and action it may do.
page_tokens = Table(
    "page_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("page_id", BigId, nullable=False, index=True),
    Column("recipient_ref", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("issued_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("used_at", TS),
    Column("form_secret", String(64)),  # view tokens: key of the case page's form tokens (CSRF)
)

# Encounters: choices, a date, a count and flags only (no free text, no name, no pseudonym: nothing to purge).
encounters = Table(
    "encounters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("assignment_id", String(36), nullable=False),
    Column("case_id", String(36), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("occurred_at", TS, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("duration", String(8), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("attendance", SmallInteger),
    Column("outcome", String(24), nullable=False),
    Column("referrals", JSON, nullable=False),
    Column("follow_up_on", Date),
    Column("debrief_wanted", Boolean, nullable=False),
    Column("logged_at", TS, nullable=False),
    UniqueConstraint("assignment_id", "number", name="uq_encounters_assignment_number"),
)
Index("ix_encounters_occurred", encounters.c.occurred_at)

status_log = Table(
    "status_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("case_id", String(36), nullable=False, index=True),
    Column("assignment_id", String(36)),
    Column("status", String(32), nullable=False),
    Column("supporter_ref", String(64)),
    Column("channel", String(16)),
    Column("detail", String(300)),
    Column("at", TS, nullable=False),
)

feeds_published = Table(
    "feeds_published",
    metadata,
    Column("facility", String(64), primary_key=True),
    Column("call", String(32), primary_key=True),
    Column("call_date", String(10), primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("published_at", TS, nullable=False),
)

# Staff directory: who a colleague is and how to reach them at work, keyed by pseudonym (never on a topic).
directory = Table(
    "directory",
    metadata,
    Column("staff_ref", String(64), primary_key=True),
    Column("key_id", String(32), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("role", String(120)),
    Column("unit", String(120)),
    Column("phone", String(40)),
    Column("pager", String(40)),
    Column("email", String(254)),
    Column("source", String(8), nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("scim_id", String(36)),  # SCIM resource id: random, stable across key rotations
    UniqueConstraint("scim_id", name="uq_directory_scim_id"),
)
