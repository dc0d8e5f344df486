"""A writer process (tests/support/faults_writer.py) killed with SIGKILL in the middle of 1,000
completions loses no acknowledged completion, on SQLite and on PostgreSQL.

The promises each test keeps are listed in tests/support/faults.py.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from harness.store import migrate

from marketbrief.config import Settings
from marketbrief.models import RunStatus
from marketbrief.results.envelope import ReportState
from marketbrief.results.outbox import Outbox
from marketbrief.store.sql import SQLStore
from tests.support.clock import DAY
from tests.support.faults import opened
from tests.support.faults_writer import plan
from tests.support.paths import ROOT

WRITER_COUNT = 1000
WRITER_TIMEOUT = 60.0


def _run_and_kill_writer(url: str, outbox_dir: Path, log: Path) -> tuple[dict[str, str], int]:
    """Run the writer, SIGKILL it after 300-500 acks; return {run_id: route} and kill point."""
    kill_at = random.randint(300, 500)
    acked: dict[str, str] = {}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.faults_writer",
                "--database-url",
                url,
                "--outbox-dir",
                str(outbox_dir),
                "--count",
                str(WRITER_COUNT),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=ROOT,
            text=True,
        )
        watchdog = threading.Timer(WRITER_TIMEOUT, process.kill)
        watchdog.start()
        try:
            assert process.stdout is not None
            killed = False
            # Lines printed before the kill are acknowledgements too: read until EOF.
            for line in process.stdout:
                if not line.endswith("\n"):
                    break
                word, run_id, route = line.split()
                assert word == "ack"
                acked[run_id] = route
                if not killed and len(acked) >= kill_at:
                    os.kill(process.pid, signal.SIGKILL)
                    killed = True
            returncode = process.wait(timeout=WRITER_TIMEOUT)
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
    assert returncode == -signal.SIGKILL, (returncode, log.read_text()[-2000:])
    assert kill_at <= len(acked) < WRITER_COUNT, "the writer was not killed mid-stream"
    return acked, kill_at


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_writer_killed_with_sigkill_loses_no_acknowledged_completion(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url: str = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    migrate(url)
    outbox_dir = tmp_path / "outbox"
    acked, kill_at = await asyncio.to_thread(
        _run_and_kill_writer, url, outbox_dir, tmp_path / "writer.log"
    )
    routes = Counter(acked.values())
    assert routes["persisted"] >= 1
    assert routes["outboxed"] >= 1

    oldest = DAY - timedelta(days=40)
    store = SQLStore(url)
    try:
        in_store = {run.run_id for run in store.runs_between(oldest, DAY)}
    finally:
        store.close()
    outbox = Outbox(outbox_dir)
    spooled = {path.stem for path in outbox.pending()}
    leftovers = sorted(p.name for p in outbox_dir.iterdir() if p.name.startswith(".tmp-"))
    for run_id, route in acked.items():
        # Acknowledged means durable: a committed run is in the store, a spooled one on disk.
        where = in_store if route == "persisted" else spooled
        assert run_id in where, (run_id, route)

    settings = Settings(database_url=url, outbox_dir=outbox_dir, write_retry_seconds=0.3)
    async with opened(settings, cache_enabled=False) as results:
        report = await results.replay_outbox()
        assert report.rejected == {}
        assert report.remaining == 0
        assert results.deps.outbox.depth() == 0
        stored = {run.run_id: run for run in results.deps.store.backend.runs_between(oldest, DAY)}
        missing = sorted(set(acked) - set(stored))
        assert missing == []
        assert all(stored[run_id].status is RunStatus.SUCCESS for run_id in acked)
        # Nothing beyond what the writer started: at most the one in flight at the kill.
        assert len(set(stored) - set(acked)) <= 1
        # The newest acknowledged run is what readers get for its (type, date).
        newest, report_type, day = plan(max(int(run_id[1:5]) for run_id in acked))
        response = await results.get_report(report_type, day)
        assert response.state is ReportState.FRESH
        assert response.run_id == newest

    if backend == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as check:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        check.close()
    print(
        f"\n{backend} writer: SIGKILL at ack {kill_at}, {len(acked)} acknowledged "
        f"({dict(routes)}), {len(spooled)} in the outbox, {len(report.stored)} replayed, "
        f"{len(leftovers)} .tmp leftovers, {len(stored) - len(acked)} unacknowledged in store"
    )
