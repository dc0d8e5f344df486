"""Store usage over HTTP: `GET /api/v1/usage` and the /status page's section (both modes)."""

from __future__ import annotations

import re
from datetime import timedelta

from marketbrief.config import Settings
from marketbrief.store.sql import SQLStore
from tests.support.api_fixtures import PREVIOUS, Api, running
from tests.support.api_helpers import EOD, PRE, assert_error, made
from tests.support.clock import DAY, LATE, Clock


async def _publish_four_runs(api: Api) -> None:
    await api.publish(made(PRE, PREVIOUS, hours_before=30))  # started on the day before DAY
    await api.publish(made(PRE, DAY, hours_before=13))  # three on DAY (UTC)
    await api.publish(made(EOD, DAY, hours_before=8))
    await api.publish(made(EOD, DAY, hours_before=7, marker="again"))


async def test_usage_counts_the_runs_of_each_day_and_the_store_usage_flushed(api: Api) -> None:
    await _publish_four_runs(api)
    store = api.services.results.store
    counted = store.usage.pending()
    await store.flush_usage()

    response = await api.get("/api/v1/usage?days=4")

    assert response.status_code == 200
    body = response.json()
    days = [(LATE.date() - timedelta(days=3 - i)).isoformat() for i in range(4)]
    assert [d["day"] for d in body["per_day"]] == days
    runs = {d["day"]: d["runs"] for d in body["per_day"]}
    assert runs == {days[0]: 0, PREVIOUS.isoformat(): 1, DAY.isoformat(): 3, days[3]: 0}
    assert {d["day"]: d["snapshots"] for d in body["per_day"]} == runs
    today = body["per_day"][-1]
    assert today["queries"] >= counted.queries > 0  # counted on the services' day, LATE's
    assert today["rows_written"] >= counted.rows_written > 0
    tables = {t["table"]: t for t in body["tables"]}
    assert tables["job_executions"]["rows"] == 4
    assert all(t["bytes"] > 0 for t in body["tables"])
    expected = "sqlite dbstat" if api.settings.database_url.startswith("sqlite") else "pg_total"
    assert body["bytes_method"].startswith(expected)
    assert body["growth"]["rows_per_day"] > 0


async def test_usage_refuses_a_window_outside_its_bounds(api: Api) -> None:
    assert_error(await api.get("/api/v1/usage?days=0"), 400, "invalid_input")
    assert_error(await api.get("/api/v1/usage?days=x"), 400, "invalid_input")


async def test_the_status_page_shows_the_usage_section_from_the_same_report(api: Api) -> None:
    await _publish_four_runs(api)

    page = await api.get("/status")
    report = (await api.get("/api/v1/usage")).json()

    assert page.status_code == 200
    html = page.text
    assert '<h2 id="usage">Store usage</h2>' in html
    assert "<tr><td>job_executions</td><td>4</td>" in html
    day_row = re.search(rf"<tr><td>{DAY.isoformat()}</td><td>(\d+)</td><td>(\d+)</td>", html)
    assert day_row is not None
    assert day_row.groups() == ("3", "3")
    assert f"<td>total</td><td>{report['total']['rows']}</td>" in html
    assert report["bytes_method"] in html
    assert "rows/day" in html


async def test_a_serving_process_adds_its_counts_to_the_store_as_it_stops(
    api_settings: Settings, clock: Clock
) -> None:
    async with running(api_settings, clock) as api:
        await _publish_four_runs(api)
        assert (await api.get("/api/v1/jobs/history")).status_code == 200
        store = api.services.results.store
        counted = store.usage.pending()

    backend = SQLStore(api_settings.database_url)  # a process started afterwards
    try:
        persisted = backend.usage_measures(LATE.date()).counted[LATE.date()]
    finally:
        backend.close()
    # At least what was pending when the requests ended, and the background tasks' own.
    assert persisted.queries >= counted.queries > 0
    assert persisted.rows_read >= counted.rows_read > 0
    assert persisted.rows_written >= counted.rows_written >= 4 * 10  # four runs' rows
