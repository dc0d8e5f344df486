"""The OpenAPI description of `GET /api/v1/usage`: the store's size, activity and growth."""

from __future__ import annotations

from typing import Any

from marketbrief.results.usage import DEFAULT_USAGE_DAYS, MAX_USAGE_DAYS

_INT = {"type": "integer"}
_STR = {"type": "string"}
_DAY = {"type": "string", "format": "date"}
_TOTALS = {
    "type": "object",
    "required": ["queries", "rows_read", "rows_written"],
    "properties": {"queries": _INT, "rows_read": _INT, "rows_written": _INT},
}
_TABLE = {
    "type": "object",
    "required": ["table", "rows", "bytes"],
    "properties": {"table": _STR, "rows": _INT, "bytes": _INT},
}
_DAY_ROW = {
    "type": "object",
    "required": ["day", "runs", "snapshots", "queries", "rows_read", "rows_written"],
    "properties": {
        "day": _DAY,
        "runs": _INT,
        "snapshots": _INT,
        "queries": _INT,
        "rows_read": _INT,
        "rows_written": _INT,
    },
}
_GROWTH = {
    "type": "object",
    "required": ["method", "measured"],
    "properties": {
        "method": _STR,
        "measured": {"type": "boolean"},
        "why": _STR,
        "rows_per_day": {"type": "number"},
        "bytes_per_day": _INT,
        "in_a_year": {
            "type": "object",
            "required": ["rows", "bytes"],
            "properties": {"rows": _INT, "bytes": _INT},
        },
    },
}
USAGE = {
    "type": "object",
    "required": [
        "measured_at",
        "days",
        "from",
        "to",
        "day_basis",
        "tables",
        "total",
        "rows_method",
        "bytes_method",
        "database_bytes",
        "per_day",
        "counters",
        "growth",
    ],
    "properties": {
        "measured_at": {"type": "string", "format": "date-time"},
        "days": _INT,
        "from": _DAY,
        "to": _DAY,
        "day_basis": _STR,
        "tables": {"type": "array", "items": _TABLE},
        "total": {
            "type": "object",
            "required": ["rows", "bytes"],
            "properties": {"rows": _INT, "bytes": _INT},
        },
        "rows_method": _STR,
        "bytes_method": _STR,
        "database_bytes": {"type": ["integer", "null"]},
        "per_day": {"type": "array", "items": _DAY_ROW},
        "counters": {
            "type": "object",
            "required": ["source", "unflushed_here"],
            "properties": {"source": _STR, "unflushed_here": _TOTALS},
        },
        "growth": _GROWTH,
    },
}


def usage_path(errors: dict[str, Any]) -> dict[str, Any]:
    """The path item, with the error responses the main document spells."""
    return {
        "get": {
            "summary": "Rows and bytes per table, runs and store usage per day, growth",
            "description": (
                "Sizes now (how each was measured is in rows_method and bytes_method), runs, "
                "snapshots, store queries and rows read and written per UTC day (counted by "
                "every process at the store's edge, added to the store each minute and when "
                "a process ends), and the growth rate projected a year ahead."
            ),
            "parameters": [
                {
                    "name": "days",
                    "in": "query",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_USAGE_DAYS,
                        "default": DEFAULT_USAGE_DAYS,
                    },
                }
            ],
            "responses": {
                "200": {
                    "description": "The store's usage",
                    "content": {"application/json": {"schema": USAGE}},
                },
                **errors,
            },
        }
    }
