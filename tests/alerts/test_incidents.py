"""What alerts, told once: a failed run, a missed slot, across processes, on both modes.

Each app or stack sends to a real webhook on loopback; tests wait for what the webhook
receives (or flush the senders, which waits for every delivery), never for time.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from marketbrief.config import Settings
from marketbrief.models import RunStatus, TriggerSource
from marketbrief.pipeline.feeds import analyst_from
from marketbrief.services import Services
from tests.support.api_fixtures import Api
from tests.support.api_helpers import EOD, INTRADAY, PRE
from tests.support.clock import DAY, Clock
from tests.support.receivers import PUBLIC, Mailbox, Webhook, alerting, text_of


@pytest.fixture
async def alerted(make_api: Callable[..., Awaitable[Api]], webhook: Webhook) -> Api:
    return await make_api(alerting=alerting(webhook.url()))


async def test_a_failed_run_alerts_once_and_a_later_success_resolves_it_once(
    make_api: Callable[..., Awaitable[Api]], webhook: Webhook, smtp: Mailbox, tmp_path: Path
) -> None:
    alerted = await make_api(alerting=alerting(webhook.url(), smtp.url()))
    runner, alerts = alerted.services.runner, alerted.services.alerts
    working = runner.analyst
    broken = tmp_path / "broken-news"
    broken.mkdir()
    for symbol in ("AAPL", "MSFT", "NVDA", "TSLA", "SPY"):
        (broken / f"{symbol}.json").write_text("{not json")
    runner.analyst = analyst_from(dataclasses.replace(alerted.settings, news=f"dir:{broken}"))
    failed = await runner.run(PRE, DAY)  # every symbol's news unreadable: the run fails
    assert failed.status is RunStatus.FAILED
    [first] = await webhook.until(1)
    assert first["title"] == f"[marketbrief] run failed: pre-market/{DAY}"
    body = first["message"]
    assert f"Report: pre-market, business date {DAY}" in body
    assert "Since: 2026-11-25T03:00:00.000Z" in body
    assert f"Dashboard: {PUBLIC}/jobs/{failed.run_id}" in body

    await runner.run(PRE, DAY)  # fails again: the same incident, no second alert
    await alerts.settle()
    runner.analyst = working
    fixed = await runner.run(PRE, DAY)
    assert fixed.status is RunStatus.SUCCESS
    titles = [m["title"] for m in await webhook.until(2)]
    await alerts.close()  # every queued message delivered: nothing more is on its way
    assert (
        [m["title"] for m in webhook.items]
        == titles
        == [
            f"[marketbrief] run failed: pre-market/{DAY}",
            f"[marketbrief] resolved: run failed: pre-market/{DAY}",
        ]
        == [mail["Subject"] for mail in smtp.items]  # and by mail, over real SMTP
    )
    assert f"Dashboard: {PUBLIC}/jobs/{failed.run_id}" in text_of(smtp.items[0])
    listed = (await alerted.get("/api/v1/alerts")).json()
    assert (listed["count"], listed["open"]) == (1, 0)
    [incident] = listed["alerts"]
    assert (incident["kind"], incident["state"], incident["notifications"]) == (
        "run_failed",
        "resolved",
        1,
    )
    assert [c["sent"] for c in listed["channels"]] == [2, 2]
    assert (await alerted.get("/api/v1/alerts", params={"state": "open"})).json()["count"] == 0
    refused = await alerted.get("/api/v1/alerts", params={"state": "closed"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_input"
    status = await alerted.get("/status")
    assert f"the pre-market run {failed.run_id} for {DAY} ended failed" in status.text


@pytest.fixture
async def stacks(
    api_settings: Settings, clock: Clock, webhook: Webhook
) -> AsyncIterator[list[Services]]:
    """Three serving processes' services on one store, each with its own sender."""
    settings = dataclasses.replace(api_settings, alerting=alerting(webhook.url()))
    async with AsyncExitStack() as exit_stack:
        opened = []
        for _ in range(3):
            services = Services.open(settings, clock=clock)
            exit_stack.push_async_callback(services.stop)
            opened.append(services)
        # The processes have served since before DAY: its slots were due (a fresh install's
        # slots from before its first start never are).
        await opened[0].results.deps.store.begin_schedule(datetime(2026, 11, 20, tzinfo=UTC))
        yield opened


async def _watch_everywhere(stacks: list[Services]) -> None:
    """One watch pass in every process at once; then every queued message delivered."""
    await asyncio.gather(*(s.alerts.check() for s in stacks))
    await asyncio.gather(*(s.alerts.close() for s in stacks))


async def test_a_missed_slot_alerts_once_from_three_processes_reminds_once_and_resolves_once(
    stacks: list[Services], webhook: Webhook, clock: Clock
) -> None:
    # At LATE every slot of DAY passed with no run at all: the scheduler never fired.
    await _watch_everywhere(stacks)
    missed = {f"[marketbrief] slot missed: {k.value}/{DAY}" for k in (PRE, INTRADAY, EOD)}
    assert sorted(webhook.titles()) == sorted(missed)
    pre = next(m for m in webhook.items if m["title"].endswith(f"pre-market/{DAY}"))
    assert f"Dashboard: {PUBLIC}/reports/pre-market?date={DAY}" in pre["message"]
    assert "Since: 2026-11-24T14:00:00.000Z" in pre["message"]  # 13:30 UTC slot + 30 min grace

    await _watch_everywhere(stacks)  # still missed, not yet due for a reminder
    assert len(webhook.items) == 3

    clock.now += timedelta(minutes=61)
    await _watch_everywhere(stacks)
    reminders = [t for t in webhook.titles() if t.startswith("[marketbrief] still:")]
    assert len(reminders) == 3

    await stacks[1].runner.run(PRE, DAY, TriggerSource.MANUAL)
    await stacks[1].alerts.settle()
    await _watch_everywhere(stacks)
    resolved = [t for t in webhook.titles() if "resolved" in t]
    assert resolved == [f"[marketbrief] resolved: slot missed: pre-market/{DAY}"]
    open_now = await stacks[2].alerts.incidents(open_only=True)
    assert {i["subject"] for i in open_now} == {f"intraday/{DAY}", f"end-of-day/{DAY}"}
