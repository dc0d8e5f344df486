"""The SQL store: one implementation for SQLite and PostgreSQL over SQLAlchemy Core."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.models import (
    PUBLISHABLE,
    Claim,
    Completion,
    Outcome,
    Prediction,
    ReportType,
    Run,
    RunStatus,
    Snapshot,
    Stage,
    StageStatus,
    TriggerSource,
)
from marketbrief.store import rows
from marketbrief.store.engine import (
    Engines,
    create_engines,
    insert_with_conflicts,
    mapped_errors,
)
from marketbrief.store.history import HistoryQueries, predictions_of
from marketbrief.store.market import MarketData
from marketbrief.store.migrate import Verification, upgrade, verify
from marketbrief.store.schema import (
    SLOT_TRIGGERS,
    daily_analysis,
    job_executions,
    job_stages,
    report_latest,
    scheduled_job_results,
    store_revision,
    symbol_predictions,
)

_SLOT_WHERE = job_executions.c.trigger_source.in_(SLOT_TRIGGERS)


# The store's counters (store_revision): every write to run history bumps `runs_revision`;
# every move of a latest pointer bumps `revision` too.
BUMP_RUNS = sa.update(store_revision).values(runs_revision=store_revision.c.runs_revision + 1)
BUMP_REVISION = sa.update(store_revision).values(revision=store_revision.c.revision + 1)


@dataclass(frozen=True, slots=True)
class _WriteStatements:
    """The write path's statements (stages, completions), built once per store.

    Building a statement is most of the CPU a completion costs; a reused statement is also
    compiled once, since SQLAlchemy caches the compiled form.
    """

    run_status: sa.Select[Any]
    insert_run: sa.Insert
    update_run: sa.Update
    insert_snapshot: Any
    insert_predictions: sa.Insert
    upsert_stages: Any
    current_stage: sa.Update
    move_latest: Any
    upsert_analysis: Any
    bump_runs: sa.Update
    bump_both: sa.Update

    @classmethod
    def build(cls, dialect: str) -> _WriteStatements:
        upsert = insert_with_conflicts(dialect, report_latest)
        upsert = upsert.on_conflict_do_update(
            index_elements=["report_type", "scheduled_date"],
            set_={
                k: upsert.excluded[k] for k in ("snapshot_id", "run_id", "version", "updated_at")
            },
            where=report_latest.c.version < upsert.excluded.version,
        ).returning(report_latest.c.snapshot_id)
        stages = insert_with_conflicts(dialect, job_stages)
        stages = stages.on_conflict_do_update(
            index_elements=["run_id", "stage"],
            # A stage keeps the start it was first recorded with.
            set_={k: stages.excluded[k] for k in ("status", "ended_at", "details")},
        )
        analysis = insert_with_conflicts(dialect, daily_analysis)
        analysis = analysis.on_conflict_do_update(
            index_elements=["analysis_date"],
            set_={k: analysis.excluded[k] for k in rows.DAILY_ANALYSIS_UPDATED},
        )
        return cls(
            run_status=sa.select(job_executions.c.status).where(
                job_executions.c.run_id == sa.bindparam("rid")
            ),
            insert_run=sa.insert(job_executions),
            update_run=sa.update(job_executions).where(
                job_executions.c.run_id == sa.bindparam("rid")
            ),
            insert_snapshot=sa.insert(scheduled_job_results).returning(scheduled_job_results.c.id),
            insert_predictions=sa.insert(symbol_predictions),
            upsert_stages=stages,
            current_stage=sa.update(job_executions)
            .where(job_executions.c.run_id == sa.bindparam("rid"))
            .where(job_executions.c.status == RunStatus.RUNNING.value)
            .values(current_stage=sa.bindparam("stage")),
            move_latest=upsert,
            upsert_analysis=analysis,
            bump_runs=BUMP_RUNS,
            bump_both=BUMP_RUNS.values(revision=store_revision.c.revision + 1),
        )


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


def new_run_id(scheduled_date: date, report_type: ReportType) -> str:
    """A run id of the form `<scheduled_date>_<report_type>_<uuid>`."""
    return f"{scheduled_date.isoformat()}_{report_type.value}_{uuid.uuid4().hex}"


def _now() -> datetime:
    return datetime.now(UTC)


class SQLStore(HistoryQueries, MarketData):
    """The source of truth on SQLite (embedded) or PostgreSQL (scaled out)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engines: Engines = create_engines(url)
        self.dialect = self._engines.dialect
        self._writes = _WriteStatements.build(self.dialect)

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

    def close(self) -> None:
        """Release every connection."""
        self._engines.dispose()

    # -- the write path -----------------------------------------------------------------------

    def claim_run(
        self,
        report_type: ReportType,
        scheduled_date: date,
        trigger_source: TriggerSource,
        *,
        started_at: datetime | None = None,
        run_id: str | None = None,
    ) -> Claim:
        """Start a run; a scheduled slot already claimed returns the holder with claimed=False."""
        now = _now()
        values: dict[str, Any] = {
            "run_id": run_id or new_run_id(scheduled_date, report_type),
            "job_type": report_type.value,
            "scheduled_date": scheduled_date,
            "status": RunStatus.RUNNING.value,
            "current_stage": Stage.INIT.value,
            "trigger_source": trigger_source.value,
            "started_at": started_at or now,
            "errors": [],
            "warnings": [],
            "created_at": now,
        }
        with self._engines.write() as connection:
            insert = self._insert(job_executions).values(values)
            if trigger_source.claims_slot:
                insert = insert.on_conflict_do_nothing(
                    index_elements=["scheduled_date", "job_type"], index_where=_SLOT_WHERE
                )
            inserted = connection.execute(insert.returning(job_executions.c.id)).first() is not None
            if inserted:
                _bump_runs(connection)
                where = job_executions.c.run_id == values["run_id"]
            else:
                where = sa.and_(
                    job_executions.c.scheduled_date == scheduled_date,
                    job_executions.c.job_type == report_type.value,
                    _SLOT_WHERE,
                )
            row = connection.execute(sa.select(job_executions).where(where)).one()
        return Claim(claimed=inserted, run=rows.run(row))

    def record_stage(
        self,
        run_id: str,
        stage: Stage,
        status: StageStatus,
        *,
        started_at: datetime,
        ended_at: datetime | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Insert or update one stage of a running run, and make it the run's current stage."""
        values = {
            "run_id": run_id,
            "stage": stage.value,
            "status": status.value,
            "started_at": started_at,
            "ended_at": ended_at,
            "details": details or {},
        }
        with self._engines.write() as connection:
            connection.execute(self._writes.upsert_stages, values)
            connection.execute(self._writes.current_stage, {"rid": run_id, "stage": stage.value})
            _bump_runs(connection)

    def finish_run(self, completion: Completion) -> Outcome:
        """Snapshot, predictions, run row and latest pointer in ONE transaction (idempotent)."""
        c = completion
        st = self._writes
        with self._engines.write() as connection:
            status = connection.execute(st.run_status, {"rid": c.run_id}).scalar()
            if status is not None and status != RunStatus.RUNNING.value:
                return self._already_finished(connection, c)
            run_values = rows.run_values(c)
            if status is None:
                # Never claimed here (the claim went to the outbox too): the completion is whole.
                connection.execute(
                    st.insert_run,
                    {
                        "run_id": c.run_id,
                        "job_type": c.report_type.value,
                        "scheduled_date": c.scheduled_date,
                        "trigger_source": c.trigger_source.value,
                        "started_at": c.started_at,
                        "created_at": _now(),
                        **run_values,
                    },
                )
            else:
                connection.execute(st.update_run, {"rid": c.run_id, **run_values})
            snapshot_id = None
            if c.content is not None:
                snapshot_id = int(
                    connection.execute(st.insert_snapshot, rows.snapshot_values(c)).scalar_one()
                )
            if c.predictions:
                connection.execute(
                    st.insert_predictions, [rows.prediction_values(c, p) for p in c.predictions]
                )
            if c.stages:
                connection.execute(st.upsert_stages, [rows.stage_values(r) for r in c.stages])
            published = False
            if snapshot_id is not None and c.status in PUBLISHABLE:
                # Compare-and-set (LESSONS 18): RETURNING yields a row only if the pointer moved.
                moved = connection.execute(
                    st.move_latest,
                    {
                        "report_type": c.report_type.value,
                        "scheduled_date": c.scheduled_date,
                        "snapshot_id": snapshot_id,
                        "run_id": c.run_id,
                        "version": c.version,
                        "updated_at": _now(),
                    },
                ).first()
                published = moved is not None
            if c.daily_analysis is not None and c.status in PUBLISHABLE:
                connection.execute(st.upsert_analysis, rows.daily_analysis_values(c, _now()))
            # Both counters in one statement: history always moved, reports only if published.
            connection.execute(st.bump_both if published else st.bump_runs)
        return Outcome(c.run_id, persisted=True, published=published, snapshot_id=snapshot_id)

    def _already_finished(self, connection: sa.Connection, c: Completion) -> Outcome:
        snapshot_id = connection.execute(
            sa.select(scheduled_job_results.c.id).where(scheduled_job_results.c.run_id == c.run_id)
        ).scalar()
        holder = connection.execute(
            sa.select(report_latest.c.run_id).where(
                report_latest.c.report_type == c.report_type.value,
                report_latest.c.scheduled_date == c.scheduled_date,
            )
        ).scalar()
        return Outcome(
            c.run_id,
            persisted=True,
            published=holder == c.run_id,
            snapshot_id=snapshot_id,
            already_finished=True,
        )

    def fail_stuck_runs(self, started_before: datetime, now: datetime) -> list[str]:
        """Mark runs still `running` that started before the cutoff as failed (LESSONS 15)."""
        with self._engines.write() as connection:
            stuck = connection.execute(
                sa.select(job_executions).where(
                    job_executions.c.status == RunStatus.RUNNING.value,
                    job_executions.c.started_at < started_before,
                )
            ).all()
            if stuck:
                _bump_runs(connection)
            for row in stuck:
                message = (
                    f"run was still running at {now.isoformat()}; marked failed by the sweeper"
                )
                connection.execute(
                    sa.update(job_executions)
                    .where(job_executions.c.id == row.id)
                    .values(
                        status=RunStatus.FAILED.value,
                        executed_at=now,
                        execution_time_ms=rows.elapsed_ms(row.started_at, now),
                        errors=[*row.errors, {"stage": row.current_stage, "error": message}],
                    )
                )
        return [row.run_id for row in stuck]

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
        with self._engines.read() as connection:
            row = connection.execute(query, {"kind": report_type.value, "day": day}).first()
        return rows.snapshot(row) if row is not None else None

    def latest_run_for(self, report_type: ReportType, day: date) -> Run | None:
        """The newest run of that type for that date, whatever its status."""
        query = (
            sa.select(job_executions)
            .where(job_executions.c.scheduled_date == day)
            .where(job_executions.c.job_type == report_type.value)
            .order_by(job_executions.c.id.desc())
            .limit(1)
        )
        with self._engines.read() as connection:
            row = connection.execute(query).first()
        return rows.run(row) if row is not None else None

    def predictions_for(
        self, day: date, report_types: tuple[ReportType, ...]
    ) -> tuple[Run, list[Prediction]] | None:
        """The newest run of those types on `day` that stored predictions, with them."""
        has_predictions = (
            sa.select(symbol_predictions.c.id)
            .where(symbol_predictions.c.run_id == job_executions.c.run_id)
            .exists()
        )
        query = (
            sa.select(job_executions)
            .where(job_executions.c.scheduled_date == day)
            .where(job_executions.c.job_type.in_([t.value for t in report_types]))
            .where(has_predictions)
            .order_by(job_executions.c.id.desc())
            .limit(1)
        )
        with self._engines.read() as connection:
            row = connection.execute(query).first()
            if row is None:
                return None
            predictions = predictions_of(connection, row.run_id)
        return rows.run(row), predictions

    def good_run(self, report_type: ReportType, day: date) -> tuple[Run, list[Prediction]] | None:
        """The newest success/partial run of that type on `day`, with its predictions."""
        query = (
            sa.select(job_executions)
            .where(job_executions.c.scheduled_date == day)
            .where(job_executions.c.job_type == report_type.value)
            .where(job_executions.c.status.in_([s.value for s in PUBLISHABLE]))
            .order_by(job_executions.c.id.desc())
            .limit(1)
        )
        with self._engines.read() as connection:
            row = connection.execute(query).first()
            if row is None:
                return None
            predictions = predictions_of(connection, row.run_id)
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
            _bump_runs(connection)
            yield connection

    def runs_revision(self) -> int:
        """A counter that grows with every write to run history."""
        with self._engines.read() as connection:
            return int(connection.execute(sa.select(store_revision.c.runs_revision)).scalar_one())


def _bump_runs(connection: sa.Connection) -> None:
    connection.execute(BUMP_RUNS)


def open_store(url: str) -> SQLStore:
    """Open the store at a database URL (nothing connects until first use)."""
    return SQLStore(url)


__all__: Sequence[str] = ("SQLStore", "new_run_id", "open_store")
