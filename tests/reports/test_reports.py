"""Report builders are pure: hand-computed inputs give hand-computed numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from marketbrief.models import Direction, Prediction, PredictionStatus, RunStatus
from marketbrief.pipeline.ports import Move
from marketbrief.reports.common import judge
from marketbrief.reports.endofday import build_end_of_day, outcome
from marketbrief.reports.intraday import build_intraday
from marketbrief.reports.premarket import build_pre_market
from marketbrief.reports.weekly import build_weekly, trend

DAY = date(2026, 11, 24)
SINCE = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)


def p(
    symbol: str,
    direction: Direction,
    confidence: float | None,
    *,
    status: PredictionStatus = PredictionStatus.SUCCESS,
    model: str = "lexicon",
) -> Prediction:
    return Prediction(
        symbol=symbol,
        direction=direction,
        confidence=confidence,
        sentiment_score=0.0,
        articles_count=3,
        model=model,
        status=status,
    )


UP, DOWN, FLAT = Direction.UP, Direction.DOWN, Direction.NEUTRAL


def test_lesson_12_validation_never_calls_an_empty_run_a_success() -> None:
    assert judge([]).status is RunStatus.FAILED
    failed = p("AAPL", UP, None, status=PredictionStatus.FAILED)
    assert judge([failed]).status is RunStatus.FAILED
    mixed = judge([p("AAPL", UP, 0.8), failed])
    assert mixed.status is RunStatus.PARTIAL
    assert (mixed.processed, mixed.successful, mixed.failed) == (2, 1, 1)
    assert judge([p("AAPL", UP, 0.8)]).status is RunStatus.SUCCESS


def test_pre_market_counts_usable_and_high_confidence_signals_and_sets_spy_apart() -> None:
    predictions = [
        p("AAPL", UP, 0.9),
        p("MSFT", DOWN, 0.7),  # exactly at the threshold counts as high
        p("GOOGL", UP, 0.4),
        p("TSLA", FLAT, None, status=PredictionStatus.SKIPPED),
        p("SPY", DOWN, 0.6),
    ]
    body = build_pre_market(DAY, predictions, since=SINCE, until=UNTIL, high_confidence=0.7)
    assert body["counts"] == {"analysed": 4, "usable": 3, "high_confidence": 2}
    assert [s["symbol"] for s in body["signals"]] == ["AAPL", "MSFT"]
    assert body["market_pulse"]["symbol"] == "SPY"
    assert "SPY" not in [s["symbol"] for s in body["symbols"]]
    assert body["news_window"] == {
        "since": "2026-11-23T21:00:00.000Z",
        "until": "2026-11-24T13:30:00.000Z",
    }


def test_intraday_compares_each_symbol_with_the_mornings_call() -> None:
    morning = [p("AAPL", UP, 0.8), p("MSFT", UP, 0.6), p("NVDA", DOWN, 0.7)]
    midday = [
        p("AAPL", UP, 0.9),
        p("MSFT", DOWN, 0.5),
        p("NVDA", DOWN, None, status=PredictionStatus.FAILED),
        p("TSLA", UP, 0.5),
    ]
    body = build_intraday(
        DAY, midday, pre_market_run_id="run-1", pre_market=morning, since=UNTIL, until=UNTIL
    )
    verdicts = {s["symbol"]: (s["verdict"], s["confidence_change"]) for s in body["symbols"]}
    assert verdicts == {
        "AAPL": ("consistent", 0.1),
        "MSFT": ("reversed", -0.1),
        "NVDA": ("incomplete", None),
        "TSLA": ("incomplete", None),
    }
    assert body["consistency"] == {
        "compared": 2,
        "consistent": 1,
        "reversed": 1,
        "incomplete": 2,
        "ratio": 0.5,
        "changed": 1,
    }
    assert body["changes"] == [
        {"symbol": "MSFT", "from": "up", "to": "down", "verdict": "reversed"}
    ]
    assert body["pre_market_run_id"] == "run-1"
    assert body["partial"] is False


def test_intraday_without_a_pre_market_run_is_partial_with_the_reason() -> None:
    body = build_intraday(
        DAY, [p("AAPL", UP, 0.9)], pre_market_run_id=None, pre_market=[], since=UNTIL, until=UNTIL
    )
    assert body["partial"] is True
    assert "no successful pre-market run" in body["partial_reason"]
    assert body["consistency"]["ratio"] is None


def test_end_of_day_three_correct_of_four_scored_is_0_75() -> None:
    predictions = [
        p("AAPL", UP, 0.9),  # up, rose: correct
        p("MSFT", DOWN, 0.8),  # down, fell: correct
        p("GOOGL", UP, 0.75, model="llm"),  # up, fell: wrong
        p("NVDA", DOWN, 0.7, model="llm"),  # down, fell: correct
        p("TSLA", UP, 0.5),  # below threshold: unscored
        p("AMZN", FLAT, 0.9),  # neutral: unscored
        p("META", UP, 0.9),  # no close yet: pending
    ]
    moves = {
        "AAPL": Move(101.0, 100.0, 1.0),
        "MSFT": Move(99.0, 100.0, -1.0),
        "GOOGL": Move(97.0, 100.0, -3.0),
        "NVDA": Move(95.0, 100.0, -5.0),
        "TSLA": Move(110.0, 100.0, 10.0),
        "AMZN": Move(100.0, 100.0, 0.0),
    }
    body = build_end_of_day(DAY, predictions, moves, pre_market_run_id="pm-1", threshold=0.7)
    assert (body["scored"], body["correct"], body["wrong"], body["pending"]) == (4, 3, 1, 1)
    assert body["accuracy"] == 0.75
    assert [m["symbol"] for m in body["top_movers"]] == ["TSLA", "NVDA", "GOOGL"]
    assert body["models"] == {
        "lexicon": {"scored": 2, "correct": 2, "accuracy": 1.0},
        "llm": {"scored": 2, "correct": 1, "accuracy": 0.5},
    }
    assert body["pre_market_run_id"] == "pm-1"


def test_lesson_16_end_of_day_with_nothing_scored_has_null_accuracy_not_zero() -> None:
    body = build_end_of_day(DAY, [p("AAPL", UP, 0.9)], {}, pre_market_run_id="pm", threshold=0.7)
    assert body["accuracy"] is None
    assert body["pending"] == 1
    assert body["symbols"][0]["close"] is None


@pytest.mark.parametrize(
    ("direction", "change", "expected"),
    [(UP, 0.0, "wrong"), (DOWN, 0.0, "wrong"), (UP, 0.01, "correct"), (DOWN, -0.01, "correct")],
)
def test_a_flat_close_is_wrong_for_either_direction(
    direction: Direction, change: float, expected: str
) -> None:
    assert outcome(p("X", direction, 0.9), Move(1.0, 1.0, change), 0.7) == expected


def test_weekly_aggregates_sessions_and_leaves_unscored_ones_null() -> None:
    sunday = date(2026, 11, 29)
    sessions = [date(2026, 11, d) for d in (23, 24, 25, 27)]

    def eod(correct: int, scored: int, outcomes: dict[str, str]) -> dict[str, object]:
        return {
            "scored": scored,
            "correct": correct,
            "symbols": [{"symbol": s, "outcome": o} for s, o in outcomes.items()],
        }

    reports = {
        sessions[0]: eod(1, 2, {"AAPL": "correct", "MSFT": "wrong"}),
        sessions[1]: eod(3, 4, {"AAPL": "correct", "MSFT": "correct"}),
        sessions[2]: None,
        sessions[3]: eod(0, 0, {"AAPL": "pending"}),
    }
    body = build_weekly(sunday, sessions, reports)
    assert [s["accuracy"] for s in body["sessions"]] == [0.5, 0.75, None, None]
    assert body["accuracy"] == round(4 / 6, 4)
    assert body["average_session_accuracy"] == 0.625
    assert body["best_session"] == {"date": "2026-11-24", "accuracy": 0.75}
    assert body["worst_session"] == {"date": "2026-11-23", "accuracy": 0.5}
    aapl = {k: body["symbols"]["AAPL"][k] for k in ("correct", "wrong", "pending", "accuracy")}
    assert aapl == {"correct": 2, "wrong": 0, "pending": 1, "accuracy": 1.0}
    assert body["symbols"]["MSFT"]["accuracy"] == 0.5
    assert body["week"] == "2026-W48"
    assert body["sessions_with_reports"] == 3
    assert body["trend"] == "improving"


def test_trend_needs_two_points_and_a_real_change() -> None:
    assert trend([0.5]) == "insufficient"
    assert trend([0.5, 0.52]) == "steady"
    assert trend([0.8, 0.6, 0.4]) == "declining"
