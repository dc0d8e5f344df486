"""What each report's payload gives a reader: calls ordered, changes named, "k of n" counted."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from marketbrief.models import Direction, Prediction, PredictionStatus
from marketbrief.pipeline.ports import Move
from marketbrief.reports.endofday import build_end_of_day
from marketbrief.reports.intraday import build_intraday, build_quiet_intraday
from marketbrief.reports.premarket import build_pre_market
from marketbrief.reports.weekly import MIN_TREND_SESSIONS, build_weekly

DAY = date(2026, 11, 24)
SINCE = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 24, 13, 30, tzinfo=UTC)
UP, DOWN, FLAT = Direction.UP, Direction.DOWN, Direction.NEUTRAL
HEADLINE = {
    "title": "Apple beats estimates",
    "source": "wire",
    "published_at": "2026-11-24T12:00:00+00:00",
    "url": "https://example.test/a",
}


def p(
    symbol: str,
    direction: Direction,
    confidence: float | None,
    *,
    status: PredictionStatus = PredictionStatus.SUCCESS,
) -> Prediction:
    return Prediction(
        symbol=symbol,
        direction=direction,
        confidence=confidence,
        sentiment_score=0.25 if confidence is not None else None,
        articles_count=4 if confidence is not None else 0,
        model="lexicon",
        status=status,
        headlines=[HEADLINE] if confidence is not None else [],
    )


def test_pre_market_lists_high_confidence_calls_first_with_their_headlines() -> None:
    predictions = [
        p("GOOGL", UP, 0.4),
        p("TSLA", FLAT, None, status=PredictionStatus.SKIPPED),
        p("MSFT", DOWN, 0.75),
        p("AAPL", UP, 0.9),
        p("NVDA", DOWN, 0.5),
        p("SPY", UP, 0.8),
    ]
    body = build_pre_market(DAY, predictions, since=SINCE, until=UNTIL, high_confidence=0.7)
    assert [s["symbol"] for s in body["symbols"]] == ["AAPL", "MSFT", "NVDA", "GOOGL", "TSLA"]
    assert [s["high_confidence"] for s in body["symbols"]] == [True, True, False, False, False]
    first = body["symbols"][0]
    assert (first["direction"], first["confidence"], first["sentiment_score"]) == ("up", 0.9, 0.25)
    assert first["articles_count"] == 4
    assert first["headlines"] == [HEADLINE]
    assert body["market_pulse"]["symbol"] == "SPY"
    assert body["market_pulse"]["high_confidence"] is True


def test_intraday_names_each_call_that_changed_and_how() -> None:
    morning = [p("AAPL", UP, 0.8), p("MSFT", UP, 0.6), p("NVDA", DOWN, 0.7), p("TSLA", UP, 0.5)]
    midday = [p("AAPL", UP, 0.9), p("MSFT", DOWN, 0.5), p("NVDA", FLAT, 0.3), p("TSLA", UP, None)]
    body = build_intraday(
        DAY, midday, pre_market_run_id="pm", pre_market=morning, since=UNTIL, until=UNTIL
    )
    rows = {s["symbol"]: s for s in body["symbols"]}
    assert {name: row["changed"] for name, row in rows.items()} == {
        "AAPL": False,
        "MSFT": True,
        "NVDA": True,  # to neutral: a change of call, though not a reversal
        "TSLA": False,  # the midday analysis gave no confidence: nothing to compare
    }
    assert rows["MSFT"]["pre_market"]["sentiment_score"] == 0.25
    assert body["changes"] == [
        {"symbol": "MSFT", "from": "up", "to": "down", "verdict": "reversed"},
        {"symbol": "NVDA", "from": "down", "to": "neutral", "verdict": "consistent"},
    ]
    assert body["consistency"]["changed"] == 2


def test_a_quiet_intraday_window_changes_no_call() -> None:
    body = build_quiet_intraday(
        DAY, pre_market_run_id="pm", pre_market=[p("AAPL", UP, 0.8)], since=UNTIL, until=UNTIL
    )
    assert body["changes"] == []
    assert body["symbols"][0]["changed"] is False
    assert body["symbols"][0]["pre_market"]["direction"] == "up"


def test_end_of_day_judges_every_directional_call_and_says_why_the_rest_are_unscored() -> None:
    predictions = [
        p("AAPL", UP, 0.9),  # rose: right, high-confidence
        p("MSFT", DOWN, 0.8),  # rose: wrong, high-confidence
        p("GOOGL", UP, 0.4),  # rose: right, below threshold
        p("NVDA", DOWN, 0.3),  # fell: right, below threshold
        p("AMZN", FLAT, 0.9),  # neutral call
        p("META", UP, 0.9),  # no close: no price
        p("TSLA", UP, None, status=PredictionStatus.FAILED),  # no usable call
    ]
    moves = {
        "AAPL": Move(101.0, 100.0, 1.0),
        "MSFT": Move(102.0, 100.0, 2.0),
        "GOOGL": Move(103.5, 100.0, 3.5),
        "NVDA": Move(95.0, 100.0, -5.0),
        "AMZN": Move(100.0, 100.0, 0.0),
        "TSLA": Move(90.0, 100.0, -10.0),
        "SPY": Move(600.0, 597.0, 0.5025),
    }
    body = build_end_of_day(
        DAY, predictions, moves, pre_market_run_id="pm", threshold=0.7, pulse=p("SPY", UP, 0.5)
    )
    rows = {s["symbol"]: (s["result"], s["why"]) for s in body["symbols"]}
    assert rows == {
        "AAPL": ("right", None),
        "MSFT": ("wrong", None),
        "GOOGL": ("right", "below threshold"),
        "NVDA": ("right", "below threshold"),
        "AMZN": ("unscored", "neutral call"),
        "META": ("unscored", "no price"),
        "TSLA": ("unscored", "no usable call"),
    }
    assert body["hit_rate"] == {
        "all": {"hits": 3, "calls": 4, "rate": 0.75},
        "high_confidence": {"hits": 1, "calls": 2, "rate": 0.5, "threshold": 0.7},
    }
    assert body["unscored"] == {"neutral call": 1, "no price": 1, "no usable call": 1}
    # The older keys keep their meaning: high-confidence calls only, META still pending.
    assert (body["scored"], body["correct"], body["pending"], body["accuracy"]) == (2, 1, 1, 0.5)
    aapl = body["symbols"][0]
    assert (aapl["previous_close"], aapl["close"], aapl["change_pct"]) == (100.0, 101.0, 1.0)
    pulse = body["market_pulse"]
    assert (pulse["symbol"], pulse["close"], pulse["previous_close"]) == ("SPY", 600.0, 597.0)
    assert (pulse["result"], pulse["why"], pulse["outcome"]) == (
        "right",
        "below threshold",
        "unscored",
    )
    assert [m["symbol"] for m in body["top_movers"]] == ["TSLA", "NVDA", "GOOGL"]
    assert body["top_movers"][0]["close"] == 90.0


def test_end_of_day_with_no_directional_call_measures_nothing() -> None:
    body = build_end_of_day(
        DAY,
        [p("AAPL", FLAT, 0.9)],
        {"AAPL": Move(1.0, 1.0, 0.0)},
        pre_market_run_id="pm",
        threshold=0.7,
    )
    assert body["hit_rate"]["all"] == {"hits": 0, "calls": 0, "rate": None}
    assert body["market_pulse"] is None


def eod(rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"symbols": rows, **extra}


def row(symbol: str, result: str, change: float | None, direction: str = "up") -> dict[str, Any]:
    return {"symbol": symbol, "direction": direction, "result": result, "change_pct": change}


SUNDAY = date(2026, 11, 29)
SESSIONS = [date(2026, 11, d) for d in (23, 24, 25, 27)]


def test_weekly_counts_each_symbols_calls_hits_and_return_over_the_week() -> None:
    rate = {"all": {"hits": 1, "calls": 2, "rate": 0.5}}
    reports = {
        SESSIONS[0]: eod(
            [row("AAPL", "right", 10.0), row("MSFT", "wrong", 1.0, "down")],
            hit_rate=rate,
            market_pulse={"symbol": "SPY", "direction": "up", "result": "right", "change_pct": 1.0},
        ),
        SESSIONS[1]: eod(
            [row("AAPL", "wrong", -10.0), row("MSFT", "unscored", None, "neutral")],
            hit_rate={"all": {"hits": 0, "calls": 1, "rate": 0.0}},
        ),
        SESSIONS[2]: None,
        # An end-of-day payload from before `hit_rate`: it counts what it scored.
        SESSIONS[3]: {
            "scored": 2,
            "correct": 2,
            "symbols": [{"symbol": "AAPL", "outcome": "correct"}],
        },
    }
    body = build_weekly(SUNDAY, SESSIONS, reports)
    aapl = body["symbols"]["AAPL"]
    assert (aapl["calls_made"], aapl["hits"], aapl["calls"], aapl["rate"]) == (2, 2, 3, 0.6667)
    assert aapl["return_pct"] == -1.0  # 1.1 * 0.9 = 0.99: compounded, not summed
    assert aapl["return_sessions"] == 2
    msft = body["symbols"]["MSFT"]
    assert (msft["calls_made"], msft["hits"], msft["calls"]) == (1, 0, 1)
    assert [s["hit_rate"]["calls"] for s in body["sessions"]] == [2, 1, 0, 2]
    assert [s["report"] for s in body["sessions"]] == [True, True, False, True]
    assert body["hit_rate"] == {"hits": 3, "calls": 5, "rate": 0.6}
    assert body["market_pulse"]["return_pct"] == 1.0
    assert body["best"] == {"rate": 1.0, "dates": ["2026-11-27"], "hits": [2], "calls": [2]}
    assert body["worst"]["dates"] == ["2026-11-24"]


def test_weekly_best_and_worst_name_every_tied_session() -> None:
    same = {"hit_rate": {"all": {"hits": 1, "calls": 2, "rate": 0.5}}}
    reports = {s: eod([], **same) for s in SESSIONS}
    body = build_weekly(SUNDAY, SESSIONS, reports)
    dates = [s.isoformat() for s in SESSIONS]
    assert body["best"]["dates"] == dates
    assert body["worst"]["dates"] == dates
    assert body["best"]["rate"] == body["worst"]["rate"] == 0.5


def test_weekly_trend_needs_enough_measured_sessions_and_says_how_many() -> None:
    def rated(*hits: int | None) -> dict[date, dict[str, Any] | None]:
        """Each session's hits of 10 calls (None: no report)."""
        return {
            s: None if k is None else eod([], hit_rate={"all": {"hits": k, "calls": 10}})
            for s, k in zip(SESSIONS, hits, strict=True)
        }

    short = build_weekly(SUNDAY, SESSIONS, rated(2, 9, None, None))
    assert short["trend_all"] == {
        "direction": "insufficient",
        "sessions": 2,
        "needed": MIN_TREND_SESSIONS,
    }
    enough = build_weekly(SUNDAY, SESSIONS, rated(2, 5, None, 9))
    assert enough["trend_all"] == {"direction": "improving", "sessions": 3, "needed": 3}
