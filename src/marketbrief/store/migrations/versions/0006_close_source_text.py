"""A daily close's `source` holds whatever names its provider: `market_closes.source` is text.

It was `String(64)`, and a `dir:` price provider is named by its path
(`dir:/srv/marketbrief/prices`), so on PostgreSQL an end-of-day run whose provider path ran past
64 characters failed saving its closes (`value too long for type character varying(64)`),
while SQLite, which enforces no length, stored it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("market_closes") as batch:
        batch.alter_column("source", type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("market_closes") as batch:
        batch.alter_column(
            "source",
            type_=sa.String(64),
            existing_nullable=False,
            postgresql_using="left(source, 64)",
        )
