"""`import-d1` refuses a row it cannot read or the readers could not read: exit 2, naming it.

Each dump below is a small, valid export plus one damaged row. The import is all or nothing, as
restore is: the damaged row refuses the whole dump, and the store is left exactly as it was (the
valid rows before it in the same transaction are rolled back too).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.d1.imports import import_cli, migrated_store

# One run, its stage, its snapshot, a prediction, an analysis and a close: all valid.
VALID = """\
PRAGMA defer_foreign_keys=TRUE;
CREATE TABLE job_run_results (run_id TEXT PRIMARY KEY, scheduled_date TEXT, report_type TEXT, status TEXT, current_stage TEXT, errors_json TEXT, warnings_json TEXT, started_at TEXT, executed_at TEXT, trigger_source TEXT, created_at TEXT);
INSERT INTO "job_run_results" VALUES('2026-01-09_pre-market_a1','2026-01-09','pre-market','success','finalize','[]','[]','2026-01-09T13:30:00Z','2026-01-09T13:31:00Z','cron','2026-01-09 13:30:00');
CREATE TABLE job_stage_log (id INTEGER PRIMARY KEY, run_id TEXT, scheduled_date TEXT, report_type TEXT, stage TEXT, status TEXT, errors_json TEXT, warnings_json TEXT, details_json TEXT, started_at TEXT, ended_at TEXT, created_at TEXT);
INSERT INTO "job_stage_log" VALUES(1,'2026-01-09_pre-market_a1','2026-01-09','pre-market','init','success','[]','[]','{}','2026-01-09T13:30:00Z','2026-01-09T13:30:01Z','2026-01-09 13:30:01');
CREATE TABLE scheduled_job_results (id INTEGER PRIMARY KEY, scheduled_date TEXT, report_type TEXT, report_content TEXT, metadata TEXT, trigger_source TEXT, run_id TEXT, created_at TEXT);
INSERT INTO "scheduled_job_results" VALUES(1,'2026-01-09','pre-market','{"marker": "A"}','{}','cron','2026-01-09_pre-market_a1','2026-01-09 13:31:00');
CREATE TABLE job_executions (id INTEGER PRIMARY KEY, job_type TEXT, status TEXT, executed_at TEXT, execution_time_ms INTEGER, symbols_processed INTEGER, symbols_successful INTEGER, symbols_fallback INTEGER, symbols_failed INTEGER, success_rate REAL, errors TEXT, created_at TEXT, scheduled_date TEXT);
INSERT INTO "job_executions" VALUES(1,'pre-market','success','2026-01-08T13:31:00Z',55000,5,5,0,0,1.0,'[]','2026-01-08 13:30:05','2026-01-08');
CREATE TABLE symbol_predictions (id INTEGER PRIMARY KEY, symbol TEXT, prediction_date TEXT, sentiment TEXT, confidence REAL, direction TEXT, model TEXT, status TEXT, error_message TEXT, news_source TEXT, articles_count INTEGER, articles_content TEXT, created_at TEXT);
INSERT INTO "symbol_predictions" VALUES(1,'AAPL','2026-01-09','0.4',0.6,'bullish','gpt-oss','completed',NULL,'finnhub',3,'["Apple beats"]','2026-01-09 13:20:00');
CREATE TABLE daily_analysis (id INTEGER PRIMARY KEY, analysis_date TEXT, total_symbols INTEGER, execution_time REAL, summary TEXT, created_at TEXT);
INSERT INTO "daily_analysis" VALUES(1,'2026-01-09',5,1234.0,'{}','2026-01-09 13:35:00');
CREATE TABLE market_close_data (id INTEGER PRIMARY KEY, symbol TEXT, close_date TEXT, close_price REAL, previous_close REAL, day_change REAL, volume INTEGER, source TEXT, created_at TEXT);
INSERT INTO "market_close_data" VALUES(1,'AAPL','2026-01-09',250.0,200.0,50.0,1000,'stooq','2026-01-09 21:10:00');
"""  # noqa: E501 - a dump's lines are as long as wrangler makes them

RUN = "INSERT INTO \"job_run_results\" VALUES('2026-01-12_pre-market_z9','2026-01-12','pre-market','success','finalize','[]','[]',{started},NULL,{trigger},'2026-01-12 13:30:00');"  # noqa: E501
EXECUTION = "INSERT INTO \"job_executions\" VALUES(2,'pre-market','success',{executed},{ms},{processed},5,0,0,1.0,'[]','2026-01-12 13:30:05','2026-01-12');"  # noqa: E501
SNAPSHOT = "INSERT INTO \"scheduled_job_results\" VALUES(2,'2026-01-12','intraday',{content},'{{}}','cron',NULL,'2026-01-12 17:00:00');"  # noqa: E501
STAGE = "INSERT INTO \"job_stage_log\" VALUES(2,'2026-01-09_pre-market_a1','2026-01-09','pre-market','analysis','success','[]','[]',{details},'2026-01-09T13:30:02Z',{ended},NULL);"  # noqa: E501
PREDICTION = "INSERT INTO \"symbol_predictions\" VALUES(2,'MSFT','2026-01-09','0.1',{confidence},'bearish','gpt-oss','completed',NULL,'finnhub',{articles},NULL,'2026-01-09 13:21:00');"  # noqa: E501
ANALYSIS = "INSERT INTO \"daily_analysis\" VALUES(2,{day},5,{ms},'{{}}','2026-01-12 13:35:00');"
CLOSE = "INSERT INTO \"market_close_data\" VALUES(2,'MSFT','2026-01-09',{close},{previous},0,0,'stooq','2026-01-09 21:10:00');"  # noqa: E501

TIME = "'2026-01-12T13:30:00Z'"


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        # out of range: years before 1 or after 9999, 1e300 durations, integers beyond 64 bits
        (RUN.format(started="'10000-01-01T00:00:00Z'", trigger="'cron'"), "started_at"),
        (RUN.format(started="'0001-01-01T00:00:00+05:00'", trigger="'cron'"), "started_at"),
        (RUN.format(started="'0001-01-01T00:00:00Z'", trigger="'cron'"), "started_at"),
        (RUN.format(started="1e300", trigger="'cron'"), "started_at"),
        (EXECUTION.format(executed=TIME, ms="1e300", processed=5), "execution_time_ms"),
        (
            EXECUTION.format(executed="'0001-01-01T00:00:01Z'", ms=5000, processed=5),
            "execution_time_ms",
        ),
        (
            EXECUTION.format(executed=TIME, ms=1000, processed="99999999999999999999"),
            "symbols_processed",
        ),
        (PREDICTION.format(confidence=0.5, articles="99999999999999999999"), "articles_count"),
        (ANALYSIS.format(day="'2026-01-12'", ms="1e300"), "execution_time_ms"),
        (CLOSE.format(close="1e300", previous="1e-300"), "change_pct"),
        # not what the column holds
        (EXECUTION.format(executed=TIME, ms=1000, processed="'many'"), "symbols_processed"),
        (EXECUTION.format(executed="'yesterday'", ms=1000, processed=5), "executed_at"),
        (SNAPSHOT.format(content="'{\"marker\": '"), "report_content"),
        (SNAPSHOT.format(content="X'ff00'"), "report_content"),
        (STAGE.format(details="'{}'", ended="'soon'"), "ended_at"),
        (PREDICTION.format(confidence=150, articles=1), "confidence"),
        (ANALYSIS.format(day="'someday'", ms="NULL"), "analysis_date"),
        (RUN.format(started=TIME, trigger="X'ff'"), "warnings"),
        (
            RUN.replace("2026-01-12_pre-market_z9", "r" * 200).format(started=TIME, trigger=1),
            "run_id",
        ),
    ],
)
def test_a_row_that_cannot_be_read_refuses_the_whole_dump_naming_it(
    database_url: str, tmp_path: Path, damage: str, named: str
) -> None:
    store = migrated_store(database_url)
    dump = tmp_path / "d1-export.sql"
    dump.write_text(VALID + damage + "\n", encoding="utf-8")
    table = damage.split('"')[1]
    outcome = import_cli(database_url, dump)
    assert outcome.exit_code == 2, outcome.output
    assert f"table {table}, row " in outcome.output
    assert named in outcome.output
    assert "nothing was imported" in outcome.output
    assert "Traceback" not in outcome.output
    assert store.run_counts() == {}
    assert store.latest_keys() == []
    store.close()


def test_the_valid_dump_alone_imports_so_each_refusal_is_its_damaged_row(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = migrated_store(sqlite_url)
    dump = tmp_path / "d1-export.sql"
    dump.write_text(VALID, encoding="utf-8")
    outcome = import_cli(sqlite_url, dump)
    assert outcome.exit_code == 0, outcome.output
    assert "skipped" not in outcome.output.replace("skipped      0", "")
    assert len(store.latest_keys()) == 1
    store.close()
