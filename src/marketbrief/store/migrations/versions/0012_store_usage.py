"""Store usage: per UTC day, the statements and rows every process asked of the store.

Each process counts at the store's edge and adds its totals with an UPSERT that increments, so
two processes on one database add up instead of overwriting each other.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_usage",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("queries", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_read", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_written", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_store_usage")),
    )


def downgrade() -> None:
    op.drop_table("store_usage")
