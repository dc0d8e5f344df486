"""Finishing a run as ONE batch: run row, snapshot, predictions, stages, pointer, counters.

Every condition is SQL, so the same statement list is one transaction on SQLite and PostgreSQL
and one batch call on D1: the run finishes unless it already finished (a guard tested once at
the start, `store/guards.py`); the latest pointer moves by compare-and-set on the version, so
a late-finishing older run never replaces a newer report; the pointer and the "not published"
note find the snapshot and its holder by the run id, never by an id read back in between.

Every value a completion brings is a bound parameter, so each statement is built once per
dialect and column list (`_statements`, `_run_row`, …) and a completion only fills in its
parameters: building SQLAlchemy constructs and their cache keys afresh for every completion
cost more than the statements' execution did.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from marketbrief.calendar import utc_now
from marketbrief.models import PUBLISHABLE, Completion, Outcome, RunStatus
from marketbrief.store import guards, rows
from marketbrief.store.batch import Done, Params, Step
from marketbrief.store.engine import insert_with_conflicts
from marketbrief.store.guards import Guard, bound, iso_instant, json_append, values_if
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
# The completion's own values, as the statements read them.
RUN_ID = sa.bindparam("c_run_id", type_=sa.String)
REPORT_TYPE = sa.bindparam("c_report_type", type_=sa.String)
SCHEDULED_DATE = sa.bindparam("c_scheduled_date", type_=sa.Date)
VERSION = sa.bindparam("c_version", type_=sa.BigInteger)
NOW = sa.bindparam("c_now", type_=report_latest.c.updated_at.type)
HOLDER_TAIL = sa.bindparam("c_holder_tail", type_=sa.String)
# The run row's columns a completion sets once (`rows.run_values` gives those it finishes).
RUN_COLUMNS = (
    "run_id",
    "job_type",
    "scheduled_date",
    "trigger_source",
    "started_at",
    "created_at",
    "version",
)
Columns = tuple[str, ...]  # a row's column names, in the order its values come


@dataclass(frozen=True, slots=True)
class _Statements:
    """A completion's statements for one dialect that read no row's values, each built once.

    The statements that write rows are built once per dialect and column list
    (`_run_row`, `_snapshot`, `_predictions`, `_stages`, `_analysis`).
    """

    test: sa.Insert
    move_latest: Any
    holder_note: sa.Update
    counters: sa.Update
    release: sa.Delete
    held: sa.Select[Any]


def _key(c: Completion) -> dict[str, Any]:
    """The parameters every statement may read: the completion's keys and the guard's token."""
    return {
        "c_run_id": c.run_id,
        "c_report_type": c.report_type.value,
        "c_scheduled_date": c.scheduled_date,
        "c_version": c.version,
    }


def finish_steps(dialect: str, c: Completion, guard: Guard) -> list[Step]:
    """The statements that finish `c`, in order; `finish_outcome` reads their answers."""
    made = _statements(dialect)
    now = utc_now()
    publishes = c.content is not None and c.status in PUBLISHABLE
    key = {**_key(c), **guard.params}
    finished = rows.run_values(c)
    run_row = {
        "run_id": c.run_id,
        "job_type": c.report_type.value,
        "scheduled_date": c.scheduled_date,
        "trigger_source": c.trigger_source.value,
        "started_at": c.started_at,
        "created_at": now,
        "version": c.version,
        **finished,
    }
    steps = [
        _step(made.test, key),
        _step(_run_row(dialect, tuple(finished)), bound("r_", run_row)),
    ]
    if c.content is not None:
        values = rows.snapshot_values(c)
        steps.append(_step(_snapshot(tuple(values)), {**key, **bound("s_", values)}))
    # One statement for all the predictions, one for all the stages (executemany).
    steps += _many(
        _predictions,
        "p_",
        key,
        [rows.prediction_values(c, p) for p in c.predictions],
    )
    steps += _many(
        lambda columns: _stages(dialect, columns),
        "t_",
        key,
        [rows.stage_values(record) for record in c.stages],
    )
    if publishes:
        steps.append(_step(made.move_latest, {**key, "c_now": now}))
        tail = (
            "holds this date's report, and the store ordered it after this run "
            f"(version {c.version})"
        )
        steps.append(_step(made.holder_note, {**key, "c_holder_tail": tail}))
    if c.daily_analysis is not None and c.status in PUBLISHABLE:
        values = rows.daily_analysis_values(c, now)
        steps.append(_step(_analysis(dialect, tuple(values)), {**key, **bound("d_", values)}))
    steps.append(_step(made.counters, key))
    steps.append(_step(made.release, key))
    steps.append(_step(made.held, key))
    return steps


def _step(statement: Any, params: Params) -> Step:
    """One statement of the batch; each may run at the driver, compiled once
    (`store/prepared.py`): what they return is ids, run ids and tokens, as the driver gives them."""
    return Step(statement, params, at_driver=True)


def _many(
    build: Callable[[Columns], Any], prefix: str, key: dict[str, Any], values: list[dict[str, Any]]
) -> list[Step]:
    """One step writing every row of `values` (none for no rows), by the statement `build`
    makes for their columns."""
    if not values:
        return []
    return [_step(build(tuple(values[0])), [{**key, **bound(prefix, v)} for v in values])]


@functools.cache
def _statements(dialect: str) -> _Statements:
    run = job_executions.c
    return _Statements(
        test=guards.test(_may_finish()),
        move_latest=_move_latest(dialect),
        holder_note=sa.update(job_executions)
        .where(run.run_id == RUN_ID, guards.holds(), _holder_note().is_not(None))
        .values(warnings=json_append(dialect, run.warnings, _holder_note())),
        counters=_counters(),
        release=guards.release(),
        held=_what_is_held(),
    )


@functools.cache
def _snapshot(columns: Columns) -> Any:
    """Insert the snapshot if the guard holds (RETURNING its id)."""
    table = scheduled_job_results
    return (
        sa.insert(table)
        .from_select(list(columns), values_if(table, columns, "s_", guards.holds()))
        .returning(table.c.id)
    )


@functools.cache
def _predictions(columns: Columns) -> Any:
    """Insert a prediction if the guard holds."""
    table = symbol_predictions
    return sa.insert(table).from_select(
        list(columns), values_if(table, columns, "p_", guards.holds())
    )


@functools.cache
def _stages(dialect: str, columns: Columns) -> Any:
    """Insert a stage if the guard holds; a stage keeps the start it was first recorded with."""
    updated = ("status", "ended_at", "details")
    return _upsert(dialect, job_stages, columns, "t_", ["run_id", "stage"], updated)


@functools.cache
def _analysis(dialect: str, columns: Columns) -> Any:
    """Insert or replace the day's analysis if the guard holds."""
    return _upsert(
        dialect, daily_analysis, columns, "d_", ["analysis_date"], rows.DAILY_ANALYSIS_UPDATED
    )


def _may_finish() -> sa.ColumnElement[bool]:
    """Not yet finished: never recorded here, still running, or failed by the sweeper."""
    run = job_executions.c
    finished = (
        sa.select(run.id)
        .where(run.run_id == RUN_ID, run.status != RUNNING, run.swept_at.is_(None))
        .exists()
    )
    return ~finished


def _upsert(
    dialect: str,
    table: sa.Table,
    columns: Sequence[str],
    prefix: str,
    index: list[str],
    updated: Sequence[str],
) -> Any:
    """Insert a row of bound values if the guard holds; on its key's conflict, update `updated`."""
    upsert = insert_with_conflicts(dialect, table).from_select(
        list(columns), values_if(table, columns, prefix, guards.holds())
    )
    return upsert.on_conflict_do_update(
        index_elements=index, set_={k: upsert.excluded[k] for k in updated}
    )


def _holder_note() -> Any:
    """The note a run that lost the compare-and-set gets: which run holds the date (or NULL)."""
    held_by = sa.case(
        (report_latest.c.run_id.is_(None), sa.literal("an imported report")),
        else_=sa.literal("run ") + report_latest.c.run_id,
    )
    return (
        sa.select(
            sa.literal("stored, but not published: ")
            + held_by
            + " (version "
            + sa.cast(report_latest.c.version, sa.String)
            + ") "
            + HOLDER_TAIL
        )
        .where(
            report_latest.c.report_type == REPORT_TYPE,
            report_latest.c.scheduled_date == SCHEDULED_DATE,
            sa.or_(report_latest.c.run_id.is_(None), report_latest.c.run_id != RUN_ID),
        )
        .scalar_subquery()
    )


@functools.cache
def _run_row(dialect: str, finished: Columns) -> Any:
    """Insert the run (never claimed here: the claim went to the outbox too) or finish it."""
    columns = (*RUN_COLUMNS, *finished)
    insert = insert_with_conflicts(dialect, job_executions).values(
        {name: sa.bindparam("r_" + name, type_=job_executions.c[name].type) for name in columns}
    )
    current = job_executions.c
    tail, head = _SWEPT_NOTE
    swept_note = sa.case(
        (current.swept_at.is_not(None), head + iso_instant(dialect, current.swept_at) + tail),
        else_=sa.null(),
    )
    updated = {k: insert.excluded[k] for k in finished}
    # A run the sweeper failed while it was in fact still working is finished with its real
    # result, and says so.
    updated["warnings"] = json_append(dialect, insert.excluded.warnings, swept_note)
    updated["swept_at"] = sa.null()
    return insert.on_conflict_do_update(
        index_elements=["run_id"],
        set_=updated,
        where=sa.or_(current.status == RUNNING, current.swept_at.is_not(None)),
    )


def _move_latest(dialect: str) -> Any:
    """Point (type, date) at this run's snapshot, only over a lower version (RETURNING if moved)."""
    source = sa.select(
        REPORT_TYPE,
        SCHEDULED_DATE,
        scheduled_job_results.c.id,
        RUN_ID,
        VERSION,
        NOW,
    ).where(scheduled_job_results.c.run_id == RUN_ID, guards.holds())
    upsert = insert_with_conflicts(dialect, report_latest).from_select(
        ["report_type", "scheduled_date", "snapshot_id", "run_id", "version", "updated_at"], source
    )
    return upsert.on_conflict_do_update(
        index_elements=["report_type", "scheduled_date"],
        set_={k: upsert.excluded[k] for k in ("snapshot_id", "run_id", "version", "updated_at")},
        where=report_latest.c.version < upsert.excluded.version,
    ).returning(report_latest.c.snapshot_id)


def _counters() -> sa.Update:
    """Both counters in one statement: history always moved, reports only if published."""
    holds_pointer = (
        sa.select(report_latest.c.run_id)
        .where(
            report_latest.c.report_type == REPORT_TYPE,
            report_latest.c.scheduled_date == SCHEDULED_DATE,
            report_latest.c.run_id == RUN_ID,
        )
        .exists()
    )
    return (
        sa.update(store_revision)
        .where(guards.holds())
        .values(
            runs_revision=store_revision.c.runs_revision + 1,
            revision=store_revision.c.revision + sa.case((holds_pointer, 1), else_=0),
        )
    )


def _what_is_held() -> sa.Select[Any]:
    """After the batch: which run holds (type, date), and this run's snapshot id."""
    holder = (
        sa.select(report_latest.c.run_id)
        .where(
            report_latest.c.report_type == REPORT_TYPE,
            report_latest.c.scheduled_date == SCHEDULED_DATE,
        )
        .scalar_subquery()
    )
    snapshot = (
        sa.select(scheduled_job_results.c.id)
        .where(scheduled_job_results.c.run_id == RUN_ID)
        .scalar_subquery()
    )
    return sa.select(holder.label("holder"), snapshot.label("snapshot_id"))


def finish_outcome(c: Completion, done: Sequence[Done]) -> Outcome:
    """What finishing did, from the batch's answers."""
    held = done[-1].first()
    holder = held.holder if held is not None else None
    snapshot_id = int(held.snapshot_id) if held is not None and held.snapshot_id else None
    if done[0].first() is None:  # the guard did not hold: the run had already finished
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
