"""Cache key names: the one module that spells them, so no reader asks for a key nobody writes.

Readers and writers both call these functions, so a key can never be written under one spelling
and read under another. The backend adds its own prefix; these names are prefix-free.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import date

_TYPE = r"[a-z0-9][a-z0-9_-]*"

_TYPE_RE = re.compile(_TYPE)


def _checked_type(report_type: str) -> str:
    # A ':' or upper-case letter would make keys ambiguous or unparseable: refuse to build them.
    value = str(report_type)
    if not _TYPE_RE.fullmatch(value):
        raise ValueError(f"not a report type usable in a cache key: {value!r}")
    return value


@functools.lru_cache(maxsize=4096)  # asked on every report request: checked and spelled once
def report_key(report_type: str, day: date) -> str:
    """Return the cache key of the report of `report_type` for business date `day`."""
    return f"report:{_checked_type(report_type)}:{day.isoformat()}"


@functools.lru_cache(maxsize=4096)
def report_lock(report_type: str, day: date) -> str:
    """Return the lock name that single-flights the store read for one report key."""
    return f"lock:{report_key(report_type, day)}"


def query_digest(query: str) -> str:
    """A history query's canonical text, hashed to a fixed length for its cache key."""
    return hashlib.sha256(query.encode()).hexdigest()[:32]


def history_key(runs_revision: int, digest: str) -> str:
    """The cache key of one rendered history page: the store's run revision and the query's
    digest (`query_digest`)."""
    return f"history:{int(runs_revision)}:{digest}"


def rate_bucket_key(name: str) -> str:
    """The key of the token bucket `name` that every process of a deployment shares."""
    return f"ratelimit:{_checked_type(name)}"
