"""The OpenAPI document: written out by hand so it says exactly what the server does."""

from __future__ import annotations

from typing import Any

from marketbrief import __version__
from marketbrief.models import ReportType, RunStatus
from marketbrief.results.envelope import ReportState
from marketbrief.web.openapi_plan import SLO_PATH
from marketbrief.web.openapi_usage import usage_path
from marketbrief.web.security import MAX_BODY_BYTES

DATE = {"type": "string", "format": "date", "example": "2026-11-24"}
INSTANT = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = _json(_ref("Error"), "An error")
REPORT_TYPE = {"type": "string", "enum": [t.value for t in ReportType]}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): ERROR for code in codes}


_LIMIT = {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
_ALERT_PARAMETERS = [
    {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["open", "all"]}},
    {"name": "limit", "in": "query", "schema": _LIMIT},
]
_LIST = {"type": "array", "items": {"type": "object"}}
_COUNT = {"type": "integer"}
_ALERTS = {
    "type": "object",
    "required": ["count", "open", "alerts", "channels"],
    "properties": {"count": _COUNT, "open": _COUNT, "alerts": _LIST, "channels": _LIST},
}


def openapi_document() -> dict[str, Any]:
    """The whole document (OpenAPI 3.1)."""
    key: list[dict[str, list[str]]] = [{"apiKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "marketbrief",
            "version": __version__,
            "description": "A portfolio's four daily market moments, kept in SQL, served fast.",
        },
        "paths": {
            "/api/v1/reports/{report_type}": {
                "get": {
                    "summary": "A report, with its honest state",
                    "parameters": [
                        {
                            "name": "report_type",
                            "in": "path",
                            "required": True,
                            "schema": REPORT_TYPE,
                        },
                        {"name": "date", "in": "query", "required": False, "schema": DATE},
                    ],
                    "responses": {
                        "200": _json(_ref("Envelope"), "fresh, stale, partial or pending"),
                        "304": {"description": "Not modified (If-None-Match matched the ETag)"},
                        "400": ERROR,
                        "404": _json(
                            # A report_type holding '/' leaves the route: Starlette's own 404.
                            {"anyOf": [_ref("Envelope"), _ref("Error")]},
                            "missing or failed (the envelope, with an error), or no such route",
                        ),
                        "503": _json(
                            _ref("Envelope"), "unavailable: the store is down and the cache missed"
                        ),
                    },
                }
            },
            "/api/v1/jobs/history": {
                "get": {
                    "summary": "Runs, newest first",
                    "parameters": [
                        {"name": "type", "in": "query", "schema": REPORT_TYPE},
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": [s.value for s in RunStatus]},
                        },
                        {"name": "from", "in": "query", "schema": DATE},
                        {"name": "to", "in": "query", "schema": DATE},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 500,
                                "default": 50,
                            },
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _json(_ref("History"), "One page of runs"),
                        **_errors(400, 503),
                    },
                }
            },
            "/api/v1/jobs/latest": {
                "get": {
                    "summary": "The most recent run",
                    "parameters": [{"name": "type", "in": "query", "schema": REPORT_TYPE}],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {"job": _ref("Job")},
                                "required": ["job"],
                            },
                            "The run",
                        ),
                        **_errors(400, 404, 503),
                    },
                }
            },
            "/api/v1/jobs/{ref}": {
                "get": {
                    "summary": "One run by integer id or run_id",
                    "parameters": [
                        {
                            "name": "ref",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "maxLength": 200},
                        }
                    ],
                    "responses": {
                        "200": _json(
                            _ref("JobDetail"), "The run with stages, predictions, snapshot"
                        ),
                        **_errors(400, 404, 503),
                        "405": _json(_ref("Error"), "`trigger`: that path takes POST only"),
                    },
                }
            },
            "/api/v1/jobs/trigger": {
                "post": {
                    "summary": "Start a run in the background",
                    "security": key,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"type": REPORT_TYPE, "date": DATE},
                                    "required": ["type"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "run_id": {"type": "string"},
                                    "status_url": {"type": "string"},
                                },
                                "required": ["run_id", "status_url"],
                            },
                            "Started",
                        ),
                        **_errors(400, 401, 403, 413, 429, 503),
                    },
                }
            },
            "/api/v1/cache/rehydrate": {
                "post": {
                    "summary": "Put the store's latest reports back in the cache",
                    "security": key,
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "type": REPORT_TYPE,
                                        "date": DATE,
                                        "purge": {"type": "boolean"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "count": {"type": "integer"},
                                    "warmed": {"type": "array", "items": {"type": "object"}},
                                },
                                "required": ["count", "warmed"],
                            },
                            "What was warmed",
                        ),
                        **_errors(400, 401, 403, 413, 503),
                    },
                }
            },
            "/api/v1/schedule": {
                "get": {
                    "summary": "Expected versus actual per session and slot",
                    "parameters": [
                        {
                            "name": "days",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 90,
                                "default": 14,
                            },
                        }
                    ],
                    "responses": {
                        "200": _json({"type": "object"}, "The schedule"),
                        **_errors(400, 503),
                    },
                }
            },
            "/api/v1/alerts": {
                "get": {
                    "summary": "Incidents the service noticed about itself, and its channels",
                    "parameters": _ALERT_PARAMETERS,
                    "responses": {
                        "200": _json(_ALERTS, "Incidents, newest first"),
                        **_errors(400, 503),
                    },
                }
            },
            "/api/v1/slo": SLO_PATH,
            "/api/v1/usage": usage_path(_errors(400, 503)),
            "/healthz": {
                "get": {
                    "summary": "The process is alive",
                    "responses": {"200": _json({"type": "object"}, "Alive")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Store, cache and outbox readiness",
                    "responses": {
                        "200": _json({"type": "object"}, "Ready"),
                        "503": _json(
                            {"type": "object"}, "The store is down or its writes are failing"
                        ),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Exposition text",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                            "required": ["code", "message"],
                        }
                    },
                    "required": ["error"],
                },
                "Envelope": {
                    "type": "object",
                    "properties": {
                        "data": {"type": ["object", "null"]},
                        "meta": {
                            "type": "object",
                            "properties": {
                                "report_type": REPORT_TYPE,
                                "requested_date": {"type": "string", "format": "date"},
                                "business_date": {"type": ["string", "null"], "format": "date"},
                                "state": {
                                    "type": "string",
                                    "enum": [s.value for s in ReportState],
                                },
                                "has_content": {"type": "boolean"},
                                "source": {
                                    "type": ["string", "null"],
                                    "enum": ["cache", "store", "fallback", None],
                                },
                                "age_seconds": {"type": ["integer", "null"]},
                                "generated_at": INSTANT,
                                "run_id": {"type": ["string", "null"]},
                                "snapshot_id": {"type": ["integer", "null"]},
                                "warnings": {"type": "array", "items": {"type": "string"}},
                            },
                            "required": [
                                "report_type",
                                "requested_date",
                                "business_date",
                                "state",
                                "has_content",
                                "source",
                                "age_seconds",
                                "generated_at",
                                "run_id",
                                "snapshot_id",
                                "warnings",
                            ],
                        },
                        "error": {"type": "object"},
                    },
                    "required": ["data", "meta"],
                },
                "Job": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "run_id": {"type": "string"},
                        "job_type": REPORT_TYPE,
                        "status": {"type": "string", "enum": [s.value for s in RunStatus]},
                        "scheduled_date": {"type": "string", "format": "date"},
                        "trigger_source": {"type": "string"},
                        "started_at": INSTANT,
                        "executed_at": INSTANT,
                        "duration_ms": {"type": ["integer", "null"]},
                        "symbols_processed": {"type": "integer"},
                        "symbols_successful": {"type": "integer"},
                        "symbols_failed": {"type": "integer"},
                        "reason": {
                            "type": ["string", "null"],
                            "description": "why a failed or partial run is not a success",
                        },
                    },
                    "required": [
                        "id",
                        "run_id",
                        "job_type",
                        "status",
                        "scheduled_date",
                        "trigger_source",
                        "started_at",
                        "executed_at",
                        "duration_ms",
                        "symbols_processed",
                        "symbols_successful",
                        "symbols_failed",
                    ],
                },
                "History": {
                    "type": "object",
                    "properties": {
                        "count": {"type": "integer"},
                        "jobs": {"type": "array", "items": _ref("Job")},
                        "next_cursor": {"type": ["string", "null"]},
                    },
                    "required": ["count", "jobs", "next_cursor"],
                },
                "JobDetail": {
                    "type": "object",
                    "properties": {
                        "job": _ref("Job"),
                        "stages": {"type": "array"},
                        "predictions": {"type": "array"},
                        "snapshot": {"type": ["object", "null"]},
                    },
                    "required": ["job", "stages", "predictions", "snapshot"],
                },
            },
        },
        "x-max-body-bytes": MAX_BODY_BYTES,
    }
