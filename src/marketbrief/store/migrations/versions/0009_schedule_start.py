"""When the schedule began: `store_revision.schedule_started_at`, set as a service first starts.

A fresh install has no slots from before its service first started: the grid, `verify --days`
and catch-up count from the earlier of this instant and the first run's slot. It stays null on
an existing install until a service next starts; its runs already say where it began.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("store_revision") as batch:
        batch.add_column(
            sa.Column("schedule_started_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("store_revision") as batch:
        batch.drop_column("schedule_started_at")
