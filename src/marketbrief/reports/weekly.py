"""The weekly review: the week's end-of-day results, session by session and symbol by symbol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from marketbrief.calendar import week_key
from marketbrief.reports.endofday import accuracy

TREND_THRESHOLD = 0.05


def trend(values: Sequence[float]) -> str:
    """improving | declining | steady from the least-squares slope; insufficient below 2 points."""
    if len(values) < 2:
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


def build_weekly(
    sunday: date,
    sessions: Sequence[date],
    end_of_day: Mapping[date, Mapping[str, Any] | None],
) -> dict[str, Any]:
    """The weekly payload from each session's end-of-day payload (None where there is none)."""
    per_session: list[dict[str, Any]] = []
    symbols: dict[str, dict[str, int]] = {}
    total_scored = total_correct = 0
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
                }
            )
            continue
        scored, correct = int(report.get("scored", 0)), int(report.get("correct", 0))
        total_scored += scored
        total_correct += correct
        per_session.append(
            {
                "date": session.isoformat(),
                "accuracy": accuracy(correct, scored),
                "scored": scored,
                "correct": correct,
                "report": True,
            }
        )
        for row in report.get("symbols", []):
            record = symbols.setdefault(row["symbol"], {"correct": 0, "wrong": 0, "pending": 0})
            if row.get("outcome") in record:
                record[row["outcome"]] += 1
    rated = [
        (str(s["date"]), float(s["accuracy"])) for s in per_session if s["accuracy"] is not None
    ]
    values = [value for _, value in rated]
    best = max(rated, key=lambda pair: pair[1], default=None)
    worst = min(rated, key=lambda pair: pair[1], default=None)
    return {
        "report_type": "weekly",
        "business_date": sunday.isoformat(),
        "week": week_key(sunday),
        "sessions": per_session,
        "sessions_with_reports": sum(s["report"] for s in per_session),
        "scored": total_scored,
        "correct": total_correct,
        "accuracy": accuracy(total_correct, total_scored),
        "average_session_accuracy": round(sum(values) / len(values), 4) if values else None,
        "best_session": {"date": best[0], "accuracy": best[1]} if best else None,
        "worst_session": {"date": worst[0], "accuracy": worst[1]} if worst else None,
        "symbols": {
            name: {
                **record,
                "accuracy": accuracy(record["correct"], record["correct"] + record["wrong"]),
            }
            for name, record in sorted(symbols.items())
        },
        "trend": trend(values),
    }
