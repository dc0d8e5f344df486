"""PostgreSQL cut off behind a TCP proxy we control, and its backends terminated between and
during operations: writes are acknowledged to the store or the outbox, replay lands every one,
and nothing raises.

The promises each test keeps are listed in tests/support/faults.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from harness.store import migrate

from marketbrief.cache import keys
from marketbrief.config import Settings
from marketbrief.errors import StoreTimeout, StoreUnavailable
from marketbrief.models import Completion, ReportType, RunStatus
from marketbrief.results.envelope import ReportState, Source
from marketbrief.store import SQLStore
from marketbrief.store.postgres import PgTimeouts
from tests.support.backends import PG_HOST, PG_PORT, behind_proxy
from tests.support.clock import DAY
from tests.support.faults import nth_completion, opened, same_content

PRE = ReportType.PRE_MARKET

PG_ADMIN = (
    f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test application_name=mb_faults_admin"
)


def _with_query(url: str, **params: str) -> str:
    extra = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def _schema_of(pg_url: str) -> str:
    return pg_url.rsplit("search_path%3D", 1)[1].split("&", 1)[0]


@pytest.mark.slow
async def test_postgres_cut_off_acknowledges_to_the_outbox_and_replay_lands_every_write(
    pg_url: str, tmp_path: Path
) -> None:
    outbox_dir = tmp_path / "outbox"
    with behind_proxy(pg_url) as (proxy, proxied):
        assert proxied != pg_url
        settings = Settings(database_url=proxied, outbox_dir=outbox_dir, write_retry_seconds=0.3)
        async with opened(settings) as results:
            cached = nth_completion(0)
            evicted = nth_completion(1)
            for completion in (cached, evicted):
                assert (await results.publish(completion)).persisted
            assert results.deps.cache is not None
            await results.deps.cache.delete(keys.report_key(PRE.value, evicted.scheduled_date))
            assert proxy.accepted >= 1

            proxy.down()
            spooled = [nth_completion(i) for i in range(2, 7)]
            started = time.monotonic()
            for completion in spooled:
                outcome = await results.publish(completion)
                assert (outcome.persisted, outcome.outboxed) == (False, True)
                assert (outbox_dir / f"{completion.run_id}.json").is_file()
            spool_seconds = time.monotonic() - started
            assert results.deps.outbox.depth() == len(spooled)
            assert results.deps.health.is_down

            hit = await results.get_report(PRE, cached.scheduled_date)
            assert same_content(hit, cached)
            assert hit.source is Source.CACHE
            assert "store_unavailable" in hit.warnings
            not_yet = await results.get_report(PRE, spooled[0].scheduled_date)
            assert same_content(not_yet, spooled[0])
            assert {"store_unavailable", "not_persisted"} <= set(not_yet.warnings)
            for day in (evicted.scheduled_date, DAY + timedelta(days=1)):
                miss = await results.get_report(PRE, day)
                assert miss.state is ReportState.UNAVAILABLE
                assert not miss.has_content
                assert miss.data is None
                assert "store_unavailable" in miss.warnings

            proxy.up()
            report = await results.replay_outbox()
            assert sorted(c.run_id for c, _ in report.stored) == sorted(c.run_id for c in spooled)
            assert (report.remaining, report.rejected, report.store_unavailable) == (0, {}, False)
            assert results.deps.outbox.depth() == 0
            assert not results.deps.health.is_down
            store = results.deps.store.backend
            for completion in spooled:
                detail = store.get_run(completion.run_id)
                assert detail is not None
                assert detail.run.status is RunStatus.SUCCESS
            back = await results.get_report(PRE, evicted.scheduled_date)
            assert same_content(back, evicted)
            assert back.source is Source.STORE
            replayed = await results.get_report(PRE, spooled[0].scheduled_date)
            assert same_content(replayed, spooled[0])
            assert replayed.warnings == ()
            print(
                f"\nproxy: {proxy.accepted} connections, {proxy.severed} severed; "
                f"{len(spooled)} outboxed in {spool_seconds:.2f}s; replayed {len(report.stored)}"
            )


def _terminate(admin: psycopg.Connection, app: str, *, wait: bool) -> int:
    """pg_terminate_backend on OUR store's connections only (found by application_name)."""
    killed = admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s AND datname = 'test' AND pid <> pg_backend_pid()",
        (app,),
    ).fetchall()
    deadline = time.monotonic() + 5
    while wait and time.monotonic() < deadline:
        left = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
        ).fetchone()
        if left is None or left[0] == 0:
            break
        time.sleep(0.01)
    return sum(1 for (ok,) in killed if ok)


@pytest.mark.slow
async def test_postgres_backends_terminated_between_and_during_operations_never_raise(
    pg_url: str, tmp_path: Path
) -> None:
    migrate(pg_url)
    app = f"mb_faults_{uuid.uuid4().hex[:10]}"
    url = _with_query(pg_url, application_name=app)
    # No cache: every read goes to the store and meets the terminated connections.
    settings = Settings(
        database_url=url,
        outbox_dir=tmp_path / "outbox",
        write_retry_seconds=0.3,
        cache_enabled=False,
    )
    acked: dict[str, Completion] = {}
    routes: Counter[str] = Counter()
    states: Counter[str] = Counter()
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        async with opened(settings) as results:
            # Between operations: pool_pre_ping replaces the dead connections.
            between_killed = 0
            for i in range(8):
                completion = nth_completion(i)
                outcome = await results.publish(completion)
                acked[completion.run_id] = completion
                assert outcome.persisted, "pre-ping should have replaced the dead connection"
                between_killed += _terminate(admin, app, wait=True)
                response = await results.get_report(PRE, completion.scheduled_date)
                assert same_content(response, completion)
                between_killed += _terminate(admin, app, wait=True)
            assert between_killed >= 8

            # During operations: a killer terminates our backends every 2-30 ms.
            stop = threading.Event()
            during_killed = 0

            def killer() -> None:
                nonlocal during_killed
                with psycopg.connect(PG_ADMIN, autocommit=True) as own:
                    while not stop.is_set():
                        during_killed += _terminate(own, app, wait=False)
                        time.sleep(random.uniform(0.002, 0.03))

            thread = threading.Thread(target=killer, name="pg-killer", daemon=True)
            thread.start()
            try:
                for i in range(8, 38):
                    completion = nth_completion(i)
                    outcome = await results.publish(completion)  # must not raise
                    acked[completion.run_id] = completion
                    routes["persisted" if outcome.persisted else "outboxed"] += 1
                    assert outcome.persisted != outcome.outboxed
                    if outcome.outboxed:
                        assert (settings.outbox_dir / f"{completion.run_id}.json").is_file()
                    response = await results.get_report(PRE, completion.scheduled_date)
                    states[response.state.value] += 1
                    if response.state is ReportState.FRESH:
                        assert response.data == completion.content
                    else:
                        assert not response.has_content
            finally:
                stop.set()
                thread.join(timeout=10)
            assert during_killed >= 1
            # A miss is missing, or closed for a date without a session (dates run on daily).
            assert set(states) <= {
                ReportState.FRESH.value,
                ReportState.UNAVAILABLE.value,
                ReportState.MISSING.value,
                ReportState.CLOSED.value,
            }

            report = await results.replay_outbox()
            assert report.rejected == {}
            assert report.remaining == 0
            assert results.deps.outbox.depth() == 0
            for run_id, completion in acked.items():
                detail = results.deps.store.backend.get_run(run_id)
                assert detail is not None, run_id
                assert detail.snapshot is not None
                assert detail.snapshot.content == completion.content
                response = await results.get_report(PRE, completion.scheduled_date)
                assert same_content(response, completion)
            print(
                f"\npg terminate: {between_killed} backends killed between ops, "
                f"{during_killed} during; publish routes {dict(routes)}; read states "
                f"{dict(states)}; replayed {len(report.stored)}"
            )


@pytest.mark.slow
async def test_a_blackholed_postgres_times_out_opens_the_breaker_and_one_probe_closes_it(
    pg_url: str, tmp_path: Path
) -> None:
    with behind_proxy(pg_url) as (proxy, proxied):
        # Short engine timeouts so the driver itself gives up (the gateway's deadline is longer).
        settings = Settings(
            database_url=proxied,
            outbox_dir=tmp_path / "outbox",
            store_statement_timeout_seconds=1.0,
            store_connect_timeout_seconds=2.0,
            store_read_timeout_seconds=30.0,
            store_breaker_seconds=1.0,
        )
        async with opened(settings) as results:
            completion = nth_completion(0)
            assert (await results.publish(completion)).persisted
            store, backend = results.deps.store, results.deps.store.backend

            proxy.blackhole()
            # The pool's ping on a pooled connection is bounded by the client (psycopg's wait),
            # then its reconnection by connect_timeout.
            with pytest.raises(StoreTimeout):
                await store.latest_version(PRE, completion.scheduled_date)
            assert store.health.is_open
            # Open: refused at once, the store is not asked.
            accepted = proxy.accepted
            with pytest.raises(StoreUnavailable, match="not asked again"):
                await store.latest_version(PRE, completion.scheduled_date)
            assert proxy.accepted == accepted
            # A new connection meets the stall during its handshake: connect_timeout ends it.
            fresh = SQLStore(proxied, pg_timeouts=PgTimeouts(connect_seconds=2.0))
            try:
                with pytest.raises(StoreTimeout):
                    fresh.ping()
            finally:
                fresh.close()
            # A cached report is still served, marked; an uncached one is unavailable.
            hit = await results.get_report(PRE, completion.scheduled_date)
            assert same_content(hit, completion)
            assert "store_unavailable" in hit.warnings
            miss = await results.get_report(PRE, DAY + timedelta(days=1))
            assert miss.state is ReportState.UNAVAILABLE

            proxy.up()
            # After the cool-down one call goes through as the probe; its answer closes it.
            deadline = time.monotonic() + 60
            while store.health.is_down:
                assert time.monotonic() < deadline, "the breaker never let a probe through"
                with contextlib.suppress(StoreUnavailable):
                    await store.ping()
                await asyncio.sleep(0.05)
            assert not store.health.is_open
            assert await store.latest_version(PRE, completion.scheduled_date) == completion.version
            assert backend.revision() >= 1


async def test_a_stalled_read_past_the_gateway_deadline_is_abandoned_and_trips_the_breaker(
    pg_url: str, tmp_path: Path
) -> None:
    with behind_proxy(pg_url) as (proxy, proxied):
        settings = Settings(
            database_url=proxied, outbox_dir=tmp_path / "outbox", store_breaker_seconds=1.0
        )
        async with opened(settings) as results:
            store = results.deps.store
            await store.ping()
            proxy.blackhole()
            probes = 0
            # Each read gives up at the read deadline (the driver would wait 31 s); the first
            # opens the breaker, the rest are refused until a probe may go.
            with pytest.raises(StoreTimeout, match=r"within 1\.5 s"):
                await store.revisions()
            refusals: list[str] = []
            while probes < 2:
                try:
                    await store.revisions()
                except StoreTimeout:
                    probes += 1  # a probe after the cool-down, timed out again
                except StoreUnavailable as refused:
                    refusals.append(str(refused))
                    await asyncio.sleep(0.2)
            assert refusals
            assert all("not asked again" in text for text in refusals)
            assert store.health.is_open
            proxy.up()
