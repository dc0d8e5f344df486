"""Store contract tests: the same cases on SQLite, PostgreSQL and a local D1."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from marketbrief.errors import InvalidInput, SchemaError, StoreConflict
from marketbrief.models import ReportType, RunStatus, TriggerSource
from marketbrief.store.base import HistoryQuery, encode_cursor
from marketbrief.store.history import history_select
from marketbrief.store.schema import job_executions, market_closes
from marketbrief.store.sql import SQLStore
from tests.support.factories import SESSION, completion_for, predictions, standalone_completion

PRE = ReportType.PRE_MARKET


@pytest.fixture
def store(store_url: str) -> Iterator[SQLStore]:
    store = SQLStore(store_url)
    store.migrate()
    yield store
    store.close()


def test_timestamps_come_back_as_aware_utc_instants(store: SQLStore) -> None:
    started = datetime(2026, 11, 24, 8, 30, 0, 123456, tzinfo=UTC)
    claim = store.claim_run(PRE, SESSION, TriggerSource.MANUAL, started_at=started)
    assert claim.run.started_at == started
    assert claim.run.started_at.utcoffset() == timedelta(0)
    assert claim.run.scheduled_date == SESSION


def test_a_scheduled_slot_is_claimed_once_and_the_loser_is_told_who_holds_it(
    store: SQLStore,
) -> None:
    first = store.claim_run(PRE, SESSION, TriggerSource.SCHEDULE)
    second = store.claim_run(PRE, SESSION, TriggerSource.CATCH_UP)
    assert first.claimed
    assert not second.claimed
    assert second.run.run_id == first.run.run_id


def test_manual_runs_do_not_take_the_scheduled_slot(store: SQLStore) -> None:
    assert store.claim_run(PRE, SESSION, TriggerSource.MANUAL).claimed
    assert store.claim_run(PRE, SESSION, TriggerSource.MANUAL).claimed
    assert store.claim_run(PRE, SESSION, TriggerSource.SCHEDULE).claimed


def test_eight_processes_claiming_one_slot_make_exactly_one_run(
    store: SQLStore, store_url: str
) -> None:
    script = textwrap.dedent(
        """
        import sys, datetime
        from marketbrief.store.sql import SQLStore
        from marketbrief.models import ReportType, TriggerSource
        store = SQLStore(sys.argv[1])
        claim = store.claim_run(ReportType.INTRADAY, datetime.date(2026, 11, 24),
                                TriggerSource.SCHEDULE)
        print("claimed" if claim.claimed else "lost", claim.run.run_id)
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, store_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    verdicts = [out.split() for out, _ in outputs]
    assert sorted(v[0] for v in verdicts) == ["claimed"] + ["lost"] * 7
    assert len({v[1] for v in verdicts}) == 1
    page = store.history(HistoryQuery(report_type=ReportType.INTRADAY))
    assert len(page.runs) == 1


def test_finishing_a_run_writes_snapshot_predictions_run_and_latest_together(
    store: SQLStore,
) -> None:
    run = store.claim_run(PRE, SESSION, TriggerSource.SCHEDULE).run
    result = store.finish_run(completion_for(run))
    assert result.published
    detail = store.get_run(run.run_id)
    assert detail is not None
    assert detail.run.status is RunStatus.SUCCESS
    assert detail.run.symbols_processed == 6
    assert detail.run.execution_time_ms == 3000
    assert len(detail.predictions) == 6
    assert detail.snapshot is not None
    latest = store.latest_snapshot(PRE, SESSION)
    assert latest is not None
    assert latest.id == result.snapshot_id == detail.snapshot.id
    assert latest.content == completion_for(run).content
    assert store.get_run(run.id) == detail


def test_a_late_older_run_never_replaces_a_newer_report(store: SQLStore) -> None:
    t0 = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)
    older = store.claim_run(PRE, SESSION, TriggerSource.MANUAL, started_at=t0).run
    newer = store.claim_run(
        PRE, SESSION, TriggerSource.MANUAL, started_at=t0 + timedelta(minutes=1)
    ).run
    assert store.finish_run(completion_for(newer, marker="newer")).published
    revision = store.revision()
    late = store.finish_run(completion_for(older, marker="older"))
    assert not late.published
    assert store.revision() == revision  # the pointer did not move, so readers have nothing new
    latest = store.latest_snapshot(PRE, SESSION)
    assert latest is not None
    assert latest.run_id == newer.run_id
    # The older run's snapshot is still kept: snapshots are append-only.
    detail = store.get_run(older.run_id)
    assert detail is not None
    assert detail.snapshot is not None


def test_a_failed_or_empty_run_never_becomes_the_latest_report(store: SQLStore) -> None:
    good = store.claim_run(PRE, SESSION, TriggerSource.MANUAL).run
    store.finish_run(completion_for(good))
    bad = store.claim_run(PRE, SESSION, TriggerSource.MANUAL).run
    result = store.finish_run(completion_for(bad, status=RunStatus.FAILED, content=None))
    assert not result.published
    assert result.snapshot_id is None
    latest = store.latest_snapshot(PRE, SESSION)
    assert latest is not None
    assert latest.run_id == good.run_id


def test_a_failed_write_leaves_no_half_finished_run(store: SQLStore) -> None:
    run = store.claim_run(PRE, SESSION, TriggerSource.MANUAL).run
    revision = store.revision()
    duplicate_symbols = predictions(2) + predictions(1)
    with pytest.raises(StoreConflict):
        store.finish_run(completion_for(run, preds=duplicate_symbols))
    detail = store.get_run(run.run_id)
    assert detail is not None
    assert detail.run.status is RunStatus.RUNNING
    assert detail.snapshot is None
    assert detail.predictions == []
    assert store.latest_snapshot(PRE, SESSION) is None
    assert store.revision() == revision


def test_finishing_twice_is_idempotent(store: SQLStore) -> None:
    completion = standalone_completion()
    first = store.finish_run(completion)
    second = store.finish_run(completion)
    assert first.published
    assert second.already_finished
    assert second.published
    assert second.snapshot_id == first.snapshot_id
    detail = store.get_run(completion.run_id)
    assert detail is not None
    assert len(detail.predictions) == 6


def test_revision_grows_only_when_a_latest_pointer_moves(store: SQLStore) -> None:
    before = store.revision()
    store.finish_run(standalone_completion())
    assert store.revision() == before + 1
    run = store.claim_run(PRE, SESSION, TriggerSource.MANUAL).run
    store.finish_run(completion_for(run, status=RunStatus.FAILED, content=None))
    assert store.revision() == before + 1


def test_stale_reads_find_the_newest_earlier_report(store: SQLStore) -> None:
    for day in (date(2026, 11, 20), date(2026, 11, 23)):
        store.finish_run(standalone_completion(day=day))
    found = store.snapshot_before(PRE, date(2026, 11, 25))
    assert found is not None
    assert found.scheduled_date == date(2026, 11, 23)
    assert store.snapshot_before(PRE, date(2026, 11, 20)) is None
    assert store.latest_keys(PRE) == [(PRE, date(2026, 11, 23)), (PRE, date(2026, 11, 20))]


def test_predictions_for_a_day_come_from_its_newest_run_with_predictions(store: SQLStore) -> None:
    store.finish_run(standalone_completion())
    found = store.predictions_for(SESSION, (PRE,))
    assert found is not None
    run, preds = found
    assert run.report_type is PRE
    assert [p.symbol for p in preds] == sorted(p.symbol for p in predictions())
    assert store.predictions_for(date(2026, 11, 23), (PRE,)) is None


def test_history_pages_cover_every_run_once_newest_first(store: SQLStore) -> None:
    for i in range(7):
        store.claim_run(PRE, SESSION - timedelta(days=i), TriggerSource.MANUAL)
    seen: list[int] = []
    cursor = None
    while True:
        page = store.history(HistoryQuery(limit=3, cursor=cursor))
        seen.extend(r.id for r in page.runs)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 7
    window = store.history(
        HistoryQuery(date_from=SESSION - timedelta(days=2), date_to=SESSION, limit=50)
    )
    assert len(window.runs) == 3


@pytest.mark.parametrize(
    "bad",
    [
        {"limit": 0},
        {"limit": 501},
        {"cursor": "not-a-cursor"},
        {"cursor": "cjp4"},
        {"date_from": date(2026, 2, 1), "date_to": date(2026, 1, 1)},
    ],
)
def test_bad_history_queries_are_refused_with_a_clear_error(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        HistoryQuery(**bad)  # type: ignore[arg-type]


def test_a_close_keeps_its_provider_name_however_long_the_path(store: SQLStore) -> None:
    # A `dir:` price provider is named by its path; on PostgreSQL a varchar(64) refused it and
    # the end-of-day run failed saving its closes.
    source = "dir:/srv/" + "marketbrief-price-files/" * 12 + "closes"
    close = {
        "symbol": "AAPL",
        "close_date": date(2026, 11, 24),
        "close": 231.07,
        "previous_close": 229.5,
        "change_pct": 0.68,
        "source": source,
    }
    assert store.save_closes([close]) == 1
    with store._engines.read() as connection:
        kept = connection.execute(sa.select(market_closes.c.source)).scalar_one()
    assert kept == source


def test_the_sweeper_fails_runs_stuck_in_running(store: SQLStore) -> None:
    now = datetime.now(UTC)
    stuck = store.claim_run(
        PRE, SESSION, TriggerSource.MANUAL, started_at=now - timedelta(hours=2)
    ).run
    fresh = store.claim_run(PRE, SESSION, TriggerSource.MANUAL, started_at=now).run
    assert store.fail_stuck_runs(now - timedelta(minutes=30), now) == [stuck.run_id]
    stuck_detail = store.get_run(stuck.run_id)
    fresh_detail = store.get_run(fresh.run_id)
    assert stuck_detail is not None
    assert fresh_detail is not None
    assert stuck_detail.run.status is RunStatus.FAILED
    assert "sweeper" in stuck_detail.run.errors[0]["error"]
    assert fresh_detail.run.status is RunStatus.RUNNING


def test_an_unmigrated_store_raises_schema_error_not_a_driver_error(store_url: str) -> None:
    store = SQLStore(store_url)
    try:
        with pytest.raises(SchemaError):
            store.latest_snapshot(PRE, SESSION)
    finally:
        store.close()


def _plan(store: SQLStore, query: sa.Select[tuple[object, ...]]) -> str:
    engine = store._engines.reader  # the plan of the exact SQL the store runs
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + str(compiled)).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_history_on_100_000_runs_uses_an_index(store: SQLStore) -> None:
    now = datetime.now(UTC)
    types = list(ReportType)
    rows = [
        {
            "run_id": f"bulk_{i}",
            "job_type": types[i % 4].value,
            "scheduled_date": date(2020, 1, 1) + timedelta(days=i // 40),
            "status": "success" if i % 7 else "failed",
            "trigger_source": "manual",
            "started_at": now,
            "errors": [],
            "warnings": [],
            "created_at": now,
        }
        for i in range(100_000)
    ]
    with store._engines.write() as connection:
        connection.execute(sa.insert(job_executions), rows)
        if store.dialect == "postgresql":
            connection.exec_driver_sql("ANALYZE job_executions")
    # The plans of the exact SQL history() runs for each filter.
    queries = {
        "type": history_select(HistoryQuery(report_type=ReportType.WEEKLY)),
        "status": history_select(HistoryQuery(status=RunStatus.FAILED)),
        "dates": history_select(HistoryQuery(date_from=date(2024, 1, 1), date_to=date(2024, 2, 1))),
        "cursor": history_select(HistoryQuery(cursor=encode_cursor(now, 50_000))),
    }
    for name, query in queries.items():
        plan = _plan(store, query)
        # An index, or SQLite's rowid (INTEGER PRIMARY KEY) for the keyset cursor.
        assert "index" in plan.lower() or "primary key" in plan.lower(), f"{name}: {plan}"
        assert "Seq Scan" not in plan, f"{name}: {plan}"
        assert "SCAN job_executions\n" not in plan + "\n", f"{name}: {plan}"
    page = store.history(HistoryQuery(report_type=ReportType.WEEKLY, limit=50))
    assert len(page.runs) == 50
    assert page.next_cursor is not None


def test_a_read_only_sqlite_file_refuses_writes_as_unavailable(tmp_path: object) -> None:
    from pathlib import Path

    from marketbrief.errors import StoreUnavailable

    folder = Path(str(tmp_path))
    url = f"sqlite:///{folder / 'ro.db'}"
    store = SQLStore(url)
    store.migrate()
    store.close()
    if os.geteuid() == 0:
        # root ignores file modes; open the file read-only through SQLite's URI instead.
        url = f"sqlite:///file:{folder / 'ro.db'}?mode=ro&uri=true"
    else:
        (folder / "ro.db").chmod(0o444)
    readonly = SQLStore(url)
    try:
        with pytest.raises(StoreUnavailable):
            readonly.finish_run(standalone_completion())
    finally:
        readonly.close()


def test_a_completions_closing_stages_land_with_its_result(store: SQLStore) -> None:
    from marketbrief.models import Stage, StageRecord, StageStatus

    run = store.claim_run(PRE, SESSION, TriggerSource.MANUAL).run
    now = datetime.now(UTC)
    store.record_stage(run.run_id, Stage.STORAGE, StageStatus.RUNNING, started_at=now)
    closing = (
        StageRecord(run.run_id, Stage.STORAGE, StageStatus.SUCCESS, now, now),
        StageRecord(run.run_id, Stage.FINALIZE, StageStatus.SUCCESS, now, now, {"status": "ok"}),
    )
    completion = dataclasses.replace(completion_for(run), stages=closing)
    store.finish_run(completion)
    detail = store.get_run(run.run_id)
    assert detail is not None
    assert [(s.stage, s.status) for s in detail.stages] == [
        (Stage.STORAGE, StageStatus.SUCCESS),
        (Stage.FINALIZE, StageStatus.SUCCESS),
    ]
