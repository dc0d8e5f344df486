"""GET /api/v1/reports/{type}: the envelope around the stored bytes, ETags, the cache and store
fallbacks, and the status code of each state (fresh, stale, pending, partial, missing, failed,
unavailable).

(Both modes, in-process; see tests/support/api_helpers.py.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from marketbrief.cache import keys
from marketbrief.config import Settings
from tests.support.api_fixtures import PREVIOUS, Api, closed_port, unreachable_store_url
from tests.support.api_helpers import PRE, REPORT, assert_error, envelope, made
from tests.support.clock import DAY


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
    if api_settings.database_url.startswith("sqlite"):
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
    if api_settings.database_url.startswith("sqlite"):
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
