"""Report versions issued by the store: `store_revision.issued_version` and each run's `version`.

A version used to be the run's start instant by its host's clock, so a re-run on a host whose
clock was behind lost to the run it meant to replace. Now each claim takes the next version
from the store's counter. The counter starts above every version already stored and above
the current instant in microseconds, so every report and every outbox file written before this
migration ranks below every run claimed after it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    with op.batch_alter_table("job_executions") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("store_revision") as batch:
        batch.add_column(
            sa.Column("issued_version", sa.BigInteger(), server_default="0", nullable=False)
        )
    connection = op.get_bind()
    stored = connection.execute(
        sa.text(
            "SELECT MAX(v) FROM (SELECT MAX(version) AS v FROM report_latest "
            "UNION ALL SELECT MAX(version) AS v FROM scheduled_job_results) AS versions"
        )
    ).scalar()
    now = (datetime.now(UTC) - _EPOCH) // timedelta(microseconds=1)
    connection.execute(
        sa.text("UPDATE store_revision SET issued_version = :start"),
        {"start": max(int(stored or 0), now)},
    )


def downgrade() -> None:
    with op.batch_alter_table("store_revision") as batch:
        batch.drop_column("issued_version")
    with op.batch_alter_table("job_executions") as batch:
        batch.drop_column("version")
