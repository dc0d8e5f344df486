"""A damaged archive is refused with one line and exit 2; the store is left as it was."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from marketbrief.cli.main import main
from marketbrief.models import ReportType, Stage, StageStatus, TriggerSource
from marketbrief.ops.archive import MANIFEST
from marketbrief.ops.backup import take_backup
from marketbrief.store.sql import SQLStore
from tests.support.factories import SESSION, completion_for


def _env(url: str) -> dict[str, str]:
    return {"MARKETBRIEF_DATABASE_URL": url, "MARKETBRIEF_CACHE_URL": "memory://"}


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """A whole, valid tar export of a store with one finished run."""
    store = SQLStore(f"sqlite:///{tmp_path / 'source.db'}")
    store.migrate()
    claim = store.claim_run(ReportType.PRE_MARKET, SESSION, TriggerSource.MANUAL)
    store.record_stage(
        claim.run.run_id, Stage.INIT, StageStatus.SUCCESS, started_at=claim.run.started_at
    )
    store.finish_run(completion_for(claim.run))
    folder = tmp_path / "export"
    take_backup(store, folder, hot_copy=False)
    store.close()
    return folder


def _restore(archive: Path, url: str) -> tuple[int, str]:
    target = SQLStore(url)
    target.migrate()
    target.close()
    result = CliRunner().invoke(main, ["restore", str(archive), "--force"], env=_env(url))
    return result.exit_code, result.output


def _tar(folder: Path, to: Path) -> Path:
    return Path(shutil.make_archive(str(to), "tar", root_dir=folder))


def test_a_truncated_tar_is_refused_as_truncated_or_corrupt(
    exported: Path, tmp_path: Path, sqlite_url: str
) -> None:
    whole = _tar(exported, tmp_path / "whole")
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole.read_bytes()[:3000])
    code, output = _restore(cut, sqlite_url)
    assert code == 2, output
    assert "truncated or corrupt" in output
    assert "Traceback" not in output


def test_a_truncated_tar_gz_is_refused_as_truncated_or_corrupt(
    exported: Path, tmp_path: Path, sqlite_url: str
) -> None:
    whole = _tar(exported, tmp_path / "whole")
    packed = tmp_path / "whole.tar.gz"
    packed.write_bytes(gzip.compress(whole.read_bytes()))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(packed.read_bytes()[: len(packed.read_bytes()) // 2])
    code, output = _restore(cut, sqlite_url)
    assert code == 2, output
    assert "truncated or corrupt" in output
    assert "Aborted" not in output


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("job_executions", "started_at", "10000-01-01T00:00:00.000000Z"),
        ("job_executions", "started_at", "0000-12-31T00:00:00.000000Z"),
        ("job_executions", "symbols_processed", 2**70),
        ("job_executions", "symbols_processed", "many"),
        ("job_executions", "execution_time_ms", 1e300),
        ("job_executions", "trigger_source", "cron"),
        ("job_executions", "errors", 5),
        ("job_stages", "details", "abc"),
        ("scheduled_job_results", "report_content", "{not json"),
        ("symbol_predictions", "headlines", 7),
        ("scheduled_job_results", "version", 2**63 - 1),  # no room left for any later claim
        ("report_latest", "version", -1),
    ],
)
def test_an_archived_value_readers_cannot_read_is_refused_naming_the_table(
    exported: Path, sqlite_url: str, table: str, column: str, value: object
) -> None:
    manifest = orjson.loads((exported / MANIFEST).read_bytes())
    entry = manifest["tables"][table]
    path = exported / entry["file"]
    rows = path.read_bytes().splitlines()
    assert rows, f"the export has no {table} row to damage"
    row = orjson.loads(rows[0])
    row[column] = value
    body = b"".join([json.dumps(row).encode() + b"\n", *(r + b"\n" for r in rows[1:])])
    path.write_bytes(body)
    entry.update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
    (exported / MANIFEST).write_bytes(orjson.dumps(manifest))
    code, output = _restore(exported, sqlite_url)
    assert code == 2, output
    assert table in output
    assert "Traceback" not in output
