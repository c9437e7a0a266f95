"""Incident facts: the pseudonymized facts each incident version was decided on, so a draft rule set can be tried
on history (what-if); retention removes the pseudonyms and keeps the rest.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_facts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("incident_ref", sa.String(length=64), nullable=False),
        sa.Column("report_version", sa.Integer(), nullable=False),
        sa.Column("facility", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("event_class", sa.String(length=32), nullable=False),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("harm_level", sa.String(length=32), nullable=True),
        sa.Column("patient_age_group", sa.String(length=16), nullable=True),
        sa.Column("huddle_call", sa.String(length=16), nullable=True),
        sa.Column("cis_flags", sa.String(length=1024), nullable=False),
        sa.Column("team_size", sa.Integer(), nullable=True),
        sa.Column("people", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_facts")),
        sa.UniqueConstraint("incident_ref", "report_version", name="uq_incident_facts_ref_version"),
    )
    op.create_index("ix_incident_facts_occurred", "incident_facts", ["occurred_at"])
    op.create_index("ix_incident_facts_recorded", "incident_facts", ["recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_incident_facts_recorded", table_name="incident_facts")
    op.drop_index("ix_incident_facts_occurred", table_name="incident_facts")
    op.drop_table("incident_facts")
