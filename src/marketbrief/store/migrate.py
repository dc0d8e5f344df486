"""Schema migrations (Alembic) and verification of the live schema against the declared one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from marketbrief.store.schema import metadata, store_revision

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: sa.Connection) -> Config:
    """An Alembic configuration bound to an open connection (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration revision shipped with this version of marketbrief."""
    script = ScriptDirectory.from_config(_offline_config())
    head = script.get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found")
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: sa.Engine) -> tuple[str | None, str]:
    """Apply every pending migration; return (revision before, revision after)."""
    with engine.begin() as connection:
        before = current_revision(connection)
        command.upgrade(alembic_config(connection), "head")
        after = current_revision(connection)
    return before, after or head_revision()


@dataclass(frozen=True, slots=True)
class Verification:
    """What `verify` found: problems is empty when the schema is exactly right."""

    revision: str | None
    head: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form for `verify --json`."""
        return {
            "ok": self.ok,
            "revision": self.revision,
            "head": self.head,
            "problems": self.problems,
        }


def verify(engine: sa.Engine) -> Verification:
    """Compare the live schema with the declared one: tables, columns, indexes and revision."""
    head = head_revision()
    with engine.connect() as connection:
        revision = current_revision(connection)
        problems: list[str] = []
        if revision is None:
            problems.append("the database was never migrated: run `marketbrief migrate`")
        elif revision != head:
            problems.append(f"migration revision is {revision}, expected head {head}")
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        problems.extend(_describe(diff) for diff in _flatten(compare_metadata(context, metadata)))
        if not problems:
            if connection.execute(sa.select(sa.func.count()).select_from(store_revision)).scalar():
                pass
            else:
                problems.append("table store_revision has no row (it must hold exactly one)")
        if connection.dialect.name == "sqlite" and not problems:
            result = connection.exec_driver_sql("PRAGMA quick_check").scalars().all()
            if result != ["ok"]:
                problems.extend(f"sqlite quick_check: {line}" for line in result)
    return Verification(revision=revision, head=head, problems=problems)


def _offline_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _flatten(diffs: list[Any]) -> list[tuple[Any, ...]]:
    flat: list[tuple[Any, ...]] = []
    for diff in diffs:
        # Column modifications come grouped as a list of tuples.
        if isinstance(diff, list):
            flat.extend(diff)
        else:
            flat.append(diff)
    return flat


def _describe(diff: tuple[Any, ...]) -> str:
    kind = diff[0]
    if kind == "add_table":
        return f"missing table {diff[1].name}"
    if kind == "remove_table":
        return f"unexpected table {diff[1].name}"
    if kind == "add_column":
        return f"missing column {diff[2]}.{diff[3].name}"
    if kind == "remove_column":
        return f"unexpected column {diff[2]}.{diff[3].name}"
    if kind == "add_index":
        return f"missing index {diff[1].name} on {diff[1].table.name}"
    if kind == "remove_index":
        return f"unexpected index {diff[1].name} on {diff[1].table.name}"
    if kind in ("add_constraint", "add_fk"):
        return f"missing constraint {diff[1].name} on {diff[1].table.name}"
    if kind in ("remove_constraint", "remove_fk"):
        return f"unexpected constraint {diff[1].name} on {diff[1].table.name}"
    if kind.startswith("modify_"):
        return f"column {diff[2]}.{diff[3]} differs ({kind.removeprefix('modify_')})"
    return f"schema differs: {diff!r}"
