"""The resilience suite's quick variant, run by pytest; and the bug it found, pinned down.

`python -m resilience --quick` starts real `marketbrief serve` processes and breaks what they
depend on (see resilience/ and docs/resilience.md). Here it runs as a subprocess (its servers,
its own redis-server and its own PostgreSQL database are all started and removed by it), and
every scenario's every check must hold.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from resilience import SCENARIOS

from marketbrief.config import Settings
from marketbrief.models import ReportType
from marketbrief.results import Results
from marketbrief.results.envelope import ReportState
from marketbrief.store.sql import SQLStore
from tests.support.backends import PG_HOST, PG_PORT, require_server
from tests.support.factories import standalone_completion
from tests.support.paths import ROOT

DAY = date(2026, 11, 24)  # a Tuesday session
LATE = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # every slot of DAY has passed


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_quick_resilience_suite_holds_against_real_processes(tmp_path: Path) -> None:
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed, and CI requires it", pytrace=False)
        pytest.skip("redis-server is not installed")
    out, results = tmp_path / "resilience.md", tmp_path / "resilience.json"
    # pip-audit needs the package index's vulnerability data (the network): not in CI's test.
    command = [sys.executable, "-m", "resilience", "--quick", "--no-pip-audit"]
    done = subprocess.run(
        [*command, "--out", str(out), "--json", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert results.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(results.read_text())
    failed = {
        r["key"]: r["error"] or [c for c in r["checks"] if not c["ok"]]
        for r in report["results"]
        if not r["ok"]
    }
    assert not failed, json.dumps(failed, indent=2)[-6000:]
    assert [r["key"] for r in report["results"]] == list(SCENARIOS)  # each ran, in order
    assert done.returncode == 0, done.stderr[-3000:]
    assert "scenarios held" in done.stdout


async def test_an_entry_cached_as_not_persisted_is_reloaded_once_another_process_stores_it(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Found by the outage scenario: a server went on warning `not_persisted` (and serving no
    snapshot_id) for reports that another process (`marketbrief run` exiting, or `marketbrief
    outbox replay`) had already replayed from the outbox into the store."""
    store = SQLStore(sqlite_url)
    store.migrate()
    store.close()
    settings = Settings(
        database_url=sqlite_url, outbox_dir=tmp_path / "outbox", revision_check_seconds=0.0
    )
    # This process cannot write to the store: its completion goes to the outbox, and its
    # in-process cache holds the report marked not yet persisted.
    server = Results.open(dataclasses.replace(settings, store_writes=False), clock=lambda: LATE)
    other = Results.open(settings, clock=lambda: LATE)
    try:
        completion = standalone_completion(ReportType.PRE_MARKET, DAY)
        outcome = await server.publish(completion)
        assert outcome.outboxed
        assert not outcome.persisted
        before = await server.get_report(ReportType.PRE_MARKET, DAY)
        assert before.state is ReportState.FRESH
        assert "not_persisted" in before.warnings
        assert before.snapshot_id is None

        replayed = await other.replay_outbox()
        assert len(replayed.stored) == 1
        stored_id = replayed.stored[0][1].snapshot_id

        after = await server.get_report(ReportType.PRE_MARKET, DAY)
        assert after.state is ReportState.FRESH
        assert after.data == completion.content
        assert "not_persisted" not in after.warnings
        assert after.snapshot_id == stored_id
    finally:
        await server.close()
        await other.close()
