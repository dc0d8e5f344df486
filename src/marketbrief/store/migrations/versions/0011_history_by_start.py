"""History by start: runs ordered by (started_at, id), newest first, with indexes to match.

A run that reached the store late (replayed from an outbox, imported from D1) has a higher id
than runs that started after it; ordered by id it sorted as the newest. The type and status
filters' indexes now lead with the start, and one serves the unfiltered history.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TABLE = "job_executions"


def upgrade() -> None:
    op.drop_index("ix_job_executions_job_type_id", table_name=_TABLE)
    op.drop_index("ix_job_executions_status_id", table_name=_TABLE)
    op.create_index("ix_job_executions_started_at_id", _TABLE, ["started_at", "id"])
    op.create_index(
        "ix_job_executions_job_type_started_at_id", _TABLE, ["job_type", "started_at", "id"]
    )
    op.create_index(
        "ix_job_executions_status_started_at_id", _TABLE, ["status", "started_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_job_executions_status_started_at_id", table_name=_TABLE)
    op.drop_index("ix_job_executions_job_type_started_at_id", table_name=_TABLE)
    op.drop_index("ix_job_executions_started_at_id", table_name=_TABLE)
    op.create_index("ix_job_executions_status_id", _TABLE, ["status", "id"])
    op.create_index("ix_job_executions_job_type_id", _TABLE, ["job_type", "id"])
