"""One exception tree for marketbrief.

Adapters catch driver exceptions (sqlite3, psycopg, SQLAlchemy, redis) at their edge and raise
one of these instead; nothing outside a backend ever sees a driver exception::

    MarketbriefError
    ├── ConfigError            a MARKETBRIEF_* variable is missing or malformed
    ├── InvalidInput           a caller passed a bad date, type, cursor or limit
    ├── NotFound               the thing asked for does not exist
    ├── StoreError             the SQL store failed
    │   ├── StoreUnavailable   cannot reach, locked or read-only: try again later
    │   │   └── StoreTimeout   the store did not answer in time (stalled, blackholed)
    │   ├── StoreConflict      a constraint refused the write; nothing was written
    │   └── SchemaError        the schema is missing or not at the migration head
    ├── CacheError             the hot cache failed
    │   └── CacheUnavailable   cannot reach the cache: serve from the store
    │       └── CacheTimeout   the cache did not answer in time (stopped, stalled)
    ├── OutboxError            the local outbox could not take or give back a write
    └── ProviderError          a news, price or sentiment provider failed
"""

from __future__ import annotations


class MarketbriefError(Exception):
    """The root of every error marketbrief raises on purpose."""


class ConfigError(MarketbriefError):
    """A MARKETBRIEF_* setting is missing or malformed; the message names the variable."""


class InvalidInput(MarketbriefError):
    """A caller passed a value marketbrief cannot accept (date, report type, cursor, limit)."""


class NotFound(MarketbriefError):
    """The run, report or snapshot asked for does not exist."""


class StoreError(MarketbriefError):
    """The SQL store failed."""


class StoreUnavailable(StoreError):
    """The store cannot be reached, is locked or is read-only; the operation may be retried."""


class StoreTimeout(StoreUnavailable):
    """The store did not answer in time: it accepted the call and then said nothing."""


class StoreConflict(StoreError):
    """A constraint refused the write; the transaction was rolled back and nothing was written."""


class SchemaError(StoreError):
    """The schema is missing or not at the migration head; run `marketbrief migrate`."""


class CacheError(MarketbriefError):
    """The hot cache failed."""


class CacheUnavailable(CacheError):
    """The cache cannot be reached; readers fall back to the store."""


class CacheTimeout(CacheUnavailable):
    """The cache did not answer in time: it accepted the call and then said nothing."""


class OutboxError(MarketbriefError):
    """The durable local outbox could not accept or return a write."""


class ProviderError(MarketbriefError):
    """A news, price or sentiment provider failed; the message says which and why."""
