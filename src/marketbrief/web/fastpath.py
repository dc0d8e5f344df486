"""The fast path: the two requests the service answers most, answered before the framework.

A cached report (`GET /api/v1/reports/<type>`, no query or just `date=YYYY-MM-DD`) and the
first history page (`GET /api/v1/jobs/history`, no query or just `limit=N`) are what a
dashboard and an API client ask for over and over, and most of their cost was the framework's,
not marketbrief's: the error layer's and the middleware's wrapped `send`s, route matching down
the table, a `Request` with parsed headers and query, a `Response` that builds its headers.
`MarketbriefApp` (web/app.py) hands every HTTP request here first. A request recognised here is
answered through the same functions its route uses (`Results.get_report` and
`replies.reply_of`, `Results.history`): same status, headers, body and metrics, with the
security headers `Edge` adds, timed under its route's template as `Edge` times it. A report
reply is kept and sent again while the read path hands back the same answer (`Replies`).
The HTTP server's protocol asks `answer_now` before it even starts the app (web/protocol.py):
a plain, unconditional report request whose answer is a clean cache hit already served
(`Results.answer_now`), or a first history page this process holds for the current run
revision (`Results.history_now`), is written from the kept reply with no task, no ASGI
messages and no framework, counted and timed here as `answer` does. A plain, unconditional
report request it cannot answer at once is offered to `answer_soon`, whose reply the protocol
awaits and writes itself. Anything else goes on to Starlette untouched. An answer that raises
(a date outside the calendar, a store without its schema, a store outage for history, a bug)
is answered by the error table (`errors.answer_error`), as the route's would be, and timed
with the time it took: the store is never asked twice for one request.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable
from datetime import date
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from marketbrief.calendar import parse_date
from marketbrief.errors import InvalidInput
from marketbrief.models import ReportType
from marketbrief.store.base import HistoryQuery
from marketbrief.web.api import HISTORY_LIMITS, services_of
from marketbrief.web.errors import answer_error
from marketbrief.web.metrics import Metrics
from marketbrief.web.middleware import SECURITY_HEADER_LIST
from marketbrief.web.replies import JSON_HEADER, RawReply, Replies, Wire, header_lines

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from marketbrief.services import Services

REPORTS = "/api/v1/reports/"
REPORT_ROUTE = "/api/v1/reports/{report_type}"
HISTORY = "/api/v1/jobs/history"
_TYPES = {kind.value: kind for kind in ReportType}
_DATE_QUERY = b"date="
_LIMIT_QUERY = b"limit="
_DEFAULT_HISTORY = HistoryQuery()
_REPORTS_TARGET = REPORTS.encode()
_HISTORY_TARGET = HISTORY.encode()
_CONDITIONAL = b"if-none-match"


class FastPath:
    """Answers the plain report and history requests of one app, or says it did not."""

    def __init__(self, app: Starlette, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._replies = Replies()
        self.answered_now = 0  # requests `answer_now` answered
        self.answered_soon = 0  # requests `answer_soon` answered
        self._pages: dict[HistoryQuery, tuple[bytes, Wire]] = {}  # the last page per query

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer `scope` and return True, or return False having sent nothing."""
        if scope["method"] != "GET":
            return False
        started = time.perf_counter()
        path: str = scope["path"]
        reply: Awaitable[RawReply]
        if path.startswith(REPORTS):
            asked = plain_report_request(path, scope.get("query_string", b""))
            if asked is None:
                return False
            route = REPORT_ROUTE
            reply = self._report(scope, *asked)
        elif path == HISTORY:
            query = plain_history_query(scope.get("query_string", b""))
            if query is None:
                return False
            route = HISTORY
            reply = self._history(query)
        else:
            return False
        try:
            status, headers, body = await reply
        except Exception as error:  # nothing was sent: the error table answers, as for the route
            status, headers, body = await self._error(scope, error)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe("GET", route, status, time.perf_counter() - started)
        return True

    def answer_now(self, target: bytes, headers: list[tuple[bytes, bytes]]) -> Wire | None:
        """The reply to `GET target` when it is a plain, unconditional report request, or the
        first history page, that the read path answers at once, as HTTP/1.1 puts it on the
        wire; None otherwise (the app answers).

        `target` is the request target as sent, `headers` the request's (names lower-case).
        """
        svc = self._services_now()
        if svc is None or not svc.results.answers_now:
            return None
        if target.startswith(_HISTORY_TARGET):
            return self._history_now(svc, target)
        if not target.startswith(_REPORTS_TARGET):
            return None
        asked = plain_report_target(target)
        if asked is None or _conditional(headers):
            return None
        started = time.perf_counter()
        response = svc.results.answer_now(*asked)
        if response is None:
            return None
        wire = self._replies.wire(response, svc.now())
        self.metrics.answered("api", wire[0], response)
        self.metrics.observe("GET", REPORT_ROUTE, wire[0], time.perf_counter() - started)
        self.answered_now += 1
        return wire

    def answer_soon(self, target: bytes, scope: Scope) -> Awaitable[Wire] | None:
        """The reply to a plain, unconditional report request that `answer_now` could not give
        (a read is needed), for the protocol to await and write itself (web/protocol.py): the
        reply `answer` would send, counted and timed as it does, an error answered by the
        error table. None for any other request (the app answers it).
        """
        if not target.startswith(_REPORTS_TARGET):
            return None
        asked = plain_report_target(target)
        if asked is None or _conditional(scope["headers"]):
            return None
        svc = self._services_now()
        if svc is None:
            return None
        return self._report_soon(svc, scope, *asked)

    async def _report_soon(
        self, svc: Services, scope: Scope, kind: ReportType, day: date | None
    ) -> Wire:
        started = time.perf_counter()
        try:
            response = await svc.results.get_report(kind, day)
            wire = self._replies.wire(response, svc.now())
            self.metrics.answered("api", wire[0], response)
        except Exception as error:  # nothing was written: the error table answers
            status, headers, body = await self._error(scope, error)
            wire = (status, header_lines(headers) + b"\r\n", body)
        self.metrics.observe("GET", REPORT_ROUTE, wire[0], time.perf_counter() - started)
        self.answered_soon += 1
        return wire

    def _services_now(self) -> Services | None:
        """The app's services, or None until its lifespan has begun."""
        found: Services | None = getattr(self.app.state, "services", None)
        return found

    def _history_now(self, svc: Services, target: bytes) -> Wire | None:
        path, _, query_string = target.partition(b"?")
        query = plain_history_query(query_string) if path == _HISTORY_TARGET else None
        if query is None:
            return None
        started = time.perf_counter()
        body = svc.results.history_now(query)
        if body is None:
            return None
        kept = self._pages.get(query)
        if kept is None or kept[0] is not body:
            lines = header_lines(_page_headers(body)) + b"\r\n"
            kept = self._pages[query] = (body, (200, lines, body))
        self.metrics.observe("GET", HISTORY, 200, time.perf_counter() - started)
        self.answered_now += 1
        return kept[1]

    async def _error(self, scope: Scope, error: Exception) -> RawReply:
        """The error table's answer to `error`, with the security headers."""
        response = await answer_error(Request(scope), error)
        present = {name for name, _ in response.raw_headers}
        headers = response.raw_headers + [h for h in SECURITY_HEADER_LIST if h[0] not in present]
        return response.status_code, headers, bytes(response.body)

    async def _report(self, scope: Scope, kind: ReportType, day: date | None) -> RawReply:
        svc = services_of(self.app)
        response = await svc.results.get_report(kind, day)
        reply = self._replies.reply(response, svc.now(), _header(scope, b"if-none-match"))
        if reply[0] != 304:
            self.metrics.answered("api", reply[0], response)
        return reply

    async def _history(self, query: HistoryQuery) -> RawReply:
        body = await services_of(self.app).results.history(query)
        return 200, _page_headers(body), body


def _conditional(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request's headers (names lower-case) make it conditional (If-None-Match)."""
    for name, _ in headers:  # noqa: SIM110 - a loop: any(genexpr) costs more, on every request
        if name == _CONDITIONAL:
            return True
    return False


def _page_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """A history page's headers, as the route sends them."""
    return [(b"content-length", str(len(body)).encode()), JSON_HEADER, *SECURITY_HEADER_LIST]


def plain_report_request(path: str, query: bytes) -> tuple[ReportType, date | None] | None:
    """(type, date) of a plain `GET /api/v1/reports/<type>[?date=D]`, else None."""
    kind = _TYPES.get(path[len(REPORTS) :])
    if kind is None:
        return None
    if not query:
        return kind, None
    if not query.startswith(_DATE_QUERY) or not _plain(query):
        return None
    try:
        return kind, parse_date(query[len(_DATE_QUERY) :].decode("ascii"))
    except (InvalidInput, UnicodeDecodeError):
        return None  # the route answers it, with the error table's 400


@functools.lru_cache(maxsize=1024)
def plain_report_target(target: bytes) -> tuple[ReportType, date | None] | None:
    """`plain_report_request` of a raw request target (path and query, as sent)."""
    path, _, query = target.partition(b"?")
    if b"%" in path:
        return None  # escaped: the server unquotes it, the route answers
    try:
        return plain_report_request(path.decode("ascii"), query)
    except UnicodeDecodeError:
        return None


def plain_history_query(query: bytes) -> HistoryQuery | None:
    """The query of a plain `GET /api/v1/jobs/history[?limit=N]`, else None."""
    if not query:
        return _DEFAULT_HISTORY
    if not query.startswith(_LIMIT_QUERY) or not _plain(query):
        return None
    digits = query[len(_LIMIT_QUERY) :]
    if not digits.isdigit() or len(digits) > 3:
        return None
    return _history_query(int(digits))


@functools.lru_cache(maxsize=HISTORY_LIMITS[1])
def _history_query(limit: int) -> HistoryQuery | None:
    low, high = HISTORY_LIMITS
    if not low <= limit <= high:
        return None  # the route answers it, with the error table's 400
    return HistoryQuery(limit=limit)


def _plain(query: bytes) -> bool:
    """One parameter, nothing escaped: what the fast path reads exactly as the route would."""
    return b"&" not in query and b"%" not in query and b"+" not in query


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
