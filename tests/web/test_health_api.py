"""Health, readiness and the Prometheus metrics.

(Both modes, in-process; see tests/support/api_helpers.py.)
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from marketbrief.models import RunStatus
from tests.support.api_fixtures import PREVIOUS, Api
from tests.support.api_helpers import EOD, PRE, REPORT, made
from tests.support.clock import DAY


async def test_healthz_and_readyz_answer_200_when_everything_is_up(api: Api) -> None:
    health = await api.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    assert body["store"]["ok"] is True
    assert body["store"]["dialect"] == (
        "sqlite" if api.settings.database_url.startswith("sqlite") else "postgresql"
    )
    embedded = api.settings.database_url.startswith("sqlite")
    stats = body["cache"].pop("stats")
    assert body["cache"] == {
        "enabled": True,
        "backend": "memory" if embedded else "redis",
        "ok": True,
    }
    assert set(stats) == {"entries", "bytes", "evictions", "refused"}
    if embedded:  # the in-process cache knows what it holds; Redis is not scanned to say
        assert (stats["entries"], stats["bytes"]) == (0, 0)
    else:
        assert (stats["entries"], stats["bytes"]) == (None, None)
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
