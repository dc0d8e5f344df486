"""Server-rendered pages: each builds one context dict from the same data the API returns."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from marketbrief.calendar import MarketCalendar, parse_date
from marketbrief.errors import InvalidInput, MarketbriefError, StoreError
from marketbrief.models import ReportType, RunStatus
from marketbrief.reports.payload import parsed
from marketbrief.results import records
from marketbrief.results.envelope import ReportResponse
from marketbrief.results.usage import DEFAULT_USAGE_DAYS
from marketbrief.store.base import HistoryQuery
from marketbrief.web import shapes
from marketbrief.web.api import services
from marketbrief.web.replies import REPORT_STATUS
from marketbrief.web.report_views import report_page_view
from marketbrief.web.templating import render, render_text
from marketbrief.web.trend import chart

TREND_SESSIONS = 30


async def index(request: Request) -> Response:
    """Today's four moments, job history, the schedule grid and the accuracy trend."""
    svc = services(request)
    params = request.query_params
    try:
        query = HistoryQuery(
            report_type=ReportType.parse(params["type"]) if params.get("type") else None,
            status=RunStatus(params["status"]) if params.get("status") else None,
            date_from=parse_date(params["from"]) if params.get("from") else None,
            date_to=parse_date(params["to"]) if params.get("to") else None,
            limit=25,
            cursor=params.get("cursor") or None,
        )
    except (InvalidInput, ValueError) as error:
        return render("error.html", {"title": "Bad filter", "message": str(error)}, 400)
    moments = []
    for kind in ReportType:
        response = await svc.results.get_report(kind)
        meta = response.meta(svc.now())
        slot = svc.calendar.slot_instant(kind, response.requested_date)
        moments.append(
            {
                "type": kind.value,
                "date": response.requested_date.isoformat(),
                "state": meta["state"],
                "business_date": meta["business_date"],
                "scheduled_at": slot.isoformat() if slot else None,
                "generated_at": meta["generated_at"],
                "run_id": meta["run_id"],
            }
        )
    try:
        page = orjson.loads(await svc.results.history(query))
        schedule = await svc.results.schedule(14)
        trend = chart(await svc.results.trend(ReportType.END_OF_DAY, TREND_SESSIONS))
        store_error = None
    except StoreError as error:
        page, schedule, trend, store_error = None, None, None, str(error)
    context = {
        "title": "marketbrief",
        "moments": moments,
        "jobs": page["jobs"] if page else [],
        "next_cursor": page["next_cursor"] if page else None,
        "filters": {name: params.get(name, "") for name in ("type", "status", "from", "to")},
        "types": [t.value for t in ReportType],
        "statuses": [s.value for s in RunStatus],
        "grid": _grid(schedule) if schedule else [],
        "trend": trend,
        "store_error": store_error,
    }
    return render("index.html", context)


def _grid(schedule: dict[str, Any]) -> list[dict[str, Any]]:
    """The schedule as rows of sessions (newest first) with a cell per report type."""
    rows: dict[str, dict[str, Any]] = {}
    for slot in schedule["slots"]:
        row = rows.setdefault(slot["date"], {"date": slot["date"], "cells": {}})
        row["cells"][slot["report_type"]] = slot
    return sorted(rows.values(), key=lambda r: r["date"], reverse=True)


async def report_page(request: Request) -> Response:
    """One report, readable, with a banner for every state that is not fresh."""
    svc = services(request)
    try:
        kind = ReportType.parse(request.path_params["report_type"])
        day = parse_date(request.query_params["date"]) if request.query_params.get("date") else None
    except InvalidInput as error:
        return render("error.html", {"title": "Bad request", "message": str(error)}, 400)
    response = await svc.results.get_report(kind, day)
    status = REPORT_STATUS[response.state]
    request.app.state.metrics.answered("page", status, response)
    context = report_context(response, svc.now(), svc.calendar)
    return render("report.html", context, status)


def report_context(
    response: ReportResponse, now: datetime, calendar: MarketCalendar | None = None
) -> dict[str, Any]:
    """What report.html shows of one answer of the read path; with the market calendar, the
    links to the previous and next session's report (a mail has none)."""
    data = parsed(response.data) if response.data is not None and response.has_content else None
    day = response.requested_date.isoformat()
    kind = str(response.report_type)
    return {
        "title": f"{kind} {day}",
        "meta": response.meta(now),
        "data": data,
        "view": shapes.report_view(data),
        "page": report_page_view(kind, data),
        "nav": _neighbours(kind, response.requested_date, calendar) if calendar else None,
        "json_url": f"/api/v1/reports/{kind}?date={day}",
    }


def _neighbours(kind: str, day: date, calendar: MarketCalendar) -> dict[str, str] | None:
    """The previous and next report dates: sessions, or Sundays for the weekly review."""
    try:
        if kind == ReportType.WEEKLY.value:
            before, after = day - timedelta(days=7), day + timedelta(days=7)
        else:
            before, after = calendar.previous_session(day), calendar.next_session(day)
    except MarketbriefError:  # outside the calendar's years: no links, the page still renders
        return None
    return {"previous": before.isoformat(), "next": after.isoformat(), "date": day.isoformat()}


def report_html(response: ReportResponse, now: datetime) -> str:
    """The report page as HTML text: what a delivered report's email shows (the renderer the
    web face hands `Deliveries` at start-up)."""
    return render_text("report.html", report_context(response, now))


async def job_page(request: Request) -> Response:
    """One run: stages timeline, errors, warnings, predictions, the snapshot."""
    svc = services(request)
    ref = request.path_params["ref"]
    try:
        detail = await svc.results.run(ref)
    except MarketbriefError as error:
        return render("error.html", {"title": "Store unavailable", "message": str(error)}, 503)
    if detail is None:
        return render("error.html", {"title": "Not found", "message": f"no job {ref!r}"}, 404)
    context = {"title": f"job {detail.run.id}", **records.run_detail(detail)}
    context["json_url"] = f"/api/v1/jobs/{detail.run.run_id}"
    return render("job.html", context)


async def status_page(request: Request) -> Response:
    """Store and cache health, hit ratio, outbox depth, last run per type, store usage."""
    svc = services(request)
    readiness = await svc.results.readiness()
    counters = svc.results.counters
    lookups = counters.cache_hits + counters.cache_misses
    last_runs: dict[str, Any] = {}
    for kind in ReportType:
        try:
            run = await svc.results.latest_run(kind)
        except StoreError:
            run = None
        last_runs[kind.value] = records.job(run) if run else None
    try:
        alerts: list[dict[str, Any]] | None = await svc.alerts.incidents(limit=20)
    except StoreError:
        alerts = None
    try:  # the same dict GET /api/v1/usage returns
        usage: dict[str, Any] | None = await svc.results.usage(DEFAULT_USAGE_DAYS)
    except StoreError:
        usage = None
    context = {
        "title": "status",
        "readiness": readiness,
        "hit_ratio": round(counters.cache_hits / lookups, 3) if lookups else None,
        "counters": {
            "cache hits": counters.cache_hits,
            "cache misses": counters.cache_misses,
            "store report reads": counters.store_reads,
            "rehydrations": counters.rehydrations,
            "outboxed writes": counters.outboxed,
            "replayed writes": counters.replayed,
        },
        "serves": counters.serves,
        "last_runs": last_runs,
        "alerts": alerts,
        "channels": svc.alerts.channel_records(),
        "plan": await request.app.state.plan.report(),
        "usage": usage,
        "uptime": str(timedelta(seconds=int((svc.now() - svc.started_at).total_seconds()))),
    }
    return render("status.html", context, 200 if readiness["ready"] else 503)


async def docs_page(request: Request) -> Response:
    """A human page about the API."""
    return render("docs.html", {})
