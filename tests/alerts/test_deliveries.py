"""Reports delivered: a report published fresh is sent once, by mail (the report page as HTML,
with a plain-text alternative) and by webhook (the API's JSON envelope), across processes.

Each app or stack sends to a real SMTP server (aiosmtpd) and a real webhook on loopback;
tests wait for what arrives (or flush the senders, which waits for every delivery), never for
time.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from marketbrief.config import Settings
from marketbrief.errors import ConfigError
from marketbrief.models import RunStatus, TriggerSource
from marketbrief.services import Services
from marketbrief.store.base import DeliveryKey
from marketbrief.store.schema import deliveries
from marketbrief.web.pages import report_html
from tests.support.api_fixtures import SYMBOLS, Api
from tests.support.api_helpers import EOD, INTRADAY, PRE, made
from tests.support.clock import DAY, Clock
from tests.support.receivers import Mailbox, Webhook, alerting, text_of


def _delivering(*channels: str, **changes: Any) -> Any:
    return alerting(deliver=channels, **changes)


def _rows(settings: Settings) -> list[Any]:
    engine = sa.create_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.select(deliveries).order_by(deliveries.c.id)))
    finally:
        engine.dispose()


def _part(mail: Any, content_type: str) -> str:
    for part in mail.walk():
        if part.get_content_type() == content_type:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError(f"no {content_type} part")


async def test_a_fresh_pre_market_publish_is_mailed_and_posted_once(
    make_api: Callable[..., Awaitable[Api]], smtp: Mailbox, webhook: Webhook
) -> None:
    api = await make_api(alerting=_delivering(smtp.url(), webhook.url()))
    deliveries_ = api.services.deliveries
    run = await api.services.runner.run(PRE, DAY, TriggerSource.MANUAL)
    assert run.status is RunStatus.SUCCESS
    assert run.published
    [mail] = await smtp.until(1)
    [posted] = await webhook.until(1)
    await deliveries_.close()  # everything queued sent and recorded
    await deliveries_.check()  # the watch finds nothing left to send
    await deliveries_.close()

    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Subject"] == f"[marketbrief] pre-market report for {DAY}"
    html = _part(mail, "text/html")
    assert '<table class="symbols' in html
    for symbol in SYMBOLS:
        assert f"<strong>{symbol}</strong>" in html
    assert "AAPL" in text_of(mail)

    served = await api.get("/api/v1/reports/pre-market", params={"date": DAY.isoformat()})
    assert posted == served.json()  # the API's envelope is the raw body
    assert served.json()["meta"]["state"] == "fresh"
    assert run.completion is not None
    [headers] = webhook.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == f"pre-market/{DAY}/{run.completion.version}"

    assert (len(smtp.items), len(webhook.items)) == (1, 1)
    [row] = _rows(api.settings)
    assert run.completion is not None
    assert (row.report_type, row.business_date) == ("pre-market", DAY)
    assert row.version == run.completion.version
    assert row.channels_done == "1,2"
    assert row.delivered_at is not None
    assert row.attempts == 1


async def test_a_type_not_in_deliver_types_is_not_sent(
    make_api: Callable[..., Awaitable[Api]], webhook: Webhook
) -> None:
    api = await make_api(alerting=_delivering(webhook.url(), deliver_types=("end-of-day",)))
    pre = await api.services.runner.run(PRE, DAY, TriggerSource.MANUAL)
    assert pre.published
    assert (await api.publish(made(INTRADAY, DAY, hours_before=1))).published
    eod = await api.services.runner.run(EOD, DAY, TriggerSource.MANUAL)
    assert eod.published
    await webhook.until(1)
    await api.services.deliveries.close()
    await api.services.deliveries.check()
    await api.services.deliveries.close()
    assert webhook.reports() == [f"end-of-day {DAY}"]
    assert [row.report_type for row in _rows(api.settings)] == ["end-of-day"]


async def test_a_channel_down_then_up_gets_the_report_once_and_the_failure_is_counted(
    make_api: Callable[..., Awaitable[Api]], webhook: Webhook
) -> None:
    api = await make_api(alerting=_delivering(webhook.url()))
    with webhook.lock:
        webhook.fail = True
    run = await api.services.runner.run(PRE, DAY, TriggerSource.MANUAL)  # never waits for it
    assert run.published
    await webhook.tries.until(1)  # refused once: retried after its backoff
    assert _rows(api.settings)[0].delivered_at is None
    with webhook.lock:
        webhook.fail = False
    await webhook.until(1)
    await api.services.deliveries.settle()
    assert webhook.reports() == [f"pre-market {DAY}"]
    metrics = (await api.get("/metrics")).text
    assert 'marketbrief_deliver_sent_total{channel="1"} 1.0' in metrics
    failures = next(
        line for line in metrics.splitlines() if line.startswith("marketbrief_deliver_failures")
    )
    assert float(failures.rsplit(" ", 1)[1]) >= 1
    await api.services.deliveries.close()
    await api.services.deliveries.check()
    await api.services.deliveries.close()
    assert len(webhook.items) == 1
    [row] = _rows(api.settings)
    assert row.delivered_at is not None


async def test_a_report_published_without_a_delivery_is_sent_by_the_watch_once(
    make_api: Callable[..., Awaitable[Api]], webhook: Webhook, clock: Clock
) -> None:
    api = await make_api(alerting=_delivering(webhook.url()))
    deliveries_ = api.services.deliveries
    # Published the way a replayed outbox (or a process without delivery) publishes: no hook.
    outcome = await api.publish(made(PRE, DAY, hours_before=1))
    assert outcome.published
    # And one claimed by a process that died before sending (its claim is not yet stale).
    eod = made(EOD, DAY - timedelta(days=1), hours_before=2)
    assert (await api.publish(eod)).published
    key = DeliveryKey("end-of-day", eod.scheduled_date, eod.version)
    assert await api.services.results.store.claim_delivery(key, None, clock.now)

    await deliveries_.check()
    await deliveries_.close()
    assert webhook.reports() == [f"pre-market {DAY}"]

    clock.now += timedelta(minutes=16)  # the dead process's claim is past its lease
    await deliveries_.check()
    await deliveries_.close()
    await deliveries_.check()
    await deliveries_.close()
    assert webhook.reports() == [f"pre-market {DAY}", f"end-of-day {DAY - timedelta(days=1)}"]
    # The one resent after a lease carries the same idempotency key as any earlier try.
    assert webhook.headers[1]["Idempotency-Key"] == f"end-of-day/{key.business_date}/{key.version}"
    rows = {row.report_type: row for row in _rows(api.settings)}
    assert rows["end-of-day"].attempts == 2
    assert rows["end-of-day"].delivered_at is not None


@pytest.fixture
async def stacks(
    api_settings: Settings, clock: Clock, webhook: Webhook, smtp: Mailbox
) -> AsyncIterator[list[Services]]:
    """Two serving processes' services on one store, each with its own sender and renderer."""
    settings = dataclasses.replace(api_settings, alerting=_delivering(webhook.url(), smtp.url()))
    async with AsyncExitStack() as exit_stack:
        opened = []
        for _ in range(2):
            services = Services.open(settings, clock=clock)
            services.deliveries.renderer = report_html
            exit_stack.push_async_callback(services.stop)
            opened.append(services)
        yield opened


async def test_two_processes_seeing_one_publish_deliver_it_once(
    stacks: list[Services], webhook: Webhook, smtp: Mailbox
) -> None:
    first, second = stacks
    run = await first.runner.run(PRE, DAY, TriggerSource.MANUAL)
    assert run.published
    # The other process sees the same publish (its hook, then its watch), all at once.
    second.deliveries.run_finished(run)
    await asyncio.gather(*(s.deliveries.check() for s in stacks))
    await asyncio.gather(*(s.deliveries.close() for s in stacks))
    await asyncio.gather(*(s.deliveries.check() for s in stacks))
    await asyncio.gather(*(s.deliveries.close() for s in stacks))
    assert webhook.reports() == [f"pre-market {DAY}"]
    assert len(smtp.items) == 1
    assert sum(lane.counts.sent for s in stacks for lane in s.deliveries.sender.lanes) == 2


def test_deliver_types_must_be_report_types() -> None:
    assert Settings.from_env({}).alerting.deliver_types == ("pre-market", "end-of-day")
    chosen = Settings.from_env({"MARKETBRIEF_DELIVER_TYPES": "weekly, pre-market"})
    assert chosen.alerting.deliver_types == ("weekly", "pre-market")
    with pytest.raises(ConfigError, match="MARKETBRIEF_DELIVER_TYPES"):
        Settings.from_env({"MARKETBRIEF_DELIVER_TYPES": "pre-market,lunch"})


async def test_a_process_that_cannot_render_the_mail_leaves_the_report_to_one_that_can(
    api_settings: Settings, clock: Clock, smtp: Mailbox
) -> None:
    settings = dataclasses.replace(api_settings, alerting=_delivering(smtp.url()))
    cli_like, serving = Services.open(settings, clock=clock), Services.open(settings, clock=clock)
    try:
        run = await cli_like.runner.run(PRE, DAY, TriggerSource.MANUAL)  # no renderer here
        assert run.published
        await cli_like.deliveries.check()
        await cli_like.deliveries.close()
        assert _rows(settings) == []
        serving.deliveries.renderer = report_html
        await serving.deliveries.check()
        await serving.deliveries.close()
        [mail] = smtp.items
        assert "<strong>AAPL</strong>" in _part(mail, "text/html")
    finally:
        await cli_like.stop()
        await serving.stop()
