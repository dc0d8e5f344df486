"""The write path's SQL: claim a run, record its stages, finish it in one batch, sweep.

Mixed into `SQLStore`. Each write is ONE list of statements (`store/batch.py`): a transaction
on SQLite and PostgreSQL, one batch call on D1, with its conditions in the SQL. A completion
writes its snapshot, predictions, closing stages, the day's analysis, the run row and the
latest pointer together (`store/finish.py`); the pointer moves by compare-and-set, so a
late-finishing older run can never replace a newer report.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.calendar import utc_now
from marketbrief.models import (
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
from marketbrief.store.batch import Step
from marketbrief.store.engine import Engines, insert_with_conflicts
from marketbrief.store.finish import finish_outcome, finish_steps
from marketbrief.store.guards import Guard
from marketbrief.store.schema import (
    SLOT_TRIGGERS,
    job_executions,
    job_stages,
    store_revision,
)

SLOT_WHERE = job_executions.c.trigger_source.in_(SLOT_TRIGGERS)

# The store's counters (store_revision): every write to run history bumps `runs_revision`;
# every move of a latest pointer bumps `revision` too.
BUMP_RUNS = sa.update(store_revision).values(runs_revision=store_revision.c.runs_revision + 1)
BUMP_REVISION = sa.update(store_revision).values(revision=store_revision.c.revision + 1)
# The next report version, taken inside the claim's write transaction: the row lock (the
# write lock on SQLite) orders claims, so versions follow the order runs really started.
ISSUE_VERSION = sa.update(store_revision).values(
    issued_version=store_revision.c.issued_version + VERSION_STRIDE
)


@dataclass(frozen=True, slots=True)
class WriteStatements:
    """The stage writes' statements, built once per store.

    Building a statement is most of the CPU a write costs; a reused statement is also compiled
    once, since SQLAlchemy caches the compiled form.
    """

    upsert_stages: Any
    current_stage: sa.Update
    bump_runs: sa.Update

    @classmethod
    def build(cls, dialect: str) -> WriteStatements:
        stages = insert_with_conflicts(dialect, job_stages)
        stages = stages.on_conflict_do_update(
            index_elements=["run_id", "stage"],
            # A stage keeps the start it was first recorded with.
            set_={k: stages.excluded[k] for k in ("status", "ended_at", "details")},
        )
        return cls(
            upsert_stages=stages,
            current_stage=sa.update(job_executions)
            .where(job_executions.c.run_id == sa.bindparam("rid"))
            .where(job_executions.c.status == RunStatus.RUNNING.value)
            .values(current_stage=sa.bindparam("stage")),
            bump_runs=BUMP_RUNS,
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
        rid = values["run_id"]
        # The version comes from the counter the batch's first statement moved: a subquery,
        # so the claim is one batch with no value read back in between.
        issued = sa.select(store_revision.c.issued_version).scalar_subquery()
        columns = [*values, "version"]
        chosen = sa.select(
            *[sa.literal(v, job_executions.c[k].type) for k, v in values.items()], issued
        ).where(sa.true())
        insert = insert_with_conflicts(self.dialect, job_executions).from_select(columns, chosen)
        mine = job_executions.c.run_id == rid
        holder = mine
        if trigger_source.claims_slot:
            insert = insert.on_conflict_do_nothing(
                index_elements=["scheduled_date", "job_type"], index_where=SLOT_WHERE
            )
            holder = sa.or_(
                mine,
                sa.and_(
                    job_executions.c.scheduled_date == scheduled_date,
                    job_executions.c.job_type == report_type.value,
                    SLOT_WHERE,
                ),
            )
        done = self._engines.batch(
            [
                Step(ISSUE_VERSION),
                Step(insert.returning(job_executions.c.id)),
                Step(BUMP_RUNS.where(sa.select(job_executions.c.id).where(mine).exists())),
                Step(
                    sa.select(job_executions)
                    .where(holder)
                    .order_by(sa.case((mine, 0), else_=1))
                    .limit(1)
                ),
            ]
        )
        inserted = done[1].first() is not None
        row = done[3].first()
        assert row is not None  # the slot's holder, or the run just inserted
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
        self._engines.batch(
            [
                Step(self._writes.upsert_stages, values),
                Step(self._writes.current_stage, {"rid": run_id, "stage": stage.value}),
                Step(self._writes.bump_runs),
            ]
        )

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
        """Snapshot, predictions, run row and latest pointer in ONE batch (idempotent).

        A run the sweeper marked failed while it was in fact still working (or while its result
        waited in the outbox) is finished with its real result: that result is data, and it is
        kept, with a warning that says what happened (`store/finish.py` has the statements).
        """
        done = self._engines.batch(finish_steps(self.dialect, completion, Guard()))
        return finish_outcome(completion, done)

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
        running = job_executions.c.status == RunStatus.RUNNING.value
        with self._engines.read() as connection:
            stuck = connection.execute(sa.select(job_executions).where(running, expired)).all()
        if not stuck:
            return []
        updates, still_stuck = [], []
        for row in stuck:
            message = (
                f"run was still running at {now.isoformat()} with no live worker (its lease "
                "expired); marked failed by the sweeper"
            )
            # Compare-and-set on what was read: a run that renewed its lease, moved on to
            # another stage or finished since is left alone.
            unchanged = sa.and_(
                job_executions.c.id == row.id,
                running,
                expired,
                job_executions.c.current_stage == row.current_stage
                if row.current_stage is not None
                else job_executions.c.current_stage.is_(None),
            )
            still_stuck.append(unchanged)
            updates.append(
                Step(
                    sa.update(job_executions)
                    .where(unchanged)
                    .values(
                        status=RunStatus.FAILED.value,
                        executed_at=now,
                        execution_time_ms=rows.elapsed_ms(row.started_at, now),
                        errors=[*row.errors, {"stage": row.current_stage, "error": message}],
                        swept_at=now,
                    )
                    .returning(job_executions.c.run_id)
                )
            )
        # The counter first, as every write takes it, so two writers lock rows in one order
        # (on PostgreSQL a sweeper taking it last deadlocked with a finishing run).
        bump = BUMP_RUNS.where(sa.select(job_executions.c.id).where(sa.or_(*still_stuck)).exists())
        done = self._engines.batch([Step(bump), *updates])
        return [str(found.rows[0].run_id) for found in done[1:] if found.rows]
