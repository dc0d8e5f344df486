"""Run history queries: pages, ranges, counts and one run in full."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from marketbrief.models import Prediction, ReportType, Run, RunDetail, Snapshot
from marketbrief.store import rows
from marketbrief.store.base import (
    Cursor,
    HistoryPage,
    HistoryQuery,
    decode_cursor,
    encode_cursor,
    run_key,
)
from marketbrief.store.engine import Engines
from marketbrief.store.schema import (
    UTCDateTime,
    job_executions,
    job_stages,
    report_latest,
    scheduled_job_results,
    symbol_predictions,
)

NEWEST_FIRST = (job_executions.c.started_at.desc(), job_executions.c.id.desc())
"""Runs by start, newest first: a run that reached the store late sorts where it ran."""


def history_select(query: HistoryQuery) -> sa.Select[Any]:
    """The SQL of one history page: one row more than the limit tells whether more follow."""
    select = sa.select(job_executions).order_by(*NEWEST_FIRST)
    if query.report_type is not None:
        select = select.where(job_executions.c.job_type == query.report_type.value)
    if query.status is not None:
        select = select.where(job_executions.c.status == query.status.value)
    if query.date_from is not None:
        select = select.where(job_executions.c.scheduled_date >= query.date_from)
    if query.date_to is not None:
        select = select.where(job_executions.c.scheduled_date <= query.date_to)
    if query.cursor is not None:
        select = select.where(_after(decode_cursor(query.cursor)))
    return select.limit(query.limit + 1)


def _after(cursor: Cursor) -> sa.ColumnElement[bool]:
    """Runs sorting after the cursor's: started earlier, or at the same instant with a lower id."""
    started: sa.ColumnElement[Any]
    if cursor.started_at is None:  # an `r:ID` cursor: that run's own start
        started = (
            sa.select(job_executions.c.started_at)
            .where(job_executions.c.id == cursor.id)
            .scalar_subquery()
        )
    else:
        started = sa.literal(cursor.started_at, UTCDateTime())
    position = sa.tuple_(job_executions.c.started_at, job_executions.c.id)
    return position < sa.tuple_(started, sa.literal(cursor.id, sa.BigInteger()))


class HistoryQueries:
    """Read-only queries over runs; mixed into SQLStore."""

    _engines: Engines

    def history(self, query: HistoryQuery) -> HistoryPage:
        """Runs newest first by start, filtered, one page at a time (keyset on (start, id): no
        OFFSET scans)."""
        select = history_select(query)
        with self._engines.read() as connection:
            found = connection.execute(select).all()
        runs = [rows.run(r) for r in found[: query.limit]]
        more = len(found) > query.limit
        return HistoryPage(
            runs, encode_cursor(runs[-1].started_at, runs[-1].id) if more and runs else None
        )

    def latest_run(self, report_type: ReportType | None = None) -> Run | None:
        """The most recently started run, optionally of one type."""
        page = self.history(HistoryQuery(report_type=report_type, limit=1))
        return page.runs[0] if page.runs else None

    def runs_between(self, date_from: date, date_to: date) -> list[Run]:
        """Every run for business dates in [date_from, date_to], oldest first."""
        query = (
            sa.select(job_executions)
            .where(job_executions.c.scheduled_date.between(date_from, date_to))
            .order_by(job_executions.c.started_at, job_executions.c.id)
        )
        with self._engines.read() as connection:
            return [rows.run(r) for r in connection.execute(query)]

    def run_counts(self) -> dict[tuple[str, str], int]:
        """How many runs there are by (type, status)."""
        query = sa.select(
            job_executions.c.job_type, job_executions.c.status, sa.func.count()
        ).group_by(job_executions.c.job_type, job_executions.c.status)
        with self._engines.read() as connection:
            return {(t, s): int(n) for t, s, n in connection.execute(query)}

    def latest_snapshots(
        self, report_type: ReportType, date_from: date, date_to: date
    ) -> list[Snapshot]:
        """The latest snapshot of each date in [date_from, date_to], oldest first."""
        query = (
            sa.select(scheduled_job_results)
            .join(report_latest, report_latest.c.snapshot_id == scheduled_job_results.c.id)
            .where(report_latest.c.report_type == report_type.value)
            .where(report_latest.c.scheduled_date.between(date_from, date_to))
            .order_by(report_latest.c.scheduled_date)
        )
        with self._engines.read() as connection:
            return [rows.snapshot(r) for r in connection.execute(query)]

    def get_run(self, ref: str | int) -> RunDetail | None:
        """One run with its stages, predictions and snapshot, by integer id or run_id."""
        key = run_key(ref)
        if key is None:
            return None
        if isinstance(key, int):
            where = job_executions.c.id == key
        else:
            where = job_executions.c.run_id == key
        with self._engines.read() as connection:
            row = connection.execute(sa.select(job_executions).where(where)).first()
            if row is None:
                return None
            stages = connection.execute(
                sa.select(job_stages)
                .where(job_stages.c.run_id == row.run_id)
                .order_by(job_stages.c.started_at, job_stages.c.id)
            ).all()
            predictions = predictions_of(connection, row.run_id)
            snapshot = connection.execute(
                sa.select(scheduled_job_results).where(scheduled_job_results.c.run_id == row.run_id)
            ).first()
        return RunDetail(
            run=rows.run(row),
            stages=[rows.stage(s) for s in stages],
            predictions=predictions,
            snapshot=rows.snapshot(snapshot) if snapshot is not None else None,
        )


def predictions_of(connection: sa.Connection, run_id: str) -> list[Prediction]:
    """A run's predictions, by symbol."""
    query = (
        sa.select(symbol_predictions)
        .where(symbol_predictions.c.run_id == run_id)
        .order_by(symbol_predictions.c.symbol)
    )
    return [rows.prediction(p) for p in connection.execute(query)]
