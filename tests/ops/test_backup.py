"""Backup, export, restore and import of the portable archive, across SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from marketbrief.cache import from_url
from marketbrief.cli.main import main
from marketbrief.models import (
    Completion,
    DailyAnalysis,
    Direction,
    Prediction,
    PredictionStatus,
    ReportType,
    RunStatus,
    Stage,
    StageStatus,
    TriggerSource,
)
from marketbrief.ops.archive import HOT_COPY, MANIFEST, TABLES
from marketbrief.ops.backup import take_backup
from marketbrief.store.schema import scheduled_job_results
from marketbrief.store.sql import SQLStore
from tests.support.factories import standalone_completion

Rows = dict[str, list[dict[str, Any]]]
START = datetime(2026, 11, 24, 13, 30, 0, 123456, tzinfo=UTC)
# Not canonical JSON on purpose: spacing, key order, escapes and UTF-8 must survive as bytes.
ODD_CONTENT = '{"b": 1.10,  "a":"\\u00e9 é 📈",\n "z": [null, 0.30000000000000004]}\n'.encode()


def _env(url: str, **more: str) -> dict[str, str]:
    return {"MARKETBRIEF_DATABASE_URL": url, "MARKETBRIEF_CACHE_URL": "memory://", **more}


def _migrated(url: str) -> SQLStore:
    store = SQLStore(url)
    store.migrate()
    return store


def _url(request: pytest.FixtureRequest, engine: str) -> str:
    url: str = request.getfixturevalue("sqlite_url" if engine == "sqlite" else "pg_url")
    return url


def seed(store: SQLStore) -> None:
    """Every table, with the values that are easy to get wrong: None floats, odd text, stages."""
    claim = store.claim_run(
        ReportType.PRE_MARKET, date(2026, 11, 24), TriggerSource.SCHEDULE, started_at=START
    )
    run = claim.run
    store.record_stage(
        run.run_id,
        Stage.INIT,
        StageStatus.SUCCESS,
        started_at=START,
        ended_at=START + timedelta(microseconds=7),
        details={"é": [1.5, None]},
    )
    predictions = (
        Prediction(
            "AAPL",
            Direction.UP,
            0.30000000000000004,
            -0.125,
            3,
            "vader",
            PredictionStatus.SUCCESS,
            headlines=["Apple «up»", {"t": "x"}],
        ),
        Prediction(
            "MSFT",
            Direction.NEUTRAL,
            None,
            None,
            0,
            "vader",
            PredictionStatus.FAILED,
            error="model said no",
        ),
    )
    store.finish_run(
        Completion(
            run_id=run.run_id,
            report_type=run.report_type,
            scheduled_date=run.scheduled_date,
            trigger_source=run.trigger_source,
            started_at=run.started_at,
            executed_at=START + timedelta(seconds=2, microseconds=1),
            status=RunStatus.PARTIAL,
            content=ODD_CONTENT,
            version=run.version,
            metadata={"nested": {"list": [1, 2.5, "ü"]}, "none": None},
            predictions=predictions,
            symbols_processed=2,
            symbols_successful=1,
            symbols_failed=1,
            daily_analysis=DailyAnalysis({"analysed": 2}, {"s": 1.0}),
        )
    )
    failed = standalone_completion(ReportType.INTRADAY, date(2026, 11, 24), started_at=START)
    store.finish_run(
        dataclasses.replace(
            failed,
            status=RunStatus.FAILED,
            content=None,
            predictions=(),
            symbols_processed=0,
            symbols_successful=0,
            errors=({"stage": "analysis", "error": "no news"},),
        )
    )
    store.save_closes(
        [
            {
                "symbol": "AAPL",
                "close_date": date(2026, 11, 24),
                "close": 231.07,
                "previous_close": None,
                "change_pct": None,
                "source": "dir",
            }
        ]
    )
    with store.write_transaction() as connection:  # a legacy snapshot: no run
        connection.execute(
            sa.insert(scheduled_job_results).values(
                run_id=None,
                scheduled_date=date(2026, 11, 20),
                report_type="weekly",
                report_content='{"legacy": true}',
                metadata={},
                trigger_source="import",
                content_sha256="0" * 64,
                version=1,
                created_at=START - timedelta(days=4),
            )
        )


def table_rows(url: str) -> Rows:
    """Every row of every archived table as plain Python values, sorted by primary key."""
    store = SQLStore(url)
    try:
        with store.snapshot_read() as connection:
            found: Rows = {}
            for table in TABLES:
                key = [c.name for c in table.primary_key.columns]
                rows = [dict(r._mapping) for r in connection.execute(sa.select(table))]
                found[str(table.name)] = sorted(rows, key=lambda r: [str(r[k]) for k in key])
            return found
    finally:
        store.close()


def _writer(url: str, stop: threading.Event, written: list[str]) -> None:
    """Publish completions until told to stop: each its own (type, date), so rows never change."""
    store = SQLStore(url)
    try:
        i = 0
        while not stop.is_set():
            day = date(2020, 1, 1) + timedelta(days=i)
            completion = standalone_completion(
                ReportType.PRE_MARKET,
                day,
                started_at=START + timedelta(seconds=i),
                run_id=f"{day}_pre-market_writer-{i}",
            )
            store.finish_run(completion)
            written.append(completion.run_id)
            i += 1
    finally:
        store.close()


def _progress_waiting_for(written: list[str], more: int) -> Callable[..., Any]:
    """A progress bar whose first tick waits (inside the snapshot) until `more` runs commit."""

    @contextmanager
    def progress(_total: int, _label: str) -> Iterator[Callable[[], None]]:
        waited = False

        def advance() -> None:
            nonlocal waited
            if waited:
                return
            waited, target = True, len(written) + more
            deadline = time.monotonic() + 20
            while len(written) < target:
                assert time.monotonic() < deadline, "the writer made no progress"
                time.sleep(0.005)

        yield advance

    return progress


@pytest.mark.parametrize(("source", "target"), [("sqlite", "postgresql"), ("postgresql", "sqlite")])
def test_a_backup_taken_while_runs_are_written_restores_identically_into_the_other_engine(
    source: str, target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source_url, target_url = _url(request, source), _url(request, target)
    store = _migrated(source_url)
    seed(store)
    stop, written = threading.Event(), []
    writer = threading.Thread(target=_writer, args=(source_url, stop, written))
    writer.start()
    try:
        while len(written) < 3:
            time.sleep(0.005)
        archive = tmp_path / "archive"
        result = take_backup(store, archive, progress=_progress_waiting_for(written, 3))
    finally:
        stop.set()
        writer.join()
    store.close()

    archived_runs = result.manifest.tables["job_executions"].rows
    after = table_rows(source_url)
    assert archived_runs is not None
    assert archived_runs < len(after["job_executions"])
    _migrated(target_url).close()
    restored = CliRunner().invoke(main, ["restore", str(archive)], env=_env(target_url))
    assert restored.exit_code == 0, restored.output
    assert "checksums match" in restored.output

    # The archive is one snapshot: exactly the source's rows as they were at one instant.
    copied = table_rows(target_url)
    for table in TABLES:
        name = str(table.name)
        key = [c.name for c in table.primary_key.columns]
        keys = {tuple(r[k] for k in key) for r in copied[name]}
        assert copied[name] == [r for r in after[name] if tuple(r[k] for k in key) in keys], name
        assert len(copied[name]) == result.manifest.tables[name].rows
    runs = {r["run_id"] for r in copied["job_executions"]}
    assert {r["run_id"] for r in copied["symbol_predictions"]} <= runs
    assert all(r["run_id"] in runs for r in copied["report_latest"] if r["run_id"])
    assert (
        sum(r["report_content"].encode() == ODD_CONTENT for r in copied["scheduled_job_results"])
        == 1
    )

    if source == "sqlite":  # the hot copy is the same snapshot
        assert result.hot_copy is not None
        assert table_rows(f"sqlite:///{archive / HOT_COPY}") == copied

    # New rows after a restore never collide with restored ids (PostgreSQL sequences moved).
    target_store = SQLStore(target_url)
    claim = target_store.claim_run(ReportType.WEEKLY, date(2026, 11, 22), TriggerSource.MANUAL)
    assert claim.run.id > max(r["id"] for r in copied["job_executions"])
    assert target_store.revision() > result.manifest.store_revision
    target_store.close()


def _backup(url: str, path: Path, *args: str) -> None:
    outcome = CliRunner().invoke(main, ["backup", "--output", str(path), *args], env=_env(url))
    assert outcome.exit_code == 0, outcome.output


@pytest.fixture
def archive_and_target(sqlite_url: str, tmp_path: Path) -> tuple[Path, str]:
    """An archive of a seeded store, and a second store holding other rows."""
    store = _migrated(sqlite_url)
    seed(store)
    store.close()
    path = tmp_path / "archive"
    _backup(sqlite_url, path)
    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    other = _migrated(target_url)
    other.finish_run(standalone_completion(ReportType.WEEKLY, date(2026, 11, 22), started_at=START))
    other.close()
    return path, target_url


def test_a_flipped_byte_is_refused_and_nothing_changes(
    archive_and_target: tuple[Path, str],
) -> None:
    path, target_url = archive_and_target
    victim = path / "scheduled_job_results.jsonl"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    before = table_rows(target_url)
    outcome = CliRunner().invoke(main, ["restore", str(path), "--force"], env=_env(target_url))
    assert outcome.exit_code == 2
    assert "corrupt" in outcome.output
    assert "scheduled_job_results.jsonl" in outcome.output
    assert "SHA-256" in outcome.output
    assert table_rows(target_url) == before


def test_a_truncated_file_is_refused_and_nothing_changes(
    archive_and_target: tuple[Path, str],
) -> None:
    path, target_url = archive_and_target
    victim = path / "symbol_predictions.jsonl"
    victim.write_bytes(victim.read_bytes()[:-40])
    before = table_rows(target_url)
    outcome = CliRunner().invoke(main, ["import", str(path), "--force"], env=_env(target_url))
    assert outcome.exit_code == 2
    assert "symbol_predictions.jsonl has 1 rows, the manifest says 2" in outcome.output
    assert table_rows(target_url) == before


def test_restore_into_a_non_empty_database_needs_force(
    archive_and_target: tuple[Path, str], sqlite_url: str
) -> None:
    path, target_url = archive_and_target
    before = table_rows(target_url)
    refused = CliRunner().invoke(main, ["restore", str(path)], env=_env(target_url))
    assert refused.exit_code == 2
    assert "not empty" in refused.output
    assert "--force" in refused.output
    assert table_rows(target_url) == before

    forced = CliRunner().invoke(main, ["restore", str(path), "--force"], env=_env(target_url))
    assert forced.exit_code == 0, forced.output
    assert "(replaced 1)" in forced.output
    assert "in-process caches notice" in forced.output
    assert table_rows(target_url) == table_rows(sqlite_url)


def test_the_hot_copy_is_a_whole_checked_sqlite_file(archive_and_target: tuple[Path, str]) -> None:
    path, _ = archive_and_target
    with closing(sqlite3.connect(path / HOT_COPY)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not (path / f"{HOT_COPY}-wal").exists()
    manifest = orjson.loads((path / MANIFEST).read_bytes())
    assert manifest["files"][HOT_COPY]["bytes"] == (path / HOT_COPY).stat().st_size
    assert manifest["tables"]["job_executions"]["rows"] == 2


def test_export_to_a_tar_imports_on_a_fresh_store_and_backup_names_itself(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _migrated(sqlite_url)
    seed(store)
    store.close()
    runner = CliRunner()
    tar = tmp_path / "moving.tar"
    exported = runner.invoke(main, ["export", str(tar), "--json"], env=_env(sqlite_url))
    assert exported.exit_code == 0, exported.output
    assert HOT_COPY not in orjson.loads(exported.output)["manifest"]["files"]
    with tarfile.open(tar) as bundle:
        assert f"moving/{MANIFEST}" in bundle.getnames()
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    _migrated(fresh).close()
    imported = runner.invoke(main, ["import", str(tar), "--json"], env=_env(fresh))
    assert imported.exit_code == 0, imported.output
    assert orjson.loads(imported.output)["rows"]["job_executions"] == 2
    assert table_rows(fresh) == table_rows(sqlite_url)

    monkeypatch.chdir(tmp_path)
    named = runner.invoke(main, ["backup"], env=_env(sqlite_url))
    assert named.exit_code == 0, named.output
    [made] = list(tmp_path.glob("marketbrief-backup-*"))
    assert (made / MANIFEST).exists()
    assert (made / HOT_COPY).exists()
    assert not list(tmp_path.glob(".*partial*"))


def test_restore_into_an_unmigrated_database_says_to_migrate(
    archive_and_target: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = archive_and_target
    outcome = CliRunner().invoke(
        main, ["restore", str(path)], env=_env(f"sqlite:///{tmp_path / 'empty.db'}")
    )
    assert outcome.exit_code == 5
    assert "marketbrief migrate" in outcome.output


def test_restore_with_redis_purges_and_rehydrates_the_shared_cache(
    pg_url: str, redis_url: str, redis_prefix: str, sqlite_url: str, tmp_path: Path
) -> None:
    store = _migrated(sqlite_url)
    recent = datetime.now(UTC) - timedelta(days=1)
    store.finish_run(standalone_completion(ReportType.PRE_MARKET, recent.date(), started_at=recent))
    store.close()
    path = tmp_path / "archive"
    _backup(sqlite_url, path)
    _migrated(pg_url).close()

    async def poison_then_read(poison: bool) -> list[str]:
        cache = from_url(redis_url, prefix=redis_prefix)
        try:
            if poison:
                await cache.set("poisoned", b"x", version=2**62, ttl=600)
                return []
            found = await cache.get("poisoned")
            await cache.clear()
            return ["poisoned"] if found else []
        finally:
            await cache.close()

    asyncio.run(poison_then_read(True))
    env = _env(pg_url, MARKETBRIEF_CACHE_URL=redis_url, MARKETBRIEF_CACHE_PREFIX=redis_prefix)
    outcome = CliRunner().invoke(main, ["restore", str(path)], env=env)
    assert outcome.exit_code == 0, outcome.output
    assert "Redis purged and 1 recent report(s) rehydrated" in outcome.output
    assert asyncio.run(poison_then_read(False)) == []
