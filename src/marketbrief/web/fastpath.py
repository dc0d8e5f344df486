"""The report fast path: `GET /api/v1/reports/{type}` answered without Starlette's request
machinery.

The cached report is the request the service answers most, and most of its cost was the
framework's, not marketbrief's: route matching down the table, a `Request` with parsed
headers and query, a `Response` that builds its headers, the exception layer's wrapped
`send`. This layer recognises exactly `GET /api/v1/reports/<a report type>` with no query or
just `date=YYYY-MM-DD`, and answers it through the same `api.report_reply` the route uses (same
status, headers and body, same metrics). Anything else, a malformed date included, goes on to
Starlette, whose route and error table answer it as before. It sits inside `Edge`, so the
security headers and the request timing are the same for both paths.
"""

from __future__ import annotations

from datetime import date

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from marketbrief.calendar import parse_date
from marketbrief.errors import InvalidInput, MarketbriefError
from marketbrief.models import ReportType
from marketbrief.web.api import report_reply, services_of

PREFIX = "/api/v1/reports/"
_TYPES = {kind.value: kind for kind in ReportType}
_DATE_QUERY = b"date="


class ReportFastPath:
    """Answers the plain report request itself; hands every other request to `app`."""

    def __init__(self, app: ASGIApp, route: Route) -> None:
        self.app = app
        self.route = route  # the route it stands for, as the request timing labels it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = _plain_report_request(scope)
        if asked is None:
            await self.app(scope, receive, send)
            return
        kind, day = asked
        app = scope["app"]
        try:
            status, headers, body = await report_reply(
                services_of(app), app.state.metrics, kind, day, _header(scope, b"if-none-match")
            )
        except MarketbriefError:
            # A date outside the calendar, a store without its schema: nothing was sent, so
            # the route asks again and the error table answers, exactly as without this layer.
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        if status != 304:
            raw.append((b"content-type", b"application/json"))
            raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body if status != 304 else b""})


def _plain_report_request(scope: Scope) -> tuple[ReportType, date | None] | None:
    """(type, date) of a plain `GET /api/v1/reports/<type>[?date=D]`, else None."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    kind = _TYPES.get(path[len(PREFIX) :])
    if kind is None:
        return None
    query: bytes = scope.get("query_string", b"")
    if not query:
        return kind, None
    if not query.startswith(_DATE_QUERY) or b"&" in query or b"%" in query or b"+" in query:
        return None
    try:
        return kind, parse_date(query[len(_DATE_QUERY) :].decode("ascii"))
    except (InvalidInput, UnicodeDecodeError):
        return None  # the route answers it, with the error table's 400


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
