"""Liveness is a lease the worker renews: a slow run is not swept, a swept run's result is kept."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from marketbrief.calendar import utc_now
from marketbrief.config import Settings
from marketbrief.models import ReportType, RunStatus, TriggerSource
from marketbrief.pipeline.feeds import PipelinePrices
from marketbrief.results import Results
from marketbrief.results.envelope import ReportState
from marketbrief.services import Services
from marketbrief.store import SQLStore
from marketbrief.store.schema import job_executions
from tests.support.analysts import Analyst
from tests.support.factories import SESSION, completion_for

PRE = ReportType.PRE_MARKET
WAIT_SECONDS = 60.0  # an upper bound for events on a loaded machine, never a pace


def _settings(url: str, tmp_path: Path, **changes: Any) -> Settings:
    base = Settings(
        database_url=url,
        outbox_dir=tmp_path / "outbox",
        cache_url="memory://?max_bytes=1048576",
        run_lease_seconds=10.0,
    )
    return dataclasses.replace(base, **changes)


def _migrate(url: str) -> None:
    store = SQLStore(url)
    store.migrate()
    store.close()


def _lease_until(store: SQLStore, run_id: str) -> datetime | None:
    with store.snapshot_read() as connection:
        found: datetime | None = connection.execute(
            sa.select(job_executions.c.lease_until).where(job_executions.c.run_id == run_id)
        ).scalar_one()
    return found


async def _until(condition: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not condition():
        assert loop.time() < deadline, "the condition never came true"
        await asyncio.sleep(0.05)


def test_only_a_run_whose_lease_expired_is_swept_however_old_it_is(database_url: str) -> None:
    store = SQLStore(database_url)
    store.migrate()
    now = utc_now()
    try:
        alive = store.claim_run(
            PRE,
            SESSION,
            TriggerSource.MANUAL,
            started_at=now - timedelta(hours=5),
            lease_until=now + timedelta(minutes=1),
        ).run
        dead = store.claim_run(
            ReportType.INTRADAY,
            SESSION,
            TriggerSource.MANUAL,
            started_at=now - timedelta(minutes=2),
            lease_until=now - timedelta(seconds=1),
        ).run
        swept = store.fail_stuck_runs(now - timedelta(minutes=30), now)
        assert swept == [dead.run_id]
        alive_detail, dead_detail = store.get_run(alive.run_id), store.get_run(dead.run_id)
        assert alive_detail is not None
        assert dead_detail is not None
        assert alive_detail.run.status is RunStatus.RUNNING
        assert dead_detail.run.status is RunStatus.FAILED
        assert "lease expired" in dead_detail.run.errors[-1]["error"]
        assert store.renew_lease(alive.run_id, now + timedelta(minutes=2))
        assert not store.renew_lease(dead.run_id, now + timedelta(minutes=2))
    finally:
        store.close()


def test_a_run_without_a_lease_is_still_judged_by_its_age(database_url: str) -> None:
    store = SQLStore(database_url)
    store.migrate()
    now = utc_now()
    try:
        old = store.claim_run(
            PRE, SESSION, TriggerSource.IMPORT, started_at=now - timedelta(hours=2)
        ).run
        young = store.claim_run(
            ReportType.INTRADAY, SESSION, TriggerSource.IMPORT, started_at=now
        ).run
        assert store.fail_stuck_runs(now - timedelta(minutes=30), now) == [old.run_id]
        detail = store.get_run(young.run_id)
        assert detail is not None
        assert detail.run.status is RunStatus.RUNNING
    finally:
        store.close()


async def test_a_run_slower_than_the_run_timeout_is_not_swept_while_its_worker_renews(
    database_url: str, tmp_path: Path
) -> None:
    _migrate(database_url)
    settings = _settings(database_url, tmp_path)
    offset = [timedelta(0)]

    def clock() -> datetime:
        return utc_now() + offset[0]

    analyst = Analyst(gated=True)
    services = Services.open(
        settings, clock=clock, analyst=analyst, prices=PipelinePrices([], timeout=5.0)
    )
    store = services.results.store.backend
    try:
        running = asyncio.create_task(services.runner.run(PRE, SESSION, TriggerSource.MANUAL))
        await asyncio.wait_for(analyst.entered.wait(), WAIT_SECONDS)
        run = store.latest_run(PRE)
        assert run is not None
        assert run.status is RunStatus.RUNNING
        # The run is now older than MARKETBRIEF_RUN_TIMEOUT: judged by its age, it would be swept.
        offset[0] = timedelta(minutes=settings.run_timeout_minutes + 5)
        await _until(lambda: (_lease_until(store, run.run_id) or clock()) > clock())
        assert await services.scheduler.sweep(clock()) == []
        analyst.gate.set()
        outcome = await asyncio.wait_for(running, WAIT_SECONDS)
        assert (outcome.status, outcome.persisted, outcome.published) == (
            RunStatus.SUCCESS,
            True,
            True,
        )
        detail = store.get_run(run.run_id)
        assert detail is not None
        assert detail.run.status is RunStatus.SUCCESS
        assert detail.snapshot is not None
    finally:
        analyst.gate.set()
        await services.stop()


async def test_an_outboxed_completion_whose_run_was_swept_is_stored_on_replay_and_served(
    database_url: str, tmp_path: Path
) -> None:
    store = SQLStore(database_url)
    store.migrate()
    now = utc_now()
    claim = store.claim_run(
        PRE,
        SESSION,
        TriggerSource.MANUAL,
        started_at=now - timedelta(minutes=10),
        lease_until=now - timedelta(minutes=5),
    )
    completion = completion_for(claim.run, marker="the real result")
    settings = _settings(database_url, tmp_path)
    spooler = Results.open(dataclasses.replace(settings, store_writes=False))
    writer = Results.open(settings)
    try:
        spooled = await spooler.publish(completion)
        assert spooled.outboxed
        # The worker's result waits in the outbox while the sweeper gets to its run first.
        assert store.fail_stuck_runs(now - timedelta(minutes=30), now) == [claim.run.run_id]
        report = await writer.replay_outbox()
        assert [c.run_id for c, _ in report.stored] == [claim.run.run_id]
        ((_, outcome),) = report.stored
        assert (outcome.persisted, outcome.published, outcome.already_finished) == (
            True,
            True,
            False,
        )
        assert (report.remaining, report.rejected) == (0, {})
        detail = store.get_run(claim.run.run_id)
        assert detail is not None
        assert detail.run.status is RunStatus.SUCCESS
        assert detail.snapshot is not None
        assert detail.snapshot.content == completion.content
        assert any("sweeper" in str(w) for w in detail.run.warnings)
        served = await writer.get_report(PRE, SESSION)
        assert served.state is ReportState.FRESH
        assert (served.run_id, served.data) == (claim.run.run_id, completion.content)
        assert "not_persisted" not in served.warnings
        # Replaying the same completion again stores nothing twice.
        again = store.finish_run(completion)
        assert again.already_finished
        assert again.snapshot_id == detail.snapshot.id
    finally:
        await spooler.close()
        await writer.close()
        store.close()


def test_a_spooled_claim_replayed_alone_records_a_running_run_the_sweeper_can_judge(
    database_url: str,
) -> None:
    """A run started while the store was down, whose process died before it finished."""
    store = SQLStore(database_url)
    store.migrate()
    now = utc_now()
    real = completion_for(store.claim_run(PRE, SESSION, TriggerSource.MANUAL, started_at=now).run)
    claim = dataclasses.replace(
        real,
        run_id=real.run_id + "-spooled",
        started_at=now - timedelta(hours=1),
        executed_at=now - timedelta(hours=1),
        status=RunStatus.RUNNING,
        content=None,
        predictions=(),
    )
    try:
        outcome = store.finish_run(claim)
        assert (outcome.persisted, outcome.published, outcome.snapshot_id) == (True, False, None)
        detail = store.get_run(claim.run_id)
        assert detail is not None
        assert detail.run.status is RunStatus.RUNNING
        assert detail.run.executed_at is None
        assert store.fail_stuck_runs(now - timedelta(minutes=30), now) == [claim.run_id]
    finally:
        store.close()
