"""The plan's metrics, measured from real requests and writes, and its rollback triggers.

(Both modes, in-process, unless a test names one; see tests/support/api_fixtures.py.) Every
expected number is what the test itself did: N requests, these writes, that fault.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from marketbrief.alerts.checks import ROLLBACK_TRIGGER
from marketbrief.cli.main import main
from marketbrief.models import RunStatus
from marketbrief.store import engine as store_engine
from marketbrief.web.quantiles import histogram_quantile
from tests.support.api_fixtures import PREVIOUS, Api
from tests.support.api_helpers import EOD, PRE, REPORT, made
from tests.support.backends import PG_HOST, PG_PORT
from tests.support.clock import DAY
from tests.support.receivers import Webhook, alerting

BEFORE_THE_WINDOW = date(2026, 10, 20)  # a Tuesday session, five weeks before DAY
INF = float("inf")


def test_histogram_quantile_interpolates_within_a_bucket_as_prometheus_does() -> None:
    buckets = ((0.1, 10.0), (0.2, 20.0), (INF, 20.0))
    assert histogram_quantile(0.5, buckets) == (0.1, False)
    assert histogram_quantile(0.75, buckets) == (pytest.approx(0.15), False)
    assert histogram_quantile(0.25, buckets) == (pytest.approx(0.05), False)
    # A rank in the +Inf bucket: the highest finite bound, flagged as a lower bound.
    assert histogram_quantile(0.95, ((0.1, 1.0), (INF, 10.0))) == (0.1, True)
    assert histogram_quantile(0.5, ((0.1, 0.0), (INF, 0.0))) is None
    assert histogram_quantile(0.5, ()) is None


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in report["metrics"]}


async def _plan(api: Api) -> dict[str, Any]:
    response = await api.get("/api/v1/slo")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_with_nothing_served_every_rate_says_it_was_not_measured(api: Api) -> None:
    plan = _by_name(await _plan(api))
    assert plan["history_latency"]["status"] == "not measured"
    assert plan["history_latency"]["absent"] == "no history requests in the window"
    assert plan["history_latency"]["value"] is None
    assert plan["dashboard_latency"]["absent"] == "no dashboard requests in the window"
    # The one write so far is the service's start recording when its schedule began.
    assert plan["write_success"]["detail"]["attempts"] == 1
    assert plan["write_success"]["detail"]["committed"] == 1
    assert plan["blank_answers"]["absent"] == "no report answers in the window"
    assert plan["cache_hit_rate"]["absent"] == "no cache lookups in the window"
    assert plan["outbox_age"]["absent"] == "the outbox is empty"


def _buckets(metrics_text: str, route: str) -> tuple[tuple[float, float], ...]:
    sums: dict[float, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == "marketbrief_request_seconds_bucket" and s.labels["route"] == route:
                bound = float(s.labels["le"])
                sums[bound] = sums.get(bound, 0.0) + s.value
    return tuple(sorted(sums.items()))


def _samples(metrics_text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics_text)
        for s in family.samples
    }


async def test_n_history_requests_give_a_count_of_n_and_percentiles_inside_their_buckets(
    api: Api,
) -> None:
    await api.publish(made(PRE, DAY))
    n = 23
    for _ in range(n):
        assert (await api.get("/api/v1/jobs/history")).status_code == 200
    history = _by_name(await _plan(api))["history_latency"]
    exposition = (await api.get("/metrics")).text
    buckets = _buckets(exposition, "/api/v1/jobs/history")
    exported = _samples(exposition)
    assert exported[("marketbrief_plan_history_p95_seconds", ())] == history["value"]
    assert exported[("marketbrief_rollback_trigger_crossed", (("trigger", "history_p95"),))] == (
        1 if history["value"] > 0.2 else 0
    )
    assert ("marketbrief_plan_dashboard_p95_seconds", ()) not in exported  # not measured
    assert buckets[-1][1] == n
    assert history["detail"]["count"] == n
    assert "bucket-estimated" in history["shown"]
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        estimate = history["detail"][name]
        rank = q * n
        lower, upper = 0.0, INF
        for i, (bound, count) in enumerate(buckets):
            if count >= rank:
                upper, lower = bound, buckets[i - 1][0] if i else 0.0
                break
        assert lower <= estimate["seconds"] <= upper, (name, estimate, buckets)
    p50, p95, p99 = (history["detail"][k]["seconds"] for k in ("p50", "p95", "p99"))
    assert p50 <= p95 <= p99
    assert history["value"] == p95
    expected = "met" if p95 < 0.05 and not history["detail"]["p95"]["at_least"] else "not met"
    assert history["status"] == expected


async def test_report_answers_dashboards_writes_and_cache_are_counted_from_what_was_done(
    api: Api,
) -> None:
    await api.publish(made(PRE, DAY))  # one commit
    await api.publish(made(EOD, DAY, status=RunStatus.FAILED, content=None))  # another
    assert (await api.get(REPORT)).status_code == 200  # fresh, from the cache
    assert (await api.get(REPORT)).status_code == 200
    assert (await api.get(f"/reports/pre-market?date={DAY}")).status_code == 200  # the page
    # The failed run's slot: an honest answer in whatever state, not a blank.
    assert (await api.get(f"/api/v1/reports/end-of-day?date={DAY}")).status_code in (200, 404)
    for _ in range(3):
        assert (await api.get("/")).status_code == 200
    plan = _by_name(await _plan(api))

    blank = plan["blank_answers"]
    assert blank["detail"] == {"answers": 4, "blank": 0}
    assert (blank["value"], blank["status"], blank["target"]) == (0, "met", "0 blank dashboards")

    dashboard = plan["dashboard_latency"]
    assert dashboard["detail"]["count"] == 3
    assert dashboard["target"] == "P95 < 2.00 s"

    writes = plan["write_success"]
    assert writes["detail"]["failed"] == 0
    assert writes["detail"]["committed"] == writes["detail"]["attempts"] >= 2
    assert (writes["value"], writes["status"]) == (1.0, "met")

    counters = api.services.results.counters
    cache = plan["cache_hit_rate"]
    assert cache["detail"] == {"hits": counters.cache_hits, "misses": counters.cache_misses}
    assert cache["status"] == "no target"


async def test_completeness_counts_the_stored_reports_of_the_expected_slots(api: Api) -> None:
    # The schedule counts from its first run's slot when that is earlier than the service's
    # first start: one run weeks before the window makes every slot of the window expected.
    await api.publish(made(PRE, BEFORE_THE_WINDOW))
    before = _by_name(await _plan(api))["completeness"]
    assert before["window"]["sessions"] == 14
    expected = before["detail"]["expected"]
    assert expected > 0
    assert before["status"] == ("met" if before["detail"]["reported"] == expected else "not met")
    await api.publish(made(PRE, DAY))
    await api.publish(made(EOD, PREVIOUS))
    after = _by_name(await _plan(api))["completeness"]
    assert after["detail"]["expected"] == expected
    assert after["detail"]["reported"] == before["detail"]["reported"] + 2
    assert after["value"] == pytest.approx(after["detail"]["reported"] / expected)
    gaps = {(g["report_type"], g["date"]) for g in after["detail"]["gaps"]}
    assert ("pre-market", DAY.isoformat()) not in gaps
    assert len(gaps) == expected - after["detail"]["reported"]


async def test_the_status_page_shows_each_metric_beside_its_target_and_says_it_is_per_process(
    api: Api,
) -> None:
    await api.get("/api/v1/jobs/history")
    page = await api.get("/status")
    assert page.status_code == 200
    html = page.text
    assert "The plan&#39;s metrics" in html or "The plan's metrics" in html
    assert "per process" in html
    for target in ("100% of jobs stored", "P95 &lt; 50.0 ms", "0 blank dashboards"):
        assert target in html
    assert "≥ 99.90% write success" in html
    assert "no report answers in the window" in html
    assert "bucket-estimated" in html
    assert 'id="trigger-write_success"' in html
    assert 'id="trigger-history_p95"' in html
    assert 'id="trigger-corruption"' in html


def _rollbacks(webhook: Webhook) -> list[str]:
    return [m["title"] for m in webhook.items if "rollback trigger" in m["title"]]


async def _switches(api: Api) -> dict[str, Any]:
    ready = (await api.get("/readyz")).json()
    switches: dict[str, Any] = ready["switches"]
    return switches


async def _open_rollbacks(api: Api) -> list[dict[str, Any]]:
    found = await api.services.alerts.incidents(open_only=True)
    return [i for i in found if i["kind"] == ROLLBACK_TRIGGER]


@pytest.mark.slow
@pytest.mark.parametrize("api_settings", ["embedded"], indirect=True)
async def test_writes_failing_on_a_locked_store_open_the_rollback_incident_once_and_resolve_it(
    make_api: Callable[..., Awaitable[Api]],
    webhook: Webhook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 200)
    api = await make_api(alerting=alerting(webhook.url()), outbox_replay_seconds=3600.0)
    alerts, store = api.services.alerts, api.services.results.store
    await api.publish(made(PRE, PREVIOUS))
    path = api.settings.database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # a real lock: every write waits, then fails
        for i in range(3):
            outcome = await api.publish(made(PRE, DAY, marker=f"locked {i}"))
            assert outcome.outboxed
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    writes = _by_name(await _plan(api))["write_success"]
    assert writes["detail"]["failed"] >= 3
    assert writes["detail"]["outbox_spools"] == 3
    assert writes["value"] < 0.95
    assert writes["status"] == "not met"
    for _ in range(2):  # noticed twice: one incident, one alert
        await alerts.check()
    [incident] = await _open_rollbacks(api)
    assert incident["subject"] == "write_success"
    assert "write success < 95%" in incident["summary"]
    # MARKETBRIEF_AUTO_ROLLBACK is off (the default): the trigger alerts, reads stay on.
    assert (await _switches(api))["store_reads"] is True
    plan = await _plan(api)
    [trigger] = [t for t in plan["rollback_triggers"] if t["name"] == "write_success"]
    assert trigger["state"] == "crossed"

    # Writes succeed again: enough of them bring the window's rate back above 95%.
    for _ in range(2000):
        if _by_name(await _plan(api))["write_success"]["value"] >= 0.95:
            break
        await store.ping_writes()
    await alerts.check()
    await alerts.close()
    assert await _open_rollbacks(api) == []
    assert _rollbacks(webhook) == [
        "[marketbrief] rollback trigger: write_success",
        "[marketbrief] resolved: rollback trigger: write_success",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("api_settings", ["scaled"], indirect=True)
async def test_history_requests_held_by_a_locked_store_cross_the_p95_trigger_until_fast_again(
    make_api: Callable[..., Awaitable[Api]], webhook: Webhook
) -> None:
    api = await make_api(
        alerting=alerting(webhook.url(), auto_rollback=True),
        store_breaker_seconds=1.0,
        store_read_timeout_seconds=1.5,  # the production deadline: this test is about it
    )
    alerts = api.services.alerts
    assert (await api.get("/api/v1/jobs/history")).status_code == 200
    schema = api.settings.database_url.rsplit("search_path%3D", 1)[1]
    with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test") as holder:
        tables = [
            row[0]
            for row in holder.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            )
        ]
        names = ", ".join(f'"{schema}"."{t}"' for t in tables)
        holder.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
        # A page not in the cache (the first one is: it needs no store read) is read from the
        # store, which waits on the lock until its deadline (1.5 s): far past 200 ms.
        held = await api.get("/api/v1/jobs/history?limit=7")
        assert held.status_code == 503
        holder.rollback()
    history = _by_name(await _plan(api))["history_latency"]
    assert history["detail"]["count"] == 2
    assert history["detail"]["p99"]["seconds"] > 0.2
    assert history["status"] == "not met"
    store = api.services.results.store
    for _ in range(600):  # the breaker opened on the timeout: wait until a probe answers
        if await store.probe():
            break
        await asyncio.sleep(0.05)
    await alerts.check()
    [incident] = await _open_rollbacks(api)
    assert incident["subject"] == "history_p95"
    switches = await _switches(api)  # MARKETBRIEF_AUTO_ROLLBACK=on: store reads off
    assert switches["store_reads"] is False
    assert switches["store_reads_reason"].startswith("rollback history_p95 since ")

    # Requests answer again: once 95% of the window's requests are fast, P95 is back.
    for _ in range(200):
        history = _by_name(await _plan(api))["history_latency"]
        if history["detail"]["p95"]["seconds"] <= 0.2:
            break
        await api.get("/api/v1/jobs/history")
    await alerts.check()
    await alerts.close()
    assert await _open_rollbacks(api) == []
    assert _rollbacks(webhook) == [
        "[marketbrief] rollback trigger: history_p95",
        "[marketbrief] resolved: rollback trigger: history_p95",
    ]
    # Resolved is not cleared: reads stay off until an operator says so.
    assert (await _switches(api))["store_reads"] is False


def _cli_env(api: Api) -> dict[str, str]:
    s = api.settings
    return {
        "MARKETBRIEF_DATABASE_URL": s.database_url,
        "MARKETBRIEF_CACHE": "off",
        "MARKETBRIEF_OUTBOX_DIR": str(s.outbox_dir),
    }


async def _state(api: Api, path: str) -> str:
    state: str = (await api.get(path)).json()["meta"]["state"]
    return state


async def _marketbrief(api: Api, *args: str) -> str:
    """Run one `marketbrief` command against the api's store (in a thread: it runs its loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), env=_cli_env(api))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
@pytest.mark.parametrize("api_settings", ["embedded"], indirect=True)
async def test_with_auto_rollback_a_crossed_write_trigger_serves_from_the_cache_until_cleared(
    make_api: Callable[..., Awaitable[Api]],
    webhook: Webhook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_MS", 200)
    api = await make_api(
        alerting=alerting(webhook.url(), auto_rollback=True), outbox_replay_seconds=3600.0
    )
    alerts, store = api.services.alerts, api.services.results.store
    await api.publish(made(PRE, PREVIOUS))
    cached = f"/api/v1/reports/pre-market?date={PREVIOUS}"
    uncached = f"/api/v1/reports/end-of-day?date={PREVIOUS}"
    assert (await api.get(cached)).status_code == 200
    answered = await _state(api, uncached)  # what the store answers for it
    assert answered != "unavailable"
    path = api.settings.database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        for i in range(3):
            assert (await api.publish(made(PRE, DAY, marker=f"locked {i}"))).outboxed
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (await _switches(api))["store_reads"] is True
    await alerts.check()
    [incident] = await _open_rollbacks(api)
    assert incident["subject"] == "write_success"
    switches = await _switches(api)
    assert switches["store_reads"] is False
    assert switches["store_reads_reason"].startswith("rollback write_success since ")
    assert "store reads False (rollback write_success" in (await api.get("/status")).text

    served = await api.get(cached)
    assert served.status_code == 200
    assert served.json()["meta"]["source"] == "cache"
    refused = await api.get(uncached)
    assert refused.status_code == 503
    meta = refused.json()["meta"]
    assert meta["state"] == "unavailable"
    assert {"store_reads_off", "rollback:write_success"} <= set(meta["warnings"])

    # Writes recover and the incident resolves; reads stay off until an operator clears.
    for _ in range(2000):
        if _by_name(await _plan(api))["write_success"]["value"] >= 0.95:
            break
        await store.ping_writes()
    await alerts.check()
    assert await _open_rollbacks(api) == []
    assert (await _switches(api))["store_reads"] is False
    assert (await api.get(uncached)).status_code == 503

    cleared = await _marketbrief(api, "rollback", "clear", "--by", "test-operator")
    assert "cleared: rollback cleared by operator test-operator" in cleared
    status = await _marketbrief(api, "rollback", "status")
    assert "rollback_cleared" in status
    assert "resolved rollback_trigger" in status
    assert (await _switches(api))["store_reads"] is False  # until this process's next pass
    await alerts.check()
    switches = await _switches(api)
    assert (switches["store_reads"], switches["store_reads_reason"]) == (True, None)
    assert await _state(api, uncached) == answered
    await alerts.close()
    assert _rollbacks(webhook) == [
        "[marketbrief] rollback trigger: write_success",
        "[marketbrief] resolved: rollback trigger: write_success",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("api_settings", ["embedded"], indirect=True)
async def test_with_auto_rollback_corruption_found_by_verify_turns_reads_off_until_cleared(
    make_api: Callable[..., Awaitable[Api]], webhook: Webhook
) -> None:
    api = await make_api(alerting=alerting(webhook.url(), auto_rollback=True))
    alerts = api.services.alerts
    await api.publish(made(PRE, PREVIOUS))
    cached = f"/api/v1/reports/pre-market?date={PREVIOUS}"
    uncached = f"/api/v1/reports/end-of-day?date={PREVIOUS}"
    assert (await api.get(cached)).status_code == 200
    answered = await _state(api, uncached)
    path = api.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        [ddl] = db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'uq_job_executions_slot'"
        ).fetchone()
        db.execute("DROP INDEX uq_job_executions_slot")
    # `verify` runs in its own process: it records the corruption incident and tells.
    env = {**_cli_env(api), "MARKETBRIEF_NOTIFY": webhook.url()}
    found = await asyncio.to_thread(CliRunner().invoke, main, ["verify"], env=env)
    assert found.exit_code == 1, found.output
    assert (await _switches(api))["store_reads"] is True  # until this process's watch pass
    await alerts.check()
    switches = await _switches(api)
    assert switches["store_reads"] is False
    assert switches["store_reads_reason"].startswith("rollback corruption since ")
    assert (await api.get(cached)).json()["meta"]["source"] == "cache"
    assert (await api.get(uncached)).status_code == 503
    status = await _marketbrief(api, "rollback", "status")
    assert "open     corruption" in status

    # Repaired and verified clean: the incident resolves, reads stay off until an operator clears.
    with sqlite3.connect(path) as db:
        db.execute(ddl)
    healed = await asyncio.to_thread(CliRunner().invoke, main, ["verify"], env=env)
    assert healed.exit_code == 0, healed.output
    await alerts.check()
    assert (await _switches(api))["store_reads"] is False
    await _marketbrief(api, "rollback", "clear", "--by", "test-operator")
    await alerts.check()
    switches = await _switches(api)
    assert (switches["store_reads"], switches["store_reads_reason"]) == (True, None)
    assert await _state(api, uncached) == answered
    await alerts.close()
    titles = [m["title"] for m in webhook.items if "corruption" in m["title"]]
    assert titles == [
        "[marketbrief] store corruption: store",
        "[marketbrief] resolved: store corruption: store",
    ]
