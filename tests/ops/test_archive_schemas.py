"""An archive written before a migration still restores; one from a newer schema is refused."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from marketbrief.models import ReportType, TriggerSource, version_of
from marketbrief.ops.archive import MANIFEST, ArchiveError
from marketbrief.ops.backup import take_backup
from marketbrief.ops.restore import restore_archive
from marketbrief.store.migrate import head_revision
from marketbrief.store.sql import SQLStore
from tests.support.factories import SESSION, completion_for

ADDED_IN_0003 = ("lease_until", "swept_at")
ADDED_IN_0004 = ("version",)


def _as_if_written_at(archive: Path, revision: str, dropped: tuple[str, ...]) -> None:
    """Rewrite an export the way an older marketbrief wrote it: without the newer columns."""
    manifest = orjson.loads((archive / MANIFEST).read_bytes())
    entry = manifest["tables"]["job_executions"]
    table = archive / entry["file"]
    lines = []
    for line in table.read_bytes().splitlines():
        row = orjson.loads(line)
        for column in dropped:
            del row[column]
        lines.append(orjson.dumps(row) + b"\n")
    body = b"".join(lines)
    table.write_bytes(body)
    entry.update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
    manifest["schema_revision"] = revision
    (archive / MANIFEST).write_bytes(orjson.dumps(manifest))


def _store_with_one_run(url: str) -> tuple[SQLStore, str]:
    store = SQLStore(url)
    store.migrate()
    claim = store.claim_run(ReportType.PRE_MARKET, SESSION, TriggerSource.MANUAL)
    store.finish_run(completion_for(claim.run))
    return store, claim.run.run_id


def test_an_archive_from_before_the_run_leases_restores_with_the_new_columns_empty(
    database_url: str, tmp_path: Path
) -> None:
    source, run_id = _store_with_one_run(f"sqlite:///{tmp_path / 'source.db'}")
    archive = tmp_path / "archive"
    take_backup(source, archive, hot_copy=False)
    source.close()
    _as_if_written_at(archive, "0002", ADDED_IN_0003 + ADDED_IN_0004)
    target = SQLStore(database_url)
    target.migrate()
    try:
        result = restore_archive(target, archive)
        assert result.rows["job_executions"] == 1
        detail = target.get_run(run_id)
        assert detail is not None
        assert detail.snapshot is not None
    finally:
        target.close()


def test_an_archive_from_before_store_issued_versions_restores_and_later_runs_rank_above_it(
    database_url: str, tmp_path: Path
) -> None:
    """Its runs keep the versions they were published with; the store issues versions above."""
    source = SQLStore(f"sqlite:///{tmp_path / 'source.db'}")
    source.migrate()
    # A report published by a host whose clock was far ahead, as versions were before 0004.
    ahead = datetime.now(UTC) + timedelta(days=400)
    claim = source.claim_run(ReportType.PRE_MARKET, SESSION, TriggerSource.MANUAL, started_at=ahead)
    legacy = dataclasses.replace(claim.run, version=version_of(ahead))
    assert source.finish_run(completion_for(legacy)).published
    archive = tmp_path / "archive"
    take_backup(source, archive, hot_copy=False)
    source.close()
    _as_if_written_at(archive, "0003", ADDED_IN_0004)
    target = SQLStore(database_url)
    target.migrate()
    try:
        restore_archive(target, archive)
        detail = target.get_run(legacy.run_id)
        assert detail is not None
        assert detail.snapshot is not None
        assert detail.run.version == detail.snapshot.version == version_of(ahead)
        assert target.latest_version(ReportType.PRE_MARKET, SESSION) == version_of(ahead)
        rerun = target.claim_run(ReportType.PRE_MARKET, SESSION, TriggerSource.MANUAL)
        assert rerun.run.version > version_of(ahead)
        assert target.finish_run(completion_for(rerun.run)).published
    finally:
        target.close()


def test_an_archive_from_a_newer_schema_is_refused_naming_both_revisions(
    sqlite_url: str, tmp_path: Path
) -> None:
    source, _ = _store_with_one_run(f"sqlite:///{tmp_path / 'source.db'}")
    archive = tmp_path / "archive"
    take_backup(source, archive, hot_copy=False)
    source.close()
    manifest = orjson.loads((archive / MANIFEST).read_bytes())
    manifest["schema_revision"] = "0099"
    (archive / MANIFEST).write_bytes(orjson.dumps(manifest))
    target = SQLStore(sqlite_url)
    target.migrate()
    try:
        with pytest.raises(ArchiveError, match=rf"0099.*{head_revision()}"):
            restore_archive(target, archive)
        assert target.latest_run() is None  # nothing was touched
    finally:
        target.close()
