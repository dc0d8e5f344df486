"""Job history (filters, cursor paging), the latest job, one job in full, and the schedule of
expected versus actual runs.

(Both modes, in-process; see tests/support/api_helpers.py.)
"""

from __future__ import annotations

import base64
from datetime import date

import orjson
import pytest

from marketbrief.models import Completion, RunStatus
from tests.support.api_fixtures import PREVIOUS, THANKSGIVING, Api
from tests.support.api_helpers import EOD, INTRADAY, PRE, WEEKLY, assert_error, made
from tests.support.clock import DAY

JOB_FIELDS = {
    "id",
    "run_id",
    "job_type",
    "status",
    "scheduled_date",
    "trigger_source",
    "started_at",
    "executed_at",
    "duration_ms",
    "symbols_processed",
    "symbols_successful",
    "symbols_failed",
}


# -- job history ---------------------------------------------------------------------------------


async def _publish_runs(api: Api, count: int) -> list[Completion]:
    """`count` runs of mixed types and dates, started one minute apart (oldest first)."""
    kinds = (PRE, INTRADAY, EOD)
    days = (PREVIOUS, DAY)
    completions = []
    for i in range(count):
        completion = made(
            kinds[i % 3], days[(i // 3) % 2], hours_before=24 - i / 60, marker=f"BODY-MARKER-{i}"
        )
        await api.publish(completion)
        completions.append(completion)
    return completions


async def test_history_lists_every_job_field_and_never_a_report_body(api: Api) -> None:
    completions = await _publish_runs(api, 4)

    response = await api.get("/api/v1/jobs/history")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "jobs", "next_cursor"}
    assert body["count"] == len(body["jobs"]) == 4
    assert body["next_cursor"] is None
    for job in body["jobs"]:
        assert set(job) >= JOB_FIELDS
        assert not {"content", "report_content", "data", "snapshot", "payload"} & set(job)
        assert isinstance(job["id"], int)
        assert job["status"] == "success"
        assert job["trigger_source"] == "manual"
        assert job["started_at"].endswith("Z")
        assert job["duration_ms"] == 1000
        assert (job["symbols_processed"], job["symbols_successful"]) == (6, 6)
        assert job["symbols_failed"] == 0
    assert b"BODY-MARKER" not in response.content
    # Newest first.
    assert [j["run_id"] for j in body["jobs"]] == [c.run_id for c in reversed(completions)]


async def test_history_filters_by_type_status_and_date_range(api: Api) -> None:
    completions = await _publish_runs(api, 6)  # PRE/INTRADAY/EOD on PREVIOUS, then on DAY
    failed = made(WEEKLY, date(2026, 11, 29), hours_before=1, status=RunStatus.FAILED, content=None)
    await api.publish(failed)

    async def run_ids(query: str) -> set[str]:
        response = await api.get(f"/api/v1/jobs/history?{query}")
        assert response.status_code == 200, response.text
        return {j["run_id"] for j in response.json()["jobs"]}

    assert await run_ids("type=pre-market") == {completions[0].run_id, completions[3].run_id}
    assert await run_ids("status=failed") == {failed.run_id}
    assert await run_ids("type=weekly&status=success") == set()
    assert await run_ids(f"from={DAY}&to={DAY}") == {c.run_id for c in completions[3:]}
    assert await run_ids(f"to={PREVIOUS}") == {c.run_id for c in completions[:3]}
    assert await run_ids(f"from={DAY}&type=end-of-day") == {completions[5].run_id}
    assert await run_ids("from=2026-11-30") == set()


async def test_history_paged_by_cursor_covers_every_job_exactly_once(api: Api) -> None:
    completions = await _publish_runs(api, 7)
    seen: list[str] = []
    cursor: str | None = None
    pages = []
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.get(f"/api/v1/jobs/history?{query}")).json()
        pages.append(page["count"])
        seen += [j["run_id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [3, 3, 1]
    assert seen == [c.run_id for c in reversed(completions)]


async def test_history_limit_defaults_to_50(api: Api) -> None:
    await _publish_runs(api, 51)
    page = (await api.get("/api/v1/jobs/history")).json()
    assert page["count"] == 50
    assert page["next_cursor"] is not None
    rest = (await api.get(f"/api/v1/jobs/history?cursor={page['next_cursor']}")).json()
    assert (rest["count"], rest["next_cursor"]) == (1, None)
    assert (await api.get("/api/v1/jobs/history?limit=500")).json()["count"] == 51
    assert (await api.get("/api/v1/jobs/history?limit=1")).json()["count"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=ten",
        "limit=1.5",
        "cursor=not-a-cursor",
        "cursor=cjpx",  # base64 of "r:1" with a corrupted number
        "cursor=cjo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ",  # "r:9999...": past any 64-bit id
        "cursor=czoxOng",  # "s:1:x": a start with no id
        "cursor=czo5OTk5OTk5OTk5OTk5OTk5OTk5OTox",  # "s:9999...:1": past the end of datetime
        "from=2026-13-01",
        "to=yesterday",
        f"from={DAY}&to={PREVIOUS}",
        "type=nope",
        "status=done",
        "status=SUCCESS",
    ],
)
async def test_history_rejects_a_bad_parameter_with_400(api: Api, query: str) -> None:
    assert_error(await api.get(f"/api/v1/jobs/history?{query}"), 400, "invalid_input")


async def test_a_run_recorded_late_sorts_where_it_started_in_history_and_latest(api: Api) -> None:
    """An outbox replay or an import writes a run after runs that started later: by start."""
    first = made(PRE, PREVIOUS, hours_before=30)
    last = made(INTRADAY, DAY, hours_before=2)
    replayed = made(PRE, DAY, hours_before=6)  # started between them, stored last
    for completion in (first, last, replayed):
        await api.publish(completion)
    order = [last.run_id, replayed.run_id, first.run_id]
    page = (await api.get("/api/v1/jobs/history")).json()
    assert [j["run_id"] for j in page["jobs"]] == order
    assert (await api.get("/api/v1/jobs/latest")).json()["job"]["run_id"] == last.run_id
    latest_pre = (await api.get("/api/v1/jobs/latest?type=pre-market")).json()["job"]
    assert latest_pre["run_id"] == replayed.run_id
    # Paged one at a time, the cursor follows the same order.
    seen, cursor = [], ""
    while True:
        got = (await api.get(f"/api/v1/jobs/history?limit=1{cursor}")).json()
        seen += [j["run_id"] for j in got["jobs"]]
        if got["next_cursor"] is None:
            break
        cursor = f"&cursor={got['next_cursor']}"
    assert seen == order
    # A cursor made before history was ordered by start (`r:ID`) still pages from that run.
    stored_id = page["jobs"][0]["id"]
    old = base64.urlsafe_b64encode(f"r:{stored_id}".encode()).decode().rstrip("=")
    after = (await api.get(f"/api/v1/jobs/history?cursor={old}")).json()
    assert [j["run_id"] for j in after["jobs"]] == order[1:]


# -- latest and one job --------------------------------------------------------------------------


async def test_latest_job_is_404_before_any_run_then_the_newest(api: Api) -> None:
    assert_error(await api.get("/api/v1/jobs/latest"), 404, "not_found")
    older = made(PRE, DAY, hours_before=5)
    newer = made(INTRADAY, DAY, hours_before=2)
    await api.publish(older)
    await api.publish(newer)

    latest = await api.get("/api/v1/jobs/latest")
    assert latest.status_code == 200
    assert set(latest.json()) == {"job"}
    assert set(latest.json()["job"]) >= JOB_FIELDS
    assert latest.json()["job"]["run_id"] == newer.run_id
    assert (await api.get("/api/v1/jobs/latest?type=pre-market")).json()["job"][
        "run_id"
    ] == older.run_id
    assert_error(await api.get("/api/v1/jobs/latest?type=weekly"), 404, "not_found")
    assert_error(await api.get("/api/v1/jobs/latest?type=daily"), 400, "invalid_input")


async def test_one_job_by_integer_id_or_run_id_has_stages_predictions_and_snapshot(
    api: Api,
) -> None:
    completion = made()
    outcome = await api.publish(completion)

    by_run_id = await api.get(f"/api/v1/jobs/{completion.run_id}")
    assert by_run_id.status_code == 200
    detail = by_run_id.json()
    assert set(detail) == {"job", "stages", "predictions", "snapshot"}
    assert set(detail["job"]) >= JOB_FIELDS
    assert detail["job"]["run_id"] == completion.run_id
    assert len(detail["predictions"]) == len(completion.predictions)
    assert {p["symbol"] for p in detail["predictions"]} == {
        p.symbol for p in completion.predictions
    }
    assert detail["snapshot"]["id"] == outcome.snapshot_id
    assert detail["snapshot"]["content"] == orjson.loads(completion.content or b"")

    by_id = await api.get(f"/api/v1/jobs/{detail['job']['id']}")
    assert by_id.status_code == 200
    assert by_id.json() == detail


@pytest.mark.parametrize(
    ("ref", "status", "code"),
    [
        ("999999", 404, "not_found"),
        ("2026-11-24_pre-market_nope", 404, "not_found"),
        ("0", 404, "not_found"),
        ("-1", 404, "not_found"),
        ("99999999999999999999", 404, "not_found"),  # past any 64-bit id: not a 500
        ("%C2%B2", 404, "not_found"),  # a Unicode digit is not an id: not a 500
        ("a%00b", 404, "not_found"),  # a NUL no run_id can hold: not a 503 on PostgreSQL
        ("trigger", 405, "method_not_allowed"),  # the trigger URL takes POST only
        ("x" * 200, 404, "not_found"),
        ("x" * 201, 400, "invalid_input"),
    ],
)
async def test_an_unknown_job_is_404_and_an_overlong_reference_400(
    api: Api, ref: str, status: int, code: str
) -> None:
    assert_error(await api.get(f"/api/v1/jobs/{ref}"), status, code)


# -- schedule ------------------------------------------------------------------------------------


async def test_schedule_shows_expected_versus_actual(api: Api) -> None:
    await api.publish(made(PRE, DAY))

    response = await api.get("/api/v1/schedule?days=14")

    assert response.status_code == 200
    body = response.json()
    assert {"from", "to", "counts", "slots"} <= set(body)
    by_slot = {(s["date"], s["report_type"]): s for s in body["slots"]}
    assert by_slot[(str(DAY), "pre-market")]["status"] == "ok"
    assert by_slot[(str(DAY), "pre-market")]["job_id"] is not None
    assert by_slot[(str(DAY), "intraday")]["status"] == "missed"
    assert (str(THANKSGIVING), "pre-market") not in by_slot
    assert sum(body["counts"].values()) == len(body["slots"])
    assert body["counts"]["ok"] == 1
    default = (await api.get("/api/v1/schedule")).json()
    assert default == body


@pytest.mark.parametrize("days", ["0", "91", "-3", "two", "1e3", "7.0"])
async def test_schedule_rejects_bad_days_with_400(api: Api, days: str) -> None:
    assert_error(await api.get(f"/api/v1/schedule?days={days}"), 400, "invalid_input")
