"""A channel that is down is retried with backoff in the background; one that hangs slows
nothing; failures are counted in /metrics under the channel's position."""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from marketbrief.models import RunStatus
from marketbrief.pipeline.feeds import analyst_from
from tests.support.api_fixtures import Api
from tests.support.api_helpers import PRE
from tests.support.clock import DAY
from tests.support.receivers import Webhook, alerting


@pytest.fixture
async def alerted(make_api: Callable[..., Awaitable[Api]], webhook: Webhook) -> Api:
    return await make_api(alerting=alerting(webhook.url()))


def _break_the_news(api: Api, folder: Path) -> None:
    folder.mkdir()
    for symbol in ("AAPL", "MSFT", "NVDA", "TSLA", "SPY"):
        (folder / f"{symbol}.json").write_text("{not json")
    api.services.runner.analyst = analyst_from(
        dataclasses.replace(api.settings, news=f"dir:{folder}")
    )


def _metric(text: str, name: str) -> float:
    found = re.search(rf'^{name}{{channel="1"}} (\S+)$', text, re.M)
    assert found is not None, text
    return float(found.group(1))


async def test_a_channel_that_is_down_is_retried_until_it_takes_the_alert(
    alerted: Api, webhook: Webhook, tmp_path: Path
) -> None:
    with webhook.lock:
        webhook.fail = True  # answers 500
    working = alerted.services.runner.analyst
    _break_the_news(alerted, tmp_path / "broken")
    failed = await alerted.services.runner.run(PRE, DAY)
    assert failed.status is RunStatus.FAILED  # the run finished; the alert is the sender's
    await webhook.tries.until(1)
    with webhook.lock:
        webhook.fail = False
    [delivered] = await webhook.until(1)  # the retry, after its backoff
    assert delivered["title"] == f"[marketbrief] run failed: pre-market/{DAY}"
    assert len(webhook.tries.items) >= 2
    metrics = (await alerted.get("/metrics")).text
    assert _metric(metrics, "marketbrief_notify_failures_total") >= 1
    assert _metric(metrics, "marketbrief_notify_sent_total") == 1
    assert 'channel="' + "json" not in metrics  # the label is a position, never a URL
    alerted.services.runner.analyst = working


async def test_a_channel_that_hangs_slows_neither_runs_nor_requests(
    alerted: Api, webhook: Webhook, tmp_path: Path
) -> None:
    held = threading.Event()
    with webhook.lock:
        webhook.hold = held  # every POST waits until the test releases it
    working = alerted.services.runner.analyst
    _break_the_news(alerted, tmp_path / "broken")
    await alerted.services.runner.run(PRE, DAY)
    await webhook.tries.until(1)  # the alert's POST is in flight, held by the channel
    alerted.services.runner.analyst = working
    fixed = await alerted.services.runner.run(PRE, DAY)
    report = await alerted.get("/api/v1/reports/pre-market", params={"date": DAY.isoformat()})
    status = await alerted.get("/status")
    assert not held.is_set()  # all of it happened while the channel still held the alert
    assert fixed.status is RunStatus.SUCCESS
    assert report.status_code == 200
    assert report.json()["meta"]["state"] == "fresh"
    assert status.status_code == 200
    held.set()
