"""`import-d1` brings the old system's faults in right: each test imports a dump that has one.

Dates shifted back a day or taken in UTC, predictions whose analysis failed under a `success`
default, stages without a status, tracking rows among the reports, closes under days without a
session, triggers; and a later dump of the same database converges to what it alone gives.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from marketbrief.config import Settings
from marketbrief.d1.dates import SHIFTED, UTC_DATE
from marketbrief.d1.importer import import_d1
from marketbrief.models import PredictionStatus, ReportType, StageStatus, TriggerSource
from marketbrief.store.schema import (
    market_closes,
)
from marketbrief.store.sql import SQLStore
from tests.d1.dumps import prediction, row, run, stage, write
from tests.d1.imports import import_cli, migrated_store
from tests.support.api_fixtures import running
from tests.support.clock import DAY, Clock

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
PRE = ReportType.PRE_MARKET


def test_business_dates_the_old_system_got_wrong_are_the_runs_new_york_dates(
    database_url: str, tmp_path: Path
) -> None:
    store = migrated_store(database_url)
    dump = write(
        tmp_path / "dates.sql",
        # Monday's pre-market run, dated the Sunday before by the old normaliser.
        run("r-sunday", "2026-01-11", "pre-market", "success", "2026-01-12T13:30:00Z"),
        # The run after Martin Luther King Day (no session), dated the holiday.
        run("r-holiday", "2026-01-19", "pre-market", "success", "2026-01-20T13:30:00Z"),
        # A manual end-of-day run at 20:30 in New York: the UTC date is the next day.
        run(
            "r-evening",
            "2026-01-13",
            "end-of-day",
            "success",
            "2026-01-13T01:30:00Z",
            trigger="manual",
        ),
        # A late run for Friday on Monday is not a known fault: it keeps its date.
        run("r-late", "2026-01-09", "intraday", "success", "2026-01-12T17:00:00Z"),
        row(
            "scheduled_job_results",
            1,
            "2026-01-11",
            "pre-market",
            '{"marker": "S"}',
            "{}",
            "cron",
            "r-sunday",
            "2026-01-12 13:31:00",
        ),
        row("job_date_results", "2026-01-11", "pre-market", "success", "r-sunday", 1),
        prediction(1, "AAPL", "2026-01-11", "0.4", 0.6, "bullish", created="2026-01-12 13:20:00"),
    )
    report = import_d1(store, dump, now=NOW)
    assert report.corrections()["job_run_results"] == {SHIFTED: 2, UTC_DATE: 1}
    assert report.corrections()["scheduled_job_results"] == {"as its run's date": 1}
    assert report.corrections()["symbol_predictions"] == {SHIFTED: 1}
    assert ("job_run_results", "run_id 'r-sunday': 2026-01-11 -> 2026-01-12", SHIFTED) in (
        report.corrected
    )
    expected = {
        "r-sunday": (date(2026, 1, 12), "2026-01-11"),
        "r-holiday": (date(2026, 1, 20), "2026-01-19"),
        "r-evening": (date(2026, 1, 12), "2026-01-13"),
        "r-late": (date(2026, 1, 9), None),
    }
    for run_id, (day, old) in expected.items():
        detail = store.get_run(run_id)
        assert detail is not None
        assert detail.run.scheduled_date == day, run_id
        assert detail.run.warnings[-1].get("scheduled_date") == old, run_id
    snapshot = store.latest_snapshot(PRE, date(2026, 1, 12))
    assert snapshot is not None
    assert snapshot.content == b'{"marker": "S"}'
    assert snapshot.metadata["d1_import"]["scheduled_date"] == "2026-01-11"
    assert store.latest_snapshot(PRE, date(2026, 1, 11)) is None
    found = store.predictions_for(date(2026, 1, 12), (PRE,))
    assert found is not None
    assert found[0].run_id == "r-sunday"
    # Again through the CLI: the summary lists the corrections, and nothing is written twice.
    revision = store.revisions().runs
    outcome = import_cli(database_url, dump)
    assert outcome.exit_code == 0, outcome.output
    assert f"corrected 2 job_run_results row(s): {SHIFTED}" in outcome.output
    assert f"corrected 1 job_run_results row(s): {UTC_DATE}" in outcome.output
    assert "note: nothing changed" in outcome.output
    assert store.revisions().runs == revision
    store.close()


def test_predictions_whose_analysis_failed_are_failed_whatever_the_status_default_said(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = migrated_store(sqlite_url)

    def friday(
        id_: int, symbol: str, sentiment: Any, confidence: Any, direction: Any, model: str
    ) -> str:
        return prediction(id_, symbol, "2026-01-09", sentiment, confidence, direction,
                          model=model, articles=2, created="2026-01-09 13:20:00")  # fmt: skip

    dump = write(
        tmp_path / "predictions.sql",
        run("p1", "2026-01-09", "pre-market", "success", "2026-01-09T13:30:00Z"),
        friday(1, "AAPL", "0.4", 0.7, "bullish", "gpt-oss"),  # a real call
        friday(2, "MSFT", "0.1", None, "bullish", "gpt-oss"),  # no confidence
        friday(3, "NVDA", "0.2", 0.5, "ERROR", "gpt-oss"),  # a failed signal
        friday(4, "TSLA", "SKIP", 0.5, "neutral", "gpt-oss"),  # a skip signal
        friday(5, "AMZN", "0.3", 0.5, "bullish", "none"),  # no model ran
    )
    report = import_d1(store, dump, now=NOW)
    assert report.skipped == []
    found = store.predictions_for(date(2026, 1, 9), (PRE,))
    assert found is not None
    by_symbol = {p.symbol: p for p in found[1]}
    assert by_symbol["AAPL"].status is PredictionStatus.SUCCESS
    assert by_symbol["AAPL"].confidence == 0.7
    for symbol in ("MSFT", "NVDA", "TSLA", "AMZN"):
        failed = by_symbol[symbol]
        assert failed.status is PredictionStatus.FAILED, symbol
        assert failed.confidence is None, symbol
        assert failed.error is not None, symbol
        assert "the old analysis failed" in failed.error, symbol
    store.close()


def test_stages_without_a_status_get_one_from_their_end_and_their_run(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = migrated_store(sqlite_url)

    def friday(id_: int, run_id: str, name: str, status: str | None, ended: str | None) -> str:
        return stage(id_, run_id, "2026-01-09", "pre-market", name, status,
                     "2026-01-09T13:30:00Z", ended=ended)  # fmt: skip

    dump = write(
        tmp_path / "stages.sql",
        run("ok", "2026-01-09", "pre-market", "success", "2026-01-09T13:30:00Z"),
        run("bad", "2026-01-09", "intraday", "failed", "2026-01-09T17:00:00Z", stage="analysis"),
        friday(1, "ok", "init", None, "2026-01-09T13:30:01Z"),
        friday(2, "ok", "analysis", "running", None),  # left running under a finished run
        friday(3, "bad", "data_fetch", None, "2026-01-09T17:00:30Z"),
        friday(4, "bad", "analysis", None, None),  # where the failed run stopped
    )
    report = import_d1(store, dump, now=NOW)
    assert report.skipped == []
    assert sum(1 for t, _r, _w in report.corrected if t == "job_stage_log") == 4
    statuses = {}
    for run_id in ("ok", "bad"):
        detail = store.get_run(run_id)
        assert detail is not None
        for s in detail.stages:
            statuses[(run_id, s.stage.value)] = s.status
            assert "derived" in s.details["d1_import"]
    assert statuses == {
        ("ok", "init"): StageStatus.SUCCESS,
        ("ok", "analysis"): StageStatus.SUCCESS,
        ("bad", "data_fetch"): StageStatus.SUCCESS,
        ("bad", "analysis"): StageStatus.FAILED,
    }
    assert StageStatus.RUNNING not in statuses.values()
    store.close()


def test_the_old_systems_tracking_rows_are_not_reports(sqlite_url: str, tmp_path: Path) -> None:
    store = migrated_store(sqlite_url)
    dump = write(
        tmp_path / "tracking.sql",
        run("t1", "2026-01-09", "morning_predictions", "success", "2026-01-09T13:30:00Z"),
        row(
            "scheduled_job_results",
            1,
            "2026-01-09",
            "morning_predictions",
            '{"AAPL": {"direction": "up"}}',
            "{}",
            "cron",
            None,
            "2026-01-09 13:31:00",
        ),
        row(
            "scheduled_job_results",
            2,
            "2026-01-09",
            "quarterly",
            "{}",
            "{}",
            "cron",
            None,
            "2026-01-09 13:31:00",
        ),
    )
    report = import_d1(store, dump, now=NOW)
    reasons = report.reasons()
    assert reasons["job_run_results"] == {
        "'morning_predictions' is not a report (old tracking rows)": 1
    }
    assert reasons["scheduled_job_results"] == {
        "'morning_predictions' is not a report (old tracking rows)": 1,
        "no scheduled_date or unknown report type 'quarterly'": 1,
    }
    assert store.latest_snapshot(PRE, date(2026, 1, 9)) is None
    assert store.run_counts() == {}
    store.close()


def test_closes_under_days_without_a_session_are_skipped_and_the_source_kept(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = migrated_store(sqlite_url)
    dump = write(
        tmp_path / "closes.sql",
        row(
            "market_close_data",
            1,
            "AAPL",
            "2026-01-09",
            250.0,
            200.0,
            50.0,
            1,
            "stooq",
            "2026-01-09 21:10:00",
        ),
        # Cached on Saturday and on New Year's Day: Friday's and New Year's Eve's prices.
        row(
            "market_close_data",
            2,
            "AAPL",
            "2026-01-10",
            250.0,
            250.0,
            0.0,
            1,
            "stooq",
            "2026-01-10 15:00:00",
        ),
        row(
            "market_close_data",
            3,
            "MSFT",
            "2026-01-01",
            400.0,
            400.0,
            0.0,
            1,
            "yahoo",
            "2026-01-01 15:00:00",
        ),
    )
    report = import_d1(store, dump, now=NOW)
    reason = "close_date is not a NYSE session (a weekend or holiday): not that day's close"
    assert report.reasons()["market_close_data"] == {reason: 2}
    assert ("market_close_data", "id 2 (2026-01-10 AAPL) from stooq", reason) in report.skipped
    with store.snapshot_read() as connection:
        kept = connection.execute(
            sa.select(market_closes.c.symbol, market_closes.c.close_date, market_closes.c.source)
        ).all()
    assert [tuple(r) for r in kept] == [("AAPL", date(2026, 1, 9), "stooq")]
    store.close()


def test_triggers_keep_their_old_meaning(database_url: str, tmp_path: Path) -> None:
    store = migrated_store(database_url)
    dump = write(
        tmp_path / "triggers.sql",
        run("cron", "2026-01-09", "pre-market", "success", "2026-01-09T13:30:00Z"),
        run("cron-again", "2026-01-09", "pre-market", "success", "2026-01-09T13:45:00Z"),
        run(
            "by-hand", "2026-01-09", "intraday", "success", "2026-01-09T17:00:00Z", trigger="manual"
        ),
        run(
            "actions",
            "2026-01-09",
            "end-of-day",
            "success",
            "2026-01-09T21:05:00Z",
            trigger="github-actions",
        ),
        run(
            "other", "2026-01-08", "end-of-day", "success", "2026-01-08T21:05:00Z", trigger="zapier"
        ),
        run("unknown", "2026-01-07", "end-of-day", "success", "2026-01-07T21:05:00Z", trigger=None),
    )
    import_d1(store, dump, now=NOW)
    expected = {
        "cron": (TriggerSource.SCHEDULE, "cron"),
        "cron-again": (TriggerSource.IMPORT, "cron"),  # the slot is the first cron run's
        "by-hand": (TriggerSource.MANUAL, "manual"),
        "actions": (TriggerSource.API, "github-actions"),
        "other": (TriggerSource.IMPORT, "zapier"),
        "unknown": (TriggerSource.IMPORT, None),
    }
    for run_id, (trigger, old) in expected.items():
        detail = store.get_run(run_id)
        assert detail is not None
        assert detail.run.trigger_source is trigger, run_id
        assert detail.run.warnings[-1]["trigger_source"] == old, run_id
    again = store.get_run("cron-again")
    assert again is not None
    assert "already claimed by run cron" in again.run.warnings[-1]["trigger_kept_as_import"]
    store.close()


INSERTS_ONLY = """\
PRAGMA defer_foreign_keys=TRUE;
INSERT INTO "job_run_results" ("run_id","scheduled_date","report_type","status","started_at","trigger_source") VALUES('n1','2026-01-09','pre-market','success','2026-01-09T13:30:00Z','cron');
INSERT INTO "scheduled_job_results" ("id","scheduled_date","report_type","report_content","run_id","created_at") VALUES(1,'2026-01-09','pre-market','{"marker": "N"}','n1','2026-01-09 13:31:00');
"""  # noqa: E501 - a dump's lines are as long as wrangler makes them


def test_exports_without_schema_or_of_one_table_are_read_or_refused_saying_how_to_export(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = migrated_store(sqlite_url)
    no_schema = tmp_path / "no-schema.sql"
    no_schema.write_text(INSERTS_ONLY, encoding="utf-8")
    outcome = import_cli(sqlite_url, no_schema)
    assert outcome.exit_code == 0, outcome.output
    assert "exported with --no-schema" in outcome.output
    assert "exported with --table" in outcome.output  # only two of the old tables are there
    snapshot = store.latest_snapshot(PRE, date(2026, 1, 9))
    assert snapshot is not None
    assert snapshot.content == b'{"marker": "N"}'

    positional = tmp_path / "positional.sql"
    positional.write_text(
        "INSERT INTO \"job_run_results\" VALUES('n2','2026-01-12','pre-market','success');\n",
        encoding="utf-8",
    )
    refused = import_cli(sqlite_url, positional)
    assert refused.exit_code == 2, refused.output
    assert "--no-schema" in refused.output
    assert "wrangler d1 export <database> --remote --output=dump.sql" in refused.output
    assert "nothing was imported" in refused.output
    assert store.get_run("n2") is None
    store.close()


@pytest.mark.parametrize("old", ["2026-01-12", "2026-01-13"])
def test_a_date_that_agrees_with_new_york_is_never_moved(
    sqlite_url: str, tmp_path: Path, old: str
) -> None:
    store = migrated_store(sqlite_url)
    started = f"{old}T13:30:00Z"
    report = import_d1(
        store, write(tmp_path / "d.sql", run("x", old, "pre-market", "success", started)), now=NOW
    )
    assert report.corrected == []
    detail = store.get_run("x")
    assert detail is not None
    assert detail.run.scheduled_date.isoformat() == old
    store.close()


# `\ud83d` is the first half of an emoji whose second half truncation cut off: the old Worker
# served it, strict parsers (orjson) refuse it. Backslashes as the dump holds them.
LONE = '{"headline": "Apple \\ud83d", "accuracy": 0.5, "pair": "\\ud83d\\ude00"}'


async def test_a_report_with_a_lone_surrogate_is_kept_exactly_and_served_as_valid_json(
    api_settings: Settings, clock: Clock
) -> None:
    run_id = f"{DAY}_intraday_lone"
    dump = write(
        api_settings.outbox_dir.parent / "lone.sql",
        run(run_id, DAY.isoformat(), "intraday", "success", f"{DAY}T17:00:00Z"),
        row(
            "scheduled_job_results",
            1,
            DAY.isoformat(),
            "intraday",
            LONE,
            "{}",
            "cron",
            run_id,
            f"{DAY} 17:01:00",
        ),
    )
    store = SQLStore(api_settings.database_url)
    report = import_d1(store, dump, now=NOW)
    assert report.skipped == []
    assert any("lone surrogate" in n for n in report.notes)
    snapshot = store.latest_snapshot(ReportType.INTRADAY, DAY)
    assert snapshot is not None
    assert snapshot.content == LONE.encode()  # the exact text
    store.close()
    async with running(api_settings, clock) as api:
        answer = await api.get(f"/api/v1/reports/intraday?date={DAY}")
        assert answer.status_code == 200, answer.text
        served = orjson.loads(answer.content)  # strict: valid JSON for every reader
        assert served["data"] == {"headline": "Apple \ufffd", "accuracy": 0.5, "pair": "😀"}
        job = await api.get(f"/api/v1/jobs/{run_id}")
        assert job.status_code == 200, job.text
        assert orjson.loads(job.content)["snapshot"]["content"]["headline"] == "Apple \ufffd"
        page = await api.get(f"/reports/intraday?date={DAY}")
        assert page.status_code == 200, page.text
        assert "Apple" in page.text
