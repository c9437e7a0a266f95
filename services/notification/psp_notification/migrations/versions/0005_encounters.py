"""encounters: the minimal encounter log (choices, a date, a count and flags; no free text)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 23:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "encounters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("assignment_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("duration", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("attendance", sa.SmallInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("referrals", sa.JSON(), nullable=False),
        sa.Column("follow_up_on", sa.Date(), nullable=True),
        sa.Column("debrief_wanted", sa.Boolean(), nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_encounters")),
        sa.UniqueConstraint("assignment_id", "number", name="uq_encounters_assignment_number"),
    )
    op.create_index(op.f("ix_encounters_case_id"), "encounters", ["case_id"], unique=False)
    op.create_index("ix_encounters_occurred", "encounters", ["occurred_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_encounters_occurred", table_name="encounters")
    op.drop_index(op.f("ix_encounters_case_id"), table_name="encounters")
    op.drop_table("encounters")
