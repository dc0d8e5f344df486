"""Reading a `wrangler d1 export` dump of the old Cloudflare D1 database.

A D1 export IS SQLite SQL (`PRAGMA defer_foreign_keys=TRUE;`, `CREATE TABLE ...;`,
`INSERT INTO "t" VALUES(...);`, `replace('..\\n..','\\n',char(10))` for newlines, ...), so it
is executed as-is into a private in-memory SQLite database and the tables are read from there:
no hand-written SQL parser to get quoting or escapes wrong. Foreign keys stay off (the export
may insert into a table before the one it references exists) and ATTACH is refused, so a dump
can touch nothing but that memory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from marketbrief.errors import InvalidInput


def _columns(names: str) -> frozenset[str]:
    return frozenset(names.split())


# The tables the importer reads, with every column it knows (a column not listed here is
# reported and ignored; a listed column may still be deliberately unused, see the runbook).
KNOWN_COLUMNS: Mapping[str, frozenset[str]] = {
    "job_run_results": _columns(
        "id run_id scheduled_date report_type status current_stage errors_json warnings_json "
        "started_at executed_at trigger_source created_at updated_at"
    ),
    "job_stage_log": _columns(
        "id run_id scheduled_date report_type stage status errors_json warnings_json "
        "details_json started_at ended_at created_at"
    ),
    "scheduled_job_results": _columns(
        "id scheduled_date report_type report_content metadata trigger_source run_id created_at"
    ),
    "job_date_results": _columns(
        "id scheduled_date report_type status latest_run_id run_count created_at updated_at"
    ),
    "job_executions": _columns(
        "id job_type status executed_at execution_time_ms symbols_processed symbols_successful "
        "symbols_fallback symbols_failed success_rate errors created_at scheduled_date"
    ),
    "symbol_predictions": _columns(
        "id symbol prediction_date sentiment confidence direction model status error_message "
        "news_source articles_count articles_content created_at updated_at"
    ),
    "daily_analysis": _columns(
        "id analysis_date total_symbols execution_time summary created_at updated_at"
    ),
    "market_close_data": _columns(
        "id symbol close_date close_price previous_close day_change volume source created_at"
    ),
}


class Dump:
    """A D1 dump loaded into memory; `rows(table)` reads one old table."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            script = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidInput(f"cannot read {path}: {error}") from None
        self._db = sqlite3.connect(":memory:")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._db.set_authorizer(_refuse_attach)
        try:
            self._db.executescript(script)
        except sqlite3.Error as error:
            self._db.close()
            raise InvalidInput(
                f"{path} is not a SQLite SQL dump (wrangler d1 export): {error}"
            ) from None

    def tables(self) -> list[str]:
        """Every table the dump created, by name."""
        found = self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
        return [row[0] for row in found]

    def has(self, table: str) -> bool:
        """Whether the dump holds this table."""
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        return found is not None

    def columns(self, table: str) -> list[str]:
        """The table's columns, in the dump's order."""
        return [row[1] for row in self._db.execute(f'PRAGMA table_info("{table}")')]

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a table as a dict, in the order the dump inserted them."""
        cursor = self._db.execute(f'SELECT * FROM "{table}"')
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def close(self) -> None:
        """Free the memory database."""
        self._db.close()


def _refuse_attach(action: int, *_args: Any) -> int:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK
