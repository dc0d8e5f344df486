"""Finishing a run as ONE batch: run row, snapshot, predictions, stages, pointer, counters.

Every condition is SQL, so the same statement list is one transaction on SQLite and PostgreSQL
and one batch call on D1: the run finishes unless it already finished (a guard tested once at
the start, `store/guards.py`); the latest pointer moves by compare-and-set on the version, so
a late-finishing older run never replaces a newer report; the pointer and the "not published"
note find the snapshot and its holder by the run id, never by an id read back in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from marketbrief.calendar import utc_now
from marketbrief.models import PUBLISHABLE, Completion, Outcome, RunStatus
from marketbrief.store import rows
from marketbrief.store.batch import Done, Step
from marketbrief.store.engine import insert_with_conflicts
from marketbrief.store.guards import Guard, iso_instant, json_append, values_if
from marketbrief.store.schema import (
    daily_analysis,
    job_executions,
    job_stages,
    report_latest,
    scheduled_job_results,
    store_revision,
    symbol_predictions,
)

RUNNING = RunStatus.RUNNING.value
_SWEPT_NOTE = (
    " (its lease had expired), then finished: this is its real result",
    "marked failed by the sweeper at ",
)


def _run(run_id: str) -> sa.ColumnElement[bool]:
    return job_executions.c.run_id == run_id


def _may_finish(run_id: str) -> sa.ColumnElement[bool]:
    """Not yet finished: never recorded here, still running, or failed by the sweeper."""
    finished = (
        sa.select(job_executions.c.id)
        .where(
            _run(run_id), job_executions.c.status != RUNNING, job_executions.c.swept_at.is_(None)
        )
        .exists()
    )
    return ~finished


def _holder_note(c: Completion) -> Any:
    """The note a run that lost the compare-and-set gets: which run holds the date (or NULL)."""
    held_by = sa.case(
        (report_latest.c.run_id.is_(None), sa.literal("an imported report")),
        else_=sa.literal("run ") + report_latest.c.run_id,
    )
    tail = (
        f"holds this date's report, and the store ordered it after this run (version {c.version})"
    )
    return (
        sa.select(
            sa.literal("stored, but not published: ")
            + held_by
            + " (version "
            + sa.cast(report_latest.c.version, sa.String)
            + ") "
            + sa.literal(tail)
        )
        .where(
            report_latest.c.report_type == c.report_type.value,
            report_latest.c.scheduled_date == c.scheduled_date,
            sa.or_(report_latest.c.run_id.is_(None), report_latest.c.run_id != c.run_id),
        )
        .scalar_subquery()
    )


def finish_steps(dialect: str, c: Completion, guard: Guard) -> list[Step]:
    """The statements that finish `c`, in order; `finish_outcome` reads their answers."""
    now = utc_now()
    publishes = c.content is not None and c.status in PUBLISHABLE
    run_values = rows.run_values(c)
    steps = [
        Step(sa.select(job_executions.c.status, job_executions.c.swept_at).where(_run(c.run_id))),
        guard.test(_may_finish(c.run_id)),
        _run_row(dialect, c, run_values),
    ]
    if c.content is not None:
        values = rows.snapshot_values(c)
        steps.append(
            Step(
                sa.insert(scheduled_job_results)
                .from_select(list(values), values_if(scheduled_job_results, values, guard.holds))
                .returning(scheduled_job_results.c.id)
            )
        )
    for p in c.predictions:
        values = rows.prediction_values(c, p)
        steps.append(
            Step(
                sa.insert(symbol_predictions).from_select(
                    list(values), values_if(symbol_predictions, values, guard.holds)
                )
            )
        )
    for record in c.stages:
        values = rows.stage_values(record)
        upsert = insert_with_conflicts(dialect, job_stages).from_select(
            list(values), values_if(job_stages, values, guard.holds)
        )
        steps.append(
            Step(
                upsert.on_conflict_do_update(
                    index_elements=["run_id", "stage"],
                    # A stage keeps the start it was first recorded with.
                    set_={k: upsert.excluded[k] for k in ("status", "ended_at", "details")},
                )
            )
        )
    if publishes:
        steps.append(_move_latest(dialect, c, guard, now))
        note = _holder_note(c)
        steps.append(
            Step(
                sa.update(job_executions)
                .where(_run(c.run_id), guard.holds, note.is_not(None))
                .values(warnings=json_append(dialect, job_executions.c.warnings, note))
            )
        )
    if c.daily_analysis is not None and c.status in PUBLISHABLE:
        values = rows.daily_analysis_values(c, now)
        upsert = insert_with_conflicts(dialect, daily_analysis).from_select(
            list(values), values_if(daily_analysis, values, guard.holds)
        )
        steps.append(
            Step(
                upsert.on_conflict_do_update(
                    index_elements=["analysis_date"],
                    set_={k: upsert.excluded[k] for k in rows.DAILY_ANALYSIS_UPDATED},
                )
            )
        )
    holds_pointer = (
        sa.select(report_latest.c.run_id)
        .where(
            report_latest.c.report_type == c.report_type.value,
            report_latest.c.scheduled_date == c.scheduled_date,
            report_latest.c.run_id == c.run_id,
        )
        .exists()
    )
    # Both counters in one statement: history always moved, reports only if published.
    steps.append(
        Step(
            sa.update(store_revision)
            .where(guard.holds)
            .values(
                runs_revision=store_revision.c.runs_revision + 1,
                revision=store_revision.c.revision + sa.case((holds_pointer, 1), else_=0),
            )
        )
    )
    steps.append(guard.release())
    steps.append(Step(_what_is_held(c)))
    return steps


def _run_row(dialect: str, c: Completion, run_values: dict[str, Any]) -> Step:
    """Insert the run (never claimed here: the claim went to the outbox too) or finish it."""
    values = {
        "run_id": c.run_id,
        "job_type": c.report_type.value,
        "scheduled_date": c.scheduled_date,
        "trigger_source": c.trigger_source.value,
        "started_at": c.started_at,
        "created_at": utc_now(),
        "version": c.version,
        **run_values,
    }
    insert = insert_with_conflicts(dialect, job_executions).values(values)
    current = job_executions.c
    tail, head = _SWEPT_NOTE
    swept_note = sa.case(
        (current.swept_at.is_not(None), head + iso_instant(dialect, current.swept_at) + tail),
        else_=sa.null(),
    )
    updated = {k: insert.excluded[k] for k in run_values}
    # A run the sweeper failed while it was in fact still working is finished with its real
    # result, and says so.
    updated["warnings"] = json_append(dialect, insert.excluded.warnings, swept_note)
    updated["swept_at"] = sa.null()
    return Step(
        insert.on_conflict_do_update(
            index_elements=["run_id"],
            set_=updated,
            where=sa.or_(current.status == RUNNING, current.swept_at.is_not(None)),
        )
    )


def _move_latest(dialect: str, c: Completion, guard: Guard, now: Any) -> Step:
    """Point (type, date) at this run's snapshot, only over a lower version (RETURNING if moved)."""
    source = sa.select(
        sa.literal(c.report_type.value, sa.String),
        sa.literal(c.scheduled_date, sa.Date),
        scheduled_job_results.c.id,
        sa.literal(c.run_id, sa.String),
        sa.literal(c.version, sa.BigInteger),
        sa.literal(now, report_latest.c.updated_at.type),
    ).where(scheduled_job_results.c.run_id == c.run_id, guard.holds)
    upsert = insert_with_conflicts(dialect, report_latest).from_select(
        ["report_type", "scheduled_date", "snapshot_id", "run_id", "version", "updated_at"], source
    )
    return Step(
        upsert.on_conflict_do_update(
            index_elements=["report_type", "scheduled_date"],
            set_={
                k: upsert.excluded[k] for k in ("snapshot_id", "run_id", "version", "updated_at")
            },
            where=report_latest.c.version < upsert.excluded.version,
        ).returning(report_latest.c.snapshot_id)
    )


def _what_is_held(c: Completion) -> sa.Select[Any]:
    """After the batch: which run holds (type, date), and this run's snapshot id."""
    holder = (
        sa.select(report_latest.c.run_id)
        .where(
            report_latest.c.report_type == c.report_type.value,
            report_latest.c.scheduled_date == c.scheduled_date,
        )
        .scalar_subquery()
    )
    snapshot = (
        sa.select(scheduled_job_results.c.id)
        .where(scheduled_job_results.c.run_id == c.run_id)
        .scalar_subquery()
    )
    return sa.select(holder.label("holder"), snapshot.label("snapshot_id"))


def finish_outcome(c: Completion, done: Sequence[Done]) -> Outcome:
    """What finishing did, from the batch's answers."""
    held = done[-1].first()
    holder = held.holder if held is not None else None
    snapshot_id = int(held.snapshot_id) if held is not None and held.snapshot_id else None
    if done[1].first() is None:  # the guard did not hold: the run had already finished
        lost = snapshot_id is not None and holder is not None and holder != c.run_id
        return Outcome(
            c.run_id,
            persisted=True,
            published=holder == c.run_id,
            snapshot_id=snapshot_id,
            already_finished=True,
            superseded_by=holder if lost else None,
        )
    published = c.content is not None and c.status in PUBLISHABLE and holder == c.run_id
    superseded = c.content is not None and c.status in PUBLISHABLE and not published
    return Outcome(
        c.run_id,
        persisted=True,
        published=published,
        snapshot_id=snapshot_id,
        superseded_by=holder if superseded and holder is not None else None,
    )
