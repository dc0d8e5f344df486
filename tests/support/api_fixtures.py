"""The web service under test: a real app per test, in-process, on either mode.

`make_api(**changes)` builds Settings for the test's mode (embedded: SQLite + in-process cache;
scaled: a private PostgreSQL schema + Redis under a private prefix), migrates the store, opens
Services with a settable clock, runs the app's lifespan and talks to it through httpx's
ASGI transport.
Runs are fed by local news and price files (the `dir:` providers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from harness.store import migrate
from starlette.applications import Starlette

from marketbrief.cache.base import Cache
from marketbrief.config import Settings
from marketbrief.models import Completion, Outcome
from marketbrief.services import Services
from marketbrief.web.app import create_app
from tests.support.clock import DAY, Clock
from tests.support.deadlines import LOADED_MACHINE_DEADLINES

KEY = "k" * 20
PREVIOUS = date(2026, 11, 23)  # the Monday session before DAY
THANKSGIVING = date(2026, 11, 26)  # not a session
SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA")
_NEWS_AT = "2026-11-24T11:00:00+00:00"  # before DAY's pre-market slot
_BULLISH = (
    "{s} shares surge to a record high after blowout earnings beat estimates",
    "{s} raises guidance as strong demand boosts profit and revenue growth",
    "Analysts upgrade {s}, citing strong gains and robust outlook",
)
_BEARISH = (
    "{s} stock plunges after weak guidance and falling sales",
    "{s} hit with lawsuit and regulatory fine; losses widen as shares slump",
    "Analysts downgrade {s} on declining profit and weak demand",
)
_MOOD = {"AAPL": _BULLISH, "MSFT": _BEARISH, "NVDA": _BULLISH, "TSLA": _BEARISH, "SPY": _BULLISH}
_CLOSES = {
    "AAPL": (100.0, 102.0),
    "MSFT": (200.0, 196.0),
    "NVDA": (50.0, 49.0),
    "TSLA": (300.0, 291.0),
    "SPY": (500.0, 505.0),
}


def write_news(folder: Path) -> Path:
    """Three headlines per symbol, all published before DAY's pre-market slot."""
    folder.mkdir(parents=True)
    for symbol, headlines in _MOOD.items():
        items = [
            {"title": h.format(s=symbol), "source": "test wire", "published_at": _NEWS_AT}
            for h in headlines
        ]
        (folder / f"{symbol}.json").write_text(json.dumps(items))
    return folder


def write_prices(folder: Path) -> Path:
    """Closes for PREVIOUS and DAY."""
    folder.mkdir(parents=True)
    for symbol, (before, after) in _CLOSES.items():
        (folder / f"{symbol}.csv").write_text(
            "Date,Open,High,Low,Close,Volume\n"
            f"{PREVIOUS},{before},{before},{before},{before},1000\n"
            f"{DAY},{after},{after},{after},{after},1000\n"
        )
    return folder


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def unreachable_store_url(settings: Settings, tmp_path: Path) -> str:
    """A store URL of the same dialect as `settings` that can never be opened."""
    if settings.database_url.startswith("sqlite"):
        # A read-only open of a file that does not exist: "unable to open database file".
        return f"sqlite:///file:{tmp_path / 'absent.db'}?mode=ro&uri=true"
    return f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test"


@dataclasses.dataclass
class Api:
    """One running app: its HTTP client, its services and its clock."""

    app: Starlette
    client: httpx.AsyncClient
    services: Services
    clock: Clock

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def cache(self) -> Cache:
        cache = self.services.results.deps.cache
        assert cache is not None
        return cache

    async def publish(self, completion: Completion) -> Outcome:
        """The write path, as a finished run takes it."""
        return await self.services.results.publish(completion)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def post(
        self, path: str, body: Any = None, *, key: str | None = KEY, **kwargs: Any
    ) -> httpx.Response:
        """POST JSON (or `content=` bytes) with the API key unless `key` is None."""
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["X-API-Key"] = key
        if body is not None:
            kwargs["json"] = body
        return await self.client.post(path, headers=headers, **kwargs)

    async def wait_for_run(self, status_url: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll a run's status URL until it is no longer running."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            response = await self.get(status_url)
            assert response.status_code == 200, response.text
            detail: dict[str, Any] = response.json()
            if detail["job"]["status"] != "running":
                return detail
            if loop.time() > deadline:
                raise AssertionError(f"run still running after {timeout} s: {detail['job']}")
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running(settings: Settings, clock: Clock) -> AsyncIterator[Api]:
    """The app with its lifespan running (services started, then stopped and closed)."""
    services = Services.open(settings, clock=clock)
    app = create_app(settings, services=services)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(app, client, services, clock)


def _clear_redis(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(name="api_settings", params=["embedded", "scaled"])
def api_settings_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for this test's mode, fed by local files; the store is migrated."""
    base = Settings(
        outbox_dir=tmp_path / "outbox",
        api_key=KEY,
        news=f"dir:{write_news(tmp_path / 'news')}",
        prices=f"dir:{write_prices(tmp_path / 'prices')}",
        symbols=SYMBOLS,
        high_confidence=0.05,
        write_retry_seconds=0.2,
        scheduler_enabled=False,
        **LOADED_MACHINE_DEADLINES,
    )
    if request.param == "embedded":
        settings = dataclasses.replace(base, database_url=request.getfixturevalue("sqlite_url"))
        migrate(settings.database_url)
        yield settings
        return
    redis_url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    settings = dataclasses.replace(
        base,
        database_url=request.getfixturevalue("pg_url"),
        cache_url=redis_url,
        cache_prefix=prefix,
    )
    migrate(settings.database_url)
    try:
        yield settings
    finally:
        _clear_redis(redis_url, prefix)


@pytest.fixture(name="make_api")
async def make_api_fixture(
    api_settings: Settings, clock: Clock
) -> AsyncIterator[Callable[..., Awaitable[Api]]]:
    """Start an app on this test's mode; keyword arguments change its Settings."""
    async with AsyncExitStack() as stack:

        async def make(**changes: Any) -> Api:
            settings = dataclasses.replace(api_settings, **changes)
            return await stack.enter_async_context(running(settings, clock))

        yield make


@pytest.fixture(name="api")
async def api_fixture(make_api: Callable[..., Awaitable[Api]]) -> Api:
    """The app with this mode's default test settings."""
    return await make_api()
