"""`Results.answer_now`: a clean cache hit already served, answered without awaiting anything.

The HTTP server asks it before starting the app (web/protocol.py). It must give exactly what
`get_report` would give, counted the same way, and nothing whenever `get_report` would have to
read, check or warn: a new publish, a flushed cache, a moved store revision, a store that is
down, a date outside the calendar.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from marketbrief.errors import InvalidInput, StoreUnavailable
from marketbrief.models import ReportType
from marketbrief.results import Results
from marketbrief.results.envelope import ReportState, Source
from tests.support.clock import DAY, LATE, Clock
from tests.support.factories import standalone_completion

PRE = ReportType.PRE_MARKET


@pytest.fixture
def results(make_results: Callable[..., Results]) -> Results:
    return make_results()


async def _published(results: Results, minutes: int = 0, marker: str = "") -> str:
    completion = standalone_completion(
        PRE, DAY, started_at=LATE - timedelta(hours=20, minutes=-minutes), marker=marker
    )
    outcome = await results.publish(completion)
    assert outcome.published
    return completion.run_id


async def test_only_a_hit_served_before_is_answered_and_it_is_the_same_answer(
    results: Results,
) -> None:
    await _published(results)
    assert results.answer_now(PRE, DAY) is None  # nothing served yet: get_report answers
    served = await results.get_report(PRE, DAY)
    assert (served.state, served.source) == (ReportState.FRESH, Source.CACHE)
    hits, fresh = results.counters.cache_hits, results.counters.serves["fresh"]
    again = results.answer_now(PRE, DAY)
    assert again is served
    assert results.counters.cache_hits == hits + 1
    assert results.counters.serves["fresh"] == fresh + 1
    assert await results.get_report(PRE, DAY) is served  # and the async path agrees


async def test_the_default_date_is_the_one_get_report_means(results: Results, clock: Clock) -> None:
    await _published(results)
    served = await results.get_report(PRE)
    assert served.requested_date == DAY
    assert results.answer_now(PRE) is served
    clock.now = LATE + timedelta(days=1)  # the next session is "today" now: not that answer
    assert results.answer_now(PRE) is None


async def test_a_new_publish_is_never_answered_from_the_old_hit(results: Results) -> None:
    await _published(results, marker="first")
    first = await results.get_report(PRE, DAY)
    assert results.answer_now(PRE, DAY) is first
    newer = await _published(results, minutes=5, marker="second")
    assert results.answer_now(PRE, DAY) is None
    served = await results.get_report(PRE, DAY)
    assert served.run_id == newer
    assert results.answer_now(PRE, DAY) is served


async def test_a_flushed_cache_is_read_again_before_anything_is_answered(
    results: Results,
) -> None:
    await _published(results)
    await results.get_report(PRE, DAY)
    assert results.answer_now(PRE, DAY) is not None
    assert results.deps.cache is not None
    await results.deps.cache.clear()
    if results.deps.near is not None:
        # In front of Redis the near cache answers for its bound (tests/results/test_near_cache.py);
        # once it has passed, the flushed Redis is what counts.
        results.deps.near.clear()
    assert results.answer_now(PRE, DAY) is None
    reads = results.counters.store_reads
    assert (await results.get_report(PRE, DAY)).source is Source.STORE
    assert results.counters.store_reads == reads + 1


async def test_a_moved_store_revision_is_checked_by_get_report_first(results: Results) -> None:
    await _published(results)
    await results.get_report(PRE, DAY)
    served = await results.get_report(PRE, DAY)
    watch = results.deps.revisions
    assert watch.revision is not None
    watch.revision += 1  # another process moved a latest pointer, and the watch read it
    assert results.answer_now(PRE, DAY) is None
    checked = await results.get_report(PRE, DAY)  # checks the entry against the store once
    assert checked.run_id == served.run_id
    assert results.answer_now(PRE, DAY) is checked


async def test_nothing_is_answered_while_the_store_is_down(results: Results) -> None:
    await _published(results)
    await results.get_report(PRE, DAY)
    health = results.deps.health
    health.failed(StoreUnavailable("down for the test"), LATE)
    assert health.is_down
    assert results.answer_now(PRE, DAY) is None  # get_report serves it with its warning
    served = await results.get_report(PRE, DAY)
    assert "store_unavailable" in served.warnings
    health.answered()
    assert results.answer_now(PRE, DAY) is not None


async def test_a_date_outside_the_calendar_is_left_to_get_report(results: Results) -> None:
    outside = date(1900, 1, 2)
    assert results.answer_now(PRE, outside) is None  # no error here: the route's is the one
    with pytest.raises(InvalidInput, match="1900-01-02"):
        await results.get_report(PRE, outside)  # which names the date


async def test_with_every_read_checking_the_store_nothing_is_answered_early(
    make_results: Callable[..., Results],
) -> None:
    strict = make_results(revision_check_seconds=0.0)
    await _published(strict)
    await strict.get_report(PRE, DAY)
    await strict.get_report(PRE, DAY)
    assert strict.answer_now(PRE, DAY) is None


async def test_with_the_cache_off_nothing_is_answered_early(
    make_results: Callable[..., Results],
) -> None:
    off = make_results(cache_enabled=False)
    await _published(off)
    await off.get_report(PRE, DAY)
    assert off.answer_now(PRE, DAY) is None
