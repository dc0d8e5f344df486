"""The machine's shared PostgreSQL and Redis: whether they answer, and this run's corner of each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

PG_HOST, PG_PORT, PG_USER, PG_DB = "127.0.0.1", 5432, "postgres", "test"


@dataclass(frozen=True, slots=True)
class PgSchema:
    """A private schema in the shared PostgreSQL database; `drop` removes it and all it holds."""

    name: str
    host: str = PG_HOST
    port: int = PG_PORT
    user: str = PG_USER
    dbname: str = PG_DB

    @classmethod
    def create(cls, label: str = "") -> PgSchema:
        """A fresh schema named mbbench_<label>_<random> (nothing else is ever touched)."""
        import psycopg

        schema = cls(f"mbbench_{label + '_' if label else ''}{uuid.uuid4().hex[:10]}")
        with psycopg.connect(schema.admin_conninfo, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{schema.name}"')
        return schema

    @property
    def admin_conninfo(self) -> str:
        """A libpq connection string to the database (default search path)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"

    @property
    def conninfo(self) -> str:
        """A libpq connection string whose search path is this schema."""
        return f"{self.admin_conninfo} options=-csearch_path={self.name}"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL marketbrief takes (MARKETBRIEF_DATABASE_URL)."""
        return (
            f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.dbname}"
            f"?options=-csearch_path%3D{self.name}"
        )

    def drop(self) -> None:
        """Remove the schema with everything in it."""
        import psycopg

        with psycopg.connect(self.admin_conninfo, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


def postgres_answers(timeout: float = 1.0) -> bool:
    """Whether the shared PostgreSQL server accepts a connection."""
    try:
        import psycopg

        with psycopg.connect(
            f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={PG_DB}",
            connect_timeout=max(1, int(timeout)),
        ):
            return True
    except Exception:
        return False


REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def redis_answers() -> bool:
    """Whether the shared Redis server answers PING."""
    try:
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def drop_redis_prefix(prefix: str) -> int:
    """Delete every key under our private prefix (never anything else); return how many."""
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        return len(keys)
    finally:
        client.close()
