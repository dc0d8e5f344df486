"""The D1 REST API client: one POST per statement or per batch, and D1's answers as DB-API errors.

D1 (Cloudflare's SQLite) is reached at `{api}/accounts/{account}/d1/database/{database}/raw`
with a bearer token. A body is one statement (`{"sql", "params"}`) or a batch (`{"batch": [...]}`),
which D1 runs as one implicit transaction: the only transaction D1 offers over HTTP. `/raw`
returns each statement's rows as arrays with their column names, so column order and repeated
names survive. Nothing here retries: a 429 ("rate limited") is an outage the store's callers
already survive (the outbox keeps writes, the cache serves reads), and a retry would spend the
very budget that ran out. Every answer's `meta` (rows read and written) is added to `D1Usage`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from marketbrief.store.d1 import errors

DEFAULT_API_URL = "https://api.cloudflare.com/client/v4"
# D1's own limits, enforced here so an oversized statement fails before it costs a call.
MAX_SQL_BYTES = 100_000
MAX_PARAMS = 100


@dataclass(slots=True)
class D1Usage:
    """What the store has cost on D1 so far: API calls, statements, and D1's rows read/written."""

    calls: int = 0
    statements: int = 0
    rows_read: int = 0
    rows_written: int = 0
    rate_limited: int = 0
    # Where the store's day-by-day usage (store/usage.py) takes D1's own figures from.
    forward: Callable[[int, int, int], None] | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, statements: int, metas: Sequence[dict[str, Any]]) -> None:
        """Count one call carrying `statements` statements whose answers had these metas."""
        read = sum(int(meta.get("rows_read") or 0) for meta in metas)
        written = sum(int(meta.get("rows_written") or 0) for meta in metas)
        with self._lock:
            self.calls += 1
            self.statements += statements
            self.rows_read += read
            self.rows_written += written
        if self.forward is not None:
            self.forward(statements, read, written)

    def limited(self) -> None:
        """Count a call D1 refused as over the rate limit."""
        with self._lock:
            self.calls += 1
            self.rate_limited += 1

    def as_dict(self) -> dict[str, int]:
        """The counters as a JSON-ready dict."""
        with self._lock:
            return {
                "calls": self.calls,
                "statements": self.statements,
                "rows_read": self.rows_read,
                "rows_written": self.rows_written,
                "rate_limited": self.rate_limited,
            }


@dataclass(frozen=True, slots=True)
class StatementResult:
    """One statement's answer: column names, rows as lists, and D1's meta."""

    columns: list[str]
    rows: list[list[Any]]
    meta: dict[str, Any]

    @property
    def changes(self) -> int:
        """Rows the statement inserted, updated or deleted."""
        return int(self.meta.get("changes") or 0)

    @property
    def last_row_id(self) -> int | None:
        """The rowid of the last row inserted, if any."""
        value = self.meta.get("last_row_id")
        return int(value) if value else None


@dataclass(frozen=True, slots=True)
class D1Target:
    """Which D1 database, reached how: account, database, token, API base and time limits."""

    account_id: str
    database_id: str
    token: str
    api_url: str = DEFAULT_API_URL
    timeout_seconds: float = 30.0
    connect_seconds: float = 3.0

    @property
    def endpoint(self) -> str:
        """The database's `/raw` URL."""
        base = self.api_url.rstrip("/")
        return f"{base}/accounts/{self.account_id}/d1/database/{self.database_id}/raw"


class D1Api:
    """One D1 database over HTTP; thread-safe (one pooled httpx client)."""

    def __init__(self, target: D1Target, usage: D1Usage | None = None) -> None:
        self.target = target
        self.usage = usage if usage is not None else D1Usage()
        self._client = httpx.Client(
            timeout=httpx.Timeout(target.timeout_seconds, connect=target.connect_seconds),
            headers={"authorization": f"Bearer {target.token}"},
        )

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[StatementResult]:
        """Run one statement, or several as one batch (one transaction), in ONE call."""
        for sql, params in statements:
            _check_limits(sql, params)
        items = [{"sql": sql, "params": list(params)} for sql, params in statements]
        body: dict[str, Any] = items[0] if len(items) == 1 else {"batch": items}
        try:
            response = self._client.post(self.target.endpoint, json=body)
        except httpx.TimeoutException as error:
            raise errors.OperationalError(f"D1 did not answer in time: {error}") from error
        except httpx.HTTPError as error:
            raise errors.OperationalError(f"D1 connection failed: {error}") from error
        if response.status_code == 429:
            self.usage.limited()
            raise errors.OperationalError(f"D1 rate limited the call: {_messages(response)}")
        results = _results(response)
        self.usage.add(len(items), [r.meta for r in results])
        return results

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()


def _check_limits(sql: str, params: Sequence[Any]) -> None:
    if len(sql.encode()) > MAX_SQL_BYTES:
        raise errors.ProgrammingError(f"statement is over D1's {MAX_SQL_BYTES} bytes of SQL")
    if len(params) > MAX_PARAMS:
        raise errors.ProgrammingError(
            f"statement binds {len(params)} parameters, over D1's {MAX_PARAMS}"
        )


def _messages(response: httpx.Response) -> str:
    try:
        found = response.json().get("errors") or []
        return "; ".join(str(e.get("message", e)) for e in found) or response.text[:200]
    except ValueError:
        return response.text[:200] or f"HTTP {response.status_code}"


def _results(response: httpx.Response) -> list[StatementResult]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.get("success") or response.status_code >= 400:
        raise errors.from_answer(response.status_code, _messages(response))
    results = []
    for item in body.get("result") or []:
        found = item.get("results") or {}
        results.append(
            StatementResult(
                columns=list(found.get("columns") or []),
                rows=[list(row) for row in found.get("rows") or []],
                meta=dict(item.get("meta") or {}),
            )
        )
    return results
