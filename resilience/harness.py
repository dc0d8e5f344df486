"""What every scenario needs: server processes, our own Redis and database, inputs, results.

Every process here is started by this suite and stopped by its own process id (or process
group, made with start_new_session); nothing is ever stopped by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from tests.faults_proxy import free_port

from marketbrief.calendar import MarketCalendar, business_date, utc_now
from marketbrief.store.sql import SQLStore

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MARKETBRIEF = str(BIN / "marketbrief")
API_KEY = "resilience-suite-key-0123456789"
SYMBOLS = ("AAPL", "MSFT")
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test"
STARTUP_SECONDS = 60.0
_BULLISH = "{s} shares surge to a record high after blowout earnings beat estimates"
_BEARISH = "{s} stock plunges after weak guidance and falling sales"


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """One promise a scenario tested: whether it held, and the numbers behind the verdict."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class ScenarioResult:
    """What one scenario did and saw; rendered into docs/resilience.md."""

    key: str
    title: str
    counts: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list[Any]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record one check; returns `ok` so callers can branch on it."""
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    @property
    def ok(self) -> bool:
        """Every check held and nothing crashed."""
        return self.error is None and all(c.ok for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for --json and the pytest entry)."""
        return {
            "key": self.key,
            "title": self.title,
            "ok": self.ok,
            "seconds": round(self.seconds, 1),
            "error": self.error,
            "counts": self.counts,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "tables": [{"title": t, "header": h, "rows": r} for t, h, r in self.tables],
            "notes": self.notes,
        }


# -- inputs -------------------------------------------------------------------------------------


def past_sessions(count: int) -> list[date]:
    """`count` consecutive past sessions, ending at least a week before today (New York)."""
    calendar = MarketCalendar()
    last = calendar.session_on_or_before(business_date(utc_now()) - timedelta(days=7))
    first = calendar.sessions_before(last, count - 1)
    return calendar.sessions_between(first, last)


def write_inputs(folder: Path, sessions: list[date]) -> tuple[Path, Path]:
    """News (one headline per symbol per session, before its pre-market slot) and closes."""
    news, prices = folder / "news", folder / "prices"
    news.mkdir(parents=True, exist_ok=True)
    prices.mkdir(parents=True, exist_ok=True)
    for i, symbol in enumerate((*SYMBOLS, "SPY")):
        items = [
            {
                "title": (_BULLISH if (i + j) % 2 == 0 else _BEARISH).format(s=symbol),
                "source": "resilience wire",
                "published_at": f"{day.isoformat()}T11:00:00+00:00",
            }
            for j, day in enumerate(sessions)
        ]
        (news / f"{symbol}.json").write_text(json.dumps(items))
        rows = ["Date,Open,High,Low,Close,Volume"]
        rows += [
            f"{d},{100 + j},{100 + j},{100 + j},{100 + j},1000" for j, d in enumerate(sessions)
        ]
        (prices / f"{symbol}.csv").write_text("\n".join(rows) + "\n")
    return news, prices


def migrate(url: str) -> None:
    """Create the schema (the server refuses to start on an unmigrated store)."""
    store = SQLStore(url)
    try:
        store.migrate()
    finally:
        store.close()


# -- the server ---------------------------------------------------------------------------------


def server_env(
    *,
    database_url: str,
    outbox_dir: Path,
    news: Path,
    prices: Path,
    api_key: str | None = API_KEY,
    **extra: str,
) -> dict[str, str]:
    """The environment of one `marketbrief serve`: MARKETBRIEF_* only from here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETBRIEF_")}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "MARKETBRIEF_DATABASE_URL": database_url,
            "MARKETBRIEF_OUTBOX_DIR": str(outbox_dir),
            "MARKETBRIEF_NEWS": f"dir:{news}",
            "MARKETBRIEF_PRICES": f"dir:{prices}",
            "MARKETBRIEF_SYMBOLS": ",".join(SYMBOLS),
            "MARKETBRIEF_SCHEDULER": "off",
            "MARKETBRIEF_TRIGGER_RATE": "1000",
            "MARKETBRIEF_TRIGGER_BURST": "1000",
        }
    )
    if api_key is not None:
        env["MARKETBRIEF_API_KEY"] = api_key
    env.update({f"MARKETBRIEF_{k.upper()}": v for k, v in extra.items()})
    return env


class Server:
    """`marketbrief serve --port P` as its own process group."""

    def __init__(self, name: str, env: Mapping[str, str], logs: Path) -> None:
        self.name = name
        self.env = dict(env)
        self.port = free_port()
        self.log = logs / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """Where it answers."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        """The command line, as a person would type it."""
        return [MARKETBRIEF, "serve", "--port", str(self.port)]

    def start(self, **env_changes: str) -> None:
        """Launch (again, on the same port), with optional MARKETBRIEF_* changes."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.env.update({f"MARKETBRIEF_{k.upper()}": v for k, v in env_changes.items()})
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n==== start {self.starts}: {' '.join(self.command)}\n".encode())
            out.flush()
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI, no shell
                self.command,
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = STARTUP_SECONDS) -> None:
        """Until /healthz answers 200 (the lifespan has opened every service)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL our server's process group: no shutdown hook runs."""
        self._signal(signal.SIGKILL)

    def stop(self, timeout: float = 40.0) -> None:
        """SIGTERM (a graceful shutdown: background runs drain), SIGKILL if it lingers."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        self._signal(signal.SIGTERM, wait=False)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)

    def _signal(self, signum: int, *, wait: bool = True) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        if wait:
            process.wait(timeout=30)

    def tail(self, lines: int = 40) -> str:
        """The end of the server's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_count(self, needle: str) -> int:
        """How many log lines contain `needle`."""
        try:
            return sum(needle in line for line in self.log.read_text(errors="replace").splitlines())
        except OSError:
            return 0


# -- our own Redis --------------------------------------------------------------------------


class RedisServer:
    """A redis-server of our own on a free loopback port: the shared one is never touched."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start and wait (10 s at most) for PONG."""
        assert self.process is None
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        self.process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
            [self.binary, *args, "no", "--daemonize", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.exceptions.RedisError):
                if self.client().ping():
                    return
            time.sleep(0.02)
        raise RuntimeError("our redis-server did not answer within 10 s")

    def stop(self) -> None:
        """SIGTERM our server (with --save "" it exits at once, keeping nothing)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def flushall(self) -> None:
        """FLUSHALL on OUR server only."""
        self.client().flushall()

    def client(self) -> redis.Redis:
        """A client of our server."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)


# -- our own PostgreSQL database ------------------------------------------------------------


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


def sqlite_rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one read-only query on a SQLite file (WAL readers never block the writer)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        return db.execute(sql, params).fetchall()


def integrity_check(path: Path) -> list[str]:
    """PRAGMA integrity_check on a SQLite file: ['ok'] when sound."""
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        return [row[0] for row in db.execute("PRAGMA integrity_check")]


# -- answers ------------------------------------------------------------------------------------


def split_envelope(body: bytes) -> tuple[bytes, dict[str, Any]]:
    """A report envelope's raw `data` bytes (exactly as stored) and its parsed `meta`."""
    head, marker = b'{"data":', b',"meta":'
    if not body.startswith(head):
        raise ValueError("not a report envelope")
    cut = body.rindex(marker)
    meta = json.loads(body[cut + len(marker) : -1])
    return body[len(head) : cut], meta


def sha256(data: bytes) -> str:
    """Hex SHA-256, as the store keeps content_sha256."""
    return hashlib.sha256(data).hexdigest()


def counters(base_url: str, names: tuple[str, ...]) -> dict[str, int]:
    """marketbrief's own counters (`marketbrief_<name>_total`) from a server's /metrics."""
    text = httpx.get(base_url + "/metrics", timeout=30).text
    found: dict[str, int] = {}
    for line in text.splitlines():
        for name in names:
            if line.startswith(f"marketbrief_{name}_total "):
                found[name] = int(float(line.split()[1]))
    return found


@contextlib.contextmanager
def cleanup() -> Iterator[contextlib.ExitStack]:
    """An exit stack whose callbacks run even when a scenario fails half-way."""
    with contextlib.ExitStack() as stack:
        yield stack
