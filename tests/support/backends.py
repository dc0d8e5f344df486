"""The backends every test may ask for: real SQLite files, a private PostgreSQL schema, a
private Redis key prefix (a pytest plugin, registered by tests/conftest.py).

Tests that need PostgreSQL or Redis skip with a reason when the server is absent, and fail
instead when CI is set: in CI every backend must really be exercised.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.store import migrate

from tests.support.faults_proxy import TcpProxy

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PG_ADMIN_URL = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/test"


@contextlib.contextmanager
def behind_proxy(pg_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """`pg_url`'s schema migrated, then a TcpProxy before the PostgreSQL server (closed after):
    the proxy, and `pg_url` reaching its server through it."""
    migrate(pg_url)
    with TcpProxy(PG_PORT) as proxy:
        yield proxy, pg_url.replace(f"{PG_HOST}:{PG_PORT}", f"127.0.0.1:{proxy.port}", 1)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip (locally) or fail (in CI) when a server the test needs does not answer."""
    if _answers(host, port):
        return
    reason = f"{name} is not answering at {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL for a fresh SQLite file in this test's own folder."""
    return f"sqlite:///{tmp_path / 'marketbrief.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose connections live in a private, freshly made PostgreSQL schema."""
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg

    schema = f"mbtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test") as conn:
        conn.autocommit = True
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test") as conn:
            conn.autocommit = True
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each store contract test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
        return url
    url = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(params=["sqlite", "postgresql", "d1"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each store contract test runs on SQLite, PostgreSQL and a local D1 (see local_d1)."""
    url: str = request.getfixturevalue(
        {"sqlite": "sqlite_url", "postgresql": "pg_url", "d1": "d1_url"}[request.param]
    )
    return url


@pytest.fixture
def redis_url() -> str:
    """The local Redis server; tests keep to their own key prefix (see redis_prefix)."""
    require_server("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test or user shares; only keys under it are ever deleted."""
    return f"mbtest:{uuid.uuid4().hex[:12]}:"
