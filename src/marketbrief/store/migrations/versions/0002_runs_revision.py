"""A counter of run-history writes, so history pages can be cached by it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("store_revision") as batch:
        batch.add_column(
            sa.Column("runs_revision", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("store_revision") as batch:
        batch.drop_column("runs_revision")
