"""A dump runs only what a `wrangler d1 export` holds, within bounds; anything else exits 2.

The refused dumps are real files: a query that never ends, reads of the dump's own tables,
functions that make data from nothing, PRAGMAs that would lift the bounds, a value or a
database that outgrows them. Each is refused naming its line, and the store is left as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from marketbrief.d1.dump import Dump
from marketbrief.d1.guard import Limits
from marketbrief.errors import InvalidInput
from tests.d1.imports import import_cli, migrated_store

TABLE = (
    'CREATE TABLE IF NOT EXISTS "job_run_results" ("run_id" TEXT PRIMARY KEY, '
    '"scheduled_date" TEXT, "report_type" TEXT, "status" TEXT, "started_at" TEXT);\n'
)
ROW = (
    'INSERT INTO "job_run_results" ("run_id","scheduled_date","report_type","status",'
    "\"started_at\") VALUES('2026-01-09_pre-market_a1','2026-01-09','pre-market','success',"
    "'2026-01-09T13:30:00Z');\n"
)

# Everything a wrangler export of a database with statistics, an index, a trigger and a view
# holds, in its order (plus a hand-written transaction, multi-row INSERT and a child row before
# its parent's table, under a PRAGMA that would switch foreign keys on).
EXPORT = (
    "PRAGMA defer_foreign_keys=TRUE;\n"
    "PRAGMA foreign_keys=ON;\n"
    "BEGIN TRANSACTION;\n"
    'CREATE TABLE "child" ("id" INTEGER, "note" INTEGER REFERENCES "notes" ("id"));\n'
    'INSERT INTO "child" VALUES(1,99);\n'
    + TABLE
    + ROW
    + 'CREATE TABLE "notes" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, "body" TEXT '
    'CHECK (json_valid(body)), "size" INTEGER AS (length(body)), "blob" BLOB);\n'
    'INSERT INTO "notes" ("id","body","blob") VALUES(1,replace(\'[1,\\n2]\',\'\\n\','
    "char(10)),X'00ff');\n"
    "INSERT INTO notes (id, body) VALUES (2, '[2]'), (3, '[3]');\n"
    "DELETE FROM sqlite_sequence;\n"
    "INSERT INTO \"sqlite_sequence\" VALUES('notes',3);\n"
    "ANALYZE sqlite_schema;\n"
    "INSERT INTO \"sqlite_stat1\" VALUES('notes',NULL,'3');\n"
    "CREATE INDEX idx_notes_body ON notes(body);\n"
    "CREATE TRIGGER notes_copy AFTER INSERT ON notes BEGIN INSERT INTO notes(body) "
    "SELECT body FROM notes; END;\n"
    "CREATE VIEW every_note AS SELECT * FROM notes;\n"
    "COMMIT;\n"
)
RECURSIVE = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;"
)
TENFOLD = "replace({},'x','xxxxxxxxxx')"


def _grown(times: int) -> str:
    """A value of 10**times characters, spelled in a few dozen."""
    text = "'x'"
    for _ in range(times):
        text = TENFOLD.format(text)
    return text


def test_everything_an_export_holds_loads_and_skipped_triggers_never_fire(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "export.sql"
    path.write_text(EXPORT, encoding="utf-8")
    dump = Dump(path)
    try:
        assert dump.tables() == [
            "child",
            "job_run_results",
            "notes",
            "sqlite_sequence",
            "sqlite_stat1",
        ]
        assert dump.rows("child") == [{"id": 1, "note": 99}]  # foreign keys stay off
        assert [(r["id"], r["body"], r["size"]) for r in dump.rows("notes")] == [
            (1, "[1,\n2]", 6),
            (2, "[2]", 3),
            (3, "[3]", 3),
        ]
    finally:
        dump.close()
    store = migrated_store(sqlite_url)
    outcome = import_cli(sqlite_url, path)
    assert outcome.exit_code == 0, outcome.output
    assert store.run_counts() != {}
    store.close()


@pytest.mark.parametrize(
    ("statement", "refused"),
    [
        (RECURSIVE, "refused a query (SELECT, a subquery or WITH RECURSIVE"),
        (
            'INSERT INTO "job_run_results" ("run_id") WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL '
            "SELECT x + 1 FROM c) SELECT x FROM c;",
            "refused a query",
        ),
        (
            'INSERT INTO "job_run_results" SELECT a.run_id || b.run_id, a.scheduled_date, '
            "a.report_type, a.status, a.started_at FROM job_run_results a, job_run_results b;",
            "refused reading table job_run_results",
        ),
        (
            'INSERT INTO "job_run_results" ("run_id") VALUES(zeroblob(1000000));',
            "refused the function zeroblob()",
        ),
        (
            TABLE.rstrip("\n") + " SELECT a.run_id FROM job_run_results a, job_run_results b;",
            "refused reading table job_run_results",
        ),
        ("PRAGMA max_page_count = 2147483646;", "refused PRAGMA max_page_count"),
        ("UPDATE \"job_run_results\" SET status = 'failed';", "refused UPDATE job_run_results"),
        ('DROP TABLE "job_run_results";', "refused DROP"),
        (
            f'INSERT INTO "job_run_results" ("run_id") VALUES({_grown(7)});',
            "refused a value longer than 4 MiB",
        ),
        (
            "".join(
                f'INSERT INTO "job_run_results" ("run_id") VALUES(\'{n}\' || {_grown(6)});\n'
                for n in range(20)
            ),
            "refused its tables grew past 16 MiB",
        ),
    ],
)
def test_a_statement_no_export_holds_is_refused_naming_its_line_and_writes_nothing(
    sqlite_url: str, tmp_path: Path, statement: str, refused: str
) -> None:
    store = migrated_store(sqlite_url)
    path = tmp_path / "hostile.sql"
    path.write_text("PRAGMA defer_foreign_keys=TRUE;\n" + TABLE + ROW + statement + "\n")
    outcome = import_cli(sqlite_url, path)
    assert outcome.exit_code == 2, outcome.output
    assert refused in outcome.output
    assert ", line 4" in outcome.output or refused.startswith("refused its tables")
    assert "nothing was imported" in outcome.output
    assert "Traceback" not in outcome.output
    assert store.run_counts() == {}
    store.close()


def test_a_statement_past_its_step_budget_is_stopped(tmp_path: Path) -> None:
    path = tmp_path / "long.sql"
    path.write_text("CREATE TABLE t(a);\nINSERT INTO t VALUES" + ",".join(["(1)"] * 5000) + ";\n")
    dump = Dump(path)  # within the default budget
    assert len(dump.rows("t")) == 5000
    dump.close()
    with pytest.raises(InvalidInput, match=r"line 2: refused a statement that ran past 0"):
        Dump(path, Limits(steps=0, steps_per_byte=0))


def test_a_load_past_its_deadline_is_stopped_between_statements(tmp_path: Path) -> None:
    path = tmp_path / "dump.sql"
    path.write_text(TABLE + ROW)
    with pytest.raises(InvalidInput, match=r"line 1: refused loading took longer than"):
        Dump(path, Limits(seconds=-1.0))


def test_a_statement_longer_than_the_bound_is_refused_before_it_runs(tmp_path: Path) -> None:
    path = tmp_path / "dump.sql"
    path.write_text(
        TABLE + 'INSERT INTO "job_run_results" ("run_id") VALUES(\'' + "x\n" * 600 + "');\n"
    )
    with pytest.raises(InvalidInput, match=r"line 2: refused a statement longer than"):
        Dump(path, Limits(statement_chars=1000))


def test_an_endless_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "dump.sql"
    path.write_text(TABLE + "-- " + "x" * 5000)  # one line with no end, as /dev/zero would be
    with pytest.raises(InvalidInput, match=r"line 2: refused a statement longer than 1,000"):
        Dump(path, Limits(statement_chars=1000))
