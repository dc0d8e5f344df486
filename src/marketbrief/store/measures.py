"""The store's usage in SQL: its size now, the rows each day added, and the counted usage.

Mixed into `SQLStore`. A row's day is the UTC date of the instant it stands for (a run's
start, a snapshot's generation, an incident's opening; `DAY_COLUMNS`), so an import of old
history lands on the days it happened rather than all on the day it was imported. The counted
usage (`store_usage`) is added to with one UPSERT per day that increments, so two processes on
one database add up, and that UPSERT is not itself counted (`usage.UNCOUNTED`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from marketbrief.errors import StoreError
from marketbrief.store import schema
from marketbrief.store.engine import Engines, insert_with_conflicts
from marketbrief.store.sizes import Sizes, measure
from marketbrief.store.usage import UNCOUNTED, UsageCounter, UsageTotals

# The instant each table's rows are dated by (store_revision, one row, has none).
DAY_COLUMNS: dict[str, sa.Column[Any]] = {
    "job_executions": schema.job_executions.c.started_at,
    "job_stages": schema.job_stages.c.started_at,
    "scheduled_job_results": schema.scheduled_job_results.c.created_at,
    "report_latest": schema.report_latest.c.updated_at,
    "symbol_predictions": schema.symbol_predictions.c.created_at,
    "daily_analysis": schema.daily_analysis.c.created_at,
    "market_closes": schema.market_closes.c.created_at,
    "incidents": schema.incidents.c.opened_at,
    "deliveries": schema.deliveries.c.claimed_at,
    "store_usage": schema.store_usage.c.day,
}


@dataclass(frozen=True, slots=True)
class UsageMeasures:
    """What the store holds now, and what each day since `since` added and was counted."""

    since: date
    sizes: Sizes
    added: dict[str, dict[date, int]]  # table -> UTC day (>= since) -> rows dated that day
    counted: dict[date, UsageTotals]  # the store_usage rows since `since`


def _day(column: sa.Column[Any], dialect: str) -> sa.ColumnElement[Any]:
    if isinstance(column.type, sa.Date):
        return column
    if dialect == "sqlite":  # UTCDateTime keeps the UTC wall time as ISO text
        return sa.func.substr(column, 1, 10)
    return sa.cast(sa.func.timezone("UTC", column), sa.Date)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


class UsageQueries:
    """Record counted usage; measure sizes and the rows each day added."""

    _engines: Engines
    dialect: str
    usage: UsageCounter

    def flush_usage(self, now: datetime) -> None:
        """Add everything this process counted to the store; on failure keep it pending."""
        taken = self.usage.take()
        try:
            self.record_usage(taken, now)
        except StoreError:
            self.usage.restore(taken)  # rolled back, nothing added: the next flush adds it
            raise

    def record_usage(self, totals: Mapping[date, UsageTotals], now: datetime) -> None:
        """Add each day's totals to `store_usage` (an UPSERT that increments)."""
        if not totals:
            return
        table = schema.store_usage
        insert = insert_with_conflicts(self.dialect, table)
        upsert = insert.on_conflict_do_update(
            index_elements=["day"],
            set_={
                "queries": table.c.queries + insert.excluded.queries,
                "rows_read": table.c.rows_read + insert.excluded.rows_read,
                "rows_written": table.c.rows_written + insert.excluded.rows_written,
                "updated_at": insert.excluded.updated_at,
            },
        )
        with self._engines.write() as connection:
            connection = connection.execution_options(**{UNCOUNTED: True})
            for day, t in sorted(totals.items()):
                connection.execute(
                    upsert,
                    {
                        "day": day,
                        "queries": t.queries,
                        "rows_read": t.rows_read,
                        "rows_written": t.rows_written,
                        "updated_at": now,
                    },
                )

    def usage_measures(self, since: date) -> UsageMeasures:
        """Sizes now, rows added per day since `since`, and the counted usage since then."""
        with self._engines.read() as connection:
            sizes = measure(connection)
            added = {
                name: self._added(connection, column, since) for name, column in DAY_COLUMNS.items()
            }
            table = schema.store_usage
            found = connection.execute(
                sa.select(table.c.day, table.c.queries, table.c.rows_read, table.c.rows_written)
                .where(table.c.day >= since)
                .order_by(table.c.day)
            ).all()
        counted = {_as_date(day): UsageTotals(int(q), int(r), int(w)) for day, q, r, w in found}
        return UsageMeasures(since, sizes, added, counted)

    def _added(
        self, connection: sa.Connection, column: sa.Column[Any], since: date
    ) -> dict[date, int]:
        day = _day(column, self.dialect).label("day")
        start: date | datetime = since
        if not isinstance(column.type, sa.Date):
            start = datetime(since.year, since.month, since.day, tzinfo=UTC)
        query = (
            sa.select(day, sa.func.count())
            .select_from(column.table)
            .where(column >= start)
            .group_by(day)
        )
        return {_as_date(d): int(n) for d, n in connection.execute(query).all() if d is not None}
