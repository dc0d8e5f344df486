"""The PostgreSQL engine: a bound on every wait, so a stalled server costs seconds, not minutes.

Connecting, checking a connection out of the pool, and each round trip on a connection are all
bounded. The round trip is bounded by the client itself: a stalled server (or a blackholed
route) never sends the error its own statement_timeout would.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.errors import _WaitTimeout
from sqlalchemy import event

# TCP keepalive: an idle connection whose peer vanished is found dead within about 25 s.
PG_KEEPALIVE_IDLE_SECONDS = 10
PG_KEEPALIVE_INTERVAL_SECONDS = 5
PG_KEEPALIVE_COUNT = 3
# The client waits this much longer than the server's statement_timeout, so a slow statement
# the server is still running ends with the server's own error, not with ours.
_CLIENT_MARGIN_SECONDS = 1.0
TIMEOUT_MESSAGE = "the store did not answer within"


@dataclass(frozen=True, slots=True)
class PgTimeouts:
    """How long a PostgreSQL client waits: to connect, for a pooled connection, per round trip."""

    connect_seconds: float = 3.0
    statement_seconds: float = 30.0
    pool_seconds: float = 2.0

    @property
    def round_trip_seconds(self) -> float:
        """The client's own bound on one round trip (a statement, a commit, a ping)."""
        return self.statement_seconds + _CLIENT_MARGIN_SECONDS


class _BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait on the server ends after `round_trip` seconds.

    psycopg runs every round trip (execute, fetch, commit, rollback, the pool's ping) through
    `wait`; its internal `_WaitTimeout` is turned into a closed connection and a public error
    here, as psycopg asks of callers that set the timeout.
    """

    round_trip: float | None = None

    def wait(
        self,
        gen: Generator[Any, Any, Any],
        interval: float = 0.1,
        timeout: float | None = None,
    ) -> Any:
        try:
            return super().wait(gen, interval, self.round_trip if timeout is None else timeout)
        except _WaitTimeout:
            # The protocol is half-way through an exchange: this connection cannot be reused.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"{TIMEOUT_MESSAGE} {self.round_trip} s (connection closed)"
            ) from None


def is_timeout(error: BaseException | None) -> bool:
    """Whether a driver error says the server did not answer in time (not that it refused)."""
    return isinstance(error, psycopg.errors.ConnectionTimeout) or (
        isinstance(error, psycopg.OperationalError) and TIMEOUT_MESSAGE in str(error)
    )


def pg_engine(url: str, timeouts: PgTimeouts, *, lock_timeout_ms: int) -> sa.Engine:
    """An engine whose connections give up on a silent server within `timeouts`."""
    round_trip_ms = math.ceil(timeouts.round_trip_seconds * 1000)
    engine = sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=timeouts.pool_seconds,
        connect_args={
            # libpq counts whole seconds, and treats anything under 2 as 2.
            "connect_timeout": max(2, math.ceil(timeouts.connect_seconds)),
            "keepalives": 1,
            "keepalives_idle": PG_KEEPALIVE_IDLE_SECONDS,
            "keepalives_interval": PG_KEEPALIVE_INTERVAL_SECONDS,
            "keepalives_count": PG_KEEPALIVE_COUNT,
            # Sent data the peer never acknowledges (a dropped route) breaks the connection.
            "tcp_user_timeout": round_trip_ms,
        },
    )

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        connection = _BoundedConnection.connect(*cargs, **cparams)
        connection.round_trip = timeouts.round_trip_seconds
        return connection

    @event.listens_for(engine, "connect")
    def _bounded(dbapi_connection: Any, _record: Any) -> None:
        # A blocked store must fail within the write budget (and the write go to the outbox),
        # not hang.
        statement_ms = math.ceil(timeouts.statement_seconds * 1000)
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = {lock_timeout_ms}")
            cursor.execute(f"SET statement_timeout = {statement_ms}")
        dbapi_connection.commit()

    return engine
