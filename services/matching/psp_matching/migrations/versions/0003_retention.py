"""Retention (cases.closed_at, cases.purged_at) and an index of supported people for the continuity lookup.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_cases_closed_at", "cases", ["closed_at"])
    supported = op.create_table(
        "supported_people",
        sa.Column("assignment_id", sa.String(length=36), nullable=False),
        sa.Column("person_ref", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("assignment_id", "person_ref", name=op.f("pk_supported_people")),
    )
    op.create_index("ix_supported_people_person", "supported_people", ["person_ref", "created_at"])
    assignments = sa.table(
        "assignments",
        sa.column("assignment_id", sa.String),
        sa.column("supported", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    rows = op.get_bind().execute(sa.select(assignments)).all()
    backfill = [
        {"assignment_id": a, "person_ref": p, "created_at": at} for a, people, at in rows for p in set(people or [])
    ]
    if backfill:
        op.bulk_insert(supported, backfill)


def downgrade() -> None:
    op.drop_index("ix_supported_people_person", table_name="supported_people")
    op.drop_table("supported_people")
    op.drop_index("ix_cases_closed_at", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("purged_at")
        batch.drop_column("closed_at")
