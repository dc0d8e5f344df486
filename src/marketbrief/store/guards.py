"""Conditions and JSON edits a write states in SQL, so its batch needs no round trip between.

`Guard` is a condition tested once, at the start of a batch, whose answer every later
statement of the batch can see: its token goes into `batch_guards` only if the condition held,
statements add `guard.holds` to their WHERE, and the batch's last statement removes the token.
The two dialect differences the write path needs (appending a text to a JSON array, an
instant as ISO text) are the named helpers below.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from marketbrief.store.batch import Step
from marketbrief.store.schema import batch_guards


@dataclass(frozen=True, slots=True)
class Guard:
    """One batch's condition, by its token."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def holds(self) -> sa.ColumnElement[bool]:
        """True in a statement of the batch if the condition held at the batch's start."""
        return sa.select(batch_guards.c.token).where(batch_guards.c.token == self.token).exists()

    def test(self, condition: sa.ColumnElement[bool]) -> Step:
        """The batch's first step: remember whether `condition` holds (it returns a row if so)."""
        chosen = sa.select(sa.literal(self.token, sa.String)).where(condition)
        insert = sa.insert(batch_guards).from_select(["token"], chosen)
        return Step(insert.returning(batch_guards.c.token))

    def release(self) -> Step:
        """The batch's last step: forget the token."""
        return Step(sa.delete(batch_guards).where(batch_guards.c.token == self.token))


def values_if(
    table: sa.Table, values: dict[str, Any], condition: sa.ColumnElement[bool]
) -> sa.Select[Any]:
    """A SELECT of bound `values` (typed as `table`'s columns) that yields a row iff `condition`."""
    return sa.select(
        *[
            sa.bindparam(None, value, type_=table.c[name].type).label(name)
            for name, value in values.items()
        ]
    ).where(condition)


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
