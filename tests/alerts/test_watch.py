"""The rest of what alerts: verify finding corruption, the outbox holding writes too long, a
report served stale too long; each once, and resolved once it is over."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from harness.store import migrate

from marketbrief.cli.main import main
from tests.support.api_fixtures import PREVIOUS, Api
from tests.support.api_helpers import PRE, made
from tests.support.clock import DAY
from tests.support.receivers import PUBLIC, Webhook, alerting


@pytest.fixture
async def alerted(make_api: Callable[..., Awaitable[Api]], webhook: Webhook) -> Api:
    # The background replayer waits an hour: the tests replay the outbox themselves.
    return await make_api(
        alerting=alerting(webhook.url(), stale_minutes=30, outbox_minutes=10),
        outbox_replay_seconds=3600.0,
    )


def _about(webhook: Webhook, word: str) -> list[dict[str, Any]]:
    """The messages received whose title mentions `word` (the watch reports every condition)."""
    return [m for m in webhook.items if word in m["title"]]


def test_verify_finding_corruption_alerts_once_and_a_clean_verify_resolves_it(
    sqlite_url: str, webhook: Webhook
) -> None:
    migrate(sqlite_url)
    env = {
        "MARKETBRIEF_DATABASE_URL": sqlite_url,
        "MARKETBRIEF_NOTIFY": webhook.url(),
        "MARKETBRIEF_PUBLIC_URL": PUBLIC,
    }
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        [ddl] = db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'uq_job_executions_slot'"
        ).fetchone()
        db.execute("DROP INDEX uq_job_executions_slot")
    runner = CliRunner()
    for _ in range(2):  # found twice: one incident, one alert
        damaged = runner.invoke(main, ["verify"], env=env)
        assert damaged.exit_code == 1, damaged.output
    [alert] = webhook.wait_for(1)
    assert alert["title"] == "[marketbrief] store corruption: store"
    assert "uq_job_executions_slot" in alert["message"]
    assert f"Dashboard: {PUBLIC}/status" in alert["message"]
    with sqlite3.connect(path) as db:
        db.execute(ddl)
    healed = runner.invoke(main, ["verify"], env=env)
    assert healed.exit_code == 0, healed.output
    titles = [m["title"] for m in webhook.wait_for(2)]
    assert titles == [
        "[marketbrief] store corruption: store",
        "[marketbrief] resolved: store corruption: store",
    ]
    listed = runner.invoke(main, ["alerts", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert '"state": "resolved"' in listed.output
    still_open = runner.invoke(main, ["alerts", "--open", "--json"], env=env)
    assert still_open.exit_code == 0, still_open.output
    assert json.loads(still_open.output) == []


async def test_the_outbox_holding_a_write_too_long_alerts_and_resolves_once_replayed(
    alerted: Api, webhook: Webhook
) -> None:
    results, alerts = alerted.services.results, alerted.services.alerts
    await results.spool(made(PRE, DAY))
    [spooled] = list(alerted.settings.outbox_dir.glob("*.json"))
    eleven_minutes_ago = (alerted.clock.now - timedelta(minutes=11)).timestamp()
    os.utime(spooled, (eleven_minutes_ago, eleven_minutes_ago))
    await alerts.check()
    await alerts.close()  # every queued message delivered
    [alert] = _about(webhook, "outbox")
    assert alert["title"] == "[marketbrief] outbox holding writes: outbox"
    assert "more than 10 minutes" in alert["message"]
    await results.replay_outbox()
    await alerts.check()
    await alerts.close()
    assert [m["title"] for m in _about(webhook, "outbox")] == [
        "[marketbrief] outbox holding writes: outbox",
        "[marketbrief] resolved: outbox holding writes: outbox",
    ]


async def test_a_report_served_stale_too_long_alerts_and_a_fresh_answer_resolves_it(
    alerted: Api, webhook: Webhook
) -> None:
    alerts = alerted.services.alerts
    await alerted.publish(made(PRE, PREVIOUS, hours_before=30))
    first = await alerted.get("/api/v1/reports/pre-market")  # DAY has none: PREVIOUS, stale
    assert first.json()["meta"]["state"] == "stale"
    await alerts.check()  # stale, but not yet for long
    await alerts.close()
    assert _about(webhook, "stale") == []
    alerted.clock.now += timedelta(minutes=31)
    again = await alerted.get("/api/v1/reports/pre-market")
    assert again.json()["meta"]["state"] == "stale"
    await alerts.check()
    await alerts.close()
    [alert] = _about(webhook, "stale")
    assert alert["title"] == "[marketbrief] report served stale: pre-market"
    assert f"the pre-market report for {DAY} has been served stale" in alert["message"]
    assert f"Dashboard: {PUBLIC}/reports/pre-market?date={DAY}" in alert["message"]
    assert "Since: 2026-11-25T03:00:00.000Z" in alert["message"]
    outcome = await alerted.publish(made(PRE, DAY, hours_before=1))
    assert outcome.published
    fresh = await alerted.get("/api/v1/reports/pre-market")
    assert fresh.json()["meta"]["state"] == "fresh"
    await alerts.check()
    await alerts.close()
    assert [m["title"] for m in _about(webhook, "stale")] == [
        "[marketbrief] report served stale: pre-market",
        "[marketbrief] resolved: report served stale: pre-market",
    ]
