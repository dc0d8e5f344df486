"""One row of an old table, read column by column, and the refusal that names it.

The importer never guesses at a value that is there but unreadable, and never writes one the
readers cannot read: either refuses the whole dump with `BadRow`, naming the old table, the row
and the column, and the one transaction rolls back so nothing is written. (A row marketbrief has
no place for, an unknown report type say, is skipped with a reason instead; see `values`.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from marketbrief.d1 import values as legacy
from marketbrief.errors import InvalidInput
from marketbrief.ops.columns import check_value

T = TypeVar("T")


class BadRow(InvalidInput):
    """A row of the dump holds a value the store cannot keep or the readers cannot read."""


@dataclass(frozen=True, slots=True)
class OldRow:
    """A row of old table `table`, known in messages as `key` (its id, or its natural key)."""

    table: str
    key: str
    values: Mapping[str, Any]

    def get(self, column: str) -> Any:
        """The raw value of a column (None when the dump's table lacks it)."""
        return self.values.get(column)

    def read(self, column: str, reader: Callable[[Any], T]) -> T:
        """A column's value through one of `values`' readers; BadRow if it cannot be read."""
        try:
            return reader(self.values.get(column))
        except (ValueError, OverflowError) as error:
            raise self.refuse(column, str(error)) from None

    def instant(self, column: str) -> datetime | None:
        """The column as an aware UTC instant (None when absent)."""
        return self.read(column, legacy.instant)

    def day(self, column: str) -> date | None:
        """The column as a date (None when absent)."""
        return self.read(column, legacy.day)

    def number(self, column: str) -> float | None:
        """The column as a finite number (None when absent)."""
        return self.read(column, legacy.number)

    def whole(self, column: str, *, minimum: int | None = 0) -> int | None:
        """The column as a whole number, not below `minimum` (None when absent)."""
        found = self.read(column, legacy.whole)
        if found is not None and minimum is not None and found < minimum:
            raise self.refuse(column, f"{found} is below {minimum}")
        return found

    def text(self, column: str, limit: int | None = None) -> str | None:
        """The column as text of at most `limit` characters (None when absent)."""
        return self.read(column, lambda value: legacy.text(value, limit))

    def refuse(self, column: str, why: str) -> BadRow:
        """The refusal of this row for one of its columns."""
        return BadRow(
            f"table {self.table}, row {self.key}, column {column}: {why}; nothing was imported "
            "(correct or delete that row in the dump, then import again)"
        )

    def checked(self, table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
        """`values` for a row of our `table`, each checked as restore checks an archive's."""
        for name, value in values.items():
            try:
                check_value(table, table.c[name], value)
            except ValueError as error:
                raise BadRow(
                    f"table {self.table}, row {self.key}: {error} (for {table.name}.{name}); "
                    "nothing was imported (correct or delete that row in the dump, then import "
                    "again)"
                ) from None
        return values
