"""The SQLite store's own filesystem turns read-only, or fills up, and comes back.

Real faults: a FUSE passthrough filesystem (tests/support/switchfs.py) that refuses every change
with EROFS, as the kernel does after a read-only remount, and a tmpfs of a few megabytes filled
to the last block. The outbox lives on another filesystem, so every completion the store cannot
take is spooled. What must hold: health sees the failing writes (`/readyz` 503 with the reason,
however well reads go), the connections are renewed, the replayer drains the outbox once writes
succeed again without a restart, and health is ok again after that write.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import NoReturn

import orjson
import pytest
from harness.store import migrate

from marketbrief.config import Settings
from marketbrief.models import ReportType
from tests.support.api_fixtures import Api, running
from tests.support.clock import Clock
from tests.support.faults import nth_completion, opened
from tests.support.switchfs import SwitchableFilesystem, unavailable_reason

PRE = ReportType.PRE_MARKET
RECOVERY_SECONDS = 60.0
TMPFS_BYTES = 4 * 1024 * 1024


def _skip(reason: str) -> NoReturn:
    """Skip with the reason; in CI, which installs what these need (.ci/run), fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def switchable(tmp_path: Path) -> Iterator[SwitchableFilesystem]:
    """A FUSE filesystem the test turns read-only and back (skipped where FUSE is not usable)."""
    reason = unavailable_reason()
    if reason is not None:
        _skip(f"no FUSE here: {reason}")
    with SwitchableFilesystem(tmp_path / "backing", tmp_path / "fuse") as fs:
        yield fs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of TMPFS_BYTES, mounted for this test only (skipped where we may not mount)."""
    if os.geteuid() != 0:
        _skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        _skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def _settings(tmp_path: Path, database: Path) -> Settings:
    url = f"sqlite:///{database}"
    migrate(url)
    return Settings(
        database_url=url,
        outbox_dir=tmp_path / "outbox",  # another filesystem: the spool still takes writes
        write_retry_seconds=0.2,
        outbox_replay_seconds=0.05,
        scheduler_enabled=False,
    )


async def _until(api: Api, what: str, done: Callable[[], Awaitable[bool]]) -> None:
    """Wait (bounded) until `done()` holds, re-checking as the replayer works."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECOVERY_SECONDS
    while not await done():
        if loop.time() > deadline:
            ready = (await api.get("/readyz")).json()
            raise AssertionError(f"{what}: not within {RECOVERY_SECONDS} s; /readyz {ready}")
        await asyncio.sleep(0.05)


async def _not_ready_for_writes(api: Api, *hints: str) -> dict[str, object]:
    response = await api.get("/readyz")
    assert response.status_code == 503, response.text
    store = response.json()["store"]
    assert store["ok"] is False
    assert store["writes"]["ok"] is False
    assert any(hint in store["writes"]["error"].lower() for hint in hints), store
    assert store["writes"]["down_since"] is not None
    status = await api.get("/status")
    assert status.status_code == 503
    assert "writes failing" in status.text
    assert "marketbrief_store_writes_up 0.0" in (await api.get("/metrics")).text
    return dict(store)


async def _recovers(api: Api, spooled: list[str]) -> None:
    """The replayer drains the outbox without a restart, and health is ok again."""
    results = api.services.results

    async def drained() -> bool:
        return results.outbox_depth() == 0

    await _until(api, "the outbox drained", drained)
    for run_id in spooled:
        detail = await results.run(run_id)
        assert detail is not None, run_id
        assert detail.snapshot is not None, run_id

    async def ready() -> bool:
        return (await api.get("/readyz")).status_code == 200

    await _until(api, "/readyz ok again", ready)
    body = (await api.get("/readyz")).json()
    assert body["store"]["writes"]["ok"] is True
    after = nth_completion(9)
    outcome = await results.publish(after)
    assert (outcome.persisted, outcome.outboxed) == (True, False)
    assert (await api.get("/status")).status_code == 200


@pytest.mark.parametrize("connected", ["before", "while read-only"])
async def test_a_read_only_filesystem_fails_health_and_the_store_writes_again_once_it_is_back(
    switchable: SwitchableFilesystem, tmp_path: Path, clock: Clock, connected: str
) -> None:
    # "while read-only": the server connects after the filesystem went read-only. SQLite then
    # opens the file read-only and keeps that connection read-only for its whole life
    # ("attempt to write a readonly database" even once the filesystem is writable again).
    # A bystander keeps the database open meanwhile (another process, a shell): without one,
    # SQLite removes the WAL index on its last close and a read-only filesystem cannot even
    # be read (SQLITE_CANTOPEN), which is a store down, not one that refuses only writes.
    database = switchable.mountpoint / "store.db"
    settings = _settings(tmp_path, database)
    before = nth_completion(0)
    async with opened(settings) as first:
        assert (await first.publish(before)).persisted
    with contextlib.closing(sqlite3.connect(database)) as bystander:
        bystander.execute("SELECT count(*) FROM job_executions").fetchone()
        if connected == "while read-only":
            switchable.read_only()
        async with running(settings, clock) as api:
            results = api.services.results
            if connected == "before":
                assert (await results.publish(nth_completion(3))).persisted
                assert (await api.get("/readyz")).status_code == 200
                switchable.read_only()
            spooled = [nth_completion(1), nth_completion(2)]
            for completion in spooled:
                outcome = await results.publish(completion)
                assert (outcome.persisted, outcome.outboxed) == (False, True)
            # Reads still work on the read-only filesystem, and they do not hide failing writes.
            read = await api.get(f"/api/v1/reports/pre-market?date={before.scheduled_date}")
            assert read.status_code == 200, read.text
            await _not_ready_for_writes(api, "readonly", "read-only", "disk i/o")
            assert results.outbox_depth() == len(spooled)

            switchable.writable()
            await _recovers(api, [c.run_id for c in spooled])


async def test_a_full_disk_fails_health_and_the_store_writes_again_once_space_is_freed(
    small_disk: Path, tmp_path: Path, clock: Clock
) -> None:
    settings = _settings(tmp_path, small_disk / "store.db")
    async with running(settings, clock) as api:
        results = api.services.results
        assert (await results.publish(nth_completion(0))).persisted

        filler = small_disk / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as handle:
            block = b"\0" * 65536
            while True:  # bounded by the tmpfs size: it ends with ENOSPC
                handle.write(block)
                handle.flush()
        assert os.statvfs(small_disk).f_bavail == 0
        spooled = []
        for index in (1, 2):
            completion = dataclasses.replace(
                nth_completion(index),
                content=orjson.dumps({"padding": os.urandom(64 * 1024).hex()}),
            )
            outcome = await results.publish(completion)
            assert (outcome.persisted, outcome.outboxed) == (False, True), outcome
            spooled.append(completion.run_id)
        await _not_ready_for_writes(api, "full")

        filler.unlink()
        await _recovers(api, spooled)
