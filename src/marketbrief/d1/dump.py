"""Reading a `wrangler d1 export` dump of the old Cloudflare D1 database.

A D1 export IS SQLite SQL (`PRAGMA defer_foreign_keys=TRUE;`, `CREATE TABLE ...;`,
`INSERT INTO "t" VALUES(...);`, `replace('..\\n..','\\n',char(10))` for newlines, ...), so it
is executed into a private in-memory SQLite database and the tables are read from there: no
hand-written SQL parser to get quoting or escapes wrong. The file is read line by line and run
statement by statement (`sqlite3.complete_statement` finds where each ends), so a refusal names
its line; `guard.Guard` lets through only what an export holds and bounds what it may cost.
Foreign keys stay off (the export may insert into a table before the one it references exists)
and nothing can be attached, so a dump can touch nothing but that memory.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from marketbrief.d1.guard import MIB, Guard, Limits
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

    def __init__(self, path: Path, limits: Limits | None = None) -> None:
        self.path = path
        try:
            size = path.stat().st_size
        except OSError as error:
            raise InvalidInput(f"cannot read {path}: {error}") from None
        self._db = sqlite3.connect(":memory:", isolation_level=None)
        self._schemaless: list[str] = []
        self._guard = Guard(self._db, limits or Limits.for_size(size))
        try:
            self._load()
        except BaseException:
            self._db.close()
            raise
        self._guard.reading(self._db)

    def _load(self) -> None:
        limit = self._guard.limits.statement_chars
        try:
            with self.path.open(encoding="utf-8", newline="") as handle:
                # A line is never read past the bound, however long it is (or endless).
                lines = iter(lambda: handle.readline(limit + 1), "")
                for line, text in _statements(lines, limit):
                    self._run(line, text)
        except OSError as error:
            raise InvalidInput(f"cannot read {self.path}: {error}") from None
        except UnicodeDecodeError as error:
            raise InvalidInput(
                f"{self.path} is not UTF-8 text ({error}); nothing was imported"
            ) from None
        except _TooLong as error:
            raise self._refused(
                error.line, f"a statement longer than {limit:,} characters"
            ) from None

    def _run(self, line: int, text: str) -> None:
        if not self._guard.begin(len(text)):
            raise self._refused(line, str(self._guard.exhausted))
        try:
            self._db.executescript(text)
        except sqlite3.Error as error:
            missing = _MISSING.match(str(error))
            if missing is None or self._guard.refusal is not None:
                raise self._failed(line, error) from None
            self._without_schema(line, text, missing[1])

    def _without_schema(self, line: int, text: str, table: str) -> None:
        """An INSERT into a table the dump never created (`wrangler d1 export --no-schema`).

        When it is the text's first statement and names its columns, nothing ran yet: the
        table is made with those columns (no types: each value is kept as written) and the
        text runs again. Otherwise the dump is refused, saying how to export one."""
        insert = _INSERT.match(text)
        if insert is None or _unquoted(insert["table"]) != table or not insert["columns"]:
            raise self._refused(
                line,
                f"an INSERT into {table!r}, a table the dump never creates and whose columns it "
                "does not name (an export made with --no-schema): export the schema with the "
                "data, `wrangler d1 export <database> --remote --output=dump.sql` (no "
                "--no-schema, no --no-data)",
            )
        columns = ", ".join(_quoted(_unquoted(c.strip())) for c in insert["columns"].split(","))
        self._schemaless.append(table)
        try:
            self._db.executescript(f"CREATE TABLE {_quoted(table)} ({columns});")
            self._db.executescript(text)
        except sqlite3.Error as error:
            raise self._failed(line, error) from None

    @property
    def schemaless(self) -> list[str]:
        """The tables the dump filled without creating (an export made with --no-schema)."""
        return list(self._schemaless)

    def _failed(self, line: int, error: sqlite3.Error) -> InvalidInput:
        """The one-line refusal of a statement that failed: what the guard refused, or why."""
        guard, limits = self._guard, self._guard.limits
        code = getattr(error, "sqlite_errorname", "")
        if guard.refusal is not None:
            return self._refused(
                line,
                f"{guard.refusal}: a `wrangler d1 export` holds only CREATE, INSERT, PRAGMA "
                "and BEGIN/COMMIT statements",
            )
        if guard.exhausted is not None:
            return self._refused(line, guard.exhausted)
        if code == "SQLITE_TOOBIG":
            return self._refused(
                line, f"a value longer than {limits.value_bytes // MIB} MiB (D1 keeps 2 MB a row)"
            )
        if "too many terms in compound SELECT" in str(error):
            return self._refused(line, "a compound query (UNION, INTERSECT, EXCEPT)")
        if code == "SQLITE_FULL":
            return self._refused(
                line,
                f"its tables grew past {limits.database_bytes // MIB} MiB, more than a dump of "
                "its size can hold",
            )
        return InvalidInput(
            f"{self.path}, line {line}, is not a SQLite SQL dump (wrangler d1 export): {error}; "
            "nothing was imported"
        )

    def _refused(self, line: int, why: str) -> InvalidInput:
        return InvalidInput(f"{self.path}, line {line}: refused {why}; nothing was imported")

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
        try:
            cursor = self._db.execute(f'SELECT * FROM "{table}"')
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]
        except sqlite3.Error as error:  # text that is not UTF-8, a generated column's limit
            reason = self._guard.exhausted or self._guard.refusal or str(error)
            raise InvalidInput(
                f"{self.path}: table {table} cannot be read: {reason}; nothing was imported"
            ) from None

    def close(self) -> None:
        """Free the memory database."""
        self._db.close()


_MISSING = re.compile(r"no such table: (?:main\.)?(.+)")
_NAME = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][A-Za-z0-9_]*)'
_INSERT = re.compile(
    rf"\s*INSERT\s+INTO\s+(?P<table>{_NAME})\s*\((?P<columns>\s*{_NAME}\s*(?:,\s*{_NAME}\s*)*)\)"
    r"\s*VALUES",
    re.IGNORECASE,
)


def _unquoted(name: str) -> str:
    if name[:1] == '"' and name[-1:] == '"':
        return name[1:-1].replace('""', '"')
    if name[:1] in "`[" and name[-1:] in "`]":
        return name[1:-1]
    return name


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _TooLong(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _statements(lines: Iterable[str], limit: int) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each complete statement, or line of statements, in order.

    A statement can only end on a line that ends with `;`; `complete_statement` tells whether
    it does (or the `;` sits inside a string). Once a check fails, the next waits until the
    text has doubled, so a statement of many such lines costs linear, not quadratic, time.
    """
    buffer: list[str] = []
    size, first, check_at = 0, 1, 0
    for number, line in enumerate(lines, start=1):
        if not buffer:
            first = number
        buffer.append(line)
        size += len(line)
        if line.rstrip().endswith(";") and (size >= check_at or size > limit):
            text = "".join(buffer)
            if sqlite3.complete_statement(text):
                yield first, text
                buffer, size, check_at = [], 0, 0
                continue
            check_at = 2 * size
        if size > limit:
            raise _TooLong(first)
    text = "".join(buffer)
    if text.strip():
        yield first, text
