"""A statement compiled once per dialect and run at the driver, its values bound as SQLAlchemy does.

The run-completion batch (`store/finish.py`) sends the same statements for every completion,
each built once. Through `Connection.execute`, SQLAlchemy still rebuilds every statement's
parameters from its compiled form on each call (`construct_params` and the execution context's
own pass over them), and on SQLite that was about a quarter of a completion's time
(docs/performance.md). `execute` here compiles a statement once per dialect and keeps what that
work produces every time anyway: the SQL, the order of its positional parameters, the values of
its literal binds and its bind processors (the very functions SQLAlchemy applies). Each call
then only orders and converts the values and hands them to `Connection.exec_driver_sql`, inside
the same transaction, with the same events (usage counting) and the same error mapping. The SQL
and the values that reach the driver are the ones SQLAlchemy sends (`tests/store/
test_prepared.py` holds the two paths together).

Only what needs nothing else takes this lane: a positional dialect (SQLite), no expanding or
literal-execute parameters, no Python-side column defaults to compute, and only rows whose
values come back as the driver gives them (the batch reads ids, run ids and tokens). Anything
else is executed by SQLAlchemy as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True, slots=True)
class Prepared:
    """One statement as one dialect compiled it, ready to bind values to."""

    sql: str
    names: tuple[str, ...]  # the positional parameters, in order
    literals: Mapping[str, Any]  # values the statement carries itself (`sa.literal`, LIMIT)
    processors: Mapping[str, Callable[[Any], Any]]

    def bind(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's parameters for one set of `values`, processed as SQLAlchemy does."""
        given = {**self.literals, **values} if self.literals else values
        processors = self.processors
        try:
            return tuple(
                processors[name](given[name]) if name in processors else given[name]
                for name in self.names
            )
        except KeyError as missing:
            raise sa.exc.ArgumentError(f"no value for bind parameter {missing}") from None


_PREPARED: dict[tuple[int, int], tuple[sa.Dialect, sa.Executable, Prepared | None]] = {}


def prepared(dialect: sa.Dialect, statement: sa.Executable) -> Prepared | None:
    """`statement` compiled for `dialect` (once), or None when it must go through SQLAlchemy."""
    key = (id(dialect), id(statement))
    found = _PREPARED.get(key)
    if found is not None and found[0] is dialect and found[1] is statement:
        return found[2]
    made = _compile(dialect, statement)
    # The dialect and statement are kept with it, so their ids are never reused for another.
    _PREPARED[key] = (dialect, statement, made)
    return made


def _compile(dialect: sa.Dialect, statement: sa.Executable) -> Prepared | None:
    compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if (
        not compiled.positional
        or compiled.positiontup is None
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.schema_translate_map
    ):
        return None
    literals = {name: value for name, value in compiled.params.items() if value is not None}
    return Prepared(
        sql=compiled.string,
        names=tuple(compiled.positiontup),
        literals=literals,
        processors=dict(compiled._bind_processors),
    )


def execute(
    connection: sa.Connection,
    statement: sa.Executable,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> sa.CursorResult[Any]:
    """Run `statement` with `params` (one set, or several for executemany) on `connection`."""
    ready = prepared(connection.dialect, statement)
    if ready is None:
        return connection.execute(statement, params)
    if isinstance(params, Sequence):
        return connection.exec_driver_sql(ready.sql, [ready.bind(p) for p in params])
    return connection.exec_driver_sql(ready.sql, ready.bind(params or {}))
