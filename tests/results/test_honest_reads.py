"""The read path never makes content of a failure: `partial` needs a run that produced something
and a usable prediction in it; a day without a session answers `closed`.

Both modes: embedded (SQLite) and scaled out (PostgreSQL + Redis), through the `make_results`
fixture of tests/support/results_fixtures.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta

from marketbrief.models import PredictionStatus, ReportType, RunStatus
from marketbrief.results import Results
from marketbrief.results.envelope import ReportState
from tests.support.clock import DAY, LATE, Clock
from tests.support.factories import predictions, standalone_completion

PRE, INTRADAY, EOD = ReportType.PRE_MARKET, ReportType.INTRADAY, ReportType.END_OF_DAY
THANKSGIVING = date(2026, 11, 26)


async def test_a_failed_run_s_predictions_never_become_a_partial_report(
    make_results: Callable[..., Results],
) -> None:
    results = make_results()
    # A run that failed after analysing (its predictions stored, some of them usable).
    failed = dataclasses.replace(
        standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20)),
        status=RunStatus.FAILED,
        content=None,
        errors=({"stage": "storage", "error": "boom"},),
    )
    await results.publish(failed)
    for kind in (INTRADAY, EOD):
        response = await results.get_report(kind, DAY)
        assert response.state is not ReportState.PARTIAL
        assert not response.has_content
        assert response.data is None


async def test_partial_needs_a_usable_prediction_and_then_shows_only_that_run(
    make_results: Callable[..., Results],
) -> None:
    results = make_results()
    nothing = tuple(
        dataclasses.replace(p, confidence=None, status=PredictionStatus.FAILED)
        for p in predictions()
    )
    # A run recorded as partial (an old import) whose every prediction is unusable.
    hollow = dataclasses.replace(
        standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20)),
        status=RunStatus.PARTIAL,
        predictions=nothing,
    )
    await results.publish(hollow)
    response = await results.get_report(INTRADAY, DAY)
    assert response.state is not ReportState.PARTIAL
    assert not response.has_content

    real = standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=19))
    await results.publish(real)
    response = await results.get_report(INTRADAY, DAY)
    assert response.state is ReportState.PARTIAL
    assert response.run_id == real.run_id
    assert response.has_content


async def test_a_market_holiday_answers_closed_with_the_next_session_not_a_stale_report(
    make_results: Callable[..., Results], clock: Clock
) -> None:
    results = make_results()
    await results.publish(standalone_completion(PRE, DAY, started_at=LATE - timedelta(hours=20)))
    clock.now = LATE + timedelta(days=3)  # Saturday: Thanksgiving and the Friday have passed
    for kind in (PRE, INTRADAY, EOD):
        response = await results.get_report(kind, THANKSGIVING)
        assert response.state is ReportState.CLOSED
        assert not response.has_content
        meta = response.meta(clock.now)
        assert meta["next_session"] == "2026-11-27"
        assert meta["market_closed"] is True
        assert meta["business_date"] is None
    # A weekend day is closed too; the session before Thanksgiving is still served.
    weekend = await results.get_report(PRE, date(2026, 11, 28))
    assert (weekend.state, weekend.meta(clock.now)["next_session"]) == (
        ReportState.CLOSED,
        "2026-11-30",
    )
    assert (await results.get_report(PRE, DAY)).state is ReportState.FRESH
