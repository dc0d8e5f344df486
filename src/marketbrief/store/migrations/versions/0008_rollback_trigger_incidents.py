"""Incidents may be of kind `rollback_trigger`: one of the migration plan's rollback triggers
crossed (write success below 95%, history P95 above 200 ms), measured by the serving process.

`incidents.kind` is a String(32), but the CHECK constraint `ck_incidents_kind_valid` lists the
kinds, so a new kind is a migration: the constraint is replaced by one that also admits it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_KINDS = ("run_failed", "slot_missed", "outbox_stuck", "report_stale", "corruption")
_NEW = (*_KINDS, "rollback_trigger")
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
    op.execute("DELETE FROM incidents WHERE kind = 'rollback_trigger'")
    _replace(_KINDS)
