"""The write path's SQL: claim a run, record its stages, finish it in one transaction, sweep.

Mixed into `SQLStore`. A completion writes its snapshot, predictions, closing stages, the
day's analysis, the run row and the latest pointer in ONE transaction; the pointer moves by
compare-and-set, so a late-finishing older run can never replace a newer report.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.calendar import utc_now
from marketbrief.models import (
    PUBLISHABLE,
    VERSION_STRIDE,
    Claim,
    Completion,
    Outcome,
    ReportType,
    RunStatus,
    Stage,
    StageStatus,
    TriggerSource,
)
from marketbrief.store import rows
from marketbrief.store.engine import Engines, insert_with_conflicts
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

SLOT_WHERE = job_executions.c.trigger_source.in_(SLOT_TRIGGERS)

# The store's counters (store_revision): every write to run history bumps `runs_revision`;
# every move of a latest pointer bumps `revision` too.
BUMP_RUNS = sa.update(store_revision).values(runs_revision=store_revision.c.runs_revision + 1)
BUMP_REVISION = sa.update(store_revision).values(revision=store_revision.c.revision + 1)
# The next report version, taken inside the claim's write transaction: the row lock (the
# write lock on SQLite) orders claims, so versions follow the order runs really started.
ISSUE_VERSION = (
    sa.update(store_revision)
    .values(issued_version=store_revision.c.issued_version + VERSION_STRIDE)
    .returning(store_revision.c.issued_version)
)


@dataclass(frozen=True, slots=True)
class WriteStatements:
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
    def build(cls, dialect: str) -> WriteStatements:
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
            run_status=sa.select(job_executions.c.status, job_executions.c.swept_at).where(
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


def new_run_id(scheduled_date: date, report_type: ReportType) -> str:
    """A run id of the form `<scheduled_date>_<report_type>_<uuid>`."""
    return f"{scheduled_date.isoformat()}_{report_type.value}_{uuid.uuid4().hex}"


def bump_runs(connection: sa.Connection) -> None:
    """Record a write to run history (history pages cached under the old counter go stale)."""
    connection.execute(BUMP_RUNS)


class RunWrites:
    """Claims, stages, completions and the sweeper; mixed into SQLStore."""

    _engines: Engines
    _writes: WriteStatements
    dialect: str

    def claim_run(
        self,
        report_type: ReportType,
        scheduled_date: date,
        trigger_source: TriggerSource,
        *,
        started_at: datetime | None = None,
        run_id: str | None = None,
        lease_until: datetime | None = None,
    ) -> Claim:
        """Start a run; a scheduled slot already claimed returns the holder with claimed=False.

        The run's report version is issued here, in the claim's transaction, so versions
        follow the order in which the store saw runs start, whatever the hosts' clocks say.
        `lease_until` is how long the run counts as alive without a renewal (`renew_lease`).
        """
        now = utc_now()
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
            "lease_until": lease_until,
        }
        with self._engines.write() as connection:
            values["version"] = int(connection.execute(ISSUE_VERSION).scalar_one())
            insert = insert_with_conflicts(self.dialect, job_executions).values(values)
            if trigger_source.claims_slot:
                insert = insert.on_conflict_do_nothing(
                    index_elements=["scheduled_date", "job_type"], index_where=SLOT_WHERE
                )
            inserted = connection.execute(insert.returning(job_executions.c.id)).first() is not None
            if inserted:
                bump_runs(connection)
                where = job_executions.c.run_id == values["run_id"]
            else:
                where = sa.and_(
                    job_executions.c.scheduled_date == scheduled_date,
                    job_executions.c.job_type == report_type.value,
                    SLOT_WHERE,
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
            bump_runs(connection)

    def renew_lease(self, run_id: str, until: datetime) -> bool:
        """Extend a running run's lease; False when the run is no longer running."""
        with self._engines.write() as connection:
            renewed = connection.execute(
                sa.update(job_executions)
                .where(job_executions.c.run_id == run_id)
                .where(job_executions.c.status == RunStatus.RUNNING.value)
                .values(lease_until=until)
            ).rowcount
        return bool(renewed)

    def finish_run(self, completion: Completion) -> Outcome:
        """Snapshot, predictions, run row and latest pointer in ONE transaction (idempotent).

        A run the sweeper marked failed while it was in fact still working (or while its result
        waited in the outbox) is finished with its real result: that result is data, and it is
        kept, with a warning that says what happened.
        """
        c = completion
        st = self._writes
        with self._engines.write() as connection:
            found = connection.execute(st.run_status, {"rid": c.run_id}).first()
            status, swept_at = (found.status, found.swept_at) if found else (None, None)
            if status is not None and status != RunStatus.RUNNING.value and swept_at is None:
                return self._already_finished(connection, c)
            run_values = rows.run_values(c)
            if swept_at is not None:
                note = (
                    f"marked failed by the sweeper at {swept_at.isoformat()} (its lease had "
                    "expired), then finished: this is its real result"
                )
                run_values["warnings"] = [*run_values["warnings"], note]
                run_values["swept_at"] = None
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
                        "created_at": utc_now(),
                        "version": c.version,
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
            published, holder = False, None
            if snapshot_id is not None and c.status in PUBLISHABLE:
                # Compare-and-set, so an older run finishing late never replaces a newer report:
                # RETURNING yields a row only if the pointer moved.
                moved = connection.execute(
                    st.move_latest,
                    {
                        "report_type": c.report_type.value,
                        "scheduled_date": c.scheduled_date,
                        "snapshot_id": snapshot_id,
                        "run_id": c.run_id,
                        "version": c.version,
                        "updated_at": utc_now(),
                    },
                ).first()
                published = moved is not None
                if not published:
                    holder = self._superseded(connection, c, run_values["warnings"])
            if c.daily_analysis is not None and c.status in PUBLISHABLE:
                connection.execute(st.upsert_analysis, rows.daily_analysis_values(c, utc_now()))
            # Both counters in one statement: history always moved, reports only if published.
            connection.execute(st.bump_both if published else st.bump_runs)
        return Outcome(
            c.run_id,
            persisted=True,
            published=published,
            snapshot_id=snapshot_id,
            superseded_by=holder,
        )

    def _superseded(
        self, connection: sa.Connection, c: Completion, warnings: list[Any]
    ) -> str | None:
        """Say on the run's row that its report lost the compare-and-set, and to which run."""
        holder, version = connection.execute(
            sa.select(report_latest.c.run_id, report_latest.c.version).where(
                report_latest.c.report_type == c.report_type.value,
                report_latest.c.scheduled_date == c.scheduled_date,
            )
        ).one()
        held_by = f"run {holder}" if holder is not None else "an imported report"
        note = (
            f"stored, but not published: {held_by} (version {version}) holds this date's "
            f"report, and the store ordered it after this run (version {c.version})"
        )
        connection.execute(
            self._writes.update_run, {"rid": c.run_id, "warnings": [*warnings, note]}
        )
        return str(holder) if holder is not None else None

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
        lost = snapshot_id is not None and holder is not None and holder != c.run_id
        return Outcome(
            c.run_id,
            persisted=True,
            published=holder == c.run_id,
            snapshot_id=snapshot_id,
            already_finished=True,
            superseded_by=holder if lost else None,
        )

    def fail_stuck_runs(self, started_before: datetime, now: datetime) -> list[str]:
        """Mark running runs whose lease expired before `now` as failed (none stays running).

        A run with no lease (claimed before leases existed, or imported) is judged by its age:
        it is stuck when it started before `started_before`.
        """
        expired = sa.or_(
            job_executions.c.lease_until < now,
            sa.and_(
                job_executions.c.lease_until.is_(None),
                job_executions.c.started_at < started_before,
            ),
        )
        with self._engines.write() as connection:
            stuck = connection.execute(
                sa.select(job_executions).where(
                    job_executions.c.status == RunStatus.RUNNING.value, expired
                )
            ).all()
            if stuck:
                bump_runs(connection)
            for row in stuck:
                message = (
                    f"run was still running at {now.isoformat()} with no live worker (its lease "
                    "expired); marked failed by the sweeper"
                )
                connection.execute(
                    sa.update(job_executions)
                    .where(job_executions.c.id == row.id)
                    .where(job_executions.c.status == RunStatus.RUNNING.value)
                    .values(
                        status=RunStatus.FAILED.value,
                        executed_at=now,
                        execution_time_ms=rows.elapsed_ms(row.started_at, now),
                        errors=[*row.errors, {"stage": row.current_stage, "error": message}],
                        swept_at=now,
                    )
                )
        return [row.run_id for row in stuck]
