"""Scenario 4: hostile and malformed input against the running server.

Each case names the documented status it must get (400 invalid input, 401 no or wrong key, 403
writes disabled, 404 nothing there, 405 wrong method, 413 body too large, 429 rate limited) and
every error answer must be the one JSON shape `{"error": {"code", "message"}}` (a report's 404
is its envelope plus that error). No case may get a 5xx. Then, if schemathesis is installed,
its CLI fuzzes the live server's /openapi.json for a bounded time.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from harness.store import migrate

from marketbrief.calendar import MarketCalendar
from resilience import fuzzing
from resilience.bad_requests import Case, cases, send, shape_ok, trigger_request
from resilience.inputs import past_sessions, write_inputs
from resilience.scenario import ScenarioResult, cleanup
from resilience.server import API_KEY, Server, marketbrief_env


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
            env = marketbrief_env(
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
                    response = send(client, case)
                    outcomes.append((case, response.status_code, shape_ok(case, response)))
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
                        **trigger_request(body, key=key),
                    )
                    response = send(client, case)
                    outcomes.append((case, response.status_code, shape_ok(case, response)))

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
                    **trigger_request(body),
                )
                response = send(client, case)
                answers.append(response)
                outcomes.append((case, response.status_code, shape_ok(case, response)))
            retry_after = [r.headers.get("retry-after") for r in answers if r.status_code == 429]

        fuzz: dict[str, Any] = {"skipped": "not asked (--fuzz-seconds 0)"}
        if fuzz_seconds > 0:
            fuzz = fuzzing.fuzz(servers["main"].url, fuzz_seconds, work / "schemathesis")
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
