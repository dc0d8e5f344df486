"""Incidents may be of kind `rollback_cleared`: an operator's `marketbrief rollback clear`.

The mark every serving process reads to turn store reads back on after an automatic rollback
(`MARKETBRIEF_AUTO_ROLLBACK=on`); opened and resolved at once, it stays as the log of who
cleared and when. As in 0008, the kinds CHECK constraint is replaced by one admitting it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_KINDS = (
    "run_failed",
    "slot_missed",
    "outbox_stuck",
    "report_stale",
    "corruption",
    "rollback_trigger",
)
_NEW = (*_KINDS, "rollback_cleared")
_NAME = "ck_incidents_kind_valid"


def _check(kinds: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _replace(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_constraint(op.f(_NAME), type_="check")
        batch.create_check_constraint(op.f(_NAME), _check(kinds))


def upgrade() -> None:
    _replace(_NEW)


def downgrade() -> None:
    op.execute("DELETE FROM incidents WHERE kind = 'rollback_cleared'")
    _replace(_KINDS)
