"""The raw limit of a run completion on SQLite: `finish_run`'s own statements, plain sqlite3.

One real `SQLStore.finish_run` is recorded at the driver (every statement and parameter
SQLAlchemy hands to sqlite3, from BEGIN IMMEDIATE to the counters' bump), then replayed back to
back with the plain `sqlite3` module on a connection with the store's pragmas (WAL,
synchronous=FULL, the busy timeout, foreign keys): the same rows and bytes (the run row, the
20 KB snapshot, six predictions, the latest pointer's compare-and-set, the revision bump), one
commit each, with only the run id, the version and the snapshot id made new for every replay.
What is left is SQLite and the disk, so `finish_run`'s completions/s over this is the share of
the limit that marketbrief and SQLAlchemy leave.

Run it as its own pinned process, like the store's loop:
`taskset -c 0 python -m benchmarks.completions_raw PATH --seconds 3`; it prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.child import run_pinned
from benchmarks.completions import CompletionsResult
from benchmarks.load import percentile
from benchmarks.payloads import REPORT_DAY, completion, report_payload
from marketbrief.store.engine import BUSY_TIMEOUT_MS
from marketbrief.store.sql import SQLStore

# What stands in a recorded parameter's place in each replay.
RUN_ID, VERSION, SNAPSHOT_ID = "run_id", "version", "snapshot_id"


@dataclass(frozen=True, slots=True)
class Statement:
    """One recorded driver call: the SQL, its parameter rows, and which values a replay renews."""

    sql: str
    rows: list[tuple[Any, ...]]
    many: bool
    renewed: list[list[str | None]]
    returns_snapshot_id: bool


def _renewed(
    row: tuple[Any, ...], run_id: str, version: int, snapshot: int | None
) -> list[str | None]:
    marks: list[str | None] = []
    for value in row:
        if value == run_id:
            marks.append(RUN_ID)
        elif isinstance(value, int) and not isinstance(value, bool) and value == version:
            marks.append(VERSION)
        elif snapshot is not None and isinstance(value, int) and value == snapshot:
            marks.append(SNAPSHOT_ID)
        else:
            marks.append(None)
    return marks


def record(url: str, *, warmup: int = 20) -> tuple[list[Statement], int, str]:
    """Migrate the store at `url`, finish `warmup` runs, and record the driver calls of one more.

    Returns the statements, the recorded run's version (every replay's is above it) and its
    run id without the uuid (every replay's starts so, as long as the original).
    """
    payload = report_payload("pre-market", REPORT_DAY)
    store = SQLStore(url)
    calls: list[tuple[str, Any, bool]] = []

    def listen(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        calls.append((statement, parameters, many))

    try:
        store.migrate()
        for n in range(warmup):
            store.finish_run(completion(n, payload))
        item = completion(warmup, payload)
        sa.event.listen(sa.Engine, "before_cursor_execute", listen)
        try:
            outcome = store.finish_run(item)
        finally:
            sa.event.remove(sa.Engine, "before_cursor_execute", listen)
    finally:
        store.close()
    if not outcome.published or outcome.snapshot_id is None:
        raise RuntimeError(f"the recorded completion did not publish: {outcome}")
    statements = []
    for sql, parameters, many in calls:
        rows = [tuple(p) for p in parameters] if many else [tuple(parameters or ())]
        # The snapshot id stands only in the pointer's row; elsewhere a small int is just a count.
        moves_pointer = "report_latest" in sql and sql.lstrip().upper().startswith("INSERT")
        snapshot = outcome.snapshot_id if moves_pointer else None
        statements.append(
            Statement(
                sql=sql,
                rows=rows,
                many=many,
                renewed=[_renewed(r, item.run_id, item.version, snapshot) for r in rows],
                returns_snapshot_id="scheduled_job_results" in sql and "RETURNING" in sql,
            )
        )
    return statements, item.version, item.run_id.rsplit("_", 1)[0] + "_"


def connect(path: str) -> sqlite3.Connection:
    """A plain sqlite3 connection set up as the store sets up its own (engine.py)."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


def replay(
    connection: sqlite3.Connection, statements: list[Statement], run_id: str, version: int
) -> None:
    """One completion: every recorded statement with the new identifiers, then one commit."""
    cursor = connection.cursor()
    snapshot_id: Any = None
    for st in statements:
        fresh = {RUN_ID: run_id, VERSION: version, SNAPSHOT_ID: snapshot_id}
        rows = [
            tuple(v if m is None else fresh[m] for v, m in zip(row, marks, strict=True))
            for row, marks in zip(st.rows, st.renewed, strict=True)
        ]
        if st.many:
            cursor.executemany(st.sql, rows)
        else:
            cursor.execute(st.sql, rows[0])
            if st.returns_snapshot_id:
                snapshot_id = cursor.fetchone()[0]
            elif "RETURNING" in st.sql:
                cursor.fetchall()
    connection.commit()
    cursor.close()


def measure(path: str, seconds: float, *, warmup: int = 20) -> CompletionsResult:
    """Replay the recorded completion back to back on the SQLite file at `path` for `seconds`."""
    statements, version, prefix = record(f"sqlite:///{path}", warmup=warmup)
    connection = connect(path)
    try:
        latencies: list[float] = []
        n = 0
        cpu_began = time.process_time()
        began = time.perf_counter()
        deadline = began + seconds
        now = began
        while now < deadline:
            n += 1
            replay(connection, statements, prefix + uuid.uuid4().hex, version + n)
            done = time.perf_counter()
            latencies.append(done - now)
            now = done
        elapsed = now - began
        cpu = time.process_time() - cpu_began
    finally:
        connection.close()
    latencies.sort()
    payload = next(
        len(v)
        for st in statements
        for row in st.rows
        for v in row
        if isinstance(v, str) and len(v) > 10_000
    )
    return CompletionsResult(
        completions=n,
        seconds=elapsed,
        per_second=n / elapsed if elapsed > 0 else 0.0,
        latency_ms={f"p{q}": percentile(latencies, q) * 1e3 for q in (50, 95, 99)},
        payload_bytes=payload,
        cpu_us=cpu / n * 1e6 if n else 0.0,
    )


def run_measure(path: Path, seconds: float) -> CompletionsResult:
    """`measure` in its own process pinned to the server core (as the store's loop runs)."""
    found = run_pinned(
        "benchmarks.completions_raw",
        [str(path), "--seconds", str(seconds)],
        seconds,
        "raw completions benchmark",
    )
    return CompletionsResult(**found)


def main(argv: list[str] | None = None) -> None:
    """CLI: prints one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.completions_raw")
    parser.add_argument("path", help="a SQLite file (created and migrated)")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.path, args.seconds).as_dict()))


if __name__ == "__main__":
    main()
