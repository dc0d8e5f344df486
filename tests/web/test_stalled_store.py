"""PostgreSQL blackholed (the TCP connection open, nothing answering) under the running app:
every page answers from the cache or as unavailable instead of hanging, and service comes back
once the store answers again.

The store is reached through tests/support/faults_proxy.TcpProxy, switched to `blackhole()`:
connections are accepted and kept open, nothing is forwarded. Each request is bounded by a
generous client-side wait (far below the minutes a stalled driver would take) as the "did not
hang" check; no assertion is about speed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest

from marketbrief.cache import keys
from marketbrief.config import Settings
from tests.support.api_fixtures import KEY, PREVIOUS, SYMBOLS, running, write_news, write_prices
from tests.support.api_helpers import PRE, made
from tests.support.backends import behind_proxy
from tests.support.clock import DAY, Clock

# Far past the read deadline (1.5 s), far below the round trip a stalled driver waits (31 s).
DID_NOT_HANG = 10.0
RECOVERY_LIMIT = 60.0
CACHED = f"/api/v1/reports/pre-market?date={DAY}"
UNCACHED = f"/api/v1/reports/pre-market?date={PREVIOUS}"


async def _get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    return await asyncio.wait_for(client.get(path), DID_NOT_HANG)


@pytest.mark.slow
async def test_a_blackholed_store_never_hangs_a_page_and_service_recovers(
    pg_url: str, tmp_path: Path, clock: Clock
) -> None:
    with behind_proxy(pg_url) as (proxy, proxied):
        settings = Settings(
            database_url=proxied,
            outbox_dir=tmp_path / "outbox",
            api_key=KEY,
            news=f"dir:{write_news(tmp_path / 'news')}",
            prices=f"dir:{write_prices(tmp_path / 'prices')}",
            symbols=SYMBOLS,
            write_retry_seconds=0.2,
            scheduler_enabled=False,
            store_breaker_seconds=1.0,
        )
        async with running(settings, clock) as api:
            cached, uncached = made(PRE, DAY, marker="cached"), made(PRE, PREVIOUS, marker="old")
            for completion in (cached, uncached):
                assert (await api.publish(completion)).persisted
            await api.cache.delete(keys.report_key(PRE.value, PREVIOUS))
            assert (await _get(api.client, CACHED)).json()["meta"]["source"] == "cache"
            health = api.services.results.health

            proxy.blackhole()
            # The first uncached read meets the stall and gives up at the read deadline.
            miss = await _get(api.client, UNCACHED)
            assert miss.status_code == 503, miss.text
            assert miss.headers["retry-after"]
            assert miss.json()["meta"]["state"] == "unavailable"
            assert health.is_open, "a read that timed out opens the breaker"

            # While it is open nothing waits on the store: every page answers as documented.
            hit = await _get(api.client, CACHED)
            assert hit.status_code == 200
            assert hit.json()["meta"]["source"] == "cache"
            assert "store_unavailable" in hit.json()["meta"]["warnings"]
            assert hit.json()["data"] == orjson.loads(cached.content or b"")
            again = await _get(api.client, UNCACHED)
            assert (again.status_code, again.json()["meta"]["state"]) == (503, "unavailable")
            ready = await _get(api.client, "/readyz")
            assert ready.status_code == 503
            assert ready.json()["store"]["ok"] is False
            assert ready.json()["store"]["down_since"]
            status = await _get(api.client, "/status")
            assert status.status_code == 503
            assert "text/html" in status.headers["content-type"]
            history = await _get(api.client, "/api/v1/jobs/history")
            assert history.status_code == 503
            assert history.json()["error"]["code"] == "store_unavailable"
            home = await _get(api.client, "/")
            assert home.status_code == 200
            assert "text/html" in home.headers["content-type"]
            report_page = await _get(api.client, f"/reports/pre-market?date={DAY}")
            assert report_page.status_code == 200
            assert proxy.is_blackholed

            proxy.up()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + RECOVERY_LIMIT
            while (await _get(api.client, "/readyz")).status_code != 200:
                assert loop.time() < deadline, "the store answers again but /readyz stays 503"
                await asyncio.sleep(0.1)
            assert not health.is_down
            back = await _get(api.client, UNCACHED)
            assert back.status_code == 200
            assert back.json()["meta"]["source"] == "store"
            assert (await _get(api.client, "/api/v1/jobs/history")).status_code == 200
            assert (await _get(api.client, "/status")).status_code == 200
            fresh = await _get(api.client, CACHED)
            assert fresh.json()["meta"]["warnings"] == []
