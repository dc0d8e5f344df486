"""Scenario 4: hostile and malformed input against the running server.

Each case names the documented status it must get (400 invalid input, 401 no or wrong key, 403
writes disabled, 404 nothing there, 405 wrong method, 413 body too large, 429 rate limited) and
every error answer must be the one JSON shape `{"error": {"code", "message"}}` (a report's 404
is its envelope plus that error). No case may get a 5xx. Then, if schemathesis is installed,
its CLI fuzzes the live server's /openapi.json for a bounded time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from marketbrief.calendar import MarketCalendar
from marketbrief.web.api import MAX_BODY_BYTES
from resilience.harness import (
    API_KEY,
    BIN,
    ROOT,
    ScenarioResult,
    Server,
    cleanup,
    migrate,
    past_sessions,
    server_env,
    write_inputs,
)


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


def _trigger(body: bytes | Iterator[bytes], *, key: str | None = API_KEY) -> dict[str, Any]:
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
        add("keys", f"trigger, key {name}", "POST", trigger, 401, **_trigger(good, key=key))
        add(
            "keys",
            f"rehydrate, key {name}",
            "POST",
            "/api/v1/cache/rehydrate",
            401,
            **_trigger(b"{}", key=key),
        )
    add(
        "keys",
        "key in the query string",
        "POST",
        f"{trigger}?api_key={API_KEY}",
        401,
        **_trigger(good, key=None),
    )
    # -- bodies ---------------------------------------------------------------------------------
    big = MAX_BODY_BYTES + 1
    add("bodies", "declared 16 KiB + 1", "POST", trigger, 413, **_trigger(b" " * big))
    add("bodies", "1 MiB", "POST", trigger, 413, **_trigger(b"[" + b"0," * 2**19 + b"0]"))
    add("bodies", "64 KiB chunked, no length", "POST", trigger, 413, **_trigger(_chunks(64 * 1024)))
    add("bodies", "oversized without a key", "POST", trigger, 401, **_trigger(b" " * big, key=None))
    add("bodies", "exactly 16 KiB is accepted", "POST", trigger, 202, **_trigger(exactly_max))
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
        add("bodies", f"trigger body {name}", "POST", trigger, 400, **_trigger(raw))
    add(
        "bodies",
        "rehydrate purge is a string",
        "POST",
        "/api/v1/cache/rehydrate",
        400,
        **_trigger(b'{"purge": "yes"}'),
    )
    add(
        "bodies",
        "rehydrate type is a number",
        "POST",
        "/api/v1/cache/rehydrate",
        400,
        **_trigger(b'{"type": 5}'),
    )
    # -- methods and paths ----------------------------------------------------------------------
    add("paths", "DELETE a report", "DELETE", report, 405)
    add("paths", "PUT trigger", "PUT", trigger, 405)
    add("paths", "GET trigger (read as a job ref)", "GET", trigger, 404)
    add("paths", "unknown path", "GET", "/api/v2/reports/pre-market", 404)
    add("paths", "no report type", "GET", "/api/v1/reports/", 404)
    add("paths", "missing report (honest 404)", "GET", f"{report}?date={saturday}", 404)
    return found


def _shape_ok(case: Case, response: httpx.Response) -> bool:
    """Errors speak one JSON shape; a report's own 404 is its envelope plus that error."""
    if response.status_code < 400:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and {"code", "message"} <= set(error)


def _send(client: httpx.Client, case: Case) -> httpx.Response:
    content = case.body
    return client.request(case.method, case.path, headers=case.headers, content=content)


def _fuzz(url: str, seconds: int, folder: Path) -> dict[str, Any]:
    """schemathesis' CLI against the live /openapi.json, bounded by --max-time."""
    st = shutil.which("st", path=str(BIN)) or shutil.which("schemathesis", path=str(BIN))
    if st is None:
        return {"skipped": "schemathesis is not installed"}
    checks = ",".join(
        (
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_schema_conformance",
            "response_headers_conformance",
        )
    )
    command = [
        st,
        "run",
        f"{url}/openapi.json",
        "--max-time",
        str(seconds),
        "--checks",
        checks,
        "-H",
        f"X-API-Key: {API_KEY}",
        "--workers",
        "1",
        "--seed",
        "20261129",
        "--no-color",
        "--report",
        "ndjson",
        "--report-dir",
        str(folder),
    ]
    done = subprocess.run(  # noqa: S603 - schemathesis from our venv, no shell
        command, capture_output=True, text=True, timeout=seconds + 120, cwd=ROOT, check=False
    )
    summary = re.search(r"Test cases:\s*\n\s*(.+)", done.stdout)
    statuses: Counter[int] = Counter()
    for path in folder.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            _count_statuses(json.loads(line), statuses)
    failures = re.findall(r"^\s*\d+\.\s+(.+)$", done.stdout.split("FAILURES")[-1], re.M)
    warned = re.search(r"=+ WARNINGS =+\n(.*?)\n=+ SUMMARY =+", done.stdout, re.S)
    warnings = [
        line.strip()
        for line in (warned.group(1) if warned else "").splitlines()
        if line.strip() and line.strip().isascii()
    ]
    return {
        "command": " ".join(command)
        .replace(API_KEY, "$MARKETBRIEF_API_KEY")
        .replace(str(BIN) + "/", ".venv/bin/")
        .replace(url, "http://127.0.0.1:P")
        .replace(str(folder), "<work>/schemathesis"),
        "exit_code": done.returncode,
        "test_cases": summary.group(1).strip() if summary else "?",
        "answers_by_status": dict(sorted(statuses.items())),
        "warnings": " ".join(warnings) or "none",
        "failures": failures[:10] if done.returncode else [],
        "tail": done.stdout[-1500:] if done.returncode else "",
    }


def _count_statuses(node: Any, statuses: Counter[int]) -> None:
    if isinstance(node, dict):
        code = node.get("status_code")
        if isinstance(code, int) and "elapsed" in node:
            statuses[code] += 1
        for value in node.values():
            _count_statuses(value, statuses)
    elif isinstance(node, list):
        for value in node:
            _count_statuses(value, statuses)


async def run(work: Path, *, fuzz_seconds: int) -> ScenarioResult:
    """Three servers: the normal one, one with no API key, one with a tight trigger limit."""
    return await asyncio.to_thread(_run, work, fuzz_seconds)


def _run(work: Path, fuzz_seconds: int) -> ScenarioResult:
    result = ScenarioResult("badinput", "Bad input against the running server")
    days = past_sessions(10)
    news, prices = write_inputs(work / "inputs", days)
    calendar = MarketCalendar()
    saturday = next(d for d in (days[0] + timedelta(n) for n in range(7)) if d.weekday() == 5)
    monday = next(d for d in (days[0] + timedelta(n) for n in range(7)) if d.weekday() == 0)
    assert not calendar.is_session(saturday)
    servers: dict[str, Server] = {}
    with cleanup() as stack:
        for name, api_key, extra in (
            ("main", API_KEY, {}),
            ("nokey", None, {}),
            ("limited", API_KEY, {"trigger_rate": "0.2", "trigger_burst": "2"}),
        ):
            url = f"sqlite:///{work / f'{name}.db'}"
            migrate(url)
            env = server_env(
                database_url=url,
                outbox_dir=work / f"outbox-{name}",
                news=news,
                prices=prices,
                api_key=api_key,
                **extra,
            )
            server = Server(f"badinput-{name}-server", env, work)
            stack.callback(server.kill)
            server.start()
            servers[name] = server
        for server in servers.values():
            server.wait_ready()

        outcomes: list[tuple[Case, int, bool]] = []
        with httpx.Client(base_url=servers["main"].url, timeout=60) as client:
            for case in cases(days[-1].isoformat(), saturday.isoformat(), monday.isoformat()):
                try:
                    response = _send(client, case)
                    outcomes.append((case, response.status_code, _shape_ok(case, response)))
                except httpx.HTTPError as error:
                    outcomes.append((case, -1, False))
                    result.notes.append(f"{case.name}: no answer ({error!r})")
            # A valid cursor from a real page pages on (a control for the cursor cases).
            first = client.get("/api/v1/jobs/history?limit=1").json()
            control = client.get(f"/api/v1/jobs/history?cursor={first['next_cursor'] or ''}")
            outcomes.append(
                (
                    Case("cursors", "a real cursor pages on", "GET", "", 200),
                    control.status_code,
                    True,
                )
            )

        with httpx.Client(base_url=servers["nokey"].url, timeout=60) as client:
            for name, path, body in (
                ("trigger", "/api/v1/jobs/trigger", b'{"type": "pre-market"}'),
                ("rehydrate", "/api/v1/cache/rehydrate", b"{}"),
            ):
                for label, key in (("with a key", API_KEY), ("without a key", None)):
                    case = Case(
                        "no key configured",
                        f"{name} {label}",
                        "POST",
                        path,
                        403,
                        **_trigger(body, key=key),
                    )
                    response = _send(client, case)
                    outcomes.append((case, response.status_code, _shape_ok(case, response)))

        with httpx.Client(base_url=servers["limited"].url, timeout=60) as client:
            body = json.dumps({"type": "pre-market", "date": days[-2].isoformat()}).encode()
            answers = []
            for n in range(4):
                case = Case(
                    "rate limit",
                    f"trigger {n + 1} of 4 (burst 2)",
                    "POST",
                    "/api/v1/jobs/trigger",
                    202 if n < 2 else 429,
                    **_trigger(body),
                )
                response = _send(client, case)
                answers.append(response)
                outcomes.append((case, response.status_code, _shape_ok(case, response)))
            retry_after = [r.headers.get("retry-after") for r in answers if r.status_code == 429]

        fuzz: dict[str, Any] = {"skipped": "not asked (--fuzz-seconds 0)"}
        if fuzz_seconds > 0:
            fuzz = _fuzz(servers["main"].url, fuzz_seconds, work / "schemathesis")
        logs = {name: s.log_count("Traceback") for name, s in servers.items()}
        for server in servers.values():
            server.stop()

    by_group: dict[str, Counter[str]] = {}
    wrong: list[str] = []
    for case, status, shaped in outcomes:
        tally = by_group.setdefault(case.group, Counter())
        tally[str(status)] += 1
        if status != case.expect:
            wrong.append(f"{case.name}: {status}, expected {case.expect}")
        elif not shaped:
            wrong.append(f"{case.name}: {status} without the error shape")
    server_errors = [f"{c.name}: {s}" for c, s, _ in outcomes if s >= 500 or s < 0]
    rows = []
    for group, tally in by_group.items():
        expected = Counter(str(c.expect) for c, _, _ in outcomes if c.group == group)
        rows.append(
            [
                group,
                sum(tally.values()),
                dict(sorted(expected.items())),
                dict(sorted(tally.items())),
            ]
        )
    result.tables.append(
        (
            "Cases by group (documented status expected, status answered):",
            ["group", "cases", "expected", "answered"],
            rows,
        )
    )
    result.counts.update(
        cases=len(outcomes),
        answered_as_documented=len(outcomes) - len(wrong),
        server_errors=len(server_errors),
        tracebacks_in_server_logs=logs,
        retry_after_on_429=retry_after,
    )
    result.check(
        "every bad input got its documented status and error shape",
        not wrong,
        f"{len(outcomes) - len(wrong)} of {len(outcomes)}" + (f"; {wrong[:6]}" if wrong else ""),
    )
    result.check("zero 5xx (and every request answered)", not server_errors, str(server_errors[:5]))
    result.check("429 says when to retry", bool(retry_after) and all(retry_after), str(retry_after))
    result.check("no traceback in any server log", not any(logs.values()), str(logs))
    result.counts["schemathesis"] = fuzz
    if "skipped" not in fuzz:
        statuses = fuzz.get("answers_by_status", {})
        fuzz_5xx = {k: v for k, v in statuses.items() if int(k) >= 500 and int(k) != 503}
        result.check(
            f"schemathesis for {fuzz_seconds} s: no failed check, no 5xx",
            fuzz.get("exit_code") == 0 and not fuzz_5xx,
            f"exit {fuzz.get('exit_code')}; {fuzz.get('test_cases')}; 5xx {fuzz_5xx or 'none'}",
        )
    result.notes.append(
        "Three `marketbrief serve` processes (SQLite): the normal one (API key, trigger rate "
        "1000/s), one with no MARKETBRIEF_API_KEY (writes must be refused: 403), and one with "
        "MARKETBRIEF_TRIGGER_RATE=0.2, MARKETBRIEF_TRIGGER_BURST=2 (the third trigger: 429)."
    )
    return result
