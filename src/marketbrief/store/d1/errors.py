"""The DB-API exception classes of the D1 driver, and D1's answers sorted into them.

SQLAlchemy wraps these by class name (IntegrityError, OperationalError, ...), and
`store/engine.py`'s `mapped_errors` turns them into the marketbrief tree, as for SQLite.
"""

from __future__ import annotations


class Warning(Exception):
    """A DB-API warning (never raised)."""


class Error(Exception):
    """The base of every D1 driver error."""


class InterfaceError(Error):
    """The driver was misused."""


class DatabaseError(Error):
    """D1 refused the statement."""


class DataError(DatabaseError):
    """A value D1 could not store."""


class OperationalError(DatabaseError):
    """D1 could not be reached, timed out, or rate limited the call (an outage)."""


class IntegrityError(DatabaseError):
    """A constraint (unique, check, not null, foreign key) refused the statement."""


class InternalError(DatabaseError):
    """D1 failed inside."""


class ProgrammingError(DatabaseError):
    """The SQL itself is wrong (or over D1's limits)."""


class NotSupportedError(DatabaseError):
    """D1 does not do that (an interactive transaction, for one)."""


_SCHEMA = ("no such table", "no such column", "no such index")


def from_answer(status: int, message: str) -> DatabaseError:
    """The exception for a D1 answer that was not a success."""
    lowered = message.lower()
    if "constraint failed" in lowered or "sqlite_constraint" in lowered:
        return IntegrityError(message)
    if any(hint in lowered for hint in _SCHEMA):
        return OperationalError(message)
    if status in (401, 403):
        return OperationalError(f"D1 refused the token (HTTP {status}): {message}")
    if status >= 500 or status == 408:
        return OperationalError(f"D1 failed (HTTP {status}): {message}")
    if "transaction" in lowered and "begin" in lowered:
        return NotSupportedError(message)
    return ProgrammingError(message)
