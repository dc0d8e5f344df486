"""A write path as ONE list of statements: a transaction on SQLite and PostgreSQL, a batch on D1.

D1 has no interactive transaction, so a write cannot read a value and decide in Python what
to write next: its conditions (compare-and-set, unique claims) are written in the statements
themselves, and what a later statement needs from an earlier one it finds by a subquery on a
natural key. Each statement's rows (RETURNING, or a SELECT put in the list) and row count come
back after the whole list ran. The same list runs on every engine, so there is one write path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from marketbrief.store import prepared
from marketbrief.store.d1 import errors as d1errors

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


@dataclass(frozen=True, slots=True)
class Step:
    """One statement of a batch, with one parameter set, several (one row each), or none.

    `at_driver`: the statement may be run at the driver, compiled once (`store/prepared.py`),
    where the engine allows it; the rows it returns then hold the driver's own values.
    """

    statement: sa.Executable
    params: Params = None
    at_driver: bool = False


@dataclass(frozen=True, slots=True)
class Done:
    """What one step did: the rows it returned (if any) and the rows it changed."""

    rows: list[sa.Row[Any]]
    rowcount: int

    def first(self) -> sa.Row[Any] | None:
        """The first row returned, or None."""
        return self.rows[0] if self.rows else None


def execute_steps(
    connection: sa.Connection, steps: Sequence[Step], *, at_driver: bool = False
) -> list[Done]:
    """Execute each step on `connection` and keep what it returned; with `at_driver`, the
    steps that allow it run at the driver (`store/prepared.py`)."""
    done = []
    for step in steps:
        if isinstance(step.params, Sequence) and not step.params:
            done.append(Done([], 0))
            continue
        if at_driver and step.at_driver:
            result = prepared.execute(connection, step.statement, step.params)
        else:
            result = connection.execute(step.statement, step.params)
        rows = list(result.all()) if result.returns_rows else []
        done.append(Done(rows, max(result.rowcount, 0)))
    return done


def run_on_d1(connection: sa.Connection, steps: Sequence[Step]) -> list[Done]:
    """Record the steps, send them as one D1 batch, and read each answer back through SQLAlchemy.

    The steps are executed twice on the same connection: the first time the driver only
    collects each statement's SQL and bound values (nothing is sent), then one call posts them
    all, and the second execution is answered from that call's results, so SQLAlchemy types
    every row exactly as it would have for a statement it sent itself.
    """
    raw = connection.connection.dbapi_connection
    try:
        raw.record()  # type: ignore[union-attr]
        for step in steps:
            if not (isinstance(step.params, Sequence) and not step.params):
                connection.execute(step.statement, step.params)
        try:
            raw.send()  # type: ignore[union-attr]
        except d1errors.Error as error:
            # Sent outside SQLAlchemy's execute: wrapped here as it wraps a statement's error.
            raise sa.exc.DBAPIError.instance("(D1 batch)", None, error, d1errors.Error) from error
        return execute_steps(connection, steps)
    finally:
        raw.end_batch()  # type: ignore[union-attr]
