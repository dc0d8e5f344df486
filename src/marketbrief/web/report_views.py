"""What each report page shows of its payload, read defensively (see `shapes`).

One function per report type turns the API's dict into rows a template prints without
deciding anything. Payloads written before a key existed (or imported from the old system)
still render: a missing number is None (shown as a dash), a missing "k of n" is computed
from what the payload has or left absent, and a headline that is only a title keeps its title.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marketbrief.web.shapes import fraction, number

View = dict[str, Any]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    symbols = body.get("symbols") or body.get("predictions") or []
    if isinstance(symbols, dict):
        return [{"symbol": n, **r} for n, r in symbols.items() if isinstance(r, dict)]
    return [r for r in symbols if isinstance(r, dict)] if isinstance(symbols, list) else []


def headline(value: Any) -> dict[str, str | None] | None:
    """A headline as title, source, time and link; the link only when it is http(s)."""
    if isinstance(value, str):
        return {"title": value, "source": None, "published_at": None, "url": None}
    if not isinstance(value, dict) or not _text(value.get("title")):
        return None
    url = _text(value.get("url"))
    return {
        "title": str(value["title"]),
        "source": _text(value.get("source")),
        "published_at": _text(value.get("published_at")),
        "url": url if url and url.startswith(("https://", "http://")) else None,
    }


def call(row: dict[str, Any]) -> View:
    """One symbol's call: direction, confidence, score, articles and the headlines used."""
    listed = row.get("headlines")
    found = [h for h in map(headline, listed if isinstance(listed, list) else []) if h]
    return {
        "symbol": str(row.get("symbol", "")),
        "direction": _text(row.get("direction")) or "",
        "confidence": number(row.get("confidence")),
        "sentiment_score": number(row.get("sentiment_score")),
        "articles_count": _count(row.get("articles_count")),
        "high_confidence": row.get("high_confidence") is True,
        "status": _text(row.get("status")),
        "error": _text(row.get("error")),
        "headlines": found,
    }


def k_of_n(value: Any) -> View | None:
    """`{"hits", "calls", "rate"}` when the payload holds counts, else None."""
    body = _dict(value)
    hits, calls = _count(body.get("hits")), _count(body.get("calls"))
    if hits is None or calls is None:
        return None
    return {"hits": hits, "calls": calls, "rate": fraction(body.get("rate"))}


def pre_market(body: dict[str, Any]) -> View:
    pulse = body.get("market_pulse")
    return {
        "calls": [call(r) for r in _rows(body)],
        "pulse": call(pulse) if isinstance(pulse, dict) else None,
        "counts": _dict(body.get("counts")),
        "threshold": number(body.get("high_confidence_threshold")),
        "window": _dict(body.get("news_window")),
    }


def intraday(body: dict[str, Any]) -> View:
    rows = []
    for row in _rows(body):
        morning = row.get("pre_market")
        rows.append(
            {
                **call(row),
                "morning": call({**morning, "symbol": row.get("symbol")})
                if isinstance(morning, dict)
                else None,
                "verdict": _text(row.get("verdict")) or "",
                "changed": row.get("changed") is True,
                "confidence_change": number(row.get("confidence_change")),
            }
        )
    return {
        "rows": rows,
        "changes": [c for c in body.get("changes") or [] if isinstance(c, dict)]
        if isinstance(body.get("changes"), list)
        else [],
        "consistency": _dict(body.get("consistency")),
        "note": _text(body.get("note")),
        "partial_reason": _text(body.get("partial_reason")),
        "window": _dict(body.get("news_window")),
    }


def _judged(row: dict[str, Any]) -> View:
    result = _text(row.get("result"))
    if result is None:  # a payload from before `result`: its high-confidence outcome
        outcome = row.get("outcome")
        result = {"correct": "right", "wrong": "wrong"}.get(str(outcome), "unscored")
    return {
        **call(row),
        "previous_close": number(row.get("previous_close")),
        "close": number(row.get("close")),
        "change_pct": number(row.get("change_pct")),
        "result": result,
        "why": _text(row.get("why")) or ("pending" if row.get("outcome") == "pending" else None),
    }


def end_of_day(body: dict[str, Any]) -> View:
    rate = _dict(body.get("hit_rate"))
    high = k_of_n(rate.get("high_confidence"))
    if high is None and _count(body.get("scored")) is not None:
        scored, correct = _count(body.get("scored")) or 0, _count(body.get("correct")) or 0
        high = {"hits": correct, "calls": scored, "rate": fraction(body.get("accuracy"))}
    pulse = body.get("market_pulse")
    movers = body.get("top_movers")
    return {
        "rows": [_judged(r) for r in _rows(body)],
        "all": k_of_n(rate.get("all")),
        "high": high,
        "threshold": number(body.get("confidence_threshold")),
        "unscored": {k: v for k, v in _dict(body.get("unscored")).items() if _count(v)},
        "pulse": _judged(pulse) if isinstance(pulse, dict) else None,
        "movers": [_judged(m) for m in movers if isinstance(m, dict)]
        if isinstance(movers, list)
        else [],
    }


def weekly(body: dict[str, Any]) -> View:
    sessions = body.get("sessions")
    symbols = body.get("symbols")
    trend = _dict(body.get("trend_all"))
    return {
        "sessions": [
            {
                "date": str(s.get("date", "")),
                "report": s.get("report") is not False,
                "rate": k_of_n(s.get("hit_rate")),
            }
            for s in (sessions if isinstance(sessions, list) else [])
            if isinstance(s, dict)
        ],
        "symbols": [
            {
                "symbol": name,
                "return_pct": number(r.get("return_pct")),
                "calls_made": _count(r.get("calls_made")),
                "rate": k_of_n(r),
            }
            for name, r in (symbols.items() if isinstance(symbols, dict) else [])
            if isinstance(r, dict)
        ],
        "total": k_of_n(body.get("hit_rate")),
        "best": _extreme(body.get("best")),
        "worst": _extreme(body.get("worst")),
        "trend": {
            "direction": _text(trend.get("direction")),
            "sessions": _count(trend.get("sessions")),
            "needed": _count(trend.get("needed")),
        },
        "pulse": _dict(body.get("market_pulse")) or None,
    }


def _extreme(value: Any) -> View | None:
    body = _dict(value)
    dates = body.get("dates")
    if not isinstance(dates, list) or not dates:
        return None
    return {"rate": fraction(body.get("rate")), "dates": [str(d) for d in dates]}


VIEWS: dict[str, Callable[[dict[str, Any]], View]] = {
    "pre-market": pre_market,
    "intraday": intraday,
    "end-of-day": end_of_day,
    "weekly": weekly,
}


def report_page_view(report_type: str, data: Any) -> View | None:
    """The view of one report type's payload; None for a payload that is not an object."""
    if not isinstance(data, dict):
        return None
    return VIEWS[report_type](data) if report_type in VIEWS else None
