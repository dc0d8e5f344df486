"""The HTTP API and dashboard end to end, in-process, on both modes (DESIGN.md sections 5, 8).

Every test runs twice: embedded (SQLite + in-process cache) and scaled out (PostgreSQL +
Redis under a private prefix). Reports are published through the real write path or produced
by real runs over local news and price files; nothing below the HTTP layer is faked.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from marketbrief.cache import keys
from marketbrief.config import Settings
from marketbrief.models import Completion, ReportType, RunStatus, TriggerSource
from marketbrief.web.api import MAX_BODY_BYTES
from tests.support.api_fixtures import (
    DAY,
    KEY,
    LATE,
    PREVIOUS,
    THANKSGIVING,
    Api,
    closed_port,
    unreachable_store_url,
)
from tests.support.factories import standalone_completion

PRE = ReportType.PRE_MARKET
INTRADAY = ReportType.INTRADAY
EOD = ReportType.END_OF_DAY
WEEKLY = ReportType.WEEKLY
REPORT = f"/api/v1/reports/pre-market?date={DAY}"
SCRIPT = "<script>alert(1)</script>"
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
META_FIELDS = {
    "report_type",
    "requested_date",
    "business_date",
    "state",
    "has_content",
    "source",
    "age_seconds",
    "generated_at",
    "run_id",
    "snapshot_id",
    "warnings",
}


def made(
    kind: ReportType = PRE,
    day: date = DAY,
    *,
    hours_before: float = 10.0,
    marker: str = "",
    **changes: Any,
) -> Completion:
    """A successful completion that started `hours_before` LATE (later = newer version)."""
    started = LATE - timedelta(hours=hours_before)
    completion = standalone_completion(kind, day, started_at=started, marker=marker)
    return dataclasses.replace(completion, **changes) if changes else completion


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape: `{"error": {"code", "message"}}` and nothing else."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body


def envelope(response: httpx.Response) -> tuple[Any, dict[str, Any]]:
    """(data, meta) of a report response, checking the envelope's fixed shape."""
    body = response.json()
    assert {"data", "meta"} <= set(body)
    assert set(body) <= {"data", "meta", "error"}
    meta: dict[str, Any] = body["meta"]
    assert set(meta) >= META_FIELDS
    assert meta["has_content"] is (body["data"] is not None)
    return body["data"], meta


# -- reports -------------------------------------------------------------------------------------


async def test_a_fresh_report_is_the_envelope_with_the_stored_bytes_spliced_in_exactly(
    api: Api,
) -> None:
    completion = made(marker="fresh")
    outcome = await api.publish(completion)
    assert outcome.persisted
    assert completion.content is not None

    response = await api.get(REPORT)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-cache"
    # The stored payload bytes, untouched, between '{"data":' and ',"meta":'.
    assert response.content.startswith(b'{"data":' + completion.content + b',"meta":')
    data, meta = envelope(response)
    assert data == orjson.loads(completion.content)
    assert meta["state"] == "fresh"
    assert meta["has_content"] is True
    assert meta["requested_date"] == meta["business_date"] == DAY.isoformat()
    assert meta["run_id"] == completion.run_id
    assert meta["snapshot_id"] == outcome.snapshot_id
    assert meta["source"] == "cache"  # the publish warmed it: these bytes came from the cache
    assert meta["age_seconds"] >= 0
    assert "error" not in response.json()


async def test_the_etag_is_the_snapshots_hash_and_if_none_match_answers_304(api: Api) -> None:
    completion = made()
    await api.publish(completion)
    detail = (await api.get(f"/api/v1/jobs/{completion.run_id}")).json()
    sha = detail["snapshot"]["content_sha256"]
    assert sha == hashlib.sha256(completion.content or b"").hexdigest()

    first = await api.get(REPORT)
    etag = first.headers["etag"]
    assert etag == f'"{sha}-fresh"'

    again = await api.get(REPORT, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = await api.get(REPORT, headers={"If-None-Match": '"0000-fresh"'})
    assert other.status_code == 200
    assert other.content == first.content
    # If-None-Match compares weakly and may list several tags, or `*` (RFC 9110 13.1.2).
    for header in (f"W/{etag}", f'"0000-fresh", {etag}', "*"):
        matched = await api.get(REPORT, headers={"If-None-Match": header})
        assert matched.status_code == 304, header
    stale_tag = etag.replace("-fresh", "-stale")
    assert (await api.get(REPORT, headers={"If-None-Match": stale_tag})).status_code == 200


async def test_an_evicted_report_is_served_from_the_store_then_from_the_cache(api: Api) -> None:
    completion = made()
    await api.publish(completion)
    await api.cache.clear()

    from_store = await api.get(REPORT)
    from_cache = await api.get(REPORT)

    assert envelope(from_store)[1]["source"] == "store"
    assert envelope(from_cache)[1]["source"] == "cache"
    spliced = b'{"data":' + (completion.content or b"") + b',"meta":'
    assert from_store.content.startswith(spliced)
    assert from_cache.content.startswith(spliced)
    assert (
        from_store.json()["data"]
        == from_cache.json()["data"]
        == orjson.loads(completion.content or b"")
    )
    assert from_store.headers["etag"] == from_cache.headers["etag"]


async def test_lessons_6_a_malformed_cache_entry_is_a_miss_never_content(api: Api) -> None:
    poison = b'{"f":1,"t":"pre-market"}\n{"looks":"like a report"}'
    await api.cache.set(keys.report_key("pre-market", DAY), poison, version=1, ttl=60)

    response = await api.get(REPORT)

    assert response.status_code == 404
    data, meta = envelope(response)
    assert data is None
    assert meta["state"] == "missing"
    assert meta["has_content"] is False
    assert await api.cache.get(keys.report_key("pre-market", DAY)) is None  # removed

    # With the store holding the report, the same poison is replaced by the true bytes.
    completion = made()
    await api.publish(completion)
    await api.cache.delete(keys.report_key("pre-market", DAY))
    await api.cache.set(keys.report_key("pre-market", DAY), poison, version=1, ttl=60)
    healed = await api.get(REPORT)
    assert healed.status_code == 200
    assert healed.json()["data"] == orjson.loads(completion.content or b"")


async def test_lessons_1_a_stale_report_is_200_labelled_with_its_own_business_date(
    api: Api,
) -> None:
    older = made(PRE, PREVIOUS, hours_before=30, marker="monday")
    await api.publish(older)

    response = await api.get(REPORT)

    assert response.status_code == 200
    data, meta = envelope(response)
    assert data == orjson.loads(older.content or b"")
    assert meta["state"] == "stale"
    assert meta["requested_date"] == DAY.isoformat()
    assert meta["business_date"] == PREVIOUS.isoformat()
    assert meta["source"] == "fallback"
    assert "stale" in meta["warnings"]
    assert response.headers["etag"].endswith('-stale"')
    # Never cached under the requested date: once DAY is published, DAY is what is served.
    await api.publish(made(PRE, DAY, hours_before=5, marker="tuesday"))
    fresh = envelope(await api.get(REPORT))[1]
    assert (fresh["state"], fresh["business_date"]) == ("fresh", DAY.isoformat())


async def test_lessons_17_a_pending_report_is_200_and_says_it_has_no_content(api: Api) -> None:
    api.clock.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # before the 13:30 UTC slot

    response = await api.get(REPORT)

    assert response.status_code == 200
    data, meta = envelope(response)
    assert data is None
    assert meta["state"] == "pending"
    assert meta["has_content"] is False
    assert meta["business_date"] is None
    assert meta["scheduled_at"] == "2026-11-24T13:30:00.000Z"
    assert "etag" not in response.headers
    assert "error" not in response.json()


async def test_lessons_17_a_missing_report_is_404_with_the_envelope_and_an_error(api: Api) -> None:
    response = await api.get(REPORT)

    assert response.status_code == 404
    data, meta = envelope(response)
    assert data is None
    assert meta["state"] == "missing"
    assert meta["has_content"] is False
    error = response.json()["error"]
    assert error["code"] == "report_missing"
    assert DAY.isoformat() in error["message"]
    assert "etag" not in response.headers


async def test_a_partial_report_from_the_days_predictions_is_200_with_unknown_accuracy_null(
    api: Api,
) -> None:
    morning = made(PRE, DAY)
    await api.publish(morning)

    response = await api.get(f"/api/v1/reports/intraday?date={DAY}")

    assert response.status_code == 200
    data, meta = envelope(response)
    assert meta["state"] == "partial"
    assert meta["business_date"] == DAY.isoformat()
    assert data["accuracy"] is None
    assert data["source_run_id"] == morning.run_id
    assert {p["outcome"] for p in data["predictions"]} == {None}


async def test_a_failed_run_is_404_with_state_failed_and_the_runs_errors(api: Api) -> None:
    # End-of-day with no pre-market run fails honestly.
    started = await api.post(
        "/api/v1/jobs/trigger", {"type": "end-of-day", "date": DAY.isoformat()}
    )
    assert started.status_code == 202, started.text
    run = await api.wait_for_run(started.json()["status_url"])
    assert run["job"]["status"] == "failed"

    response = await api.get(f"/api/v1/reports/end-of-day?date={DAY}")

    assert response.status_code == 404
    data, meta = envelope(response)
    assert data is None
    assert meta["state"] == "failed"
    assert meta["run_id"] == started.json()["run_id"]
    assert "no successful pre-market run" in meta["errors"][0]["error"]
    assert response.json()["error"]["code"] == "report_failed"


async def test_with_store_reads_off_and_an_empty_cache_a_report_is_503_with_retry_after(
    make_api: Callable[..., Awaitable[Api]],
) -> None:
    api = await make_api(store_reads=False)

    response = await api.get(REPORT)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    data, meta = envelope(response)
    assert data is None
    assert meta["state"] == "unavailable"
    assert "store_reads_off" in meta["warnings"]
    assert response.json()["error"]["code"] == "report_unavailable"


async def test_with_the_store_down_a_miss_is_503_and_a_hit_is_served_with_a_warning(
    make_api: Callable[..., Awaitable[Api]], api_settings: Settings, tmp_path: Path
) -> None:
    api = await make_api(database_url=unreachable_store_url(api_settings, tmp_path))

    miss = await api.get(REPORT)
    assert miss.status_code == 503
    assert miss.headers["retry-after"] == "5"
    data, meta = envelope(miss)
    assert (data, meta["state"]) == (None, "unavailable")
    assert "store_unavailable" in meta["warnings"]

    # A write while the store is down goes to the outbox and the cache, marked not persisted.
    completion = made()
    outcome = await api.publish(completion)
    assert (outcome.persisted, outcome.outboxed) == (False, True)
    hit = await api.get(REPORT)
    assert hit.status_code == 200
    data, meta = envelope(hit)
    assert data == orjson.loads(completion.content or b"")
    assert {"store_unavailable", "not_persisted"} <= set(meta["warnings"])

    # Store-backed routes answer 503 in the error shape, never 500.
    for path in ("/api/v1/jobs/history", "/api/v1/jobs/latest", "/api/v1/jobs/1"):
        down = assert_error(await api.get(path), 503, "store_unavailable")
        assert down["error"]["message"]
    assert (await api.get("/api/v1/schedule")).status_code == 503
    ready = await api.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["ready"] is False
    assert ready.json()["store"]["ok"] is False
    assert ready.json()["outbox"]["depth"] == 1
    assert (await api.get("/healthz")).status_code == 200
    assert (await api.get("/")).status_code == 200  # the dashboard says so instead of failing
    assert (await api.get("/status")).status_code == 503
    metrics = (await api.get("/metrics")).text
    assert "marketbrief_store_up 0.0" in metrics
    assert "marketbrief_outbox_depth 1.0" in metrics


async def test_a_report_is_served_from_the_store_when_the_cache_is_unreachable_or_off(
    make_api: Callable[..., Awaitable[Api]], api_settings: Settings
) -> None:
    if api_settings.is_sqlite:
        api = await make_api(cache_enabled=False)  # MARKETBRIEF_CACHE=off
    else:
        api = await make_api(cache_url=f"redis://127.0.0.1:{closed_port()}/0")
    completion = made()
    assert (await api.publish(completion)).persisted

    response = await api.get(REPORT)

    assert response.status_code == 200
    data, meta = envelope(response)
    assert data == orjson.loads(completion.content or b"")
    assert (meta["state"], meta["source"]) == ("fresh", "store")
    ready = (await api.get("/readyz")).json()
    assert ready["ready"] is True
    if api_settings.is_sqlite:
        assert ready["cache"] == {"enabled": False}
    else:
        assert "cache_unavailable" in meta["warnings"]
        assert ready["cache"]["ok"] is False


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/reports/pre_market",
        "/api/v1/reports/PRE-MARKET",
        "/api/v1/reports/nope?date=2026-11-24",
        "/api/v1/reports/pre-market?date=2026-02-30",
        "/api/v1/reports/pre-market?date=yesterday",
        "/api/v1/reports/pre-market?date=2026-11-24T00:00:00",
        "/api/v1/reports/pre-market?date=2026-1-5",
        "/api/v1/reports/pre-market?date=%00",
    ],
)
async def test_a_bad_report_type_or_date_is_400_in_the_error_shape(api: Api, path: str) -> None:
    assert_error(await api.get(path), 400, "invalid_input")


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
        ("trigger", 404, "not_found"),  # GET on the trigger URL is GET /api/v1/jobs/{ref}
        ("x" * 200, 404, "not_found"),
        ("x" * 201, 400, "invalid_input"),
    ],
)
async def test_an_unknown_job_is_404_and_an_overlong_reference_400(
    api: Api, ref: str, status: int, code: str
) -> None:
    assert_error(await api.get(f"/api/v1/jobs/{ref}"), status, code)


# -- trigger -------------------------------------------------------------------------------------


async def test_a_triggered_run_answers_202_and_finishes_in_the_background(api: Api) -> None:
    response = await api.post(
        "/api/v1/jobs/trigger", {"type": "pre-market", "date": DAY.isoformat()}
    )

    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"run_id", "status_url"}
    assert body["run_id"].startswith(f"{DAY}_pre-market_")
    assert body["status_url"] == f"/api/v1/jobs/{body['run_id']}"
    assert response.headers["location"] == body["status_url"]

    detail = await api.wait_for_run(body["status_url"])
    job = detail["job"]
    assert job["status"] == "success", job
    assert job["trigger_source"] == "api"
    assert job["symbols_processed"] == 5  # the four symbols and SPY, the market pulse
    assert job["symbols_successful"] == 5
    assert job["executed_at"] is not None
    # The run row finishes before its last stage records land: let the background task end.
    await api.services.runner.drain()
    detail = (await api.get(body["status_url"])).json()
    stages = {s["stage"]: s["status"] for s in detail["stages"]}
    assert stages == {
        "init": "success",
        "data_fetch": "success",
        "analysis": "success",
        "storage": "success",
        "finalize": "success",
    }
    calls = {p["symbol"]: p["direction"] for p in detail["predictions"] if p["symbol"] != "SPY"}
    assert calls == {"AAPL": "up", "MSFT": "down", "NVDA": "up", "TSLA": "down"}

    report = await api.get(REPORT)
    data, meta = envelope(report)
    assert (report.status_code, meta["state"], meta["run_id"]) == (200, "fresh", body["run_id"])
    assert data == detail["snapshot"]["content"]


async def test_a_trigger_without_a_date_runs_for_the_current_business_date(api: Api) -> None:
    response = await api.post("/api/v1/jobs/trigger", {"type": "pre-market"})
    assert response.status_code == 202, response.text
    # LATE is 22:00 New York on DAY: the current pre-market business date is DAY.
    assert response.json()["run_id"].startswith(f"{DAY}_pre-market_")
    await api.wait_for_run(response.json()["status_url"])


WRITES = [
    ("/api/v1/jobs/trigger", {"type": "pre-market", "date": DAY.isoformat()}),
    ("/api/v1/cache/rehydrate", {}),
]


@pytest.mark.parametrize(("path", "body"), WRITES)
@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (None, 401, "unauthorized"),
        ("", 401, "unauthorized"),
        ("demo", 401, "unauthorized"),
        ("k" * 19 + "j", 401, "unauthorized"),
        ("k" * 21, 401, "unauthorized"),
        (KEY.upper(), 401, "unauthorized"),
    ],
)
async def test_lessons_19_a_write_without_the_right_key_is_401(
    api: Api, path: str, body: dict[str, Any], key: str | None, status: int, code: str
) -> None:
    assert_error(await api.post(path, body, key=key), status, code)
    assert (await api.get("/api/v1/jobs/history")).json()["count"] == 0  # nothing was started


@pytest.mark.parametrize(("path", "body"), WRITES)
@pytest.mark.parametrize("key", [None, "demo", KEY])
async def test_lessons_19_with_no_key_configured_every_write_is_refused_403(
    make_api: Callable[..., Awaitable[Api]], path: str, body: dict[str, Any], key: str | None
) -> None:
    api = await make_api(api_key=None)
    assert_error(await api.post(path, body, key=key), 403, "writes_disabled")
    assert (await api.get("/api/v1/jobs/history")).json()["count"] == 0


@pytest.mark.parametrize("path", [p for p, _ in WRITES])
async def test_a_body_over_the_limit_is_413(api: Api, path: str) -> None:
    big = orjson.dumps({"type": "pre-market", "pad": "x" * MAX_BODY_BYTES})
    declared = await api.post(path, content=big, headers={"Content-Type": "application/json"})
    assert_error(declared, 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the stream itself is counted
        for i in range(0, len(big), 1024):
            yield big[i : i + 1024]

    streamed = await api.post(path, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in streamed.request.headers
    assert_error(streamed, 413, "payload_too_large")


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"type": "pre-market"',
        b"\xff\xfe",
        b'["pre-market"]',
        b'"pre-market"',
        b"null",
        b"{}",
        b'{"type": 3}',
        b'{"type": "daily"}',
        b'{"type": "pre-market", "date": "2026-02-30"}',
        b'{"type": "pre-market", "date": "tomorrow"}',
        b'{"type": "pre-market", "date": 20261124}',
        b'{"type": "pre-market", "date": "2026-11-26"}',  # Thanksgiving: not a session
        b'{"type": "pre-market", "date": "2026-11-28"}',  # a Saturday
        b'{"type": "weekly", "date": "2026-11-24"}',  # not a Sunday
    ],
)
async def test_a_malformed_or_unacceptable_trigger_is_400(api: Api, content: bytes) -> None:
    response = await api.post(
        "/api/v1/jobs/trigger", content=content, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_input")
    assert (await api.get("/api/v1/jobs/history")).json()["count"] == 0


async def test_a_day_that_is_not_a_session_is_named_in_the_400(api: Api) -> None:
    response = await api.post(
        "/api/v1/jobs/trigger", {"type": "pre-market", "date": str(THANKSGIVING)}
    )
    body = assert_error(response, 400, "invalid_input")
    assert "not a session" in body["error"]["message"]


async def test_a_burst_of_triggers_is_rate_limited_with_429_and_retry_after(
    make_api: Callable[..., Awaitable[Api]],
) -> None:
    api = await make_api(trigger_burst=3, trigger_rate_per_second=0.01)
    # Refused callers spend no tokens: the limiter comes after the key check.
    for _ in range(5):
        assert (
            await api.post("/api/v1/jobs/trigger", {"type": "weekly"}, key="wrong" * 4)
        ).status_code == 401
    # Each authorized request spends one, even one whose body is then refused.
    for _ in range(3):
        assert (await api.post("/api/v1/jobs/trigger", {"type": "daily"})).status_code == 400

    limited = await api.post("/api/v1/jobs/trigger", {"type": "pre-market", "date": str(DAY)})

    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert (await api.get("/api/v1/jobs/history")).json()["count"] == 0


# -- cache rehydrate -----------------------------------------------------------------------------


async def test_rehydrate_warms_the_stores_latest_reports_and_purge_removes_poison(api: Api) -> None:
    pre, eod = made(PRE, DAY), made(EOD, PREVIOUS, hours_before=30)
    await api.publish(pre)
    await api.publish(eod)
    await api.cache.clear()
    stray = keys.report_key("weekly", date(2026, 11, 22))
    await api.cache.set(stray, b"poison", version=2**62, ttl=3600)

    response = await api.post("/api/v1/cache/rehydrate", {"purge": True})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["warmed"]) == 2
    warmed = {(w["report_type"], w["business_date"]): w for w in body["warmed"]}
    assert set(warmed) == {("pre-market", str(DAY)), ("end-of-day", str(PREVIOUS))}
    assert warmed[("pre-market", str(DAY))]["run_id"] == pre.run_id
    assert isinstance(warmed[("pre-market", str(DAY))]["snapshot_id"], int)
    assert await api.cache.get(stray) is None  # purged
    served = envelope(await api.get(REPORT))[1]
    assert (served["state"], served["source"]) == ("fresh", "cache")

    one = await api.post("/api/v1/cache/rehydrate", {"type": "end-of-day", "date": str(PREVIOUS)})
    assert [(w["report_type"], w["business_date"]) for w in one.json()["warmed"]] == [
        ("end-of-day", str(PREVIOUS))
    ]
    empty_body = await api.post("/api/v1/cache/rehydrate", content=b"")
    assert empty_body.status_code == 200
    assert empty_body.json()["count"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"purge": "yes"},
        {"purge": 1},
        {"type": "daily"},
        {"type": 4},
        {"date": "2026-02-30"},
        {"date": 20261124},
        ["purge"],
    ],
)
async def test_rehydrate_rejects_a_bad_body_with_400(api: Api, body: Any) -> None:
    assert_error(await api.post("/api/v1/cache/rehydrate", body), 400, "invalid_input")


async def test_rehydrate_with_the_cache_off_warms_nothing(
    make_api: Callable[..., Awaitable[Api]],
) -> None:
    api = await make_api(cache_enabled=False)
    await api.publish(made())
    response = await api.post("/api/v1/cache/rehydrate", {})
    assert (response.status_code, response.json()) == (200, {"count": 0, "warmed": []})


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


# -- health, readiness, metrics ------------------------------------------------------------------


async def test_healthz_and_readyz_answer_200_when_everything_is_up(api: Api) -> None:
    health = await api.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    assert body["store"]["ok"] is True
    assert body["store"]["dialect"] == ("sqlite" if api.settings.is_sqlite else "postgresql")
    assert body["cache"] == {
        "enabled": True,
        "backend": "memory" if api.settings.is_sqlite else "redis",
        "ok": True,
    }
    assert body["outbox"] == {"depth": 0, "rejected": 0}


async def test_metrics_expose_runs_cache_stale_serves_outbox_and_request_latency(api: Api) -> None:
    await api.publish(made(PRE, PREVIOUS, hours_before=30))
    await api.publish(made(EOD, DAY, hours_before=2, status=RunStatus.FAILED, content=None))
    await api.cache.clear()
    await api.get(f"/api/v1/reports/pre-market?date={PREVIOUS}")  # miss, read from the store
    await api.get(f"/api/v1/reports/pre-market?date={PREVIOUS}")  # hit
    await api.get(REPORT)  # stale
    await api.get("/api/v1/jobs/history")

    response = await api.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("marketbrief_runs", type="pre-market", status="success") == 1
    assert value("marketbrief_runs", type="end-of-day", status="failed") == 1
    assert value("marketbrief_cache_hits_total") >= 1
    assert value("marketbrief_cache_misses_total") >= 1
    assert value("marketbrief_cache_rehydrations_total") >= 1
    assert value("marketbrief_stale_serves_total") == 1
    assert value("marketbrief_reports_served_total", state="stale") == 1
    assert value("marketbrief_outbox_depth") == 0
    assert value("marketbrief_store_up") == 1
    route = "/api/v1/reports/{report_type}"
    assert value("marketbrief_request_seconds_count", method="GET", route=route, status="200") == 3
    histogram = [
        key
        for key in samples
        if key[0] == "marketbrief_request_seconds_bucket"
        and ("route", "/api/v1/jobs/history") in key[1]
    ]
    assert histogram, "request latency histogram buckets are exported per route"


# -- OpenAPI, docs, routing errors, headers ------------------------------------------------------


def _validate_openapi_31(document: dict[str, Any]) -> None:
    try:
        from openapi_spec_validator import validate
    except ImportError:
        import jsonschema_rs
        from schemathesis.specs.openapi.definitions import OPENAPI_31

        jsonschema_rs.Draft202012Validator(OPENAPI_31).validate(document)
    else:
        validate(document)


async def test_openapi_json_is_a_valid_openapi_31_document_naming_every_api_route(api: Api) -> None:
    response = await api.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    _validate_openapi_31(document)
    served = {getattr(route, "path", "") for route in api.app.routes}
    documented = set(document["paths"])
    api_routes = {p for p in served if p.startswith("/api/") or p in ("/healthz", "/readyz")}
    assert documented >= api_routes | {"/metrics"}
    assert documented <= served
    # Every write says it needs the key, and every operation documents its errors.
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "post":
                assert operation["security"] == [{"apiKey": []}], path
                assert {"401", "403", "413"} <= set(operation["responses"]), path


async def test_the_docs_page_is_html(api: Api) -> None:
    response = await api.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/api/v1/nope",
        "/api/v2/reports/pre-market",
        "/jobs",
        "/api/v1/reports/pre-market/extra",
        "/api/v1/reports/a%2Fb",  # decoded to a '/' before routing: no route matches
    ],
)
async def test_an_unknown_route_is_404_in_the_error_shape(api: Api, path: str) -> None:
    assert_error(await api.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/reports/pre-market"),
        ("DELETE", "/api/v1/jobs/history"),
        ("PUT", "/api/v1/jobs/latest"),
        ("GET", "/api/v1/cache/rehydrate"),
        ("POST", "/healthz"),
        ("DELETE", "/metrics"),
        ("POST", "/openapi.json"),
    ],
)
async def test_a_wrong_method_is_405_in_the_error_shape(api: Api, method: str, path: str) -> None:
    response = await api.client.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"]


async def test_every_response_carries_a_content_security_policy(api: Api) -> None:
    completion = made()
    await api.publish(completion)
    etag = (await api.get(REPORT)).headers["etag"]
    responses = [
        await api.get(REPORT),
        await api.get(REPORT, headers={"If-None-Match": etag}),
        await api.get("/api/v1/reports/weekly?date=2026-11-22"),
        await api.get("/api/v1/reports/nope"),
        await api.get("/api/v1/jobs/history"),
        await api.get("/nope"),
        await api.client.delete("/api/v1/jobs/history"),
        await api.post("/api/v1/jobs/trigger", {"type": "x"}, key=None),
        await api.get("/healthz"),
        await api.get("/metrics"),
        await api.get("/openapi.json"),
        await api.get("/"),
        await api.get(f"/jobs/{completion.run_id}"),
        await api.get("/static/style.css"),
    ]
    assert {r.status_code for r in responses} >= {200, 304, 400, 401, 404, 405}
    for response in responses:
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, response.request.url
        assert "script-src 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_an_unexpected_error_is_a_500_in_the_error_shape_with_headers_and_no_trace(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(api.services.results.store.backend, "history", broken)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/v1/jobs/history")

    body = assert_error(response, 500, "internal_error")
    assert "secret" not in body["error"]["message"]
    assert "Traceback" not in response.text
    # Starlette answers this from outside every user middleware: the headers are still there.
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


# -- dashboard -----------------------------------------------------------------------------------


async def test_the_dashboard_pages_render(api: Api) -> None:
    completion = made()
    await api.publish(completion)
    job_id = (await api.get(f"/api/v1/jobs/{completion.run_id}")).json()["job"]["id"]
    for path in (
        "/",
        "/?type=pre-market&status=success",
        "/reports/pre-market",
        f"/reports/pre-market?date={DAY}",
        f"/jobs/{job_id}",
        f"/jobs/{completion.run_id}",
        "/status",
    ):
        response = await api.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html"), path
    assert completion.run_id in (await api.get(f"/jobs/{job_id}")).text
    assert (await api.get("/jobs/999999")).status_code == 404
    assert (await api.get("/reports/nope")).status_code == 400
    assert (await api.get("/reports/pre-market?date=2026-02-30")).status_code == 400
    assert (await api.get("/?status=bogus")).status_code == 400
    assert (await api.get(f"/reports/weekly?date={date(2026, 11, 22)}")).status_code == 404


async def test_a_job_field_holding_a_script_tag_is_escaped_as_text_in_the_html(api: Api) -> None:
    completion = made(
        run_id=f"{DAY}_pre-market_{SCRIPT}",
        errors=({"stage": "analysis", "error": SCRIPT},),
        warnings=(SCRIPT,),
        trigger_source=TriggerSource.API,
    )
    await api.publish(completion)
    job_id = (await api.get("/api/v1/jobs/latest")).json()["job"]["id"]

    for path in (f"/jobs/{job_id}", "/", "/status"):
        html = (await api.get(path)).text
        assert SCRIPT not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    assert "<script" not in (await api.get(f"/jobs/{job_id}")).text


@pytest.mark.parametrize("ref", ["%C2%B2", "99999999999999999999"])
async def test_the_job_page_answers_404_for_a_reference_no_row_can_match(
    api: Api, ref: str
) -> None:
    assert (await api.get(f"/jobs/{ref}")).status_code == 404


async def test_the_dashboard_refuses_a_cursor_past_any_id_with_400(api: Api) -> None:
    assert (await api.get("/?cursor=cjo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ")).status_code == 400
