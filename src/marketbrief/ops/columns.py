"""What each stored column may hold, checked before a bulk write (restore, import).

The database's own constraints catch some of this; the readers need more: a run's `errors` is a
list, a report's content is JSON text, a count is a whole number that fits in 64 bits. A value
that breaks these rules is refused with its table and column named, before anything is written.
"""

from __future__ import annotations

import enum
import math
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


def check_value(table: sa.Table, column: sa.Column[Any], value: Any) -> None:
    """Raise ValueError naming the column when `value` is not what readers can read."""
    if value is None:
        return
    where = (str(table.name), str(column.name))
    kind = column.type
    if isinstance(kind, sa.Integer):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{column.name} must be a whole number, not {value!r}")
        if not INT64[0] <= value <= INT64[1]:
            raise ValueError(f"{column.name} {value} does not fit in 64 bits")
        if where in VERSIONS and not 0 <= value <= MAX_VERSION:
            raise ValueError(f"{column.name} {value} is not a report version (0 to 2**62)")
    elif isinstance(kind, sa.Float):
        if not math.isfinite(float(value)):
            raise ValueError(f"{column.name} must be a finite number, not {value!r}")
    elif isinstance(kind, sa.String):
        if not isinstance(value, str):
            raise ValueError(f"{column.name} must be text, not {value!r}")
        if kind.length is not None and len(value) > kind.length:
            raise ValueError(f"{column.name} is longer than {kind.length} characters")
    choices = CHOICES.get(where)
    if choices is not None and value not in {c.value for c in choices}:
        raise ValueError(f"{column.name} {value!r} is not one of {[c.value for c in choices]}")
    shape = SHAPES.get(where)
    if shape is not None and not isinstance(value, shape):
        raise ValueError(f"{column.name} must be a JSON {shape.__name__}, not {value!r}")
    if where in JSON_TEXT:
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ValueError(f"{column.name} is not JSON text") from None
