"""Migrations yield exactly the declared schema, and `migrate`/`verify` behave as documented."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from marketbrief.cli.main import main
from marketbrief.store.schema import metadata
from marketbrief.store.sql import SQLStore
from tests.support.backends import PG_ADMIN_URL


def _schema_of(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        found: dict[str, Any] = {}
        for table in sorted(t for t in inspector.get_table_names() if t != "alembic_version"):
            found[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                    for c in inspector.get_columns(table)
                ],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    (u["name"], tuple(u["column_names"]))
                    for u in inspector.get_unique_constraints(table)
                ),
                "fks": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"])
                    for f in inspector.get_foreign_keys(table)
                ),
            }
        return found
    finally:
        engine.dispose()


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Any) -> Iterator[str]:
    """A second, empty database of the same engine as database_url."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    schema = f"mbfresh_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_applying_every_migration_gives_the_same_schema_as_a_fresh_create(
    database_url: str, fresh_url: str
) -> None:
    store = SQLStore(database_url)
    store.migrate()
    assert store.verify().problems == []
    store.close()
    engine = sa.create_engine(fresh_url)
    metadata.create_all(engine)
    engine.dispose()
    migrated, created = _schema_of(database_url), _schema_of(fresh_url)
    assert set(migrated) == {t.name for t in metadata.sorted_tables}
    assert migrated == created


def _cli(url: str, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"MARKETBRIEF_DATABASE_URL": url})


def test_migrate_twice_then_verify_all_exit_zero(database_url: str) -> None:
    first = _cli(database_url, "migrate")
    second = _cli(database_url, "migrate")
    verified = _cli(database_url, "verify")
    assert (first.exit_code, second.exit_code, verified.exit_code) == (0, 0, 0), (
        first.output + second.output + verified.output
    )
    assert "nothing to do" in second.output
    as_json = json.loads(_cli(database_url, "verify", "--json").output)
    assert as_json["ok"] is True
    assert as_json["revision"] == as_json["head"]


def test_verify_lists_what_is_wrong_and_exits_one(database_url: str) -> None:
    assert _cli(database_url, "migrate").exit_code == 0
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_job_executions_status_started_at_id")
    engine.dispose()
    result = _cli(database_url, "verify")
    assert result.exit_code == 1
    assert "missing index ix_job_executions_status_started_at_id" in result.output
    report = json.loads(_cli(database_url, "verify", "--json").output)
    assert report["ok"] is False


def test_verify_on_a_never_migrated_database_says_so(database_url: str) -> None:
    result = _cli(database_url, "verify")
    assert result.exit_code == 1
    assert "never migrated" in result.output


def test_a_bad_setting_stops_start_up_naming_the_variable() -> None:
    result = CliRunner().invoke(main, ["verify"], env={"MARKETBRIEF_DATABASE_URL": "mysql://x"})
    assert result.exit_code == 2
    assert "MARKETBRIEF_DATABASE_URL" in result.output


def _all_commands() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    for name, command in main.commands.items():  # type: ignore[attr-defined]
        paths.append([name])
        for sub in getattr(command, "commands", {}):
            paths.append([name, sub])
    return paths


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "marketbrief")
def test_every_command_has_help_text(path: list[str]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    command = main
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert (command.help or "").strip(), f"{' '.join(path) or 'marketbrief'} has no help text"
