"""Conditions and JSON edits a write states in SQL, so its batch needs no round trip between.

A guard is a condition tested once, at the start of a batch, whose answer every later
statement of the batch can see: its token goes into `batch_guards` only if the condition held
(`test`), statements add `holds()` to their WHERE, and the batch's last statement removes the
token (`release`). The token is a bound parameter (`GUARD_PARAM`), so the statements are
built once and every batch passes its own `Guard`'s token. The two dialect differences the
write path needs (appending a text to a JSON array, an instant as ISO text) are the named
helpers below.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from marketbrief.store.schema import batch_guards

GUARD_PARAM = "g_token"
"""The bound parameter every statement of a guarded batch reads the guard's token from."""


@dataclass(frozen=True, slots=True)
class Guard:
    """One batch's condition, by its token (passed to each statement as `GUARD_PARAM`)."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def params(self) -> dict[str, Any]:
        """The token as a statement's parameter."""
        return {GUARD_PARAM: self.token}


def holds() -> sa.ColumnElement[bool]:
    """True in a statement of the batch if the guard's condition held at the batch's start."""
    token = sa.bindparam(GUARD_PARAM, type_=sa.String)
    return sa.select(batch_guards.c.token).where(batch_guards.c.token == token).exists()


def test(condition: sa.ColumnElement[bool]) -> sa.Insert:
    """The batch's first statement: remember whether `condition` holds (a row comes back if so)."""
    chosen = sa.select(sa.bindparam(GUARD_PARAM, type_=sa.String)).where(condition)
    return sa.insert(batch_guards).from_select(["token"], chosen).returning(batch_guards.c.token)


def release() -> sa.Delete:
    """The batch's last statement: forget the token."""
    return sa.delete(batch_guards).where(
        batch_guards.c.token == sa.bindparam(GUARD_PARAM, type_=sa.String)
    )


def values_if(
    table: sa.Table, columns: Sequence[str], prefix: str, condition: sa.ColumnElement[bool]
) -> sa.Select[Any]:
    """A SELECT of the bound parameters `prefix + column` (typed as `table`'s columns) that
    yields a row iff `condition`."""
    return sa.select(
        *[sa.bindparam(prefix + name, type_=table.c[name].type).label(name) for name in columns]
    ).where(condition)


def bound(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    """`values` as the parameters `values_if(…, prefix, …)` reads."""
    return {prefix + name: value for name, value in values.items()}


def json_append(dialect: str, array: Any, text: Any) -> Any:
    """`array` (a JSON array) with `text` appended; `array` unchanged when `text` is NULL."""
    if dialect == "postgresql":
        grown: Any = sa.cast(
            sa.cast(array, postgresql.JSONB).op("||")(sa.func.jsonb_build_array(text)),
            postgresql.JSON,
        )
    else:
        grown = sa.func.json_insert(array, "$[#]", text)
    return sa.case((text.is_(None), array), else_=grown)


def iso_instant(dialect: str, column: Any) -> Any:
    """A UTC instant column as ISO 8601 text (`2026-11-24T14:30:00.000000+00:00`)."""
    if dialect == "postgresql":
        utc = sa.func.timezone("UTC", column)
        text = sa.func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS.US')
    else:
        text = sa.func.replace(sa.type_coerce(column, sa.String), " ", "T")
    return sa.type_coerce(text, sa.String) + "+00:00"
