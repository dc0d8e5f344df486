"""A channel that is down is retried with backoff in the background; one that hangs slows
nothing; failures are counted in /metrics under the channel's position."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from marketbrief.alerts.channels import Channel, Message
from marketbrief.alerts.sender import Backoff, Sender
from marketbrief.models import RunStatus
from marketbrief.pipeline.feeds import analyst_from
from tests.support.api_fixtures import Api, closed_port
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


async def test_a_channel_that_never_answers_is_given_up_after_its_attempts_and_counted(
    webhook: Webhook,
) -> None:
    down = Channel(f"json://127.0.0.1:{closed_port()}/hook", 1)
    up = Channel(webhook.url(), 2)
    sender = Sender([down, up], backoff=Backoff(first_seconds=0.01, max_seconds=0.02, attempts=3))
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    sender.submit(Message("[marketbrief] one", "body"))
    await asyncio.gather(*(lane.queue.join() for lane in sender.lanes))
    stop.set()
    await running
    refused, delivered = (lane.counts for lane in sender.lanes)
    assert (refused.sent, refused.failures, refused.dropped) == (0, 3, 1)
    assert (delivered.sent, delivered.failures, delivered.dropped) == (1, 0, 0)
    assert webhook.titles() == ["[marketbrief] one"]  # the down channel held up no other
