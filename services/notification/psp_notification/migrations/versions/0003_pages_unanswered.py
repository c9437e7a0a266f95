"""partial index for the unanswered-page scan

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNANSWERED_SQL = "purpose = 'page' AND state = 'sent' AND response IS NULL"  # frozen copy of the model's


def upgrade() -> None:
    op.create_index(
        "ix_pages_unanswered",
        "pages",
        ["ack_deadline"],
        unique=False,
        postgresql_where=sa.text(UNANSWERED_SQL),
        sqlite_where=sa.text(UNANSWERED_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_pages_unanswered", table_name="pages")
