"""The SQL store: one implementation for SQLite and PostgreSQL over SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.calendar import utc_now
from marketbrief.models import (
    PUBLISHABLE,
    Prediction,
    PredictionStatus,
    ReportType,
    Run,
    Snapshot,
)
from marketbrief.store import rows
from marketbrief.store.base import Revisions, ScheduleStart
from marketbrief.store.batch import Step
from marketbrief.store.d1.api import D1Usage
from marketbrief.store.deliveries import DeliveryWrites
from marketbrief.store.engine import (
    Engines,
    create_engines,
    mapped_errors,
)
from marketbrief.store.history import HistoryQueries, predictions_of
from marketbrief.store.incidents import IncidentWrites
from marketbrief.store.market import MarketData
from marketbrief.store.measures import UsageQueries
from marketbrief.store.migrate import Verification, upgrade, verify
from marketbrief.store.postgres import PgTimeouts
from marketbrief.store.prepared import reading
from marketbrief.store.schema import (
    job_executions,
    report_latest,
    scheduled_job_results,
    store_revision,
    symbol_predictions,
)
from marketbrief.store.usage import UsageCounter, count_statements
from marketbrief.store.writes import RunWrites, WriteStatements, bump_runs

D1_META = "D1 response meta"  # the usage report's source on D1


def _via_latest(on_day: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (
        sa.select(scheduled_job_results)
        .join(report_latest, report_latest.c.snapshot_id == scheduled_job_results.c.id)
        .where(report_latest.c.report_type == sa.bindparam("kind"), on_day)
        .order_by(report_latest.c.scheduled_date.desc())
        .limit(1)
    )


# The read path's hottest queries, built once (building a query costs more than running it).
_LATEST_SNAPSHOT = _via_latest(report_latest.c.scheduled_date == sa.bindparam("day", type_=sa.Date))
_SNAPSHOT_BEFORE = _via_latest(report_latest.c.scheduled_date < sa.bindparam("day", type_=sa.Date))


class SQLStore(RunWrites, HistoryQueries, MarketData, IncidentWrites, DeliveryWrites, UsageQueries):
    """The source of truth on SQLite (embedded) or PostgreSQL (scaled out)."""

    def __init__(
        self,
        url: str,
        *,
        pg_timeouts: PgTimeouts | None = None,
        clock: Callable[[], datetime] = utc_now,
        d1_token: str | None = None,
        d1_api_url: str | None = None,
    ) -> None:
        self.url = url
        self._engines: Engines = create_engines(
            url, pg_timeouts, d1_token=d1_token, d1_api_url=d1_api_url
        )
        self.dialect = self._engines.dialect
        self._writes = WriteStatements.build(self.dialect)
        self.usage = UsageCounter(clock=clock)  # every statement and row, by day, at this edge
        d1 = self._engines.d1
        if d1 is not None:  # D1 says what each call read and wrote: its figures are the ones
            self.usage.source = D1_META
            d1.usage.forward = self.usage.add
        else:
            count_statements(self._engines.reader, self.usage)
            if self._engines.writer is not self._engines.reader:
                count_statements(self._engines.writer, self.usage)

    @property
    def d1_usage(self) -> D1Usage | None:
        """D1's counters (API calls, rows read and written) since the store opened; None off D1."""
        return self._engines.usage

    # -- schema -------------------------------------------------------------------------------

    def migrate(self) -> tuple[str | None, str]:
        """Apply pending migrations; return (revision before, revision after)."""
        with mapped_errors():
            return upgrade(self._engines.writer)

    def verify(self) -> Verification:
        """Check every table, column, index and the migration head."""
        with mapped_errors():
            return verify(self._engines.reader)

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers a trivial query."""
        with self._engines.read() as connection:
            connection.execute(sa.select(store_revision.c.revision)).first()

    def ping_writes(self) -> None:
        """Raise StoreUnavailable unless the store commits a write (one that changes nothing)."""
        with self._engines.write() as connection:
            # A real row write, committed through the journal, yet no counter moves: readers
            # comparing revisions see nothing.
            connection.execute(sa.update(store_revision).values(revision=store_revision.c.revision))

    def close(self) -> None:
        """Release every connection."""
        self._engines.dispose()

    # -- the read path ------------------------------------------------------------------------

    def latest_snapshot(self, report_type: ReportType, day: date) -> Snapshot | None:
        """The snapshot readers get for (type, date), via `report_latest`."""
        return self._snapshot_via_latest(_LATEST_SNAPSHOT, report_type, day)

    def snapshot_before(self, report_type: ReportType, day: date) -> Snapshot | None:
        """The latest snapshot of that type for the newest date strictly before `day`."""
        return self._snapshot_via_latest(_SNAPSHOT_BEFORE, report_type, day)

    def _snapshot_via_latest(
        self, query: sa.Select[Any], report_type: ReportType, day: date
    ) -> Snapshot | None:
        row = self._first(query, {"kind": report_type.value, "day": day})
        return rows.snapshot(row) if row is not None else None

    def _first(self, query: sa.Select[Any], values: Mapping[str, Any]) -> Any:
        """The first row of one of the read path's queries: read at the driver where it can be
        (`Engines.read_first`), counted as every statement is; on D1, through SQLAlchemy."""
        lane = reading(self._engines.reader.dialect, query) if self._engines.d1 is None else None
        if lane is None:
            with self._engines.read() as connection:
                return connection.execute(query, values).first()
        row = self._engines.read_first(lane, values)
        self.usage.add(queries=1, rows_read=int(row is not None))
        return row

    def latest_run_for(self, report_type: ReportType, day: date) -> Run | None:
        """The newest run of that type for that date, whatever its status."""
        found = self._newest_run(day, (report_type,), with_predictions=False)
        return found[0] if found else None

    def predictions_for(
        self, day: date, report_types: tuple[ReportType, ...]
    ) -> tuple[Run, list[Prediction]] | None:
        """The newest success/partial run of those types on `day` with a usable prediction.

        A failed run stores its predictions too, but what failed is never shown as content:
        only a run that produced something, and that holds a usable prediction, qualifies.
        """
        usable = (
            sa.select(symbol_predictions.c.id)
            .where(symbol_predictions.c.run_id == job_executions.c.run_id)
            .where(symbol_predictions.c.status == PredictionStatus.SUCCESS.value)
            .where(symbol_predictions.c.confidence.is_not(None))
            .exists()
        )
        good = job_executions.c.status.in_([s.value for s in PUBLISHABLE])
        return self._newest_run(day, report_types, sa.and_(good, usable))

    def good_run(self, report_type: ReportType, day: date) -> tuple[Run, list[Prediction]] | None:
        """The newest success/partial run of that type on `day`, with its predictions."""
        good = job_executions.c.status.in_([s.value for s in PUBLISHABLE])
        return self._newest_run(day, (report_type,), good)

    def _newest_run(
        self,
        day: date,
        report_types: tuple[ReportType, ...],
        condition: sa.ColumnElement[bool] | None = None,
        *,
        with_predictions: bool = True,
    ) -> tuple[Run, list[Prediction]] | None:
        """The newest run of those types on `day` (meeting `condition`), with its predictions."""
        query = (
            sa.select(job_executions)
            .where(job_executions.c.scheduled_date == day)
            .where(job_executions.c.job_type.in_([t.value for t in report_types]))
            .order_by(job_executions.c.id.desc())
            .limit(1)
        )
        if condition is not None:
            query = query.where(condition)
        with self._engines.read() as connection:
            row = connection.execute(query).first()
            if row is None:
                return None
            predictions = predictions_of(connection, row.run_id) if with_predictions else []
        return rows.run(row), predictions

    def latest_keys(
        self, report_type: ReportType | None = None, day: date | None = None
    ) -> list[tuple[ReportType, date]]:
        """Every (type, date) that has a latest report, optionally filtered."""
        query = sa.select(report_latest.c.report_type, report_latest.c.scheduled_date)
        if report_type is not None:
            query = query.where(report_latest.c.report_type == report_type.value)
        if day is not None:
            query = query.where(report_latest.c.scheduled_date == day)
        query = query.order_by(report_latest.c.scheduled_date.desc(), report_latest.c.report_type)
        with self._engines.read() as connection:
            found = connection.execute(query).all()
        return [(ReportType(t), d) for t, d in found]

    def latest_version(self, report_type: ReportType, day: date) -> int | None:
        """The version `report_latest` holds for (type, date), or None."""
        query = sa.select(report_latest.c.version).where(
            report_latest.c.report_type == report_type.value,
            report_latest.c.scheduled_date == day,
        )
        with self._engines.read() as connection:
            found = connection.execute(query).scalar()
        return int(found) if found is not None else None

    def revision(self) -> int:
        """A counter that grows whenever any latest pointer moves."""
        with self._engines.read() as connection:
            return int(connection.execute(sa.select(store_revision.c.revision)).scalar_one())

    # -- operator tools: backup, restore, import, prune ---------------------------------------

    @contextmanager
    def snapshot_read(self) -> Iterator[sa.Connection]:
        """One read-only transaction over a consistent snapshot of every table (for backups).

        PostgreSQL runs it at REPEATABLE READ; on SQLite (WAL) a read transaction is a snapshot
        from its first read, which is taken here, before the caller reads anything.
        """
        with mapped_errors(), self._engines.reader.connect() as connection:
            if self.dialect == "postgresql":
                connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                if self.dialect == "postgresql":
                    connection.exec_driver_sql("SET TRANSACTION READ ONLY")
                connection.execute(sa.select(store_revision.c.revision)).first()
                yield connection

    @contextmanager
    def write_transaction(self) -> Iterator[sa.Connection]:
        """One write transaction for bulk operator work (restore, import, prune): all or nothing."""
        with self._engines.write() as connection:
            bump_runs(connection)
            yield connection

    def schedule_start(self) -> ScheduleStart:
        """When the scheduler first started here, and the runs of the earliest date."""
        earliest = sa.select(sa.func.min(job_executions.c.scheduled_date)).scalar_subquery()
        first = (
            sa.select(job_executions.c.job_type, job_executions.c.scheduled_date)
            .where(job_executions.c.scheduled_date == earliest)
            .distinct()
        )
        with self._engines.read() as connection:
            started = connection.execute(sa.select(store_revision.c.schedule_started_at)).scalar()
            runs = connection.execute(first).all()
        known = {t.value for t in ReportType}
        return ScheduleStart(started, tuple((ReportType(t), d) for t, d in runs if t in known))

    def begin_schedule(self, at: datetime) -> datetime:
        """Record `at` as when the schedule began, unless a scheduler already did; return it."""
        done = self._engines.batch(
            [
                Step(
                    sa.update(store_revision)
                    .where(store_revision.c.schedule_started_at.is_(None))
                    .values(schedule_started_at=at)
                ),
                Step(sa.select(store_revision.c.schedule_started_at)),
            ]
        )
        recorded = done[1].first()
        assert recorded is not None  # store_revision always holds its one row
        value: datetime = recorded.schedule_started_at
        return value

    def revisions(self) -> Revisions:
        """Both counters in one read: the latest pointers' and run history's."""
        query = sa.select(store_revision.c.revision, store_revision.c.runs_revision)
        with self._engines.read() as connection:
            reports, runs = connection.execute(query).one()
        return Revisions(int(reports), int(runs))


def open_store(url: str) -> SQLStore:
    """Open the store at a database URL (nothing connects until first use)."""
    return SQLStore(url)


__all__: Sequence[str] = ("SQLStore", "open_store")
