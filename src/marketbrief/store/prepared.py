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

Only what needs nothing else takes this lane: no expanding or literal-execute parameters, no
Python-side column defaults to compute, no key returned for SQLAlchemy's own use, and only
rows whose values come back as the driver gives them (the batch reads ids, run ids and
tokens). Positional (SQLite's qmark) and named (psycopg's pyformat) parameters are both bound
the way SQLAlchemy binds them. Anything else is executed by SQLAlchemy as before.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa


@dataclass(frozen=True, slots=True)
class Prepared:
    """One statement as one dialect compiled it, ready to bind values to."""

    sql: str
    names: tuple[str, ...]  # its parameters: in order (positional), or every one (named)
    literals: Mapping[str, Any]  # values the statement carries itself (`sa.literal`, LIMIT)
    processors: Mapping[str, Callable[[Any], Any]]
    positional: bool = True
    escaped: Mapping[str, str] = field(default_factory=dict)  # named: the names as sent

    def bind(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters for one set of `values`, processed as SQLAlchemy does."""
        given = {**self.literals, **values} if self.literals else values
        processors = self.processors
        try:
            if self.positional:
                return tuple(
                    processors[name](given[name]) if name in processors else given[name]
                    for name in self.names
                )
            escaped = self.escaped
            return {
                escaped.get(name, name): (
                    processors[name](given[name]) if name in processors else given[name]
                )
                for name in self.names
            }
        except KeyError as missing:
            raise sa.exc.ArgumentError(f"no value for bind parameter {missing}") from None


R = TypeVar("R")
_Made = dict[tuple[int, int], tuple[sa.Dialect, Any, Any]]
_PREPARED: _Made = {}
_READINGS: _Made = {}


def _once(
    made: _Made, dialect: sa.Dialect, statement: Any, make: Callable[[sa.Dialect, Any], R]
) -> R:
    """`make(dialect, statement)`, kept in `made`: each pair is compiled once. The dialect and
    statement are kept with what was made, so their ids are never reused for another."""
    key = (id(dialect), id(statement))
    found = made.get(key)
    if found is not None and found[0] is dialect and found[1] is statement:
        kept: R = found[2]
        return kept
    result = make(dialect, statement)
    made[key] = (dialect, statement, result)
    return result


def prepared(dialect: sa.Dialect, statement: sa.Executable) -> Prepared | None:
    """`statement` compiled for `dialect` (once), or None when it must go through SQLAlchemy."""
    return _once(_PREPARED, dialect, statement, _compile)


def _compile(dialect: sa.Dialect, statement: sa.Executable) -> Prepared | None:
    compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if (
        (compiled.positional and compiled.positiontup is None)
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.schema_translate_map
        # RETURNING the new row's key for SQLAlchemy itself (PostgreSQL's upserts): it reads
        # that row, the caller sees none.
        or getattr(compiled, "implicit_returning", None)
    ):
        return None
    literals = {name: value for name, value in compiled.params.items() if value is not None}
    if compiled.positional:
        names = tuple(compiled.positiontup)
    else:
        names = tuple(dict.fromkeys(compiled.bind_names.values()))
    return Prepared(
        sql=compiled.string,
        names=names,
        literals=literals,
        processors=dict(compiled._bind_processors),
        positional=bool(compiled.positional),
        escaped=dict(compiled.escaped_bind_names or {}),
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


@dataclass(frozen=True, slots=True)
class Reading:
    """A SELECT as one dialect compiled it, with what turns the driver's rows into values."""

    statement: Prepared
    row: Callable[..., Any]  # a named tuple of the selected columns
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]  # SQLAlchemy's result processors,
    width: int  # by column position; the other columns come back as the driver gives them

    def row_of(self, found: Sequence[Any]) -> Any:
        """A row as the driver gave it, its values as SQLAlchemy would hand them back."""
        if len(found) != self.width:
            raise ValueError(f"{len(found)} columns came back where {self.width} were selected")
        values = list(found)
        for position, convert in self.converters:
            values[position] = convert(values[position])
        return self.row(*values)


def reading(dialect: sa.Dialect, statement: sa.Select[Any]) -> Reading | None:
    """`statement` ready to read at the driver (compiled once), or None when it cannot be."""
    return _once(_READINGS, dialect, statement, _reading)


def _reading(dialect: sa.Dialect, statement: sa.Select[Any]) -> Reading | None:
    ready = prepared(dialect, statement)
    if ready is None:
        return None
    columns = list(statement.selected_columns)
    processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
    return Reading(
        statement=ready,
        row=namedtuple("Row", [c.key for c in columns], rename=True),  # type: ignore[misc]
        converters=tuple((n, p) for n, p in enumerate(processors) if p is not None),
        width=len(columns),
    )
