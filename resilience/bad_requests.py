"""The malformed requests of the bad-input scenario, each with its documented status."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from marketbrief.web.api import MAX_BODY_BYTES
from resilience.server import API_KEY


@dataclass(frozen=True)
class Case:
    """One request and the status it must get."""

    group: str
    name: str
    method: str
    path: str
    expect: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # bytes, an iterator of bytes (chunked), or None


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _chunks(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(4096, total - sent)
        sent += piece
        yield b" " * piece


def trigger_request(body: bytes | Iterator[bytes], *, key: str | None = API_KEY) -> dict[str, Any]:
    """The headers and body of a JSON POST, with `key` as X-API-Key (None: no key)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-API-Key"] = key
    return {"headers": headers, "body": body}


def cases(session: str, saturday: str, monday: str) -> list[Case]:
    """Every malformed request, with its documented status."""
    report = "/api/v1/reports/pre-market"
    trigger = "/api/v1/jobs/trigger"
    good = json.dumps({"type": "pre-market", "date": session}).encode()
    padded = {"type": "pre-market", "date": session, "pad": ""}
    room = MAX_BODY_BYTES - len(json.dumps(padded))
    exactly_max = json.dumps({**padded, "pad": "x" * room}).encode()
    assert len(exactly_max) == MAX_BODY_BYTES
    found: list[Case] = []

    def add(group: str, name: str, method: str, path: str, expect: int, **kw: Any) -> None:
        found.append(Case(group, name, method, path, expect, **kw))

    # -- dates ----------------------------------------------------------------------------------
    for bad in (
        "2026-13-01",
        "2026-02-30",
        "26-01-05",
        "2026-1-5",
        "yesterday",
        "2026-01-05T00:00:00Z",
        "2026/01/05",
        "0000-01-01",
        "1999-12-31",
        "9999-12-31",
        "%00",
        "%EF%BC%92026-01-05",
        "2026-01-05%0A",
        "1" * 5000,
    ):
        add("dates", f"GET report date={bad[:24]}", "GET", f"{report}?date={bad}", 400)
    add("dates", "history from=2026-02-30", "GET", "/api/v1/jobs/history?from=2026-02-30", 400)
    add("dates", "history to=tomorrow", "GET", "/api/v1/jobs/history?to=tomorrow", 400)
    # -- types ----------------------------------------------------------------------------------
    for bad in ("pre_market", "PRE-MARKET", "daily", "%2e%2e", "x" * 3000, "pr%C3%A9-market"):
        add("types", f"GET report type {bad[:24]}", "GET", f"/api/v1/reports/{bad}", 400)
    add("types", "history type=bogus", "GET", "/api/v1/jobs/history?type=bogus", 400)
    add("types", "history status=bogus", "GET", "/api/v1/jobs/history?status=bogus", 400)
    add("types", "latest type=bogus", "GET", "/api/v1/jobs/latest?type=bogus", 400)
    # -- limits ---------------------------------------------------------------------------------
    for bad in ("0", "-1", "501", "abc", "1e3", "1.5", "99999999999999999999999", "%00"):
        add("limits", f"history limit={bad}", "GET", f"/api/v1/jobs/history?limit={bad}", 400)
    for bad in ("0", "91", "abc", "-5"):
        add("limits", f"schedule days={bad}", "GET", f"/api/v1/schedule?days={bad}", 400)
    # -- cursors --------------------------------------------------------------------------------
    for name, bad in (
        ("not base64", "!!!not-base64!!!"),
        ("no number", _cursor("r:")),
        ("negative", _cursor("r:-1")),
        ("wrong prefix", _cursor("x:10")),
        ("past any id", _cursor("r:" + "9" * 30)),
        ("5,000 digits", _cursor("r:" + "9" * 5000)),
        ("not UTF-8", base64.urlsafe_b64encode(b"r:\xff\xfe").decode()),
        ("unicode digits", _cursor("r:\u0663\u0663")),
    ):
        add("cursors", f"history cursor {name}", "GET", f"/api/v1/jobs/history?cursor={bad}", 400)
    # -- job references -------------------------------------------------------------------------
    add("refs", "unknown run_id", "GET", "/api/v1/jobs/no-such-run", 404)
    add("refs", "id 0", "GET", "/api/v1/jobs/0", 404)
    add("refs", "id past 64 bits", "GET", "/api/v1/jobs/99999999999999999999999", 404)
    add("refs", "unicode digits", "GET", "/api/v1/jobs/%D9%A3%D9%A3", 404)
    add("refs", "NUL", "GET", "/api/v1/jobs/a%00b", 404)
    add("refs", "201 characters", "GET", "/api/v1/jobs/" + "r" * 201, 400)
    # -- keys -----------------------------------------------------------------------------------
    wrong_same_length = "x" * len(API_KEY)
    for name, key in (
        ("missing", None),
        ("empty", ""),
        ("wrong, same length", wrong_same_length),
        ("wrong, shorter", API_KEY[:-1]),
        ("wrong, longer", API_KEY + "0"),
        ("other case", API_KEY.upper()),
        ("demo", "demo"),
    ):
        add("keys", f"trigger, key {name}", "POST", trigger, 401, **trigger_request(good, key=key))
        add(
            "keys",
            f"rehydrate, key {name}",
            "POST",
            "/api/v1/cache/rehydrate",
            401,
            **trigger_request(b"{}", key=key),
        )
    add(
        "keys",
        "key in the query string",
        "POST",
        f"{trigger}?api_key={API_KEY}",
        401,
        **trigger_request(good, key=None),
    )
    # -- bodies ---------------------------------------------------------------------------------
    big = MAX_BODY_BYTES + 1
    add("bodies", "declared 16 KiB + 1", "POST", trigger, 413, **trigger_request(b" " * big))
    add("bodies", "1 MiB", "POST", trigger, 413, **trigger_request(b"[" + b"0," * 2**19 + b"0]"))
    add(
        "bodies",
        "64 KiB chunked, no length",
        "POST",
        trigger,
        413,
        **trigger_request(_chunks(64 * 1024)),
    )
    add(
        "bodies",
        "oversized without a key",
        "POST",
        trigger,
        401,
        **trigger_request(b" " * big, key=None),
    )
    add(
        "bodies", "exactly 16 KiB is accepted", "POST", trigger, 202, **trigger_request(exactly_max)
    )
    for name, raw in (
        ("not JSON", b"{type: pre-market}"),
        ("a JSON array", b'["pre-market"]'),
        ("null", b"null"),
        ("empty object", b"{}"),
        ("type is a number", b'{"type": 5}'),
        ("unknown type", b'{"type": "bogus"}'),
        ("date is a number", b'{"type": "pre-market", "date": 20260105}'),
        ("date malformed", b'{"type": "pre-market", "date": "2026-02-30"}'),
        ("a Saturday", json.dumps({"type": "pre-market", "date": saturday}).encode()),
        ("weekly on a Monday", json.dumps({"type": "weekly", "date": monday}).encode()),
        ("out of coverage", b'{"type": "pre-market", "date": "1999-12-31"}'),
        ("NaN", b'{"type": NaN}'),
        ("not UTF-8", b'{"type": "\xff\xfe"}'),
        ("nested 2,000 deep", b"[" * 2_000 + b"]" * 2_000),
        ("duplicate keys", b'{"type": "bogus", "type": 7}'),
    ):
        add("bodies", f"trigger body {name}", "POST", trigger, 400, **trigger_request(raw))
    add(
        "bodies",
        "rehydrate purge is a string",
        "POST",
        "/api/v1/cache/rehydrate",
        400,
        **trigger_request(b'{"purge": "yes"}'),
    )
    add(
        "bodies",
        "rehydrate type is a number",
        "POST",
        "/api/v1/cache/rehydrate",
        400,
        **trigger_request(b'{"type": 5}'),
    )
    # -- methods and paths ----------------------------------------------------------------------
    add("paths", "DELETE a report", "DELETE", report, 405)
    add("paths", "PUT trigger", "PUT", trigger, 405)
    add("paths", "GET trigger (POST only)", "GET", trigger, 405)
    add("paths", "unknown path", "GET", "/api/v2/reports/pre-market", 404)
    add("paths", "no report type", "GET", "/api/v1/reports/", 404)
    # A day without a session is no error: it answers `closed`, with the next session.
    add("paths", "a Saturday's report (honest closed)", "GET", f"{report}?date={saturday}", 200)
    return found


def shape_ok(case: Case, response: httpx.Response) -> bool:
    """Errors speak one JSON shape; a report's own 404 is its envelope plus that error."""
    if response.status_code < 400:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and {"code", "message"} <= set(error)


def send(client: httpx.Client, case: Case) -> httpx.Response:
    """Send one case as it is (a chunked body when its body is an iterator)."""
    content = case.body
    return client.request(case.method, case.path, headers=case.headers, content=content)
