"""`marketbrief import-d1`: the old Cloudflare D1 database, from a `wrangler d1 export` dump."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from marketbrief.cli.main import main
from marketbrief.d1 import values as legacy
from marketbrief.models import ReportType, RunStatus, TriggerSource
from marketbrief.store.schema import market_closes
from marketbrief.store.sql import SQLStore
from tests.d1.imports import import_cli, migrated_store

# Exactly what `wrangler d1 export` writes: PRAGMA first, each table's CREATE then its INSERTs
# (quoted name, VALUES without a space), '' escapes, NULLs, bare numbers, newlines through
# replace(..., char(10)); plus a hand-written multi-row INSERT with a column list. The old
# database has no daily_analysis table, and job_run_results has a column we never heard of.
DUMP = """\
PRAGMA defer_foreign_keys=TRUE;
CREATE TABLE d1_migrations(
\t\tid         INTEGER PRIMARY KEY AUTOINCREMENT,
\t\tname       TEXT UNIQUE,
\t\tapplied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
);
INSERT INTO "d1_migrations" VALUES(1,'0001_initial.sql','2025-09-01 10:00:00');
CREATE TABLE job_run_results (
  run_id TEXT PRIMARY KEY, scheduled_date TEXT NOT NULL, report_type TEXT NOT NULL,
  status TEXT NOT NULL, current_stage TEXT, errors_json TEXT, warnings_json TEXT,
  started_at TEXT, executed_at TEXT, trigger_source TEXT,
  created_at TEXT DEFAULT CURRENT_TIMESTAMP, worker_version TEXT
);
INSERT INTO "job_run_results" VALUES('2026-01-09_pre-market_a1','2026-01-09','pre-market','completed','finalize','[]','[]','2026-01-09T13:30:05.123Z','2026-01-09T13:31:00.000Z','cron','2026-01-09 13:30:05','1.4.2');
INSERT INTO "job_run_results" VALUES('2026-01-09_pre-market_b2','2026-01-09','pre-market','success','finalize',NULL,NULL,'2026-01-09 14:02:00','2026-01-09 14:03:10','manual','2026-01-09 14:02:00','1.4.2');
INSERT INTO "job_run_results" VALUES('2026-01-09_intraday_c3','2026-01-09','intraday','failed','data_fetch','["news timeout: it''s down"]','[]','2026-01-09T17:00:00Z',NULL,'cron','2026-01-09 17:00:00',NULL);
INSERT INTO "job_run_results" VALUES('2026-01-12_end-of-day_d4','2026-01-12','END_OF_DAY','partial','finalize','[]','["1 symbol failed"]','2026-01-12T21:05:00Z','2026-01-12T21:06:00Z','cron','2026-01-12 21:05:00',NULL);
INSERT INTO "job_run_results" VALUES('2026-01-12_end-of-day_d5','2026-01-12','end-of-day','success','finalize','[]','[]','2026-01-12T22:00:00Z','2026-01-12T22:01:00Z','manual','2026-01-12 22:00:00',NULL);
INSERT INTO "job_run_results" VALUES('2026-01-12_monthly_e5','2026-01-12','monthly','success','finalize','[]','[]','2026-01-12T22:00:00Z',NULL,'cron','2026-01-12 22:00:00',NULL);
INSERT INTO "job_run_results" VALUES('2026-01-12_pre-market_f6','2026-01-12','pre-market','running','analysis','[]','[]','2026-01-12 13:30:00',NULL,'cron','2026-01-12 13:30:00',NULL);
CREATE TABLE job_stage_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, scheduled_date TEXT, report_type TEXT,
  stage TEXT, status TEXT, errors_json TEXT, warnings_json TEXT, details_json TEXT,
  started_at TEXT, ended_at TEXT, created_at TEXT
);
INSERT INTO job_stage_log (run_id, stage, status, started_at, created_at) VALUES ('2026-01-09_pre-market_a1', 'init', 'running', '2026-01-09T13:30:05.123Z', '2026-01-09 13:30:05'), ('2026-01-09_pre-market_a1', 'init', 'completed', '2026-01-09T13:30:05.123Z', '2026-01-09 13:30:06');
INSERT INTO "job_stage_log" VALUES(3,'2026-01-09_pre-market_a1','2026-01-09','pre-market','data_fetch','success','[]','[]','{"articles": 12}','2026-01-09 13:30:06','2026-01-09 13:30:40','2026-01-09 13:30:40');
INSERT INTO "job_stage_log" VALUES(4,'2026-01-09_intraday_c3','2026-01-09','intraday','data_fetch','failed','["timeout"]','[]',NULL,'2026-01-09T17:00:01Z','2026-01-09T17:00:31Z','2026-01-09 17:00:31');
INSERT INTO "job_stage_log" VALUES(5,'zzz','2026-01-09','intraday','init','success',NULL,NULL,NULL,'2026-01-09T17:00:01Z',NULL,NULL);
INSERT INTO "job_stage_log" VALUES(6,'2026-01-09_pre-market_a1','2026-01-09','pre-market','teleport','success',NULL,NULL,NULL,'2026-01-09T13:30:01Z',NULL,NULL);
CREATE TABLE scheduled_job_results (
  id INTEGER PRIMARY KEY AUTOINCREMENT, scheduled_date TEXT NOT NULL, report_type TEXT NOT NULL,
  report_content TEXT, metadata TEXT, trigger_source TEXT, run_id TEXT, created_at TEXT
);
INSERT INTO "scheduled_job_results" VALUES(1,'2026-01-09','pre-market','{"marker": "A", "note": "it''s early"}','{"symbols": 5}','cron','2026-01-09_pre-market_a1','2026-01-09 13:31:00');
INSERT INTO "scheduled_job_results" VALUES(2,'2026-01-09','pre-market','{"marker":"B","pi":3.14159}','{}','manual','2026-01-09_pre-market_b2','2026-01-09T14:03:10.456Z');
INSERT INTO "scheduled_job_results" VALUES(3,'2026-01-09','pre-market','{"marker": "L"}',NULL,'cron',NULL,'2026-01-09 15:00:00');
INSERT INTO "scheduled_job_results" VALUES(4,'2026-01-11','weekly','{"marker": "W", "é": "ü"}',NULL,'cron',NULL,'2026-01-11 15:00:00');
INSERT INTO "scheduled_job_results" VALUES(5,'2026-01-12','end-of-day',replace('{"marker": "D",\\n "lines": 2}','\\n',char(10)),'{}','cron','2026-01-12_end-of-day_d4','2026-01-12T21:06:00Z');
INSERT INTO "scheduled_job_results" VALUES(6,'2026-01-12','end-of-day','{"marker": "D5"}','{}','manual','2026-01-12_end-of-day_d5','2026-01-12T22:01:00Z');
INSERT INTO "scheduled_job_results" VALUES(8,'2026-01-13','pre-market','{"marker": "G"}','{}','cron','ghost-run','2026-01-13 13:31:00');
CREATE TABLE job_date_results (
  scheduled_date TEXT, report_type TEXT, status TEXT, latest_run_id TEXT, run_count INTEGER,
  PRIMARY KEY (scheduled_date, report_type)
);
INSERT INTO "job_date_results" VALUES('2026-01-12','end_of_day','partial','2026-01-12_end-of-day_d4',2);
INSERT INTO "job_date_results" VALUES('2026-01-10','pre-market','success','nope',1);
CREATE TABLE job_executions (
  id INTEGER PRIMARY KEY AUTOINCREMENT, job_type TEXT, status TEXT, executed_at TEXT,
  execution_time_ms INTEGER, symbols_processed INTEGER, symbols_successful INTEGER,
  symbols_fallback INTEGER, symbols_failed INTEGER, success_rate REAL, errors TEXT,
  created_at TEXT, scheduled_date TEXT
);
INSERT INTO "job_executions" VALUES(1,'pre-market','success','2026-01-08T13:31:00Z',55000,5,5,0,0,100.0,'[]','2026-01-08 13:30:05','2026-01-08');
INSERT INTO "job_executions" VALUES(2,'pre-market','weird','2026-01-07T13:31:00Z',1000,5,5,0,0,100.0,'[]','2026-01-07 13:30:05','2026-01-07');
CREATE TABLE symbol_predictions (
  id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT, prediction_date TEXT, sentiment TEXT,
  confidence REAL, direction TEXT, model TEXT, status TEXT, error_message TEXT,
  news_source TEXT, articles_count INTEGER, articles_content TEXT, created_at TEXT
);
INSERT INTO "symbol_predictions" VALUES(1,'AAPL','2026-01-09','0.4',0.6,'bullish','gpt-oss','completed',NULL,'finnhub',3,'["Apple beats"]','2026-01-09 13:20:00');
INSERT INTO "symbol_predictions" VALUES(2,'AAPL','2026-01-09','0.5',0.72,'bullish','gpt-oss','completed',NULL,'finnhub',4,'["Apple beats","Apple up"]','2026-01-09 13:29:00');
INSERT INTO "symbol_predictions" VALUES(3,'MSFT','2026-01-09','-0.2',72,'bearish','gpt-oss','completed',NULL,'finnhub',2,NULL,'2026-01-09T13:29:30.5Z');
INSERT INTO "symbol_predictions" VALUES(4,'NVDA','2026-01-13',NULL,0.9,'neutral','gpt-oss','failed','rate limited','finnhub',0,NULL,'2026-01-13 13:29:00');
INSERT INTO "symbol_predictions" VALUES(5,'TSLA','2026-01-13','0.1',0.5,'moon','gpt-oss','completed',NULL,'finnhub',1,NULL,'2026-01-13 13:29:00');
CREATE TABLE market_close_data (
  id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT, close_date TEXT, close_price REAL,
  previous_close REAL, day_change REAL, volume INTEGER, created_at TEXT
);
INSERT INTO "market_close_data" VALUES(1,'AAPL','2026-01-09',250.0,200.0,50.0,1000,'2026-01-09 21:10:00');
INSERT INTO "market_close_data" VALUES(2,'MSFT','2026-01-09',NULL,400.0,NULL,NULL,'2026-01-09 21:10:00');
CREATE INDEX idx_results_date ON scheduled_job_results(scheduled_date, report_type);
DELETE FROM sqlite_sequence;
INSERT INTO "sqlite_sequence" VALUES('d1_migrations',1);
"""  # noqa: E501 - a dump's lines are as long as wrangler makes them

EXPECTED = {
    "job_run_results": {"read": 7, "imported": 6, "updated": 0, "present": 0, "skipped": 1},
    "job_stage_log": {"read": 6, "imported": 4, "updated": 0, "present": 0, "skipped": 2},
    "scheduled_job_results": {"read": 7, "imported": 7, "updated": 0, "present": 0, "skipped": 0},
    "job_date_results": {"read": 2, "imported": 1, "updated": 0, "present": 0, "skipped": 1},
    "job_executions": {"read": 2, "imported": 1, "updated": 0, "present": 0, "skipped": 1},
    "symbol_predictions": {"read": 5, "imported": 3, "updated": 0, "present": 0, "skipped": 2},
    "market_close_data": {"read": 2, "imported": 1, "updated": 0, "present": 0, "skipped": 1},
}


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    path = tmp_path / "d1-export.sql"
    path.write_text(DUMP, encoding="utf-8")
    return path


def _import(url: str, dump: Path) -> dict[str, Any]:
    outcome = import_cli(url, dump, "--json")
    assert outcome.exit_code == 0, outcome.output
    report: dict[str, Any] = orjson.loads(outcome.output)
    return report


def _report(url: str, kind: str, day: str) -> dict[str, Any]:
    outcome = CliRunner().invoke(
        main, ["report", kind, "--date", day, "--json"], env={"MARKETBRIEF_DATABASE_URL": url}
    )
    assert outcome.exit_code == 0, outcome.output
    envelope: dict[str, Any] = orjson.loads(outcome.output)
    return envelope


def _counts(store: SQLStore) -> dict[tuple[str, str], int]:
    return store.run_counts()


def test_a_d1_dump_imports_with_reasons_twice_without_duplicates_and_is_served(
    database_url: str, dump: Path
) -> None:
    store = migrated_store(database_url)
    first = _import(database_url, dump)
    assert first["tables"] == EXPECTED
    assert first["latest_set"] == 4
    assert first["runs_made_for_predictions"] == 1
    reasons = first["reasons"]
    assert reasons["job_run_results"] == {"unknown report type 'monthly'": 1}
    assert reasons["job_executions"] == {"unknown status 'weird'": 1}
    assert "scheduled_job_results" not in reasons
    assert reasons["job_stage_log"] == {
        "stage of a run that was not imported": 1,
        "unknown stage 'teleport'": 1,
    }
    assert reasons["symbol_predictions"] == {
        "another prediction for the symbol and day is newer": 1,
        "unknown direction 'moon'": 1,
    }
    notes = "\n".join(first["notes"])
    assert "daily_analysis: not in the dump" in notes
    assert "job_run_results.worker_version: a column the importer does not know" in notes
    assert "1 snapshot(s) name runs that were not imported" in notes
    assert "1 confidence(s) given in percent" in notes
    assert "tables the importer does not read: d1_migrations" in notes

    counts_after_first = _counts(store)
    second = _import(database_url, dump)
    assert second["latest_set"] == 0
    for name, tally in second["tables"].items():
        assert tally["imported"] == 0, name
        assert tally["present"] == EXPECTED[name]["imported"], name
    assert _counts(store) == counts_after_first

    # Two runs on one date: the snapshot of a run wins over a newer run-less legacy row, and
    # of those the newest created_at wins.
    premarket = _report(database_url, "pre-market", "2026-01-09")
    assert premarket["data"] == {"marker": "B", "pi": 3.14159}
    assert premarket["meta"]["run_id"] == "2026-01-09_pre-market_b2"
    assert premarket["meta"]["state"] == "fresh"
    # job_date_results names the older run: the old system's choice is kept.
    eod = _report(database_url, "end-of-day", "2026-01-12")
    assert eod["data"] == {"marker": "D", "lines": 2}
    weekly = _report(database_url, "weekly", "2026-01-11")
    assert weekly["data"] == {"marker": "W", "é": "ü"}
    assert weekly["meta"]["run_id"] is None

    snapshot = store.latest_snapshot(ReportType.END_OF_DAY, date(2026, 1, 12))
    assert snapshot is not None
    assert snapshot.content == b'{"marker": "D",\n "lines": 2}'
    assert snapshot.trigger_source is TriggerSource.IMPORT

    detail = store.get_run("2026-01-09_pre-market_a1")
    assert detail is not None
    assert detail.run.started_at == datetime(2026, 1, 9, 13, 30, 5, 123000, tzinfo=UTC)
    assert detail.run.trigger_source is TriggerSource.SCHEDULE  # the old cron
    assert detail.run.warnings[-1]["trigger_source"] == "cron"
    assert [(s.stage.value, s.status.value) for s in detail.stages] == [
        ("init", "success"),
        ("data_fetch", "success"),
    ]
    running = store.get_run("2026-01-12_pre-market_f6")
    assert running is not None
    assert running.run.status is RunStatus.FAILED
    old_job = store.get_run("2026-01-08_pre-market_d1-job-1")
    assert old_job is not None
    assert old_job.run.success_rate == 1.0
    assert old_job.run.started_at == datetime(2026, 1, 8, 13, 30, 5, tzinfo=UTC)

    found = store.predictions_for(date(2026, 1, 9), (ReportType.PRE_MARKET,))
    assert found is not None
    run, predictions = found
    assert run.run_id == "2026-01-09_pre-market_b2"
    assert [(p.symbol, p.confidence) for p in predictions] == [("AAPL", 0.72), ("MSFT", 0.72)]
    made = store.get_run("2026-01-13_pre-market_d1-predictions")
    assert made is not None
    assert made.run.status is RunStatus.FAILED
    assert made.predictions[0].confidence is None  # a failed analysis has no confidence
    # A failed run's predictions are never what the read path shapes as a partial report.
    assert store.predictions_for(date(2026, 1, 13), (ReportType.PRE_MARKET,)) is None
    with store.snapshot_read() as connection:
        on_day = market_closes.c.close_date == date(2026, 1, 9)
        closes = {r.symbol: r for r in connection.execute(sa.select(market_closes).where(on_day))}
    assert list(closes) == ["AAPL"]
    assert closes["AAPL"].change_pct == 25.0
    store.close()


def test_a_dump_that_is_not_sql_is_refused_without_touching_the_store(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = migrated_store(sqlite_url)
    outside = tmp_path / "outside.db"
    for text in (
        "INSERT INTO nowhere VALUES(1);\n",
        f"ATTACH DATABASE '{outside}' AS x;\nCREATE TABLE x.t(a);\n",  # no file outside memory
    ):
        bad = tmp_path / "bad.sql"
        bad.write_text(text)
        outcome = import_cli(sqlite_url, bad)
        assert outcome.exit_code == 2
        # An INSERT into a table never created is what a --no-schema export looks like: the
        # refusal says how to export instead.
        assert "--no-schema" in outcome.output or "refused ATTACH" in outcome.output
        assert "nothing was imported" in outcome.output
    assert not outside.exists()
    assert store.run_counts() == {}
    store.close()


def test_a_failing_import_leaves_nothing_half_imported(sqlite_url: str, tmp_path: Path) -> None:
    store = migrated_store(sqlite_url)
    # Break the store under the last table the import writes: everything before it rolls back.
    with store.write_transaction() as connection:
        connection.exec_driver_sql("DROP TABLE market_closes")
    path = tmp_path / "dump.sql"
    path.write_text(DUMP, encoding="utf-8")
    outcome = import_cli(sqlite_url, path)
    assert outcome.exit_code == 5  # the schema error, mapped
    assert store.run_counts() == {}
    assert store.latest_keys() == []
    store.close()


def test_old_timestamps_in_both_forms_are_utc_instants() -> None:
    assert legacy.instant("2026-01-09T12:30:05.123Z") == datetime(
        2026, 1, 9, 12, 30, 5, 123000, tzinfo=UTC
    )
    assert legacy.instant("2026-01-09 12:30:05") == datetime(2026, 1, 9, 12, 30, 5, tzinfo=UTC)
    assert legacy.instant(1767961805123) == datetime(2026, 1, 9, 12, 30, 5, 123000, tzinfo=UTC)
    with pytest.raises(ValueError, match="is not a time"):
        legacy.instant("yesterday")
    assert legacy.day("2026-01-09T23:30:00-05:00") == date(2026, 1, 9)
    assert legacy.report_type("END_OF_DAY") is ReportType.END_OF_DAY
    assert legacy.run_status("Partial Success") is RunStatus.PARTIAL
    assert legacy.run_status("exploded") is None


NEWER_DUMP = """\
PRAGMA defer_foreign_keys=TRUE;
CREATE TABLE job_run_results (run_id TEXT PRIMARY KEY, scheduled_date TEXT, report_type TEXT, status TEXT, started_at TEXT);
INSERT INTO "job_run_results" VALUES('2026-01-14_pre-market_x','2026-01-14','premarket','ok','2026-01-14 13:30:00');
CREATE TABLE daily_analysis (id INTEGER PRIMARY KEY, analysis_date TEXT, total_symbols INTEGER, execution_time REAL, summary TEXT, created_at TEXT);
INSERT INTO "daily_analysis" VALUES(1,'2026-01-14',5,1234.4,'mostly up','2026-01-14 13:35:00');
INSERT INTO "daily_analysis" VALUES(2,'2026-01-15',5,NULL,'{"up": 3, "down": 2}','2026-01-15T13:35:00Z');
INSERT INTO "daily_analysis" VALUES(3,NULL,5,NULL,NULL,NULL);
"""  # noqa: E501 - a dump's lines are as long as wrangler makes them


def test_daily_analyses_link_to_the_days_run_and_the_text_report_reads_well(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = migrated_store(sqlite_url)
    path = tmp_path / "newer.sql"
    path.write_text(NEWER_DUMP, encoding="utf-8")
    outcome = import_cli(sqlite_url, path)
    assert outcome.exit_code == 0, outcome.output
    assert "daily_analysis         read      3  imported      2" in outcome.output
    assert "skipped 1 daily_analysis row(s): no analysis_date" in outcome.output
    assert "note: scheduled_job_results: not in the dump" in outcome.output
    with store.snapshot_read() as connection:
        found = connection.exec_driver_sql(
            "SELECT analysis_date, run_id, execution_time_ms, summary FROM daily_analysis"
            " ORDER BY analysis_date"
        ).all()
    assert [(str(d), r, ms, orjson.loads(s)) for d, r, ms, s in found] == [
        ("2026-01-14", "2026-01-14_pre-market_x", 1234, {"summary": "mostly up"}),
        ("2026-01-15", None, None, {"up": 3, "down": 2}),
    ]
    store.close()
