"""Retention: cases.purged_at and decisions.purged_at mark rows whose pseudonyms were purged.

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
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_cases_status_updated", "cases", ["status", "updated_at"])
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at"])


def downgrade() -> None:
    op.drop_index("ix_decisions_decided_at", table_name="decisions")
    op.drop_index("ix_cases_status_updated", table_name="cases")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("purged_at")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("purged_at")
