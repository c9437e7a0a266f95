"""Workload tallies: distinct cases per supporter and cap month, and per UTC day of their latest team row.

A batch reads these (O(supporters) rows) instead of every team row since the month or fairness window began.
Backfilled from the team rows, in months of the cap's time zone as configured (``PSP_CAP_TIME_ZONE``, default
UTC): after changing it, migrate down to 0004 and up again.

Revision ID: 0005
Revises: 0004
"""

import os
from collections.abc import Sequence
from datetime import UTC

import sqlalchemy as sa
from alembic import op

from psp_matching.adapters.workload_index import Known, deltas

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _table(name: str, key: str) -> sa.Table:
    return op.create_table(
        name,
        sa.Column(key, sa.Date(), nullable=False),
        sa.Column("supporter_ref", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(key, "supporter_ref", name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    months, days = _table("workload_months", "month"), _table("workload_days", "day")
    members = sa.table(
        "assignment_members",
        sa.column("supporter_ref", sa.String),
        sa.column("case_id", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    rows = op.get_bind().execute(sa.select(members.c.supporter_ref, members.c.case_id, members.c.created_at))
    known = Known(os.environ.get("PSP_CAP_TIME_ZONE", "UTC"))
    by_month, by_day = deltas(
        known, ((ref, case_id, (at if at.tzinfo else at.replace(tzinfo=UTC))) for ref, case_id, at in rows)
    )
    for table, key, counts in ((months, "month", by_month), (days, "day", by_day)):
        values = [{key: k, "supporter_ref": ref, "n": n} for (k, ref), n in sorted(counts.items()) if n]
        if values:
            op.bulk_insert(table, values)


def downgrade() -> None:
    op.drop_table("workload_days")
    op.drop_table("workload_months")
