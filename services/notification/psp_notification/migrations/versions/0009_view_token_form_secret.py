"""page_tokens.form_secret: the random key of a case page's form tokens (CSRF), per view token

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("page_tokens") as batch:
        batch.add_column(sa.Column("form_secret", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("page_tokens") as batch:
        batch.drop_column("form_secret")
