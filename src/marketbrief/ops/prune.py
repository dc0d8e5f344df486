"""Retention: delete runs, stages, predictions and snapshots older than a cutoff, in one go.

Never removed, however old: a snapshot a `report_latest` pointer serves, the run that wrote it,
and the newest snapshot of each report type (with its run). Closes and daily analyses stay:
they are small and later scoring needs them. Everything happens in one transaction; a dry run
counts the same rows in a read snapshot and deletes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from marketbrief.errors import InvalidInput
from marketbrief.models import ReportType
from marketbrief.store.schema import (
    job_executions,
    job_stages,
    report_latest,
    scheduled_job_results,
    symbol_predictions,
)
from marketbrief.store.sql import SQLStore

_CHUNK = 500  # ids per IN (...) list, well under every driver's parameter limit


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What prune deleted (or, in a dry run, would delete) and what it kept on purpose."""

    cutoff: date
    dry_run: bool
    deleted: dict[str, int]
    kept_runs: int
    kept_snapshots: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "cutoff": self.cutoff.isoformat(),
            "dry_run": self.dry_run,
            "deleted": self.deleted,
            "kept": {"runs": self.kept_runs, "snapshots": self.kept_snapshots},
        }


def prune(store: SQLStore, older_than_days: int, today: date, *, dry_run: bool) -> PruneResult:
    """Delete what was scheduled before `today - older_than_days` (see the module docstring)."""
    if older_than_days < 1:
        raise InvalidInput("--older-than must be at least 1 day")
    cutoff = today - timedelta(days=older_than_days)
    transaction = store.snapshot_read() if dry_run else store.write_transaction()
    with transaction as connection:
        keep_snapshots, keep_runs = _protected(connection)
        s, j = scheduled_job_results.c, job_executions.c
        aged_runs = connection.execute(sa.select(j.run_id).where(j.scheduled_date < cutoff))
        aged_snapshots = connection.execute(sa.select(s.id).where(s.scheduled_date < cutoff))
        all_runs, all_snapshots = list(aged_runs.scalars()), list(aged_snapshots.scalars())
        old_runs = [r for r in all_runs if r not in keep_runs]
        old_snapshots = [i for i in all_snapshots if i not in keep_snapshots]
        # Children first, so neither engine's foreign keys ever see an orphan.
        plan: list[tuple[str, sa.Column[Any], Sequence[Any]]] = [
            ("symbol_predictions", symbol_predictions.c.run_id, old_runs),
            ("job_stages", job_stages.c.run_id, old_runs),
            ("scheduled_job_results", s.id, old_snapshots),
            ("job_executions", j.run_id, old_runs),
        ]
        deleted = {
            name: _delete(connection, column, keys, dry_run=dry_run) for name, column, keys in plan
        }
    kept_runs, kept_snapshots = (
        len(all_runs) - len(old_runs),
        len(all_snapshots) - len(old_snapshots),
    )
    return PruneResult(cutoff, dry_run, deleted, kept_runs, kept_snapshots)


def _protected(connection: sa.Connection) -> tuple[set[int], set[str]]:
    """Snapshots served by report_latest or newest of their type, and the runs that wrote them."""
    s = scheduled_job_results.c
    snapshots = set(connection.execute(sa.select(report_latest.c.snapshot_id)).scalars())
    for kind in ReportType:
        newest = connection.execute(
            sa.select(s.id)
            .where(s.report_type == kind.value)
            .order_by(s.scheduled_date.desc(), s.created_at.desc(), s.id.desc())
            .limit(1)
        ).scalar()
        if newest is not None:
            snapshots.add(int(newest))
    runs = {r for r in connection.execute(sa.select(report_latest.c.run_id)).scalars() if r}
    for chunk in _chunks(sorted(snapshots)):
        found = connection.execute(sa.select(s.run_id).where(s.id.in_(chunk))).scalars()
        runs.update(r for r in found if r is not None)
    return snapshots, runs


def _delete(
    connection: sa.Connection, column: sa.Column[Any], keys: Sequence[Any], *, dry_run: bool
) -> int:
    total = 0
    for chunk in _chunks(keys):
        where = column.in_(chunk)
        if dry_run:
            total += connection.execute(
                sa.select(sa.func.count()).select_from(column.table).where(where)
            ).scalar_one()
        else:
            total += connection.execute(sa.delete(column.table).where(where)).rowcount
    return total


def _chunks(keys: Iterable[Any]) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for key in keys:
        batch.append(key)
        if len(batch) >= _CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch
