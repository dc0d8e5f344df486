"""The weekly review: the week's end-of-day results, session by session and symbol by symbol.

Older keys keep their meaning: `accuracy`, `scored`, `correct`, the sessions' `accuracy`,
`best_session` / `worst_session` (the first of any tie) and `trend` count the high-confidence
calls only. The newer keys count every judged directional call ("k of n" as `hits` of
`calls`): each session's `hit_rate`, each symbol's `calls` / `hits` / `return_pct`, `best` and
`worst` (every tied session named), and `trend_all`, which is given only from
`MIN_TREND_SESSIONS` measured sessions and says how many it had.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from marketbrief.calendar import week_key
from marketbrief.reports.endofday import accuracy, hit_rate

TREND_THRESHOLD = 0.05
MIN_TREND_SESSIONS = 3


def trend(values: Sequence[float], minimum: int = 2) -> str:
    """improving | declining | steady from the least-squares slope; insufficient below
    `minimum` points (and always below 2)."""
    if len(values) < max(minimum, 2):
        return "insufficient"
    n = len(values)
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    slope = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) / sum(
        (i - mean_x) ** 2 for i in range(n)
    )
    total_change = slope * (n - 1)
    if total_change > TREND_THRESHOLD:
        return "improving"
    if total_change < -TREND_THRESHOLD:
        return "declining"
    return "steady"


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _change(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def session_calls(report: Mapping[str, Any]) -> tuple[int, int]:
    """(hits, calls) over every judged directional call of one end-of-day payload; a payload
    from before `hit_rate` existed counts what it scored (its high-confidence calls)."""
    rate = report.get("hit_rate")
    every = rate.get("all") if isinstance(rate, Mapping) else None
    if isinstance(every, Mapping):
        return _count(every.get("hits")), _count(every.get("calls"))
    return _count(report.get("correct")), _count(report.get("scored"))


class _Symbol:
    """One symbol's week, gathered session by session."""

    def __init__(self) -> None:
        self.outcomes = {"correct": 0, "wrong": 0, "pending": 0}
        self.calls = self.hits = self.made = self.moves = 0
        self.growth = 1.0

    def add(self, row: Mapping[str, Any]) -> None:
        if row.get("outcome") in self.outcomes:
            self.outcomes[row["outcome"]] += 1
        if row.get("direction") in ("up", "down"):
            self.made += 1
        result = row.get("result")
        if result is None and row.get("outcome") in ("correct", "wrong"):
            result = "right" if row["outcome"] == "correct" else "wrong"
        if result in ("right", "wrong"):
            self.calls += 1
            self.hits += result == "right"
        change = _change(row.get("change_pct"))
        if change is not None:
            self.moves += 1
            self.growth *= 1 + change / 100

    def record(self) -> dict[str, Any]:
        correct, wrong = self.outcomes["correct"], self.outcomes["wrong"]
        return {
            **self.outcomes,
            "accuracy": accuracy(correct, correct + wrong),
            "calls_made": self.made,
            **hit_rate(self.hits, self.calls),
            "return_pct": round((self.growth - 1) * 100, 2) if self.moves else None,
            "return_sessions": self.moves,
        }


def _extremes(rated: Sequence[dict[str, Any]], pick: Any) -> dict[str, Any] | None:
    if not rated:
        return None
    rate = pick(float(s["hit_rate"]["rate"]) for s in rated)
    tied = [s for s in rated if s["hit_rate"]["rate"] == rate]
    return {
        "rate": rate,
        "dates": [s["date"] for s in tied],
        "hits": [s["hit_rate"]["hits"] for s in tied],
        "calls": [s["hit_rate"]["calls"] for s in tied],
    }


def build_weekly(
    sunday: date,
    sessions: Sequence[date],
    end_of_day: Mapping[date, Mapping[str, Any] | None],
) -> dict[str, Any]:
    """The weekly payload from each session's end-of-day payload (None where there is none)."""
    per_session: list[dict[str, Any]] = []
    symbols: dict[str, _Symbol] = {}
    pulse = _Symbol()
    total_scored = total_correct = total_hits = total_calls = 0
    for session in sessions:
        report = end_of_day.get(session)
        if report is None:
            per_session.append(
                {
                    "date": session.isoformat(),
                    "accuracy": None,
                    "scored": 0,
                    "correct": 0,
                    "report": False,
                    "hit_rate": hit_rate(0, 0),
                }
            )
            continue
        scored, correct = _count(report.get("scored")), _count(report.get("correct"))
        hits, calls = session_calls(report)
        total_scored += scored
        total_correct += correct
        total_hits += hits
        total_calls += calls
        per_session.append(
            {
                "date": session.isoformat(),
                "accuracy": accuracy(correct, scored),
                "scored": scored,
                "correct": correct,
                "report": True,
                "hit_rate": hit_rate(hits, calls),
            }
        )
        rows = report.get("symbols")
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, Mapping) and isinstance(row.get("symbol"), str):
                symbols.setdefault(row["symbol"], _Symbol()).add(row)
        if isinstance(report.get("market_pulse"), Mapping):
            pulse.add(report["market_pulse"])
    rated = [
        (str(s["date"]), float(s["accuracy"])) for s in per_session if s["accuracy"] is not None
    ]
    values = [value for _, value in rated]
    best = max(rated, key=lambda pair: pair[1], default=None)
    worst = min(rated, key=lambda pair: pair[1], default=None)
    measured = [s for s in per_session if s["hit_rate"]["rate"] is not None]
    return {
        "report_type": "weekly",
        "business_date": sunday.isoformat(),
        "week": week_key(sunday),
        "sessions": per_session,
        "sessions_with_reports": sum(s["report"] for s in per_session),
        "scored": total_scored,
        "correct": total_correct,
        "accuracy": accuracy(total_correct, total_scored),
        "hit_rate": hit_rate(total_hits, total_calls),
        "average_session_accuracy": round(sum(values) / len(values), 4) if values else None,
        "best_session": {"date": best[0], "accuracy": best[1]} if best else None,
        "worst_session": {"date": worst[0], "accuracy": worst[1]} if worst else None,
        "best": _extremes(measured, max),
        "worst": _extremes(measured, min),
        "symbols": {name: record.record() for name, record in sorted(symbols.items())},
        "market_pulse": {"symbol": "SPY", **pulse.record()} if pulse.moves or pulse.made else None,
        "trend": trend(values),
        "trend_all": {
            "direction": trend(
                [float(s["hit_rate"]["rate"]) for s in measured], MIN_TREND_SESSIONS
            ),
            "sessions": len(measured),
            "needed": MIN_TREND_SESSIONS,
        },
    }
