"""Results cores on either mode, for the tests of the results core (tests/results/): a pytest
plugin, registered by tests/conftest.py.

`embedded_settings` is a SQLite file + the in-process cache; `scaled_settings` a private
PostgreSQL schema + Redis under a private key prefix; `settings` is each in turn. `make_results`
opens Results on `settings` and the `clock` fixture, and clears and closes them afterwards.
`CallCounter` counts the calls of one store method that really reach the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from harness.store import migrate

from marketbrief.config import Settings
from marketbrief.errors import CacheError
from marketbrief.results import Results
from tests.support.clock import Clock
from tests.support.deadlines import LOADED_MACHINE_DEADLINES


class CallCounter:
    """Counts the calls of one store method that really reach the store (it still runs them)."""

    def __init__(self, store: Any, name: str) -> None:
        self.calls = 0
        self._lock = threading.Lock()  # store methods run in worker threads
        real = getattr(store, name)

        def counted(*args: Any) -> Any:
            with self._lock:
                self.calls += 1
            return real(*args)

        setattr(store, name, counted)


def forget_near(results: Results) -> None:
    """Empty the process's near cache, as the passing of its bound would: for tests that change
    the shared cache behind the process's back and read the effect at once."""
    if results.deps.near is not None:
        results.deps.near.clear()
    if results.deps.near_pages is not None:
        results.deps.near_pages.clear()


@pytest.fixture
def embedded_settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return Settings(
        outbox_dir=tmp_path / "outbox",
        write_retry_seconds=0.2,
        database_url=sqlite_url,
        **LOADED_MACHINE_DEADLINES,
    )


@pytest.fixture
def scaled_settings(tmp_path: Path, pg_url: str, redis_url: str, redis_prefix: str) -> Settings:
    return Settings(
        outbox_dir=tmp_path / "outbox",
        write_retry_seconds=0.2,
        database_url=pg_url,
        cache_url=redis_url,
        cache_prefix=redis_prefix,
        **LOADED_MACHINE_DEADLINES,
    )


@pytest.fixture(params=["embedded", "scaled"])
def settings(request: pytest.FixtureRequest) -> Settings:
    chosen: Settings = request.getfixturevalue(f"{request.param}_settings")
    return chosen


@pytest.fixture
async def make_results(settings: Settings, clock: Clock) -> AsyncIterator[Callable[..., Results]]:
    opened: list[Results] = []
    migrate(settings.database_url)

    def make(**changes: Any) -> Results:
        results = Results.open(dataclasses.replace(settings, **changes), clock=clock)
        opened.append(results)
        return results

    yield make
    for results in opened:
        if results.deps.cache is not None:
            with contextlib.suppress(CacheError):  # a test may have left the cache unreachable
                await results.deps.cache.clear()
        await results.close()
