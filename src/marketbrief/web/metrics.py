"""Prometheus metrics: requests, the results core's counters, runs, lateness and the outbox."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from marketbrief.alerts.sender import Lane
from marketbrief.errors import StoreError
from marketbrief.models import ReportType, Run
from marketbrief.results.envelope import ReportResponse, ReportState
from marketbrief.services import Services

RUN_COUNTS_TTL_SECONDS = 30.0
# A request's method token is the client's to choose: only these become label values.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def is_blank(status: int, response: ReportResponse) -> bool:
    """A 200 that carries no report and does not say it is pending: what must never happen."""
    return (
        status == 200
        and (not response.has_content or not response.data or not response.data.strip())
        and response.state is not ReportState.PENDING
    )


class Metrics:
    """One registry per app, so tests and several apps in a process never collide."""

    def __init__(self, services: Callable[[], Services | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "marketbrief_request_seconds",
            "HTTP request latency by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.report_answers = Counter(
            "marketbrief_report_answers",
            "Report answers rendered (API and pages); blank=yes: a 200 without a report.",
            ["surface", "blank"],
            registry=self.registry,
        )
        self.trigger_limit_fallbacks = Counter(
            "marketbrief_trigger_limit_fallbacks",
            "Trigger rate-limit decisions taken by this process alone because Redis failed.",
            registry=self.registry,
        )
        self.core = _CoreCollector(services)
        self.registry.register(self.core)
        # Requests the HTTP protocol wrote itself (web/protocol.py): from a kept reply, or once
        # the read path answered; plain counts the fast path keeps, read at scrape time (set by
        # create_app).
        self.answered_now: Callable[[], int] = lambda: 0
        self.answered_soon: Callable[[], int] = lambda: 0
        self.registry.register(_Counted(lambda: self.answered_now(), lambda: self.answered_soon()))
        # prometheus_client validates and hashes label values on every `labels()`: each label
        # set's child is looked up once and kept (every value comes from a closed set).
        self._request_children: dict[tuple[str, str, str], Any] = {}
        self._answer_children: dict[tuple[str, bool], Any] = {}

    async def refresh(self) -> None:
        """Read what the exposition reports of the store (run counts, latest runs) beforehand."""
        await self.core.refresh()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one request; every label value comes from a closed set, whatever was sent."""
        labels = (
            method if method in METHODS else "other",
            route,
            str(status) if 100 <= status <= 599 else "other",
        )
        child = self._request_children.get(labels)
        if child is None:
            child = self._request_children[labels] = self.requests.labels(*labels)
        child.observe(seconds)

    def answered(self, surface: str, status: int, response: ReportResponse) -> None:
        """Count one report answer (`surface` is `api` or `page`); blank when it is a 200
        carrying no report and not saying it is still pending."""
        labels = (surface, is_blank(status, response))
        child = self._answer_children.get(labels)
        if child is None:
            child = self._answer_children[labels] = self.report_answers.labels(
                surface, "yes" if labels[1] else "no"
            )
        child.inc()

    def answers(self, *, blank: bool | None = None) -> float:
        """Report answers counted so far (only the blank ones, or only the others)."""
        want = None if blank is None else ("yes" if blank else "no")
        return sum(
            sample.value
            for metric in self.report_answers.collect()
            for sample in metric.samples
            if sample.name.endswith("_total") and (want is None or sample.labels["blank"] == want)
        )

    def buckets(self, route: str) -> tuple[tuple[float, float], ...]:
        """The request histogram's cumulative buckets for one route, every method and status
        summed: (upper bound, count) pairs, ascending, ending with +Inf."""
        sums: dict[float, float] = {}
        for metric in self.requests.collect():
            for sample in metric.samples:
                if sample.name.endswith("_bucket") and sample.labels.get("route") == route:
                    bound = float(sample.labels["le"])
                    sums[bound] = sums.get(bound, 0.0) + sample.value
        return tuple(sorted(sums.items()))

    def render(self) -> bytes:
        """The exposition text (blocking: call it in a thread, after `refresh`)."""
        return generate_latest(self.registry)


class _Counted(Collector):
    """`marketbrief_answered_by_protocol`: requests the HTTP protocol wrote itself, without the
    framework (they are in the request histogram too): `kept`, from a kept reply before the app
    started; `awaited`, once the read path answered."""

    def __init__(self, kept: Callable[[], int], awaited: Callable[[], int]) -> None:
        self.kept = kept
        self.awaited = awaited

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "marketbrief_answered_by_protocol",
            "Requests the HTTP protocol wrote itself, without the framework.",
            labels=["reply"],
        )
        family.add_metric(["kept"], self.kept())
        family.add_metric(["awaited"], self.awaited())
        yield family


class _CoreCollector(Collector):
    def __init__(self, services: Callable[[], Services | None]) -> None:
        self.services = services
        self._counts: dict[tuple[str, str], int] = {}
        self._counted_at = 0.0
        self._latest: dict[ReportType, Run | None] | None = None

    async def refresh(self) -> None:
        svc = self.services()
        if svc is None:
            return
        now = time.monotonic()
        try:
            if now - self._counted_at > RUN_COUNTS_TTL_SECONDS:
                self._counts = await svc.results.run_counts()
                self._counted_at = now
            self._latest = {kind: await svc.results.latest_run(kind) for kind in ReportType}
        except StoreError:
            self._latest = None

    def collect(self) -> Iterator[Metric]:
        svc = self.services()
        if svc is None:
            return
        results = svc.results
        c = results.counters
        for name, value, text in (
            ("cache_hits", c.cache_hits, "Report reads served from the cache."),
            ("cache_misses", c.cache_misses, "Report reads the cache could not serve."),
            ("near_cache_hits", c.near_hits, "Cache hits answered from this process's memory."),
            (
                "near_page_hits",
                c.near_page_hits,
                "History pages answered from this process's memory in front of Redis.",
            ),
            ("cache_errors", c.cache_errors, "Cache operations that failed."),
            ("cache_malformed_entries", c.malformed_entries, "Malformed entries removed."),
            ("cache_rehydrations", c.rehydrations, "Entries warmed from the store."),
            ("store_report_reads", c.store_reads, "Report reads that went to the store."),
            ("store_commits", c.commits, "Run completions committed to the store."),
            ("store_commit_retries", c.commit_retries, "Commits retried while the store was down."),
            ("outbox_writes", c.outboxed, "Completions spooled to the outbox."),
            ("outbox_replayed", c.replayed, "Completions replayed from the outbox."),
        ):
            yield CounterMetricFamily(f"marketbrief_{name}", text, value=value)
        served = CounterMetricFamily(
            "marketbrief_reports_served", "Report answers by state.", labels=["state"]
        )
        for state, n in sorted(c.serves.items()):
            served.add_metric([state], n)
        yield served
        yield CounterMetricFamily(
            "marketbrief_stale_serves", "Answers served stale.", value=c.serves.get("stale", 0)
        )
        yield GaugeMetricFamily(
            "marketbrief_outbox_depth",
            "Completions waiting for the store.",
            value=results.outbox_depth(),
        )
        yield GaugeMetricFamily(
            "marketbrief_store_up",
            "1 when the store answered last time.",
            value=0 if results.health.is_down else 1,
        )
        yield GaugeMetricFamily(
            "marketbrief_store_writes_up",
            "1 unless the last store write failed (until a write succeeds again).",
            value=0 if results.health.writes_down else 1,
        )
        yield from self._runs(svc)
        yield from _notifications(svc)

    def _runs(self, svc: Services) -> Iterator[Metric]:
        latest = self._latest
        if latest is None:
            return  # the store did not answer the last refresh
        runs = GaugeMetricFamily(
            "marketbrief_runs", "Runs in the store by type and status.", labels=["type", "status"]
        )
        for (kind, status), n in sorted(self._counts.items()):
            runs.add_metric([kind, status], n)
        yield runs
        lateness = GaugeMetricFamily(
            "marketbrief_run_lateness_seconds",
            "Start of the latest run of each type minus its slot instant.",
            labels=["type"],
        )
        for kind, run in latest.items():
            if run is None:
                continue
            slot = svc.calendar.slot_instant(kind, run.scheduled_date)
            if slot is not None:
                lateness.add_metric([kind.value], (run.started_at - slot).total_seconds())
        yield lateness


def _notifications(svc: Services) -> Iterator[Metric]:
    """Each channel's alerts, then each delivery channel's reports; the `channel` label is its
    position in MARKETBRIEF_NOTIFY (MARKETBRIEF_DELIVER), a set fixed at start-up (never the
    URL, which may hold secrets)."""
    yield from _lanes("notify", "Alert messages", svc.alerts.sender.lanes)
    yield from _lanes("deliver", "Report deliveries", svc.deliveries.sender.lanes)


def _lanes(name: str, what: str, lanes: list[Lane]) -> Iterator[Metric]:
    families = {
        "sent": CounterMetricFamily(
            f"marketbrief_{name}_sent", f"{what} delivered, by channel.", labels=["channel"]
        ),
        "failures": CounterMetricFamily(
            f"marketbrief_{name}_failures",
            f"{what} that failed (each retry counts), by channel.",
            labels=["channel"],
        ),
        "dropped": CounterMetricFamily(
            f"marketbrief_{name}_dropped",
            f"{what} given up after every retry, by channel.",
            labels=["channel"],
        ),
    }
    waiting = GaugeMetricFamily(
        f"marketbrief_{name}_waiting", f"{what} not yet delivered, by channel.", labels=["channel"]
    )
    for lane in lanes:
        label = [lane.channel.label]
        families["sent"].add_metric(label, lane.counts.sent)
        families["failures"].add_metric(label, lane.counts.failures)
        families["dropped"].add_metric(label, lane.counts.dropped)
        waiting.add_metric(label, lane.queue.qsize())
    yield from families.values()
    yield waiting
