"""Triage: accepted reports the listener could not attribute (no staff, staff without id, no facility).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triage",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("incident_ref", sa.String(length=64), nullable=False),
        sa.Column("report_version", sa.Integer(), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("facility", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("draft", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dismiss_reason", sa.String(length=32), nullable=True),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("attached", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage")),
    )
    op.create_index("ix_triage_status_received_at", "triage", ["status", "received_at"], unique=False)
    op.create_index("ix_triage_incident_ref", "triage", ["incident_ref"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_triage_incident_ref", table_name="triage")
    op.drop_index("ix_triage_status_received_at", table_name="triage")
    op.drop_table("triage")
