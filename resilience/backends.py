"""The backends this suite owns (its own redis-server and PostgreSQL database), SQLite reads.

Also the ways scenarios take them: a migrated database undone by the cleanup stack, a proxy
before the PostgreSQL server, one measurement on SQLite and then on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import redis
from harness.probes import free_port
from harness.process import ServerProcess
from harness.store import migrate
from tests.support.faults_proxy import TcpProxy

from resilience.scenario import ScenarioResult

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test"
REDIS_STARTUP_SECONDS = 10.0


class RedisServer(ServerProcess):
    """A redis-server of our own on a free loopback port: the shared one is never touched."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        command = [binary, *args, "no", "--daemonize", "no", "--dir", str(workdir)]
        super().__init__("our redis-server", command, grace=10.0)

    def start(self) -> None:
        """Start and wait (10 s at most) for PONG."""
        super().start()
        self.wait_until(self._pong, timeout=REDIS_STARTUP_SECONDS, poll=0.02)

    def _pong(self) -> bool:
        with contextlib.suppress(redis.exceptions.RedisError):
            return bool(self.client().ping())
        return False

    def pause(self) -> None:
        """SIGSTOP our server: its port still accepts connections, and nothing answers."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT our server: it answers again, with every key it held."""
        self._signal(signal.SIGCONT)

    def flushall(self) -> None:
        """FLUSHALL on OUR server only."""
        self.client().flushall()

    def client(self) -> redis.Redis:
        """A client of our server."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)


class PgDatabase:
    """CREATE DATABASE mbres_<random> on the shared server; dropped by `drop`."""

    def __init__(self) -> None:
        self.name = f"mbres_{uuid.uuid4().hex[:12]}"
        self.dsn = f"host={PG_HOST} port={PG_PORT} user=postgres dbname={self.name}"

    def url(self, port: int = PG_PORT) -> str:
        """A marketbrief database URL, optionally through a proxy's port."""
        return f"postgresql://postgres@127.0.0.1:{port}/{self.name}"

    def create(self) -> None:
        """Make the database (autocommit: CREATE DATABASE cannot run in a transaction)."""
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')

    def terminate_backends(self) -> int:
        """pg_terminate_backend for every connection to OUR database (never another's)."""
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            ).fetchall()
        return sum(1 for (done,) in rows if done)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query on our database (a direct connection, not through any proxy)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def drop(self) -> None:
        """Drop our database, ending whatever still connects to it."""
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def own_database(stack: contextlib.ExitStack) -> PgDatabase:
    """A new database of ours, migrated; `stack` drops it."""
    db = PgDatabase()
    db.create()
    stack.callback(db.drop)
    migrate(db.url())
    return db


async def sqlite_then_postgres(
    result: ScenarioResult, sqlite_url: str, one: Callable[[str, str], Awaitable[list[Any]]]
) -> list[list[Any]]:
    """`one(label, url)` on SQLite, then on a new database of ours (dropped after): their rows.

    Without a PostgreSQL server to create it on, a note says so rather than pretend.
    """
    rows = [await one("sqlite", sqlite_url)]
    db = PgDatabase()
    try:
        db.create()
    except Exception as error:  # no PostgreSQL here: say so rather than pretend
        result.notes.append(f"PostgreSQL not run: {error}")
    else:
        try:
            rows.append(await one("postgresql", db.url()))
        finally:
            db.drop()
    return rows


def proxy_to_postgres(stack: contextlib.ExitStack) -> TcpProxy:
    """A loopback TcpProxy to the PostgreSQL server, up; `stack` closes it."""
    proxy = TcpProxy(PG_PORT)
    proxy.up()
    stack.callback(proxy.close)
    return proxy


def sqlite_rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one read-only query on a SQLite file (WAL readers never block the writer)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        return db.execute(sql, params).fetchall()


def integrity_check(path: Path) -> list[str]:
    """PRAGMA integrity_check on a SQLite file: ['ok'] when sound."""
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        return [row[0] for row in db.execute("PRAGMA integrity_check")]
