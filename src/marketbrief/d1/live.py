"""The old D1 database read live, over the D1 REST API, as the importer reads a dump.

`LiveDatabase` answers what the importer asks of a `Dump` (which tables, their columns, their
rows) from a live D1 database through the store's own D1 client (`store/d1/api.py`): rows come
a page at a time in rowid order, one call a page, with progress per page. Nothing is written
to the old database; D1's own `_cf_*` tables are not listed.
"""

from __future__ import annotations

from typing import Any

from marketbrief.errors import InvalidInput, StoreUnavailable
from marketbrief.ops.progress import Progress, advancing
from marketbrief.store.d1 import errors
from marketbrief.store.d1.api import D1Api, StatementResult

# Rows per call: well under D1's answer size for the old tables' widest rows (a report JSON).
PAGE_ROWS = 200


class LiveDatabase:
    """A live D1 database, read table by table; `rows(table)` pages through one old table."""

    def __init__(self, api: D1Api, progress: Progress | None = None) -> None:
        self.api = api
        self.progress = progress
        self.path = f"d1://{api.target.account_id}/{api.target.database_id}"

    @property
    def schemaless(self) -> list[str]:
        """No table of a live database lacks its schema."""
        return []

    def _ask(self, sql: str, *params: Any) -> StatementResult:
        try:
            return self.api.run([(sql, params)])[0]
        except errors.OperationalError as error:
            raise StoreUnavailable(f"{self.path}: {error}") from error
        except errors.Error as error:
            raise InvalidInput(f"{self.path}: {error}; nothing was imported") from error

    def tables(self) -> list[str]:
        """Every table of the old database, by name (not D1's own `_cf_*` tables)."""
        found = self._ask(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' "
            "ESCAPE '\\' ORDER BY name"
        )
        return [str(row[0]) for row in found.rows]

    def has(self, table: str) -> bool:
        """Whether the old database holds this table."""
        return table in self.tables()

    def columns(self, table: str) -> list[str]:
        """The table's columns, in the database's order."""
        found = self._ask(f'PRAGMA table_info("{_name(table)}")')
        return [str(row[1]) for row in found.rows]

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a table as a dict, in rowid order (the order they were inserted)."""
        quoted = f'"{_name(table)}"'
        total = int(self._ask(f"SELECT count(*) FROM {quoted}").rows[0][0])
        rows: list[dict[str, Any]] = []
        last = None
        with advancing(self.progress, total, f"read {table}") as advance:
            while True:
                where = "" if last is None else "WHERE rowid > ? "
                page = self._ask(
                    f"SELECT rowid AS _live_rowid, * FROM {quoted} {where}"
                    f"ORDER BY rowid LIMIT {PAGE_ROWS}",
                    *(() if last is None else (last,)),
                )
                for values in page.rows:
                    record = dict(zip(page.columns, values, strict=True))
                    last = record.pop("_live_rowid")
                    rows.append(record)
                    advance()
                if len(page.rows) < PAGE_ROWS:
                    return rows

    def close(self) -> None:
        """Close the HTTP connections."""
        self.api.close()


def _name(table: str) -> str:
    return table.replace('"', '""')
