"""page-link tokens: SHA-256 of random per-action tokens, bound to page and recipient, expiring, single-use

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:00:00.000000
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
        "page_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("page_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("recipient_ref", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_page_tokens")),
    )
    op.create_index(op.f("ix_page_tokens_page_id"), "page_tokens", ["page_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_page_tokens_page_id"), table_name="page_tokens")
    op.drop_table("page_tokens")
