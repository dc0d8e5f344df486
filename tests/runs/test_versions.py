"""Report versions are issued by the store: they follow the order runs really started.

Two "hosts" share one store, each with its own clock (the clock the runner reads, through
`Services.open(clock=...)`); one host's clock is hours behind the other's. Versions used to be
the host's start instant, so a re-run on the host whose clock was behind lost to the run it
meant to replace, and the CLI said success.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from marketbrief.calendar import utc_now
from marketbrief.config import Settings
from marketbrief.models import (
    VERSION_STRIDE,
    ReportType,
    RunStatus,
    TriggerSource,
    provisional_version,
)
from marketbrief.pipeline.feeds import PipelinePrices
from marketbrief.results import Results
from marketbrief.runs.versions import VersionFloor
from marketbrief.services import Services
from marketbrief.store import SQLStore
from marketbrief.web.app import create_app
from tests.support.analysts import Analyst
from tests.support.factories import SESSION, completion_for, standalone_completion

PRE = ReportType.PRE_MARKET
WAIT_SECONDS = 60.0  # an upper bound for events on a loaded machine, never a pace
BEHIND = timedelta(hours=6)
API_KEY = "versions-test-key-0123456789"


def _host(
    url: str, tmp_path: Path, name: str, clock: Callable[[], datetime], analyst: Analyst
) -> Services:
    settings = Settings(
        database_url=url,
        outbox_dir=tmp_path / name / "outbox",
        cache_url="memory://?max_bytes=1048576",
        api_key=API_KEY,
    )
    return Services.open(
        settings, clock=clock, analyst=analyst, prices=PipelinePrices([], timeout=5.0)
    )


def _migrate(url: str) -> None:
    store = SQLStore(url)
    store.migrate()
    store.close()


def _behind() -> datetime:
    return utc_now() - BEHIND


async def test_a_rerun_started_later_on_a_host_whose_clock_is_behind_is_published(
    database_url: str, tmp_path: Path
) -> None:
    _migrate(database_url)
    ahead = _host(database_url, tmp_path, "ahead", utc_now, Analyst())
    behind = _host(database_url, tmp_path, "behind", _behind, Analyst())
    reader = Results.open(Settings(database_url=database_url, cache_enabled=False))
    try:
        first = await ahead.runner.run(PRE, SESSION, TriggerSource.MANUAL)
        assert (first.status, first.published) == (RunStatus.SUCCESS, True)
        rerun = await behind.runner.run(PRE, SESSION, TriggerSource.MANUAL)
        assert rerun.completion is not None
        assert first.completion is not None
        # The re-run started six hours "earlier" by its host's clock, and later in truth.
        assert rerun.completion.started_at < first.completion.started_at
        assert rerun.completion.version > first.completion.version
        assert (rerun.status, rerun.persisted, rerun.published) == (RunStatus.SUCCESS, True, True)
        served = await reader.get_report(PRE, SESSION)
        assert served.run_id == rerun.run_id
    finally:
        await reader.close()
        await ahead.stop()
        await behind.stop()


async def test_a_run_that_started_first_and_finished_last_says_it_lost_the_compare_and_set(
    database_url: str, tmp_path: Path
) -> None:
    """Whatever the clocks, the run the store saw start last keeps the report; the other says so,
    in its outcome and in the run status the API answers."""
    _migrate(database_url)
    slow = Analyst(gated=True)
    behind = _host(database_url, tmp_path, "behind", _behind, slow)
    ahead = _host(database_url, tmp_path, "ahead", utc_now, Analyst())
    try:
        started_first = asyncio.create_task(behind.runner.run(PRE, SESSION, TriggerSource.API))
        await asyncio.wait_for(slow.entered.wait(), WAIT_SECONDS)
        later = await ahead.runner.run(PRE, SESSION, TriggerSource.MANUAL)
        assert later.published
        slow.gate.set()
        first = await asyncio.wait_for(started_first, WAIT_SECONDS)
        assert (first.status, first.persisted, first.published) == (RunStatus.SUCCESS, True, False)
        assert first.superseded_by == later.run_id
        assert first.as_dict()["superseded_by"] == later.run_id
    finally:
        slow.gate.set()
        await ahead.stop()
        await behind.stop()


async def test_the_api_run_status_of_a_triggered_run_that_lost_says_so(
    sqlite_url: str, tmp_path: Path
) -> None:
    """POST /jobs/trigger on a host whose clock is ahead; a later run elsewhere publishes first."""
    _migrate(sqlite_url)
    slow = Analyst(gated=True)
    api_host = _host(sqlite_url, tmp_path, "api", lambda: utc_now() + BEHIND, slow)
    other = _host(sqlite_url, tmp_path, "other", _behind, Analyst())
    app = create_app(services=api_host, scheduler=False)
    transport = httpx.ASGITransport(app=app)
    headers = {"X-API-Key": API_KEY}
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            answer = await client.post(
                "/api/v1/jobs/trigger",
                json={"type": PRE.value, "date": SESSION.isoformat()},
                headers=headers,
            )
            assert answer.status_code == 202, answer.text
            run_id = answer.json()["run_id"]
            await asyncio.wait_for(slow.entered.wait(), WAIT_SECONDS)
            later = await other.runner.run(PRE, SESSION, TriggerSource.MANUAL)
            assert later.published
            slow.gate.set()
            await asyncio.wait_for(api_host.runner.drain(), WAIT_SECONDS)
            status = (await client.get(f"/api/v1/jobs/{run_id}")).json()["job"]
        assert status["status"] == "success"
        assert any("not published" in w and later.run_id in w for w in status["warnings"]), status[
            "warnings"
        ]
    finally:
        slow.gate.set()
        await other.stop()


def test_an_outboxed_run_ranks_above_what_its_process_knew_and_below_later_claims(
    database_url: str,
) -> None:
    """The rule for a run the store could not claim (docs/design.md, section 6)."""
    store = SQLStore(database_url)
    store.migrate()
    try:
        known = store.claim_run(PRE, SESSION, TriggerSource.MANUAL).run
        assert store.finish_run(completion_for(known)).published
        # A process that knew `known` spools two re-runs while the store is out of its reach,
        # its clock far behind: they rank above `known`, in the order they started.
        floor = VersionFloor()
        floor.saw(known.version)
        spooled = [
            standalone_completion(
                PRE, SESSION, started_at=utc_now() - BEHIND, version=floor.provisional()
            )
            for _ in range(2)
        ]
        assert known.version < spooled[0].version < spooled[1].version
        assert store.finish_run(spooled[1]).published
        assert not store.finish_run(spooled[0]).published  # replayed out of order: still right
        # A run the store claims afterwards ranks above both, even if its replay comes later.
        later = store.claim_run(PRE, SESSION, TriggerSource.MANUAL).run
        assert later.version >= known.version + VERSION_STRIDE > spooled[1].version
        assert store.finish_run(completion_for(later)).published
        # A third spooled run, from a process that never learned of `later`, stays below it.
        third = standalone_completion(PRE, SESSION, version=floor.provisional())
        outcome = store.finish_run(third)
        assert (outcome.persisted, outcome.published) == (True, False)
        assert outcome.superseded_by == later.run_id
        assert store.latest_version(PRE, SESSION) == later.version
    finally:
        store.close()


def test_the_store_issues_increasing_versions_whatever_the_start_instants_say(
    database_url: str,
) -> None:
    store = SQLStore(database_url)
    store.migrate()
    now = utc_now()
    try:
        starts = [now, now - timedelta(days=3), now + timedelta(days=3), now - timedelta(hours=1)]
        versions = [
            store.claim_run(PRE, SESSION, TriggerSource.MANUAL, started_at=start).run.version
            for start in starts
        ]
        assert versions == sorted(versions)
        assert all(b - a >= VERSION_STRIDE for a, b in itertools.pairwise(versions))
        # History (and jobs/latest) go by start, which is what a reader asks of a list of
        # runs; which report wins goes by the store's versions, never by the start.
        run = store.latest_run(PRE)
        assert run is not None
        assert run.version == versions[2]  # the start 3 days ahead
    finally:
        store.close()


def test_a_provisional_version_stays_inside_its_gap() -> None:
    floor = 10 * VERSION_STRIDE
    assert provisional_version(floor, 1) == floor + 1
    assert provisional_version(floor, 10**9) == floor + VERSION_STRIDE - 1
    versions = VersionFloor()
    versions.saw(floor)
    first = versions.provisional()
    versions.saw(floor - 5)  # an older version teaches nothing
    assert versions.provisional() == first + 1
    versions.saw(floor + VERSION_STRIDE)
    assert versions.provisional() == floor + VERSION_STRIDE + 1


async def test_a_run_the_store_could_not_claim_ranks_above_the_report_its_cache_held(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The runner's floor: the version of the cached report for its key, when the store is out."""
    _migrate(sqlite_url)
    host = _host(sqlite_url, tmp_path, "host", utc_now, Analyst())
    try:
        first = await host.runner.run(PRE, SESSION, TriggerSource.MANUAL)
        assert first.published
        assert first.completion is not None
        host.runner.versions = VersionFloor()  # as a fresh process (the CLI) starts
        gone = dataclasses.replace(host.settings, database_url=f"sqlite:///{tmp_path}/no/such.db")
        cut_off = _host(gone.database_url, tmp_path, "host", utc_now, Analyst())
        cut_off.results.deps.cache = host.results.deps.cache  # the cache it shares
        rerun = await cut_off.runner.run(PRE, SESSION, TriggerSource.MANUAL)
        assert rerun.outboxed
        assert rerun.completion is not None
        assert rerun.completion.version == provisional_version(first.completion.version, 1)
        await cut_off.stop()
    finally:
        await host.stop()
