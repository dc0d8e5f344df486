"""Building small `wrangler d1 export` dumps: the old tables, and rows written as wrangler does.

`dump(*rows)` is a dump with every old table's CREATE TABLE (the columns of test_d1_refusals'
VALID dump) and the given INSERT lines; `row(table, *values)` writes one INSERT with each value
as a SQL literal (None is NULL, str is quoted with '' escapes, numbers bare); `run`, `stage` and
`prediction` write the rows of the tables the tests fill most, with their usual values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLUMNS = {
    "job_run_results": "run_id TEXT PRIMARY KEY, scheduled_date TEXT, report_type TEXT, status TEXT, current_stage TEXT, errors_json TEXT, warnings_json TEXT, started_at TEXT, executed_at TEXT, trigger_source TEXT, created_at TEXT",  # noqa: E501
    "job_stage_log": "id INTEGER PRIMARY KEY, run_id TEXT, scheduled_date TEXT, report_type TEXT, stage TEXT, status TEXT, errors_json TEXT, warnings_json TEXT, details_json TEXT, started_at TEXT, ended_at TEXT, created_at TEXT",  # noqa: E501
    "scheduled_job_results": "id INTEGER PRIMARY KEY, scheduled_date TEXT, report_type TEXT, report_content TEXT, metadata TEXT, trigger_source TEXT, run_id TEXT, created_at TEXT",  # noqa: E501
    "job_date_results": "scheduled_date TEXT, report_type TEXT, status TEXT, latest_run_id TEXT, run_count INTEGER, PRIMARY KEY (scheduled_date, report_type)",  # noqa: E501
    "symbol_predictions": "id INTEGER PRIMARY KEY, symbol TEXT, prediction_date TEXT, sentiment TEXT, confidence REAL, direction TEXT, model TEXT, status TEXT, error_message TEXT, news_source TEXT, articles_count INTEGER, articles_content TEXT, created_at TEXT",  # noqa: E501
    "daily_analysis": "id INTEGER PRIMARY KEY, analysis_date TEXT, total_symbols INTEGER, execution_time REAL, summary TEXT, created_at TEXT",  # noqa: E501
    "market_close_data": "id INTEGER PRIMARY KEY, symbol TEXT, close_date TEXT, close_price REAL, previous_close REAL, day_change REAL, volume INTEGER, source TEXT, created_at TEXT",  # noqa: E501
}


def literal(value: Any) -> str:
    """A value as wrangler writes it in VALUES(...)."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def row(table: str, *values: Any) -> str:
    """One INSERT line of `table`, values in the column order of COLUMNS."""
    return f'INSERT INTO "{table}" VALUES({",".join(literal(v) for v in values)});'


def run(
    run_id: str,
    day: str,
    kind: str,
    status: str,
    started: str,
    *,
    executed: str | None = None,
    trigger: str | None = "cron",
    stage: str = "finalize",
) -> str:
    """One job_run_results row."""
    return row("job_run_results", run_id, day, kind, status, stage, "[]", "[]", started,
               executed, trigger, started)  # fmt: skip


def stage(
    id_: int,
    run_id: str,
    day: str,
    kind: str,
    name: str,
    status: str | None,
    started: str,
    *,
    ended: str | None = None,
) -> str:
    """One job_stage_log row (no errors, warnings or details; no created_at)."""
    return row("job_stage_log", id_, run_id, day, kind, name, status, None, None, None, started,
               ended, None)  # fmt: skip


def prediction(
    id_: int,
    symbol: str,
    day: str,
    sentiment: Any,
    confidence: Any,
    direction: Any,
    *,
    model: str = "gpt-oss",
    articles: int = 3,
    created: str | None = None,
) -> str:
    """One symbol_predictions row: a completed analysis of `articles` finnhub articles."""
    return row("symbol_predictions", id_, symbol, day, sentiment, confidence, direction, model,
               "completed", None, "finnhub", articles, "[]", created)  # fmt: skip


def dump(*rows: str) -> str:
    """A dump with every old table created, then `rows`."""
    creates = [f"CREATE TABLE {name} ({columns});" for name, columns in COLUMNS.items()]
    return "\n".join(["PRAGMA defer_foreign_keys=TRUE;", *creates, *rows, ""])


def write(path: Path, *rows: str) -> Path:
    """`dump(*rows)` written to `path`."""
    path.write_text(dump(*rows), encoding="utf-8")
    return path
