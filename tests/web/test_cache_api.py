"""POST /api/v1/cache/rehydrate: warming the cache from the store's latest reports, purging
poison, refusing a bad body.

(Both modes, in-process; see tests/support/api_helpers.py.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest

from marketbrief.cache import keys
from tests.support.api_fixtures import PREVIOUS, Api
from tests.support.api_helpers import EOD, PRE, REPORT, assert_error, envelope, made
from tests.support.clock import DAY


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
