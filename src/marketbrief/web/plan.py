"""The migration plan's success metrics and rollback triggers, measured live by this process.

Every number comes from what the service records: the request histogram and the report-answer
counter (`web.metrics`), the store gateway's write counts, the results core's counters, the
outbox on disk and, for completeness, the store's reports against the exchange calendar.
Nothing is filled in: a metric with nothing to measure says so (`not measured`, with why).

Counters live in the process, so rates and latencies are this process's, over a sliding
window (default 24 h): a sample of the counters is kept every few minutes and the window's
figures are the difference between now and the newest sample at least a window old (or the
process start, when the process is younger). Completeness is the store's and the same in
every process (default 14 sessions). Latency percentiles are estimated from the histogram's
buckets the way Prometheus' `histogram_quantile` does: linear interpolation inside the bucket
the rank falls into, so a percentile is only as precise as the buckets around it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from marketbrief.alerts.checks import CORRUPTION, Reading
from marketbrief.calendar import business_date, iso_instant
from marketbrief.errors import StoreError
from marketbrief.services import Services
from marketbrief.web.metrics import Metrics
from marketbrief.web.quantiles import Sample, histogram_quantile

HISTORY_ROUTE = "/api/v1/jobs/history"
DASHBOARD_ROUTE = "/"
RATE_WINDOW = timedelta(hours=24)
COMPLETENESS_SESSIONS = 14
SAMPLE_EVERY = timedelta(minutes=5)

# The plan's targets and rollback thresholds.
HISTORY_P95_TARGET = 0.050
DASHBOARD_P95_TARGET = 2.0
WRITE_SUCCESS_TARGET = 0.999
WRITE_SUCCESS_ROLLBACK = 0.95
HISTORY_P95_ROLLBACK = 0.200

MET, NOT_MET, NOT_MEASURED, NO_TARGET = "met", "not met", "not measured", "no target"
SCOPE = (
    "per process: request latencies, write attempts, cache reads and blank answers are "
    "counted by the process that served this page since it started (each process of a "
    "deployment has its own); completeness is read from the store and the same everywhere"
)


@dataclass(slots=True)
class Plan:
    """Samples this process's counters and computes the plan's metrics over the windows."""

    metrics: Metrics
    services: Callable[[], Services | None]
    window: timedelta = RATE_WINDOW
    sessions: int = COMPLETENESS_SESSIONS
    samples: deque[Sample] = field(default_factory=deque)

    def _now_sample(self, svc: Services, now: datetime) -> Sample:
        m, c, writes = self.metrics, svc.results.counters, svc.results.store.writes
        return Sample(
            now,
            {
                "write_attempts": writes.attempts,
                "writes_committed": writes.committed,
                "commit_retries": c.commit_retries,
                "outboxed": c.outboxed,
                "cache_hits": c.cache_hits,
                "cache_misses": c.cache_misses,
                "answers": m.answers(),
                "blank": m.answers(blank=True),
            },
            {route: m.buckets(route) for route in (HISTORY_ROUTE, DASHBOARD_ROUTE)},
        )

    def windowed(self, svc: Services, now: datetime) -> tuple[Sample, datetime]:
        """What was counted in the window ending now, and when the window began (keeping a
        sample every SAMPLE_EVERY)."""
        current = self._now_sample(svc, now)
        if not self.samples or now - self.samples[-1].at >= SAMPLE_EVERY:
            self.samples.append(current)
        # Keep the newest sample at least a window old as the base; drop those before it.
        while len(self.samples) > 1 and now - self.samples[1].at >= self.window:
            self.samples.popleft()
        return self._since_base(svc, current)

    def peek(self, svc: Services, now: datetime) -> Sample:
        """The window's counts without keeping a sample (for the exposition's thread)."""
        return self._since_base(svc, self._now_sample(svc, now))[0]

    def _since_base(self, svc: Services, current: Sample) -> tuple[Sample, datetime]:
        base = next((s for s in reversed(self.samples) if current.at - s.at >= self.window), None)
        if base is not None:
            return current.minus(base), base.at
        return current, svc.started_at  # younger than the window: since the process started

    def collector(self) -> Collector:
        """The windowed metrics and the triggers for /metrics (absent when not measured)."""
        return _PlanCollector(self)

    # -- the rollback triggers (the alerts' watch asks every pass) -------------------------

    def readings(self, now: datetime) -> list[Reading]:
        """Write success below 95% and history P95 above 200 ms, over the rate window."""
        svc = self.services()
        if svc is None:
            return []
        counted, _ = self.windowed(svc, now)
        return [_write_reading(counted), _history_reading(counted)]

    # -- the whole report (/status and GET /api/v1/slo) ------------------------------------

    async def report(self) -> dict[str, Any]:
        """Every metric beside its target, and the rollback triggers, JSON-ready."""
        svc = self.services()
        assert svc is not None, "the app's lifespan opens the services"
        now = svc.now()
        counted, since = self.windowed(svc, now)
        rates = {"from": iso_instant(since), "to": iso_instant(now)}
        metrics = [
            await self._completeness(svc, now),
            {**_latency(counted, HISTORY_ROUTE, HISTORY_P95_TARGET, "history"), "window": rates},
            {**_write_success(counted), "window": rates},
            {**_blank(counted), "window": rates},
            {
                **_latency(counted, DASHBOARD_ROUTE, DASHBOARD_P95_TARGET, "dashboard"),
                "window": rates,
            },
            {**_cache(counted), "window": rates},
            _outbox(svc, now),
        ]
        triggers = [asdict(r) for r in (_write_reading(counted), _history_reading(counted))]
        triggers.append(await _corruption(svc))
        for trigger in triggers:
            trigger["state"] = {True: "crossed", False: "not crossed", None: NOT_MEASURED}[
                trigger["crossed"]
            ]
        return {
            "generated_at": iso_instant(now),
            "process_started_at": iso_instant(svc.started_at),
            "scope": SCOPE,
            "metrics": metrics,
            "rollback_triggers": triggers,
        }

    async def _completeness(self, svc: Services, now: datetime) -> dict[str, Any]:
        today = business_date(now)
        first = svc.calendar.sessions_before(today, self.sessions)
        days = max((today - first).days, 1)
        base = _metric("completeness", "reports stored / expected slots", "100% of jobs stored")
        base["window"] = {"sessions": self.sessions, "days": days}
        try:
            found = await svc.results.completeness(now, days)
        except StoreError as error:
            return {**base, "status": NOT_MEASURED, "absent": f"the store did not answer: {error}"}
        expected = len(found.slots)
        base["window"].update({"from": iso_instant(found.since), "to": iso_instant(found.until)})
        if expected == 0:
            return {**base, "status": NOT_MEASURED, "absent": "no expected slots in the window"}
        reported = expected - len(found.gaps)
        return {
            **base,
            "value": reported / expected,
            "shown": f"{reported} / {expected} slots ({_pct(reported / expected)})",
            "status": MET if reported == expected else NOT_MET,
            "detail": {
                "expected": expected,
                "reported": reported,
                "gaps": [g.as_dict() for g in found.gaps],
            },
        }


def _metric(name: str, title: str, target: str) -> dict[str, Any]:
    return {"name": name, "title": title, "target": target, "value": None, "absent": None}


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.2f}%".replace(".00%", "%")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _latency(counted: Sample, route: str, target: float, what: str) -> dict[str, Any]:
    buckets = counted.buckets.get(route, ())
    base = _metric(
        f"{what}_latency",
        f"{what} request latency (route {route}), estimated from histogram buckets",
        f"P95 < {_ms(target)}",
    )
    count = int(buckets[-1][1]) if buckets else 0
    if count == 0:
        return {**base, "status": NOT_MEASURED, "absent": f"no {what} requests in the window"}
    estimates: dict[str, Any] = {}
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        found = histogram_quantile(q, buckets)
        assert found is not None  # count > 0
        estimates[name] = {"seconds": found[0], "at_least": found[1]}
    p95 = estimates["p95"]
    shown = ", ".join(
        f"{n} {'≥ ' if e['at_least'] else ''}{_ms(e['seconds'])}" for n, e in estimates.items()
    )
    return {
        **base,
        "value": p95["seconds"],
        "shown": f"{shown} ({count} requests, bucket-estimated)",
        "status": MET if p95["seconds"] < target and not p95["at_least"] else NOT_MET,
        "detail": {"count": count, **estimates, "estimate": "histogram_quantile"},
    }


def _write_success(counted: Sample) -> dict[str, Any]:
    v = counted.values
    attempts, committed = int(v["write_attempts"]), int(v["writes_committed"])
    base = _metric(
        "write_success",
        "store writes committed / attempted (each retry an attempt)",
        f"≥ {_pct(WRITE_SUCCESS_TARGET)} write success",
    )
    detail = {
        "attempts": attempts,
        "committed": committed,
        "failed": attempts - committed,
        "commit_retries": int(v["commit_retries"]),
        "outbox_spools": int(v["outboxed"]),
    }
    if attempts == 0:
        return {
            **base,
            "status": NOT_MEASURED,
            "absent": "no store writes in the window",
            "detail": detail,
        }
    rate = committed / attempts
    return {
        **base,
        "value": rate,
        "shown": (
            f"{_pct(rate)} ({committed} of {attempts} attempts; {detail['commit_retries']} "
            f"retries, {detail['outbox_spools']} spooled to the outbox)"
        ),
        "status": MET if rate >= WRITE_SUCCESS_TARGET else NOT_MET,
        "detail": detail,
    }


def _blank(counted: Sample) -> dict[str, Any]:
    answers, blank = int(counted.values["answers"]), int(counted.values["blank"])
    base = _metric(
        "blank_answers", "report answers with status 200 and no report", "0 blank dashboards"
    )
    if answers == 0:
        return {**base, "status": NOT_MEASURED, "absent": "no report answers in the window"}
    return {
        **base,
        "value": blank,
        "shown": f"{blank} of {answers} report answers",
        "status": MET if blank == 0 else NOT_MET,
        "detail": {"answers": answers, "blank": blank},
    }


def _cache(counted: Sample) -> dict[str, Any]:
    hits, misses = int(counted.values["cache_hits"]), int(counted.values["cache_misses"])
    base = _metric("cache_hit_rate", "report reads served from the cache", "no target in the plan")
    if hits + misses == 0:
        return {**base, "status": NOT_MEASURED, "absent": "no cache lookups in the window"}
    rate = hits / (hits + misses)
    return {
        **base,
        "value": rate,
        "shown": f"{_pct(rate)} ({hits} hits, {misses} misses)",
        "status": NO_TARGET,
        "detail": {"hits": hits, "misses": misses},
    }


def _outbox(svc: Services, now: datetime) -> dict[str, Any]:
    base = _metric(
        "outbox_age",
        "age of the oldest write waiting in the outbox (now)",
        "no target in the plan (alerts after MARKETBRIEF_ALERT_OUTBOX_MINUTES)",
    )
    since = svc.results.outbox_since()
    if since is None:
        return {**base, "status": NOT_MEASURED, "absent": "the outbox is empty"}
    age = max((now - since).total_seconds(), 0.0)
    return {
        **base,
        "value": age,
        "shown": f"{timedelta(seconds=int(age))} ({svc.results.outbox_depth()} waiting)",
        "status": NO_TARGET,
        "detail": {"since": iso_instant(since), "depth": svc.results.outbox_depth()},
    }


def _write_reading(counted: Sample) -> Reading:
    attempts = int(counted.values["write_attempts"])
    committed = int(counted.values["writes_committed"])
    limit = f"write success < {_pct(WRITE_SUCCESS_ROLLBACK)}"
    if attempts == 0:
        return Reading("write_success", None, f"{limit}: no store writes in the window")
    rate = committed / attempts
    return Reading(
        "write_success",
        rate < WRITE_SUCCESS_ROLLBACK,
        f"{limit}: {_pct(rate)} ({committed} of {attempts} store writes committed)",
    )


def _history_reading(counted: Sample) -> Reading:
    buckets = counted.buckets.get(HISTORY_ROUTE, ())
    limit = f"history P95 > {_ms(HISTORY_P95_ROLLBACK)}"
    found = histogram_quantile(0.95, buckets)
    if found is None:
        return Reading("history_p95", None, f"{limit}: no history requests in the window")
    p95, at_least = found
    return Reading(
        "history_p95",
        p95 > HISTORY_P95_ROLLBACK,
        f"{limit}: P95 {'≥ ' if at_least else ''}{_ms(p95)} "
        f"over {int(buckets[-1][1])} requests (bucket-estimated)",
    )


async def _corruption(svc: Services) -> dict[str, Any]:
    """Corruption is what `verify` found: its open `corruption` incident is the trigger."""
    limit = "corruption detected (by marketbrief verify)"
    try:
        open_now = await svc.alerts.incidents(open_only=True, limit=1000)
    except StoreError as error:
        return {"name": CORRUPTION, "crossed": None, "summary": f"{limit}: {error}"}
    crossed = any(i["kind"] == CORRUPTION for i in open_now)
    shown = "an open corruption incident" if crossed else "no open corruption incident"
    return {"name": CORRUPTION, "crossed": crossed, "summary": f"{limit}: {shown}"}


class _PlanCollector(Collector):
    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def collect(self) -> Iterator[Metric]:
        svc = self.plan.services()
        if svc is None:
            return
        counted = self.plan.peek(svc, svc.now())
        values: dict[str, tuple[str, float | None]] = {
            "history_p95_seconds": (
                "History request P95 over the window, bucket-estimated (this process).",
                _p95(counted, HISTORY_ROUTE),
            ),
            "dashboard_p95_seconds": (
                "Dashboard render P95 over the window, bucket-estimated (this process).",
                _p95(counted, DASHBOARD_ROUTE),
            ),
            "write_success_ratio": (
                "Store writes committed / attempted over the window (this process).",
                _write_success(counted)["value"],
            ),
            "blank_answers": (
                "Report answers with status 200 and no report over the window (this process).",
                _blank(counted)["value"],
            ),
            "cache_hit_ratio": (
                "Report reads served from the cache over the window (this process).",
                _cache(counted)["value"],
            ),
        }
        for name, (text, value) in values.items():
            family = GaugeMetricFamily(f"marketbrief_plan_{name}", text)
            if value is not None:
                family.add_metric([], value)
            yield family
        crossed = GaugeMetricFamily(
            "marketbrief_rollback_trigger_crossed",
            "1 while a rollback trigger is crossed, 0 when not (absent: not measured).",
            labels=["trigger"],
        )
        for reading in (_write_reading(counted), _history_reading(counted)):
            if reading.crossed is not None:
                crossed.add_metric([reading.name], 1 if reading.crossed else 0)
        yield crossed


def _p95(counted: Sample, route: str) -> float | None:
    found = histogram_quantile(0.95, counted.buckets.get(route, ()))
    return found[0] if found is not None else None
