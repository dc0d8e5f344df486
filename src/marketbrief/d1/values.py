"""The old (Cloudflare D1) system's values and what they mean here; pure, no I/O.

Two kinds of "cannot read", kept apart. A name outside the old vocabularies (a report type, a
status, a stage, a direction) maps to None: the importer skips its row with the reason, since
marketbrief has no place for it. A value that is there but is not what its column holds (a
count `"many"`, a time `"yesterday"`, a date `"someday"`, a number beyond every range) raises
ValueError: the importer refuses the dump naming the row, and nothing is guessed or dropped.
Absent values (NULL, empty text) are None. Names are compared case-insensitively with `_`,
spaces and `-` treated alike, so `END_OF_DAY`, `end of day` and `end-of-day` all match.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

import orjson

from marketbrief.models import (
    Direction,
    PredictionStatus,
    ReportType,
    RunStatus,
    Stage,
    StageStatus,
    TriggerSource,
)
from marketbrief.ops.columns import shown

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EPOCH_MS_ABOVE = 100_000_000_000  # larger numbers are epoch milliseconds, not seconds


def _norm(value: Any) -> str:
    return re.sub(r"[\s_\-]+", "-", str(value).strip().lower())


def _table(mapping: dict[Any, tuple[str, ...]]) -> dict[str, Any]:
    return {_norm(alias): target for target, aliases in mapping.items() for alias in aliases}


REPORT_TYPES = _table(
    {
        ReportType.PRE_MARKET: (
            "pre-market", "premarket", "pre-market-briefing", "pre-market-analysis",
            "morning", "morning-briefing",
        ),
        ReportType.INTRADAY: (
            "intraday", "intraday-check", "intraday-update", "midday", "midday-validation",
            "midday-check",
        ),
        ReportType.END_OF_DAY: (
            "end-of-day", "endofday", "eod", "end-of-day-summary", "daily-validation",
            "evening", "close", "market-close",
        ),
        ReportType.WEEKLY: ("weekly", "weekly-review", "weekly-analysis", "weekly-report"),
    }
)  # fmt: skip

# Payload types the old system kept in the same tables for other things: never a report here.
# (`morning_predictions` rows tracked the morning's calls for the evening's scoring; they are
# neither a pre-market report nor any other marketbrief report.)
OTHER_PAYLOADS = frozenset(
    _norm(name)
    for name in (
        "morning-predictions", "morning-prediction", "prediction-tracking", "predictions",
        "tracking", "signal-tracking",
    )
)  # fmt: skip

# What started an old run, in marketbrief's words. GitHub Actions called the Worker's HTTP API
# on its own timetable: an outside caller of the API, so `api` (it claims no slot).
TRIGGERS = _table(
    {
        TriggerSource.SCHEDULE: ("cron", "scheduled", "schedule", "scheduler", "cloudflare-cron",
                                 "worker-cron", "cron-trigger", "scheduled-event"),
        TriggerSource.CATCH_UP: ("catch-up", "catchup", "recovery", "missed"),
        TriggerSource.MANUAL: ("manual", "manual-trigger", "dashboard", "user", "cli", "admin",
                               "button"),
        TriggerSource.API: ("api", "http", "webhook", "external", "github-actions", "github",
                            "gh-actions", "actions", "github-workflow", "workflow"),
        TriggerSource.BACKFILL: ("backfill", "rerun", "re-run", "replay"),
    }
)  # fmt: skip

# The values an old prediction row held in its direction or sentiment when its analysis failed.
FAILED_SIGNALS = frozenset(
    _norm(name)
    for name in ("failed", "failure", "error", "errored", "skip", "skipped", "none", "null",
                 "n/a", "na", "unknown", "timeout")
)  # fmt: skip

RUN_STATUSES = _table(
    {
        RunStatus.SUCCESS: ("success", "succeeded", "successful", "completed", "complete", "done",
                            "ok"),
        RunStatus.PARTIAL: ("partial", "partial-success", "partially-completed", "degraded",
                            "completed-with-errors"),
        RunStatus.FAILED: ("failed", "failure", "error", "errored", "timeout", "timed-out",
                           "cancelled", "canceled", "aborted"),
        # A run still open when the old system was exported will never finish: it failed.
        RunStatus.RUNNING: ("running", "in-progress", "started", "pending", "queued"),
    }
)  # fmt: skip

STAGES = _table(
    {
        Stage.INIT: ("init", "initialize", "initialization", "start", "setup"),
        Stage.DATA_FETCH: ("data-fetch", "fetch", "data-collection", "news-fetch", "fetch-news",
                           "data"),
        Stage.ANALYSIS: ("analysis", "sentiment-analysis", "ai-analysis", "analyze", "sentiment"),
        Stage.STORAGE: ("storage", "store", "persist", "save", "write", "kv-write", "d1-write"),
        Stage.FINALIZE: ("finalize", "finalise", "finalization", "complete", "completion",
                         "finish", "done", "report"),
    }
)  # fmt: skip

STAGE_STATUSES = _table(
    {
        StageStatus.SUCCESS: ("success", "succeeded", "completed", "complete", "done", "ok"),
        StageStatus.FAILED: ("failed", "failure", "error", "errored", "timeout"),
        StageStatus.SKIPPED: ("skipped", "skip", "not-run"),
        StageStatus.RUNNING: ("running", "started", "in-progress", "pending"),
    }
)  # fmt: skip

DIRECTIONS = _table(
    {
        Direction.UP: ("up", "bullish", "buy", "positive", "long", "higher", "rise"),
        Direction.DOWN: ("down", "bearish", "sell", "negative", "short", "lower", "fall"),
        Direction.NEUTRAL: ("neutral", "flat", "hold", "sideways", "mixed", "unchanged"),
    }
)  # fmt: skip

PREDICTION_STATUSES = _table(
    {
        PredictionStatus.SUCCESS: ("success", "completed", "complete", "ok", "done"),
        PredictionStatus.FAILED: ("failed", "failure", "error", "errored"),
        PredictionStatus.SKIPPED: ("skipped", "skip", "no-data", "no-news"),
    }
)  # fmt: skip


def report_type(value: Any) -> ReportType | None:
    """The report type an old job or report type name means."""
    return REPORT_TYPES.get(_norm(value)) if value is not None else None


def other_payload(value: Any) -> bool:
    """Whether an old report type names one of the old system's other payloads."""
    return value is not None and _norm(value) in OTHER_PAYLOADS


def trigger(value: Any) -> TriggerSource | None:
    """The trigger source an old trigger means (None when unknown or absent)."""
    return TRIGGERS.get(_norm(value)) if value is not None else None


def failed_signal(value: Any) -> bool:
    """Whether an old direction or sentiment value says the analysis failed."""
    return value is not None and _norm(value) in FAILED_SIGNALS


def run_status(value: Any) -> RunStatus | None:
    """The run status an old status means (RUNNING for runs that never finished)."""
    return RUN_STATUSES.get(_norm(value)) if value is not None else None


def stage(value: Any) -> Stage | None:
    """The stage an old stage name means."""
    return STAGES.get(_norm(value)) if value is not None else None


def stage_status(value: Any) -> StageStatus | None:
    """The stage status an old stage status means."""
    return STAGE_STATUSES.get(_norm(value)) if value is not None else None


def direction(value: Any) -> Direction | None:
    """The direction an old direction (or sentiment label) means."""
    return DIRECTIONS.get(_norm(value)) if value is not None else None


def prediction_status(value: Any) -> PredictionStatus | None:
    """The prediction status an old status means."""
    return PREDICTION_STATUSES.get(_norm(value)) if value is not None else None


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def instant(value: Any) -> datetime | None:
    """An aware UTC instant from `2026-01-09T12:30:05.123Z`, `2026-01-09 12:30:05` (UTC), epoch."""
    if _absent(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a time")
        seconds = value / 1000 if abs(value) >= _EPOCH_MS_ABOVE else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} is not a time between the years 1 and 9999") from None
    text = value.strip() if isinstance(value, str) else None
    if text is None:
        raise ValueError(f"{value!r} is not a time")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
        # The old system wrote naive timestamps in UTC (SQLite's CURRENT_TIMESTAMP).
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        raise ValueError(f"{shown(value)} is not a time (ISO 8601, years 1 to 9999)") from None
    except OverflowError:
        raise ValueError(f"{shown(value)} falls outside the years 1 to 9999 in UTC") from None


def day(value: Any) -> date | None:
    """A business date from `YYYY-MM-DD` (a longer timestamp keeps its own date part, unshifted)."""
    if _absent(value):
        return None
    text = str(value).strip()
    if _DATE.match(text):
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            pass
    raise ValueError(f"{shown(value)} is not a date (YYYY-MM-DD, years 1 to 9999)")


def number(value: Any) -> float | None:
    """A finite float from a number or numeric text."""
    if _absent(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{shown(value)} is not a number")
    try:
        result = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{shown(value)} is not a number") from None
    if not math.isfinite(result):
        raise ValueError(f"{shown(value)} is not a finite number")
    return result


def whole(value: Any) -> int | None:
    """A whole number from a number or numeric text (a fraction is rounded)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    result = number(value)
    return round(result) if result is not None else None


def text(value: Any, limit: int | None = None) -> str | None:
    """Text of at most `limit` characters (numbers as written, UTF-8 blobs decoded)."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("is a blob that is not UTF-8 text") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if _absent(value):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{shown(value)} is not text")
    result = value.strip()
    if limit is not None and len(result) > limit:
        raise ValueError(f"{shown(result)} is longer than {limit} characters")
    return result


def json_value(value: Any) -> tuple[Any, bool]:
    """(parsed JSON, True) from JSON text; (the text itself, False) when it is not JSON."""
    if value is None:
        return None, True
    if not isinstance(value, str | bytes):
        return value, True
    try:
        return orjson.loads(value), True
    except orjson.JSONDecodeError:
        return value, False


def json_list(value: Any) -> list[Any]:
    """A JSON array column as a list: null is empty, a lone value or non-JSON text is wrapped."""
    parsed, _ = json_value(value)
    if parsed is None or parsed == "":
        return []
    return parsed if isinstance(parsed, list) else [parsed]


def json_object(value: Any, key: str = "value") -> dict[str, Any]:
    """A JSON object column as a dict: null is empty, anything else is wrapped under `key`."""
    parsed, _ = json_value(value)
    if parsed is None or parsed == "":
        return {}
    return parsed if isinstance(parsed, dict) else {key: parsed}
