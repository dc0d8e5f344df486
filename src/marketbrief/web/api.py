"""The JSON API under /api/v1: thin handlers over the results door and the runner."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from marketbrief.calendar import parse_date
from marketbrief.errors import InvalidInput, NotFound
from marketbrief.models import ReportType, RunStatus, TriggerSource
from marketbrief.results import records
from marketbrief.results.usage import DEFAULT_USAGE_DAYS, MAX_USAGE_DAYS
from marketbrief.services import Services
from marketbrief.store.base import MAX_HISTORY_LIMIT, MAX_RUN_REF, HistoryQuery
from marketbrief.web.metrics import Metrics
from marketbrief.web.replies import reply_of
from marketbrief.web.security import MAX_BODY_BYTES, PayloadTooLarge, check_api_key


class JSON(Response):
    """A JSON response encoded with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


HISTORY_LIMITS = (1, MAX_HISTORY_LIMIT)  # the history page sizes one may ask for


def services(request: Request) -> Services:
    """The process's services, opened by the app's lifespan."""
    return services_of(request.app)


def services_of(app: Any) -> Services:
    """The services the app's lifespan opened."""
    found: Services = app.state.services
    return found


def _query_date(request: Request, name: str) -> date | None:
    value = request.query_params.get(name)
    return parse_date(value) if value else None


def _query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}")
    return value


async def get_report(request: Request) -> Response:
    """The read path's envelope, with an ETag from the snapshot's hash."""
    kind = ReportType.parse(request.path_params["report_type"])
    status, headers, body = await report_reply(
        services(request),
        request.app.state.metrics,
        kind,
        _query_date(request, "date"),
        request.headers.get("if-none-match"),
    )
    if status == 304:
        return Response(status_code=304, headers=headers)
    return Response(body, status, headers=headers, media_type="application/json")


async def report_reply(
    svc: Services,
    metrics: Metrics,
    kind: ReportType,
    day: date | None,
    if_none_match: str | None,
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of `GET /api/v1/reports/{kind}?date=day`: the route's whole
    answer (the fast path, `web/fastpath.py`, gives the same through `reply_of`)."""
    response = await svc.results.get_report(kind, day)
    status, headers, body = reply_of(response, svc.now(), if_none_match)
    if status != 304:
        metrics.answered("api", status, response)
    return status, headers, body


async def job_history(request: Request) -> Response:
    """Runs newest first, filtered and paged by cursor."""
    params = request.query_params
    kind = params.get("type")
    status = params.get("status")
    try:
        run_status = RunStatus(status) if status else None
    except ValueError:
        raise InvalidInput(f"unknown status {status!r}") from None
    query = HistoryQuery(
        report_type=ReportType.parse(kind) if kind else None,
        status=run_status,
        date_from=_query_date(request, "from"),
        date_to=_query_date(request, "to"),
        limit=_query_int(request, "limit", 50, *HISTORY_LIMITS),
        cursor=params.get("cursor") or None,
    )
    body = await services(request).results.history(query)
    return Response(body, media_type="application/json")


async def latest_job(request: Request) -> Response:
    """The most recently started run, optionally of one type."""
    kind = request.query_params.get("type")
    run = await services(request).results.latest_run(ReportType.parse(kind) if kind else None)
    if run is None:
        raise NotFound("no runs yet" + (f" of type {kind}" if kind else ""))
    return JSON({"job": records.job(run)})


async def job_detail(request: Request) -> Response:
    """One run by integer id or run_id, with stages, predictions and snapshot."""
    ref = request.path_params["ref"]
    if ref == "trigger":  # POST /jobs/trigger's path, asked with another method
        raise HTTPException(405, headers={"Allow": "POST"})
    if len(ref) > MAX_RUN_REF:
        raise InvalidInput("job reference too long")
    detail = await services(request).results.run(ref)
    if detail is None:
        raise NotFound(f"no job {ref!r}")
    return JSON(records.run_detail(detail))


async def _json_body(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body over {MAX_BODY_BYTES} bytes")
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise PayloadTooLarge(f"request body over {MAX_BODY_BYTES} bytes")
    except ClientDisconnect:  # the client hung up mid-body: its mistake, not a server error
        raise InvalidInput("the client closed the connection before sending its body") from None
    if not body.strip():
        return {}
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput("request body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("request body must be a JSON object")
    return parsed


def _authorize(request: Request) -> None:
    check_api_key(services(request).settings.api_key, request.headers.get("x-api-key"))


def _body_date(body: dict[str, Any]) -> date | None:
    value = body.get("date")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("date must be a YYYY-MM-DD string")
    return parse_date(value)


async def trigger_job(request: Request) -> Response:
    """Start a run in the background; 202 with where to watch it."""
    _authorize(request)
    svc = services(request)
    await request.app.state.trigger_limit.take()
    body = await _json_body(request)
    kind = body.get("type")
    if not isinstance(kind, str):
        raise InvalidInput('body must name the report type: {"type": "pre-market"}')
    run_id = await svc.runner.start(ReportType.parse(kind), _body_date(body), TriggerSource.API)
    return JSON(
        {"run_id": run_id, "status_url": f"/api/v1/jobs/{run_id}"},
        status_code=202,
        headers={"Location": f"/api/v1/jobs/{run_id}"},
    )


async def rehydrate_cache(request: Request) -> Response:
    """Replace cached reports with the store's (purging poisoned entries)."""
    _authorize(request)
    body = await _json_body(request)
    kind = body.get("type")
    if kind is not None and not isinstance(kind, str):
        raise InvalidInput("type must be a string")
    purge = body.get("purge", False)
    if not isinstance(purge, bool):
        raise InvalidInput("purge must be true or false")
    warmed = await services(request).results.rehydrate(
        ReportType.parse(kind) if kind else None, _body_date(body), purge=purge
    )
    return JSON({"count": len(warmed), "warmed": [w.as_dict() for w in warmed]})


async def schedule(request: Request) -> Response:
    """Expected versus actual for each session and slot."""
    days = _query_int(request, "days", 14, 1, 90)
    return JSON(await services(request).results.schedule(days))


ALERT_STATES = ("open", "all")


async def alerts(request: Request) -> Response:
    """The incidents the service noticed about itself, newest first, and its channels."""
    state = request.query_params.get("state") or "all"
    if state not in ALERT_STATES:
        raise InvalidInput(f"state must be one of {', '.join(ALERT_STATES)}")
    limit = _query_int(request, "limit", 50, 1, 500)
    svc = services(request)
    found = await svc.alerts.incidents(open_only=state == "open", limit=limit)
    return JSON(
        {
            "count": len(found),
            "open": sum(1 for i in found if i["state"] == "open"),
            "alerts": found,
            "channels": svc.alerts.channel_records(),
        }
    )


async def slo(request: Request) -> Response:
    """The migration plan's success metrics beside their targets, and its rollback triggers
    (this process's counters over the window; completeness from the store)."""
    return JSON(await request.app.state.plan.report())


async def usage(request: Request) -> Response:
    """Rows and bytes per table, runs and store usage per UTC day, growth a year ahead."""
    days = _query_int(request, "days", DEFAULT_USAGE_DAYS, 1, MAX_USAGE_DAYS)
    return JSON(await services(request).results.usage(days))


async def healthz(request: Request) -> Response:
    """The process is alive."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Store, cache and outbox: 503 when the store is down or its writes are failing."""
    report = await services(request).results.readiness()
    return JSON(report, status_code=200 if report["ready"] else 503)
