"""`marketbrief prune`: retention that never removes a report still being served."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from marketbrief.calendar import business_date, utc_now
from marketbrief.cli.main import main
from marketbrief.models import (
    ReportType,
    RunStatus,
    Stage,
    StageStatus,
    TriggerSource,
    provisional_version,
)
from marketbrief.store.schema import scheduled_job_results
from marketbrief.store.sql import SQLStore
from tests.support.factories import completion_for, standalone_completion

# Dates relative to the real clock, so the test means the same thing on any future day.
TODAY = business_date(utc_now())
OLD, OLDER, RECENT = TODAY - timedelta(days=60), TODAY - timedelta(days=61), TODAY - timedelta(2)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _env(url: str) -> dict[str, str]:
    return {"MARKETBRIEF_DATABASE_URL": url}


def _count(store: SQLStore) -> dict[str, int]:
    with store.snapshot_read() as connection:
        return {
            name: int(connection.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one())
            for name in (
                "job_executions",
                "job_stages",
                "symbol_predictions",
                "scheduled_job_results",
                "report_latest",
            )
        }


@pytest.fixture
def aged(database_url: str) -> dict[str, Any]:
    """Old history with superseded, failed, legacy, latest and newest-of-type rows."""
    store = SQLStore(database_url)
    store.migrate()
    superseded = store.claim_run(
        ReportType.PRE_MARKET, OLD, TriggerSource.MANUAL, started_at=_at(OLD, 13)
    ).run
    store.record_stage(superseded.run_id, Stage.INIT, StageStatus.SUCCESS, started_at=_at(OLD, 13))
    store.finish_run(completion_for(superseded, marker="superseded"))
    # Spooled by a process that knew the store had issued `superseded` its version.
    latest = standalone_completion(
        ReportType.PRE_MARKET,
        OLD,
        started_at=_at(OLD, 14),
        version=provisional_version(superseded.version, 1),
    )
    store.finish_run(latest)
    failed = standalone_completion(ReportType.INTRADAY, OLDER, started_at=_at(OLDER, 17))
    store.finish_run(
        dataclasses.replace(failed, status=RunStatus.FAILED, content=None, predictions=())
    )
    served_eod = standalone_completion(ReportType.END_OF_DAY, OLDER, started_at=_at(OLDER, 21))
    store.finish_run(served_eod)
    # A failed run that still wrote a snapshot: not served, but the newest end-of-day snapshot.
    newest_eod = standalone_completion(ReportType.END_OF_DAY, OLD, started_at=_at(OLD, 21))
    store.finish_run(dataclasses.replace(newest_eod, status=RunStatus.FAILED))
    recent = standalone_completion(ReportType.PRE_MARKET, RECENT, started_at=_at(RECENT, 13))
    store.finish_run(recent)
    with store.write_transaction() as connection:
        connection.execute(
            sa.insert(scheduled_job_results).values(
                run_id=None,
                scheduled_date=OLDER,
                report_type="pre-market",
                report_content='{"legacy": 1}',
                metadata={},
                trigger_source="import",
                content_sha256="0" * 64,
                version=1,
                created_at=_at(OLDER, 12),
            )
        )
    store.close()
    return {
        "url": database_url,
        "deleted_runs": {superseded.run_id, failed.run_id},
        "kept_runs": {latest.run_id, served_eod.run_id, newest_eod.run_id, recent.run_id},
        "latest": latest,
        "served_eod": served_eod,
    }


def test_prune_deletes_old_history_but_never_what_is_served(aged: dict[str, Any]) -> None:
    url, runner = aged["url"], CliRunner()
    store = SQLStore(url)
    before = _count(store)

    dry = runner.invoke(main, ["prune", "--older-than", "30", "--dry-run", "--json"], env=_env(url))
    assert dry.exit_code == 0, dry.output
    planned = orjson.loads(dry.output)
    assert planned["cutoff"] == (TODAY - timedelta(days=30)).isoformat()
    assert planned["deleted"] == {
        "symbol_predictions": 6,
        "job_stages": 1,
        "scheduled_job_results": 2,  # the superseded report and the legacy one
        "job_executions": 2,
    }
    assert planned["kept"] == {"runs": 3, "snapshots": 3}
    assert _count(store) == before  # a dry run changes nothing

    done = runner.invoke(main, ["prune", "--older-than", "30"], env=_env(url))
    assert done.exit_code == 0, done.output
    assert "deleted (scheduled before" in done.output
    after = _count(store)
    assert {k: before[k] - after[k] for k in before} == {**planned["deleted"], "report_latest": 0}
    for run_id in aged["deleted_runs"]:
        assert store.get_run(run_id) is None
    for run_id in aged["kept_runs"]:
        detail = store.get_run(run_id)
        assert detail is not None
        assert detail.snapshot is not None

    for kind, day, completion in (
        ("pre-market", OLD, aged["latest"]),
        ("end-of-day", OLDER, aged["served_eod"]),
    ):
        served = runner.invoke(
            main, ["report", kind, "--date", day.isoformat(), "--json"], env=_env(url)
        )
        assert served.exit_code == 0, served.output
        assert orjson.loads(served.output)["meta"]["run_id"] == completion.run_id

    again = runner.invoke(main, ["prune", "--older-than", "30", "--json"], env=_env(url))
    assert set(orjson.loads(again.output)["deleted"].values()) == {0}
    store.close()


def test_prune_refuses_a_retention_of_zero_days(sqlite_url: str) -> None:
    SQLStore(sqlite_url).migrate()
    outcome = CliRunner().invoke(main, ["prune", "--older-than", "0"], env=_env(sqlite_url))
    assert outcome.exit_code == 2
    assert "--older-than" in outcome.output
