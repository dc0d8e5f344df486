"""create_app(settings): routes, middleware and error handlers; the lifespan opens everything."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from marketbrief.config import Settings
from marketbrief.services import Services
from marketbrief.web import api, pages
from marketbrief.web.errors import exception_handlers
from marketbrief.web.fastpath import FastPath
from marketbrief.web.metrics import Metrics
from marketbrief.web.middleware import Edge
from marketbrief.web.openapi import openapi_document
from marketbrief.web.plan import Plan
from marketbrief.web.ratelimit import TriggerLimit
from marketbrief.web.replies import Wire

STATIC = Path(__file__).parent / "static"


class MarketbriefApp(Starlette):
    """Starlette, with the fast path (web/fastpath.py) asked first about every HTTP request."""

    fast_path: FastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_path
        if fast is not None and scope["type"] == "http" and await fast.answer(scope, receive, send):
            return
        await super().__call__(scope, receive, send)

    def answer_now(self, target: bytes, headers: list[tuple[bytes, bytes]]) -> Wire | None:
        """A `GET target` answered before the app starts (web/protocol.py asks), or None."""
        fast = self.fast_path
        return fast.answer_now(target, headers) if fast is not None else None

    def answer_soon(self, target: bytes, scope: Scope) -> Awaitable[Wire] | None:
        """A `GET target` the protocol awaits and writes itself (web/protocol.py), or None."""
        fast = self.fast_path
        return fast.answer_soon(target, scope) if fast is not None else None


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    scheduler: bool | None = None,
) -> MarketbriefApp:
    """The whole web service; pass `services` to share them with a test."""
    settings = settings or (services.settings if services else Settings.from_env())
    holder: dict[str, Services] = {}
    metrics = Metrics(lambda: holder.get("services"))
    plan = Plan(metrics, lambda: holder.get("services"))
    metrics.registry.register(plan.collector())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = services or Services.open(settings)
        holder["services"] = opened
        app.state.services = opened
        opened.alerts.readings = plan.readings  # the rollback triggers, watched every pass
        trigger_limit = TriggerLimit.from_settings(
            settings, on_fallback=metrics.trigger_limit_fallbacks.inc
        )
        app.state.trigger_limit = trigger_limit
        opened.deliveries.renderer = pages.report_html  # mail shows the report page itself
        await opened.results.begin_schedule()  # the service's first start begins the schedule
        opened.start(scheduler=settings.scheduler_enabled if scheduler is None else scheduler)
        try:
            yield
        finally:
            await opened.stop()
            await trigger_limit.close()

    async def metrics_endpoint(request: Request) -> Response:
        await metrics.refresh()
        body = await anyio.to_thread.run_sync(metrics.render)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi(request: Request) -> Response:
        return api.JSON(openapi_document())

    routes = [
        Route("/api/v1/reports/{report_type}", api.get_report, methods=["GET"]),
        Route("/api/v1/jobs/history", api.job_history, methods=["GET"]),
        Route("/api/v1/jobs/latest", api.latest_job, methods=["GET"]),
        Route("/api/v1/jobs/trigger", api.trigger_job, methods=["POST"]),
        Route("/api/v1/jobs/{ref}", api.job_detail, methods=["GET"]),
        Route("/api/v1/cache/rehydrate", api.rehydrate_cache, methods=["POST"]),
        Route("/api/v1/schedule", api.schedule, methods=["GET"]),
        Route("/api/v1/alerts", api.alerts, methods=["GET"]),
        Route("/api/v1/slo", api.slo, methods=["GET"]),
        Route("/api/v1/usage", api.usage, methods=["GET"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", pages.docs_page, methods=["GET"]),
        Route("/", pages.index, methods=["GET"]),
        Route("/reports/{report_type}", pages.report_page, methods=["GET"]),
        Route("/jobs/{ref}", pages.job_page, methods=["GET"]),
        Route("/status", pages.status_page, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = MarketbriefApp(
        routes=routes,
        middleware=[Middleware(Edge, observe=metrics.observe)],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    # A trailing-slash redirect would echo the request's Host header back as the Location
    # (and a client following a 307 re-sends its POST and X-API-Key there): answer 404 instead.
    app.router.redirect_slashes = False
    app.state.metrics = metrics
    app.state.plan = plan
    fast = app.fast_path = FastPath(app, metrics)
    metrics.answered_now = lambda: fast.answered_now
    metrics.answered_soon = lambda: fast.answered_soon
    return app
