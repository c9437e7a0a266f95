"""directory.scim_id: the SCIM 2.0 resource id of each person (random, stable across key rotations)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 00:05:00.000000
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("directory") as batch:
        batch.add_column(sa.Column("scim_id", sa.String(length=36), nullable=True))
        batch.create_unique_constraint("uq_directory_scim_id", ["scim_id"])
    conn = op.get_bind()
    refs = [r[0] for r in conn.execute(sa.text("SELECT staff_ref FROM directory"))]
    for ref in refs:  # people loaded before SCIM get an id too
        conn.execute(
            sa.text("UPDATE directory SET scim_id = :id WHERE staff_ref = :ref"), {"id": str(uuid.uuid4()), "ref": ref}
        )


def downgrade() -> None:
    with op.batch_alter_table("directory") as batch:
        batch.drop_constraint("uq_directory_scim_id", type_="unique")
        batch.drop_column("scim_id")
