"""Errors meet HTTP here, in one table: one JSON shape, `{"error": {"code", "message"}}`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from marketbrief.errors import (
    InvalidInput,
    MarketbriefError,
    NotFound,
    SchemaError,
    StoreError,
    StoreUnavailable,
)
from marketbrief.web.middleware import SECURITY_HEADERS
from marketbrief.web.security import PayloadTooLarge, RateLimited, Unauthorized, WritesDisabled
from marketbrief.web.templating import render

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5

# (exception, status, code), most specific first.
ERROR_TABLE: tuple[tuple[type[Exception], int, str], ...] = (
    (InvalidInput, 400, "invalid_input"),
    (Unauthorized, 401, "unauthorized"),
    (WritesDisabled, 403, "writes_disabled"),
    (NotFound, 404, "not_found"),
    (PayloadTooLarge, 413, "payload_too_large"),
    (RateLimited, 429, "rate_limited"),
    (StoreUnavailable, 503, "store_unavailable"),
    (SchemaError, 503, "schema_not_migrated"),
    (StoreError, 503, "store_error"),
    (MarketbriefError, 500, "internal_error"),
)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The one error shape."""
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Response(body, status, headers=headers, media_type="application/json")


# The dashboard's routes: their errors are pages, in the same table, never JSON.
PAGE_PREFIXES = ("/reports/", "/jobs/", "/status", "/docs")
TITLES = {400: "Bad request", 404: "Not found", 405: "Method not allowed", 503: "Unavailable"}


def wants_page(request: Request) -> bool:
    """Whether the request was for a dashboard page rather than the API."""
    path = request.url.path
    return path == "/" or path.startswith(PAGE_PREFIXES)


def answer(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The error as a page for a page's request, else in the one JSON shape."""
    if wants_page(request):
        title = TITLES.get(status, "Something went wrong")
        return render("error.html", {"title": title, "message": message}, status, headers)
    return error_response(status, code, message, headers)


def _handler(status: int, code: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, error: Exception) -> Response:
        headers: dict[str, str] = {}
        if status == 503:
            headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        if isinstance(error, RateLimited):
            headers["Retry-After"] = str(max(1, round(error.retry_after)))
        if status >= 500 and status != 503:
            log.error("request %s failed: %s", request.url.path, error)
        return answer(request, status, code, str(error), headers)

    return handle


async def http_exception(request: Request, error: Exception) -> Response:
    """Starlette's own 404/405 in the same shape."""
    assert isinstance(error, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    return answer(request, error.status_code, code, str(error.detail), dict(error.headers or {}))


async def unexpected(request: Request, error: Exception) -> Response:
    """A bug: logged with its trace, answered without one."""
    log.exception("unexpected error on %s", request.url.path, exc_info=error)
    # Answered by Starlette's outermost layer, outside the Edge middleware: add them here.
    message = "an unexpected error occurred; it was logged"
    return answer(request, 500, "internal_error", message, dict(SECURITY_HEADERS))


async def answer_error(request: Request, error: Exception) -> Response:
    """What the table answers for `error`, looked up as Starlette looks up its handlers (for an
    error met outside Starlette: the fast path's)."""
    for kind, status, code in ERROR_TABLE:
        if isinstance(error, kind):
            return await _handler(status, code)(request, error)
    if isinstance(error, HTTPException):
        return await http_exception(request, error)
    return await unexpected(request, error)


def exception_handlers() -> dict[
    type[Exception] | int, Callable[[Request, Exception], Awaitable[Response]]
]:
    """The table as Starlette exception handlers."""
    handlers: dict[type[Exception] | int, Callable[[Request, Exception], Awaitable[Response]]] = {
        kind: _handler(status, code) for kind, status, code in ERROR_TABLE
    }
    handlers[HTTPException] = http_exception
    handlers[Exception] = unexpected
    return handlers
