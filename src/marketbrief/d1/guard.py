"""What a dump may do while it loads: the statements a D1 export holds, and nothing costs more.

A `wrangler d1 export` holds `PRAGMA defer_foreign_keys=TRUE;`, each table's `CREATE TABLE`
and one `INSERT ... VALUES(...)` per row (text with newlines spelled `replace('..',
'\\n', char(10))`, blobs as `X'..'`), `DELETE FROM sqlite_sequence;` and its rows, `ANALYZE
sqlite_schema;` and the `sqlite_stat1` rows when the database had statistics, then its indexes,
triggers and views. `Guard` is the authorizer that lets exactly that through:

- `CREATE TABLE` (with whatever its CHECK constraints and generated columns call), `INSERT`
  with at most one SELECT, its VALUES list, and in a value only `replace`, `char` and `unistr`;
  `DELETE FROM sqlite_sequence`;
- skipped without a word: named indexes, triggers and views (the importer reads whole tables,
  so it needs no index, and a trigger skipped can never fire), BEGIN / COMMIT (the loader runs
  each statement on its own; the database is private memory) and the two PRAGMAs that switch
  foreign keys (they stay off: an export may insert into a table before its parent);
- refused, naming what: reading a table of the dump (INSERT ... SELECT, joins, subqueries), a
  recursive query, any other function, PRAGMA, DELETE, UPDATE, DROP, ALTER, ATTACH or DETACH.

`Limits` bounds the rest: a value's length (D1 keeps at most 2 MB in a row), a statement's
length, the database's size (against the dump's own size), and the work: SQLite's virtual
machine steps and a wall-clock deadline, both in proportion to the dump's size, checked by a
progress handler. Whatever breaks a bound stops the load; nothing has been written anywhere.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024

# The authorizer actions refused by name, for the messages (sqlite3 exports only numbers).
_ACTIONS = (
    "CREATE_TEMP_INDEX",
    "CREATE_TEMP_TABLE",
    "CREATE_TEMP_TRIGGER",
    "CREATE_TEMP_VIEW",
    "DELETE",
    "DROP_INDEX",
    "DROP_TABLE",
    "DROP_TEMP_INDEX",
    "DROP_TEMP_TABLE",
    "DROP_TEMP_TRIGGER",
    "DROP_TEMP_VIEW",
    "DROP_TRIGGER",
    "DROP_VIEW",
    "UPDATE",
    "ATTACH",
    "DETACH",
    "ALTER_TABLE",
    "REINDEX",
    "ANALYZE",
    "CREATE_VTABLE",
    "DROP_VTABLE",
    "SAVEPOINT",
)
_NAMES = {getattr(sqlite3, f"SQLITE_{name}"): name.replace("_", " ") for name in _ACTIONS}
VALUE_FUNCTIONS = frozenset({"replace", "char", "unistr"})
PRAGMAS = frozenset({"defer_foreign_keys", "foreign_keys"})
_SKIPPED = (sqlite3.SQLITE_CREATE_TRIGGER, sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_TRANSACTION)


@dataclass(frozen=True, slots=True)
class Limits:
    """How far loading one dump may go (`for_size` scales them to the dump)."""

    value_bytes: int = 4 * MIB
    statement_chars: int = 16 * MIB
    database_bytes: int = 64 * MIB
    steps: int = 1_000_000
    steps_per_byte: int = 100
    seconds: float = 60.0

    @classmethod
    def for_size(cls, dump_bytes: int) -> Limits:
        """Bounds for a dump of this many bytes: generous for an export, tight for a bomb.

        An export's tables take less room than its SQL text (quotes, names and `INSERT INTO`
        on every row); a statement of an export runs well under one VM step per byte of its
        text, and a whole export loads at many MiB a second. The bounds allow far more.
        """
        return cls(database_bytes=2 * dump_bytes + 16 * MIB, seconds=60.0 + dump_bytes / MIB)


class Guard:
    """The authorizer and progress handler of one dump's private database."""

    CHECK_EVERY = 10_000  # VM steps between two calls of the progress handler

    def __init__(self, db: sqlite3.Connection, limits: Limits) -> None:
        self.limits = limits
        self.refusal: str | None = None
        self.exhausted: str | None = None
        self._creating: str | None = None
        self._selects = 0
        self._steps, self._budget = 0, limits.steps
        self._deadline = time.monotonic() + limits.seconds
        db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits.value_bytes)
        # A statement's text may be longer in UTF-8 bytes than in characters.
        db.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 4 * limits.statement_chars)
        # Two terms: a recursive query is then refused as one, by name; longer compounds
        # (UNION of many values) are refused by SQLite.
        db.setlimit(sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 2)
        db.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        page = int(db.execute("PRAGMA page_size").fetchone()[0])
        db.execute(f"PRAGMA max_page_count = {max(limits.database_bytes // page, 1)}")
        db.execute("PRAGMA foreign_keys = OFF")
        db.set_authorizer(self._authorize)
        db.set_progress_handler(self._progress, self.CHECK_EVERY)

    def begin(self, size: int) -> bool:
        """A statement (or line of statements) of `size` characters begins; False past the
        deadline. Its step budget grows with its text; nothing is being created or filled."""
        self._creating, self._selects, self.refusal = None, 0, None
        self._steps, self._budget = 0, self.limits.steps + self.limits.steps_per_byte * size
        return not self._past_deadline()

    def _past_deadline(self) -> bool:
        if time.monotonic() <= self._deadline:
            return False
        self.exhausted = (
            f"loading took longer than {self.limits.seconds:.0f} s, far longer than a dump of "
            "its size needs"
        )
        return True

    def _progress(self) -> int:
        self._steps += self.CHECK_EVERY
        if self._steps > self._budget:
            self.exhausted = (
                f"a statement that ran past {self._budget:,} SQLite steps, far more than one "
                "of its length needs"
            )
            return 1
        return 1 if self._past_deadline() else 0

    def _authorize(self, action: int, arg1: Any, arg2: Any, _db: Any, _trigger: Any) -> int:
        verdict = self._verdict(action, arg1, arg2)
        if isinstance(verdict, str):
            self.refusal = verdict
            return sqlite3.SQLITE_DENY
        return verdict

    def _verdict(self, action: int, arg1: Any, arg2: Any) -> int | str:
        """SQLITE_OK or SQLITE_IGNORE, or what is refused, in words."""
        internal = isinstance(arg1, str) and arg1.startswith("sqlite_")
        if action == sqlite3.SQLITE_CREATE_TABLE:
            self._creating, self._selects = arg1, 1
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_INSERT:
            if arg1 != "sqlite_master":
                self._creating, self._selects = None, 1
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_CREATE_INDEX:
            # A table's own key and UNIQUE indexes come with it; named indexes are not needed.
            auto = isinstance(arg1, str) and arg1.startswith("sqlite_autoindex_")
            return sqlite3.SQLITE_OK if auto else sqlite3.SQLITE_IGNORE
        if action in _SKIPPED:
            return sqlite3.SQLITE_IGNORE
        if action == sqlite3.SQLITE_READ:
            # SQLite reads its own tables; a CHECK or generated column reads its own table.
            return (
                sqlite3.SQLITE_OK if internal or arg1 == self._creating else f"reading table {arg1}"
            )
        if action == sqlite3.SQLITE_SELECT:
            self._creating = None  # a CREATE TABLE's own reads come before any query
            if self._selects < 1:
                return "a query (SELECT, a subquery or WITH RECURSIVE; an INSERT holds only VALUES)"
            self._selects -= 1
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            name = str(arg2).lower()
            if self._creating is not None or name in VALUE_FUNCTIONS:
                return sqlite3.SQLITE_OK
            return f"the function {name}()"
        if action == sqlite3.SQLITE_PRAGMA:
            # Foreign keys stay off whatever the dump asks: it may insert children first.
            return sqlite3.SQLITE_IGNORE if str(arg1).lower() in PRAGMAS else f"PRAGMA {arg1}"
        if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_DELETE and arg1 == "sqlite_sequence":
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_DELETE and arg1 == "sqlite_master":
            return "DROP"
        if action == sqlite3.SQLITE_ATTACH and not arg1:
            return "VACUUM"
        if action == sqlite3.SQLITE_RECURSIVE:
            return "a recursive query (WITH RECURSIVE)"
        return f"{_NAMES.get(action, f'action {action}')} {arg1 or ''}".rstrip()

    def reading(self, db: sqlite3.Connection) -> None:
        """The dump is loaded: from now on only the importer's own reads run."""
        db.set_authorizer(_read_only)


def _read_only(action: int, *_args: Any) -> int:
    allowed = (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_PRAGMA)
    return sqlite3.SQLITE_OK if action in allowed else sqlite3.SQLITE_DENY
