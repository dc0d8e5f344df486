"""A SQLite history store, seeded in bulk, and kept between runs in a cache directory."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from harness.store import migrate

from benchmarks.seed_history import RUN_COLUMNS, RunRows, SeedInfo, SeedPlan
from benchmarks.seed_snapshots import bump_revisions, snapshot_rows
from marketbrief.store.migrate import head_revision
from marketbrief.store.sql import SQLStore

SEED_VERSION = 1


def _sqlite_columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in connection.execute(f"PRAGMA table_info({table})")]


def seed_sqlite(path: Path, plan: SeedPlan) -> SeedInfo:
    """A migrated SQLite store at `path` holding the plan's runs (replacing any file there).

    The schema always comes from `SQLStore.migrate()`, so a seeded store is exactly what
    marketbrief would have made, only fuller. Run rows go in as plain tuples through
    `executemany` on the raw sqlite3 connection, in one big transaction, with the secondary
    indexes of `job_executions` dropped during the load and rebuilt from their own definitions
    afterwards.
    """
    began = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    migrate(f"sqlite:///{path}")
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'job_executions' AND sql IS NOT NULL"
        ).fetchall()
        connection.execute("BEGIN")
        for name, _sql in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        rows = RunRows(plan)
        insert = (
            f"INSERT INTO job_executions ({', '.join(RUN_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in RUN_COLUMNS)})"
        )
        connection.executemany(insert, rows)
        for _name, sql in indexes:
            connection.execute(sql)
        extras = snapshot_rows(rows.slots)
        for insert, values in extras.inserts("?"):
            connection.executemany(insert, values)
        connection.execute(bump_revisions(_sqlite_columns(connection, "store_revision")))
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return SeedInfo.finished(plan, len(extras.snapshots), began, str(path))


def cached_sqlite(cache_dir: Path, plan: SeedPlan) -> SeedInfo:
    """The plan's SQLite store from `cache_dir`, seeded there first if absent or outdated.

    The file name carries everything the content depends on (runs, dates, seed version and
    migration head); a file is reused only if marketbrief's own `verify` passes on it and it
    holds exactly the planned runs. Seeding goes to a temporary name renamed at the end, so an
    interrupted seeding never leaves a file that looks complete.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = (
        f"history-{plan.runs}r-{plan.days}d-{plan.end.isoformat()}"
        f"-s{SEED_VERSION}-m{head_revision()}.db"
    )
    path = cache_dir / name
    if path.exists():
        began = time.perf_counter()
        counts = _reusable(path)
        if counts is not None and counts[0] == plan.runs:
            return SeedInfo(
                plan.runs, counts[1], time.perf_counter() - began, reused=True, path=str(path)
            )
    partial = cache_dir / f"{name}.partial.db"
    info = seed_sqlite(partial, plan)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    partial.replace(path)
    info.path = str(path)
    # Stores of the same size seeded for an older schema or seed version are of no more use.
    for stale in cache_dir.glob(f"history-{plan.runs}r-*"):
        if not stale.name.startswith(name):
            stale.unlink(missing_ok=True)
    return info


def _reusable(path: Path) -> tuple[int, int] | None:
    """(runs, snapshots) of a seeded file that marketbrief's `verify` accepts, else None."""
    store = SQLStore(f"sqlite:///{path}")
    try:
        if not store.verify().ok:
            return None
    except Exception:  # a damaged file is simply seeded again
        return None
    finally:
        store.close()
    connection = sqlite3.connect(path)
    try:
        runs = connection.execute("SELECT count(*) FROM job_executions").fetchone()[0]
        snapshots = connection.execute("SELECT count(*) FROM scheduled_job_results").fetchone()[0]
    finally:
        connection.close()
    return int(runs), int(snapshots)
