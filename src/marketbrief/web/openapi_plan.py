"""The OpenAPI description of `GET /api/v1/slo`: the plan's metrics and rollback triggers."""

from __future__ import annotations

from typing import Any

INSTANT = {"type": ["string", "null"], "format": "date-time"}
_STR = {"type": "string"}
_MAYBE_STR = {"type": ["string", "null"]}
_PLAN_METRIC = {
    "type": "object",
    "required": ["name", "title", "target", "value", "absent", "status"],
    "properties": {
        "name": {
            "type": "string",
            "enum": [
                "completeness",
                "history_latency",
                "write_success",
                "blank_answers",
                "dashboard_latency",
                "cache_hit_rate",
                "outbox_age",
            ],
        },
        "title": _STR,
        "target": _STR,
        "value": {"type": ["number", "null"]},
        "shown": _STR,
        "absent": _MAYBE_STR,
        "status": {"type": "string", "enum": ["met", "not met", "not measured", "no target"]},
        "window": {"type": "object"},
        "detail": {"type": "object"},
    },
}
_TRIGGER = {
    "type": "object",
    "required": ["name", "crossed", "summary", "state"],
    "properties": {
        "name": {"type": "string", "enum": ["write_success", "history_p95", "corruption"]},
        "crossed": {"type": ["boolean", "null"]},
        "summary": _STR,
        "state": {"type": "string", "enum": ["crossed", "not crossed", "not measured"]},
    },
}
_PLAN = {
    "type": "object",
    "required": ["generated_at", "process_started_at", "scope", "metrics", "rollback_triggers"],
    "properties": {
        "generated_at": INSTANT,
        "process_started_at": INSTANT,
        "scope": _STR,
        "metrics": {"type": "array", "items": _PLAN_METRIC},
        "rollback_triggers": {"type": "array", "items": _TRIGGER},
    },
}

SLO_PATH: dict[str, Any] = {
    "get": {
        "summary": "The plan's success metrics beside their targets (this process)",
        "description": (
            "Completeness over the last 14 sessions (from the store); latencies, write "
            "success, blank answers and cache hits over the last 24 hours of this process "
            "(each process counts its own). Percentiles are estimated from histogram buckets "
            "as Prometheus' histogram_quantile does."
        ),
        "responses": {
            "200": {
                "description": "Every metric, and the rollback triggers",
                "content": {"application/json": {"schema": _PLAN}},
            }
        },
    }
}
