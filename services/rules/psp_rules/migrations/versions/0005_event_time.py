"""Event time: cases.occurred_at and case_members.occurred_at (when the incident occurred) for the merge window.

Existing rows take the time they were handled (the only time known for them).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table, source in (("cases", "opened_at"), ("case_members", "joined_at")):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
        op.execute(f"UPDATE {table} SET occurred_at = {source}")
        with op.batch_alter_table(table) as batch:
            batch.alter_column("occurred_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    for table in ("case_members", "cases"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("occurred_at")
