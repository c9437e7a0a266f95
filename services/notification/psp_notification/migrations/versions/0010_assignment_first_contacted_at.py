"""assignments.first_contacted_at: the first contact ever recorded; contacted_at becomes the current holder's

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("first_contacted_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE assignments SET first_contacted_at = contacted_at WHERE contacted_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("first_contacted_at")
