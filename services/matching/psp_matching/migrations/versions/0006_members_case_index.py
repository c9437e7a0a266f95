"""An index of team rows by case: writers read a batch's cases' team rows (``tally.record``, ``batch.teams``).

Without it each such read is a sequential scan of every team row, a cost growing with history.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_members_case", "assignment_members", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_members_case", table_name="assignment_members")
