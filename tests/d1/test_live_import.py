"""`marketbrief import-d1 --live`: the old database copied straight from a live D1 database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
from click.testing import CliRunner

from marketbrief.cli.main import main
from marketbrief.store.d1.api import D1Api
from marketbrief.store.d1.dialect import target_from_url
from tests.d1 import dumps
from tests.d1.dumps import prediction, run
from tests.d1.imports import import_cli, migrated_store
from tests.d1.test_d1import import DUMP

LIVE = "d1://old-account/old-database"


def _seed(dump: str) -> None:
    """Load a `wrangler d1 export` dump into the local D1, statement by statement."""
    api = D1Api(target_from_url(LIVE))
    statement = ""
    for line in dump.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            if not statement.strip().upper().startswith("PRAGMA"):
                api.run([(statement.strip(), ())])
            statement = ""
    api.close()


def _tables(report: dict[str, object]) -> object:
    return report["tables"]


def test_a_live_import_brings_in_what_importing_the_same_database_as_a_dump_does(
    tmp_path: Path, local_d1: object
) -> None:
    _seed(DUMP)
    live_url = f"sqlite:///{tmp_path / 'live.db'}"
    dump_url = f"sqlite:///{tmp_path / 'dump.db'}"
    for url in (live_url, dump_url):
        migrated_store(url).close()
    live = CliRunner().invoke(
        main, ["import-d1", "--live", LIVE, "--json"], env={"MARKETBRIEF_DATABASE_URL": live_url}
    )
    assert live.exit_code == 0, live.output
    dump_path = tmp_path / "dump.sql"
    dump_path.write_text(DUMP, encoding="utf-8")
    from_dump = import_cli(dump_url, dump_path, "--json")
    assert from_dump.exit_code == 0, from_dump.output
    live_report, dump_report = orjson.loads(live.output), orjson.loads(from_dump.output)
    assert _tables(live_report) == _tables(dump_report)
    assert live_report["latest_set"] == dump_report["latest_set"] > 0
    again = CliRunner().invoke(
        main, ["import-d1", "--live", LIVE, "--json"], env={"MARKETBRIEF_DATABASE_URL": live_url}
    )
    assert "nothing changed" in " ".join(orjson.loads(again.output)["notes"])


def test_a_live_import_pages_through_a_table_longer_than_a_page(
    tmp_path: Path, local_d1: object
) -> None:
    day = "2026-01-05"
    rows = [run(f"{day}_pre-market_r1", day, "pre-market", "completed", f"{day}T13:30:05Z")]
    rows += [
        prediction(n + 1, f"S{n:03d}", day, 0.2, 0.8, "up", created=f"{day} 13:31:00")
        for n in range(450)
    ]
    dump = dumps.dump(*rows)
    _seed(dump)
    url = f"sqlite:///{tmp_path / 'live.db'}"
    migrated_store(url).close()
    live = CliRunner().invoke(
        main, ["import-d1", "--live", LIVE, "--json"], env={"MARKETBRIEF_DATABASE_URL": url}
    )
    assert live.exit_code == 0, live.output
    assert orjson.loads(live.output)["tables"]["symbol_predictions"]["read"] == 450


def test_import_d1_wants_a_dump_or_live_not_both(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["import-d1"], env={"MARKETBRIEF_DATABASE_URL": "sqlite://"})
    assert result.exit_code != 0
    assert "either DUMP.sql or --live" in result.output
