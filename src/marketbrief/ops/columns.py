"""What each stored column may hold, checked before a bulk write (restore, import, import-d1).

The database's own constraints catch some of this; the readers need more: a run's `errors` is a
list, a report's content is JSON text, a count is a whole number that fits in 64 bits, an
instant can be shown in any time zone, a JSON column holds only what JSON (and orjson, which
answers every request) can carry. A value that breaks these rules is refused with its column
named, before anything is written; the callers add the table and the row.
"""

from __future__ import annotations

import enum
import math
from datetime import UTC, date, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from marketbrief.models import (
    Direction,
    PredictionStatus,
    ReportType,
    RunStatus,
    Stage,
    StageStatus,
    TriggerSource,
)
from marketbrief.reports import payload
from marketbrief.store.schema import UTCDateTime

INT64 = (-(2**63), 2**63 - 1)
# Report versions: the store issues versions above every restored one, so a version must leave
# room for the versions issued after it (a crafted 2**63 - 1 would stop every later claim).
VERSIONS = {
    ("job_executions", "version"),
    ("scheduled_job_results", "version"),
    ("report_latest", "version"),
}
MAX_VERSION = 2**62
CHOICES: dict[tuple[str, str], type[enum.Enum]] = {
    ("job_executions", "job_type"): ReportType,
    ("job_executions", "status"): RunStatus,
    ("job_executions", "trigger_source"): TriggerSource,
    ("job_stages", "stage"): Stage,
    ("job_stages", "status"): StageStatus,
    ("scheduled_job_results", "report_type"): ReportType,
    ("scheduled_job_results", "trigger_source"): TriggerSource,
    ("report_latest", "report_type"): ReportType,
    ("symbol_predictions", "report_type"): ReportType,
    ("symbol_predictions", "direction"): Direction,
    ("symbol_predictions", "status"): PredictionStatus,
}
SHAPES: dict[tuple[str, str], type] = {
    ("job_executions", "errors"): list,
    ("job_executions", "warnings"): list,
    ("job_stages", "details"): dict,
    ("scheduled_job_results", "metadata"): dict,
    ("symbol_predictions", "headlines"): list,
    ("daily_analysis", "summary"): dict,
}
JSON_TEXT = {("scheduled_job_results", "report_content")}
# Instants a day inside the datetime range, so that every time zone can show them.
INSTANTS = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))


def check_value(table: sa.Table, column: sa.Column[Any], value: Any) -> None:
    """Raise ValueError naming the column when `value` is not what readers can read."""
    if value is None:
        return
    where = (str(table.name), str(column.name))
    name, kind = column.name, column.type
    if isinstance(kind, UTCDateTime):
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"{name} must be an aware instant, not {shown(value)}")
        if not INSTANTS[0] <= value <= INSTANTS[1]:
            raise ValueError(
                f"{name} {value.isoformat()} is outside 0001-01-02 to 9999-12-30 (UTC), the "
                "instants every time zone can show"
            )
    elif isinstance(kind, sa.Date):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise ValueError(f"{name} must be a date, not {shown(value)}")
    elif isinstance(kind, sa.Integer):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number, not {shown(value)}")
        if not INT64[0] <= value <= INT64[1]:
            raise ValueError(f"{name} {shown(value)} does not fit in 64 bits")
        if where in VERSIONS and not 0 <= value <= MAX_VERSION:
            raise ValueError(f"{name} {value} is not a report version (0 to 2**62)")
    elif isinstance(kind, sa.Float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number, not {shown(value)}")
        if not math.isfinite(float(value)):
            raise ValueError(f"{name} must be a finite number, not {value!r}")
    elif isinstance(kind, sa.String):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be text, not {shown(value)}")
        if kind.length is not None and len(value) > kind.length:
            raise ValueError(f"{name} is longer than {kind.length} characters")
        _utf8(name, value)
    elif isinstance(kind, sa.JSON):
        _json(name, value)
    choices = CHOICES.get(where)
    if choices is not None and value not in {c.value for c in choices}:
        raise ValueError(f"{name} {value!r} is not one of {[c.value for c in choices]}")
    shape = SHAPES.get(where)
    if shape is not None and not isinstance(value, shape):
        raise ValueError(f"{name} must be a JSON {shape.__name__}, not {shown(value)}")
    if where in JSON_TEXT and not payload.readable(value):
        raise ValueError(f"{name} is not JSON text")


def _utf8(name: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} holds a lone surrogate, which is not text") from None


def _json(name: str, value: Any) -> None:
    """JSON that orjson can write (64-bit integers, text keys, UTF-8) with finite numbers."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError as error:
        raise ValueError(f"{name} cannot be stored as JSON ({error})") from None
    if _non_finite(value):
        raise ValueError(f"{name} holds a number JSON cannot carry (NaN or infinity)")


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    return False


def shown(value: Any) -> str:
    """A value as a message shows it: its repr, cut to a readable length."""
    shown = repr(value)
    return shown if len(shown) <= 60 else f"{shown[:57]}..."
