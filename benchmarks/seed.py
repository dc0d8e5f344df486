"""Fill stores fast: bulk run history, 20 KB report snapshots, and completions to write.

Run rows go in with plain tuples: `executemany` on the raw sqlite3 connection for SQLite and
`COPY ... FROM STDIN` through psycopg for PostgreSQL, inside big transactions, with the
secondary indexes of `job_executions` dropped during the load and rebuilt from their own
definitions afterwards. The schema itself always comes from `SQLStore.migrate()`, so a seeded
store is exactly what marketbrief would have made, only fuller.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from marketbrief.models import (
    Completion,
    Direction,
    Prediction,
    PredictionStatus,
    ReportType,
    RunStatus,
    TriggerSource,
)
from marketbrief.store.migrate import head_revision
from marketbrief.store.sql import SQLStore

SEED_VERSION = 1
PAYLOAD_BYTES = 20 * 1024
REPORT_DAY = date(2026, 11, 24)  # a Tuesday session: the report every read benchmark asks for
SYMBOLS = ("AAPL", "MSFT", "GOOGL", "TSLA", "NVDA", "SPY")
# Three daily reports for each weekly one, in the order a day's runs start.
_TYPE_CYCLE = (
    "pre-market",
    "intraday",
    "end-of-day",
    "pre-market",
    "intraday",
    "end-of-day",
    "weekly",
)
RUN_COLUMNS = (
    "id",
    "run_id",
    "job_type",
    "scheduled_date",
    "status",
    "current_stage",
    "trigger_source",
    "started_at",
    "executed_at",
    "execution_time_ms",
    "symbols_processed",
    "symbols_successful",
    "symbols_fallback",
    "symbols_failed",
    "success_rate",
    "errors",
    "warnings",
    "created_at",
)
_ERRORS_FAILED = orjson.dumps(
    [{"stage": "data_fetch", "error": "every news provider failed: timed out after 10 s"}]
).decode()
_ERRORS_PARTIAL = orjson.dumps([{"symbol": "TSLA", "error": "no usable headlines"}]).decode()
_WARNINGS_PARTIAL = orjson.dumps(["fallback lexicon used for 1 symbol"]).decode()
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_START_SECONDS = 8 * 3600  # runs of a day start from 08:00 UTC on, 30 s apart


# -- payloads -------------------------------------------------------------------------------


def report_payload(report_type: str, day: date, size: int = PAYLOAD_BYTES) -> bytes:
    """A realistic report of about `size` bytes of JSON: per-symbol signals with headlines."""
    rng = random.Random(f"{report_type}:{day.isoformat()}")
    words = [
        *("shares", "rally", "after", "earnings", "beat", "estimates", "guidance", "raised"),
        *("analysts", "upgrade", "stock", "slides", "on", "weak", "demand", "outlook"),
        *("regulators", "probe", "supply", "chain", "margins"),
    ]
    symbols: dict[str, Any] = {}
    for symbol in SYMBOLS:
        symbols[symbol] = {
            "direction": rng.choice(["up", "down", "neutral"]),
            "confidence": round(rng.uniform(0.3, 0.95), 4),
            "sentiment_score": round(rng.uniform(-1, 1), 4),
            "articles_count": 0,
            "model": "vader+henry+sentibignomics",
            "status": "success",
            "headlines": [],
        }
    body: dict[str, Any] = {
        "report_type": report_type,
        "business_date": day.isoformat(),
        "symbols": symbols,
        "summary": {
            "analysed": len(SYMBOLS),
            "usable": len(SYMBOLS),
            "high_confidence": sum(s["confidence"] >= 0.7 for s in symbols.values()),
            "market_pulse": symbols["SPY"]["direction"],
        },
    }
    if report_type in ("end-of-day", "weekly"):
        body["accuracy"] = round(rng.uniform(0.4, 0.8), 4)
    n = 0
    while len(orjson.dumps(body)) < size - 200:
        symbol = SYMBOLS[n % len(SYMBOLS)]
        record = symbols[symbol]
        record["headlines"].append(
            {
                "title": f"{symbol} " + " ".join(rng.choices(words, k=9)),
                "source": rng.choice(["Reuters", "Bloomberg", "AP", "MarketWatch"]),
                "published_at": f"{day.isoformat()}T{11 + n % 3:02d}:{n % 60:02d}:00Z",
                "sentiment": round(rng.uniform(-1, 1), 4),
            }
        )
        record["articles_count"] = len(record["headlines"])
        n += 1
    return orjson.dumps(body)


def predictions() -> tuple[Prediction, ...]:
    """Six successful predictions, one per symbol (as the runner stores them)."""
    return tuple(
        Prediction(
            symbol=symbol,
            direction=Direction.UP if i % 2 else Direction.DOWN,
            confidence=0.5 + i / 20,
            sentiment_score=0.1 * i,
            articles_count=3 + i,
            model="vader",
            status=PredictionStatus.SUCCESS,
            headlines=[f"{symbol} headline {i}"],
        )
        for i, symbol in enumerate(SYMBOLS)
    )


def completion(n: int, payload: bytes, *, day: date = REPORT_DAY) -> Completion:
    """The n-th completion of a write benchmark: a never-claimed run with a 20 KB report.

    Like tests/factories.standalone_completion: `finish_run` inserts the run row, the snapshot
    and six predictions and moves the latest pointer, all in one transaction. Start instants
    grow with n, so every completion is newer than the last and really moves the pointer.
    """
    kind = ReportType(_TYPE_CYCLE[n % 3])
    started = datetime.now(UTC)
    return Completion(
        run_id=f"{day.isoformat()}_{kind.value}_{uuid.uuid4().hex}",
        report_type=kind,
        scheduled_date=day,
        trigger_source=TriggerSource.MANUAL,
        started_at=started,
        executed_at=started + timedelta(seconds=1),
        status=RunStatus.SUCCESS,
        content=payload,
        metadata={"symbols": len(SYMBOLS)},
        predictions=predictions(),
        symbols_processed=len(SYMBOLS),
        symbols_successful=len(SYMBOLS),
    )


# -- run history ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeedPlan:
    """How many runs, over which dates, and how many recent days carry report snapshots."""

    runs: int
    end: date = REPORT_DAY
    days: int = 5 * 365
    snapshot_days: int = 40

    @property
    def start(self) -> date:
        """The first scheduled date."""
        return self.end - timedelta(days=self.days - 1)


@dataclass(slots=True)
class SeedInfo:
    """What a seeding produced, and how long it took."""

    runs: int
    snapshots: int
    seconds: float
    reused: bool = False
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Slot:
    """The scheduled run of one (date, type): it carries the snapshot for recent dates."""

    run_id: str
    day: date
    report_type: str
    started_us: int


def _stamp(epoch_us: int) -> str:
    """A naive UTC timestamp in SQLAlchemy's SQLite storage format."""
    seconds, micros = divmod(epoch_us, 1_000_000)
    days, rest = divmod(seconds, 86_400)
    day = date.fromordinal(_EPOCH_ORDINAL + days)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{day.isoformat()} {hours:02d}:{minutes:02d}:{secs:02d}.{micros:06d}"


class RunRows:
    """The run rows of a plan as tuples in RUN_COLUMNS order, newest last (ids ascending).

    The first run of each (date, type) is its scheduled run and always succeeds; the others are
    backfills and manual re-runs, 3% failed and 5% partial, with errors and warnings as JSON.
    """

    def __init__(self, plan: SeedPlan) -> None:
        self.plan = plan
        self.slots: list[_Slot] = []

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        plan = self.plan
        start = plan.start
        snapshot_from = plan.end - timedelta(days=plan.snapshot_days - 1)
        seen: set[tuple[int, str]] = set()
        day_index = -1
        day = start
        day_text = start.isoformat()
        day_us = 0
        slot_in_day = 0
        for i in range(1, plan.runs + 1):
            index = (i - 1) * plan.days // plan.runs
            if index != day_index:
                day_index = index
                day = start + timedelta(days=index)
                day_text = day.isoformat()
                day_us = (day.toordinal() - _EPOCH_ORDINAL) * 86_400_000_000
                slot_in_day = 0
            kind = _TYPE_CYCLE[i % len(_TYPE_CYCLE)]
            started_us = day_us + (_DAY_START_SECONDS + slot_in_day * 30) * 1_000_000 + i % 997
            slot_in_day += 1
            duration_ms = 2_000 + (i * 37) % 8_000
            scheduled = (index, kind) not in seen
            run_id = f"{day_text}_{kind}_{i:032x}"
            if scheduled:
                seen.add((index, kind))
                trigger = "schedule"
                r = 99
                if day >= snapshot_from:
                    self.slots.append(_Slot(run_id, day, kind, started_us))
            else:
                trigger = "backfill" if i % 3 else "manual"
                r = i % 100
            if r < 3:
                status, ok, failed, errors, warnings = "failed", 0, 6, _ERRORS_FAILED, "[]"
            elif r < 8:
                status, ok, failed = "partial", 5, 1
                errors, warnings = _ERRORS_PARTIAL, _WARNINGS_PARTIAL
            else:
                status, ok, failed, errors, warnings = "success", 6, 0, "[]", "[]"
            started = _stamp(started_us)
            yield (
                i,
                run_id,
                kind,
                day_text,
                status,
                "finalize",
                trigger,
                started,
                _stamp(started_us + duration_ms * 1000),
                duration_ms,
                6,
                ok,
                0,
                failed,
                ok / 6,
                errors,
                warnings,
                started,
            )


@dataclass(slots=True)
class _Extras:
    """Snapshots, latest pointers and predictions for the scheduled runs of recent days."""

    snapshots: list[tuple[Any, ...]]
    latest: list[tuple[Any, ...]]
    predictions: list[tuple[Any, ...]]


def _extras(slots: list[_Slot]) -> _Extras:
    snapshots, latest, preds = [], [], []
    for n, slot in enumerate(slots, start=1):
        content = report_payload(slot.report_type, slot.day)
        created = _stamp(slot.started_us + 5_000_000)
        snapshots.append(
            (
                n,
                slot.run_id,
                slot.day.isoformat(),
                slot.report_type,
                content.decode(),
                orjson.dumps({"symbols": len(SYMBOLS)}).decode(),
                "schedule",
                hashlib.sha256(content).hexdigest(),
                slot.started_us,
                created,
            )
        )
        latest.append(
            (slot.report_type, slot.day.isoformat(), n, slot.run_id, slot.started_us, created)
        )
        for p in predictions():
            preds.append(
                (
                    slot.run_id,
                    slot.day.isoformat(),
                    slot.report_type,
                    p.symbol,
                    p.direction.value,
                    p.confidence,
                    p.sentiment_score,
                    p.articles_count,
                    p.model,
                    p.status.value,
                    None,
                    orjson.dumps(p.headlines).decode(),
                    created,
                )
            )
    return _Extras(snapshots, latest, preds)


_SNAPSHOT_COLUMNS = (
    "id, run_id, scheduled_date, report_type, report_content, metadata, trigger_source, "
    "content_sha256, version, created_at"
)
_LATEST_COLUMNS = "report_type, scheduled_date, snapshot_id, run_id, version, updated_at"
_PREDICTION_COLUMNS = (
    "run_id, scheduled_date, report_type, symbol, direction, confidence, sentiment_score, "
    "articles_count, model, status, error, headlines, created_at"
)


def _marks(columns: str, mark: str) -> str:
    return ", ".join(mark for _ in columns.split(","))


def _bump_revisions(columns: list[str]) -> str:
    """UPDATE moving every revision counter of `store_revision`: runs and reports were written."""
    counters = [c for c in columns if c != "id" and c.endswith("revision")]
    return "UPDATE store_revision SET " + ", ".join(f"{c} = {c} + 1" for c in counters)


def _sqlite_columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in connection.execute(f"PRAGMA table_info({table})")]


# -- SQLite -------------------------------------------------------------------------------------


def seed_sqlite(path: Path, plan: SeedPlan) -> SeedInfo:
    """A migrated SQLite store at `path` holding the plan's runs (replacing any file there)."""
    began = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = SQLStore(f"sqlite:///{path}")
    try:
        store.migrate()
    finally:
        store.close()
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
        extras = _extras(rows.slots)
        connection.executemany(
            f"INSERT INTO scheduled_job_results ({_SNAPSHOT_COLUMNS}) "
            f"VALUES ({_marks(_SNAPSHOT_COLUMNS, '?')})",
            extras.snapshots,
        )
        connection.executemany(
            f"INSERT INTO report_latest ({_LATEST_COLUMNS}) "
            f"VALUES ({_marks(_LATEST_COLUMNS, '?')})",
            extras.latest,
        )
        connection.executemany(
            f"INSERT INTO symbol_predictions ({_PREDICTION_COLUMNS}) "
            f"VALUES ({_marks(_PREDICTION_COLUMNS, '?')})",
            extras.predictions,
        )
        connection.execute(_bump_revisions(_sqlite_columns(connection, "store_revision")))
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return SeedInfo(
        runs=plan.runs,
        snapshots=len(extras.snapshots),
        seconds=time.perf_counter() - began,
        path=str(path),
    )


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


# -- PostgreSQL ---------------------------------------------------------------------------------

PG_HOST, PG_PORT, PG_USER, PG_DB = "127.0.0.1", 5432, "postgres", "test"


@dataclass(frozen=True, slots=True)
class PgSchema:
    """A private schema in the shared PostgreSQL database; `drop` removes it and all it holds."""

    name: str
    host: str = PG_HOST
    port: int = PG_PORT
    user: str = PG_USER
    dbname: str = PG_DB

    @classmethod
    def create(cls, label: str = "") -> PgSchema:
        """A fresh schema named mbbench_<label>_<random> (nothing else is ever touched)."""
        import psycopg

        schema = cls(f"mbbench_{label + '_' if label else ''}{uuid.uuid4().hex[:10]}")
        with psycopg.connect(schema.admin_conninfo, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schema.name}"')
        return schema

    @property
    def admin_conninfo(self) -> str:
        """A libpq connection string to the database (default search path)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"

    @property
    def conninfo(self) -> str:
        """A libpq connection string whose search path is this schema."""
        return f"{self.admin_conninfo} options=-csearch_path={self.name}"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL marketbrief takes (MARKETBRIEF_DATABASE_URL)."""
        return (
            f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.dbname}"
            f"?options=-csearch_path%3D{self.name}"
        )

    def drop(self) -> None:
        """Remove the schema with everything in it."""
        import psycopg

        with psycopg.connect(self.admin_conninfo, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


def postgres_answers(timeout: float = 1.0) -> bool:
    """Whether the shared PostgreSQL server accepts a connection."""
    try:
        import psycopg

        with psycopg.connect(
            f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={PG_DB}",
            connect_timeout=max(1, int(timeout)),
        ):
            return True
    except Exception:
        return False


def _pg_stamp(text: str) -> str:
    return text + "+00"


def _copy_lines(rows: RunRows) -> Iterator[bytes]:
    """The run rows in COPY text format, in chunks of about 4 MB."""
    chunk: list[str] = []
    size = 0
    for row in rows:
        line = "\t".join(
            (
                str(row[0]),
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                _pg_stamp(row[7]),
                _pg_stamp(row[8]),
                str(row[9]),
                str(row[10]),
                str(row[11]),
                str(row[12]),
                str(row[13]),
                repr(row[14]),
                row[15],
                row[16],
                _pg_stamp(row[17]),
            )
        )
        chunk.append(line)
        size += len(line) + 1
        if size > 4_000_000:
            yield ("\n".join(chunk) + "\n").encode()
            chunk, size = [], 0
    if chunk:
        yield ("\n".join(chunk) + "\n").encode()


def seed_postgres(schema: PgSchema, plan: SeedPlan) -> SeedInfo:
    """Migrate the private schema, then COPY the plan's runs into it and ANALYZE."""
    import psycopg

    began = time.perf_counter()
    store = SQLStore(schema.url)
    try:
        store.migrate()
    finally:
        store.close()
    with psycopg.connect(schema.conninfo) as connection:
        indexes = connection.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname = %s AND i.tablename = 'job_executions' "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "  JOIN pg_class k ON k.oid = c.conindid "
            "  JOIN pg_namespace n ON n.oid = k.relnamespace "
            "  WHERE k.relname = i.indexname AND n.nspname = i.schemaname)",
            (schema.name,),
        ).fetchall()
        for name, _definition in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        rows = RunRows(plan)
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY job_executions ({', '.join(RUN_COLUMNS)}) FROM STDIN") as copy:
                for chunk in _copy_lines(rows):
                    copy.write(chunk)
            for _name, definition in indexes:
                cursor.execute(definition)
            extras = _extras(rows.slots)
            pg_snapshots = [(*s[:-1], _pg_stamp(s[-1])) for s in extras.snapshots]
            cursor.executemany(
                f"INSERT INTO scheduled_job_results ({_SNAPSHOT_COLUMNS}) "
                f"VALUES ({_marks(_SNAPSHOT_COLUMNS, '%s')})",
                pg_snapshots,
            )
            cursor.executemany(
                f"INSERT INTO report_latest ({_LATEST_COLUMNS}) "
                f"VALUES ({_marks(_LATEST_COLUMNS, '%s')})",
                [(*x[:-1], _pg_stamp(x[-1])) for x in extras.latest],
            )
            cursor.executemany(
                f"INSERT INTO symbol_predictions ({_PREDICTION_COLUMNS}) "
                f"VALUES ({_marks(_PREDICTION_COLUMNS, '%s')})",
                [(*x[:-1], _pg_stamp(x[-1])) for x in extras.predictions],
            )
            for table in ("job_executions", "scheduled_job_results"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            columns = [
                str(row[0])
                for row in cursor.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = 'store_revision'",
                    (schema.name,),
                ).fetchall()
            ]
            cursor.execute(_bump_revisions(columns))
        connection.commit()
        connection.autocommit = True
        connection.execute("ANALYZE")
    return SeedInfo(
        runs=plan.runs,
        snapshots=len(extras.snapshots),
        seconds=time.perf_counter() - began,
        path=schema.name,
    )
