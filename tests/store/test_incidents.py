"""Incidents in the store: one open per (kind, subject), repeats and resolves claimed once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from marketbrief.store.base import IncidentReport
from marketbrief.store.sql import SQLStore

NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
REPORT = IncidentReport(
    kind="run_failed",
    subject="pre-market/2026-12-01",
    summary="the pre-market run for 2026-12-01 failed",
    since=NOW - timedelta(minutes=3),
    report_type="pre-market",
    business_date=date(2026, 12, 1),
    link="http://marketbrief.test/jobs/7",
)


@pytest.fixture
def store(store_url: str) -> Iterator[SQLStore]:
    store = SQLStore(store_url)
    store.migrate()
    yield store
    store.close()


def test_an_incident_opens_once_and_a_second_open_gets_the_same_row_unclaimed(
    store: SQLStore,
) -> None:
    first = store.open_incident(REPORT, NOW)
    second = store.open_incident(REPORT, NOW + timedelta(seconds=5))
    assert (first.claimed, second.claimed) == (True, False)
    assert second.id == first.id
    assert (first.since, first.business_date, first.link) == (
        REPORT.since,
        REPORT.business_date,
        REPORT.link,
    )
    assert [i.id for i in store.incidents(open_only=True)] == [first.id]


def test_a_repeat_is_claimed_once_per_interval_by_compare_and_set(store: SQLStore) -> None:
    opened = store.open_incident(REPORT, NOW)
    later = NOW + timedelta(minutes=61)
    due_before = later - timedelta(minutes=60)
    assert store.claim_repeat(opened.id, due_before, later) is True
    assert store.claim_repeat(opened.id, due_before, later) is False  # already told at `later`
    assert store.claim_repeat(opened.id, NOW, NOW + timedelta(minutes=1)) is False  # not due
    [row] = store.incidents()
    assert (row.notify_count, row.last_notified_at) == (2, later)


def test_a_resolve_returns_the_row_once_and_a_new_open_after_it_is_a_new_incident(
    store: SQLStore,
) -> None:
    opened = store.open_incident(REPORT, NOW)
    resolved = store.resolve_incident(REPORT.kind, REPORT.subject, NOW + timedelta(minutes=5))
    again = store.resolve_incident(REPORT.kind, REPORT.subject, NOW + timedelta(minutes=6))
    assert resolved is not None
    assert resolved.id == opened.id
    assert resolved.resolved_at == NOW + timedelta(minutes=5)
    assert again is None
    assert store.claim_repeat(opened.id, NOW + timedelta(days=1), NOW + timedelta(days=1)) is False
    reopened = store.open_incident(REPORT, NOW + timedelta(minutes=7))
    assert reopened.claimed
    assert reopened.id != opened.id
    assert store.incidents(open_only=True)[0].id == reopened.id


def test_stores_racing_to_open_one_incident_yield_exactly_one_claim(store_url: str) -> None:
    stores = [SQLStore(store_url) for _ in range(4)]
    stores[0].migrate()
    start = threading.Barrier(len(stores))
    claims: list[bool] = []

    def contend(store: SQLStore) -> None:
        start.wait()
        claims.append(store.open_incident(REPORT, NOW).claimed)

    threads = [threading.Thread(target=contend, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert sorted(claims) == [False, False, False, True]
