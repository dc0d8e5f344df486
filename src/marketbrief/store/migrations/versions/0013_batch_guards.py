"""Batch guards: a write's condition, tested once at its start, remembered for its statements.

D1 runs a batch of statements as one transaction but cannot branch between them, so a write
path whose condition must hold for every statement (finish a run unless it already finished)
tests it once, inserting its token here only if it holds; each later statement of the batch
applies only while the token is present, and the last statement deletes it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_guards",
        sa.Column("token", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_batch_guards"),
    )


def downgrade() -> None:
    op.drop_table("batch_guards")
