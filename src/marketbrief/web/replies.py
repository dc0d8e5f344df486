"""A report answer as HTTP: status by state, ETag, the envelope's bytes; and the last reply kept.

`reply_of` is the one mapping from a read path's answer (`ReportResponse`) to status, headers and
body, used by the route and the fast path alike. `Replies` keeps, per (type, date), the last
reply the fast path sent as raw ASGI headers and bytes: the read path hands out the very same
`ReportResponse` object for a cache hit it served before (`results/reader.py`), so while that
object comes back and its age in whole seconds has not moved, the reply is the same bytes and
is sent again as is, with no envelope rendered and no header built. An answer read afresh that
equals the kept one field for field (with the cache off, the same snapshot read again) is the
same reply too: the reply is a function of the answer and its age, and nothing else. A kept
reply also holds its header lines as HTTP/1.1 puts them on the wire (`Wire`), for the server's
protocol to write itself (web/protocol.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from marketbrief.results.envelope import ReportResponse, ReportState
from marketbrief.web.errors import RETRY_AFTER_SECONDS
from marketbrief.web.middleware import SECURITY_HEADER_LIST

REPORT_STATUS = {
    ReportState.FRESH: 200,
    ReportState.STALE: 200,
    ReportState.PARTIAL: 200,
    ReportState.PENDING: 200,
    ReportState.MISSING: 404,
    ReportState.FAILED: 404,
    ReportState.UNAVAILABLE: 503,
    ReportState.CLOSED: 200,  # a true answer: no report is due on a day without a session
}
MAX_KEPT = 256  # (type, date) pairs whose last reply is kept
JSON_HEADER = (b"content-type", b"application/json")

RawReply = tuple[int, list[tuple[bytes, bytes]], bytes]
Wire = tuple[int, bytes, bytes]
"""Status, the header lines after the server's own (each `name: value` CRLF, then the blank
line), and the body: a reply as the HTTP/1.1 protocol writes it."""


def header_lines(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Headers as HTTP/1.1 puts them on the wire: `name: value` and CRLF, each."""
    return b"".join([b"%s: %s\r\n" % header for header in headers])


def reply_of(
    response: ReportResponse, now: datetime, if_none_match: str | None
) -> tuple[int, dict[str, str], bytes]:
    """The HTTP answer to a read path's answer, with an ETag from the snapshot's hash."""
    headers = {"Cache-Control": "no-cache"}
    if response.has_content and response.content_sha256:
        etag = f'"{response.content_sha256}-{response.state.value}"'
        headers["ETag"] = etag
        if etag_matches(if_none_match, etag):
            return 304, headers, b""
    status = REPORT_STATUS[response.state]
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return status, headers, response.render(now, with_error=status >= 400)


def etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match: a list of tags or `*`, compared weakly (RFC 9110 13.1.2)."""
    if not header:
        return False
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


class Replies:
    """The last unconditional reply sent for each (type, date), with what it was made from."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, date], tuple[ReportResponse, int | None, RawReply, Wire]] = {}

    def reply(self, response: ReportResponse, now: datetime, if_none_match: str | None) -> RawReply:
        """Status, raw headers (security headers included) and body for `response` at `now`."""
        if if_none_match is None:
            return self._unconditional(response, now)[0]
        return self._made(response, now, if_none_match)

    def wire(self, response: ReportResponse, now: datetime) -> Wire:
        """The unconditional reply to `response` at `now`, as HTTP/1.1 header lines and body."""
        return self._unconditional(response, now)[1]

    def _unconditional(self, response: ReportResponse, now: datetime) -> tuple[RawReply, Wire]:
        age = response.age_seconds(now)
        key = (response.report_type, response.requested_date)
        kept = self._kept.get(key)
        if kept is not None and kept[1] == age and (kept[0] is response or kept[0] == response):
            return kept[2], kept[3]
        raw = self._made(response, now, None)
        status, headers, body = raw
        wire = (status, header_lines(headers) + b"\r\n", body)
        if len(self._kept) >= MAX_KEPT and key not in self._kept:
            self._kept.clear()
        self._kept[key] = (response, age, raw, wire)
        return raw, wire

    @staticmethod
    def _made(response: ReportResponse, now: datetime, if_none_match: str | None) -> RawReply:
        status, fields, body = reply_of(response, now, if_none_match)
        headers = [(name.lower().encode(), value.encode()) for name, value in fields.items()]
        if status != 304:
            headers += [JSON_HEADER, (b"content-length", str(len(body)).encode())]
        headers += SECURITY_HEADER_LIST
        return status, headers, body
