"""What stands before every write (trigger, rehydrate): the API key (401, and 403 with no key
configured), the body limit (413) and the trigger rate limit (429).

(Both modes, in-process; see tests/support/api_helpers.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest

from marketbrief.web.security import MAX_BODY_BYTES
from tests.support.api_fixtures import KEY, Api
from tests.support.api_helpers import assert_error
from tests.support.clock import DAY

WRITES = [
    ("/api/v1/jobs/trigger", {"type": "pre-market", "date": DAY.isoformat()}),
    ("/api/v1/cache/rehydrate", {}),
]


@pytest.mark.parametrize(("path", "body"), WRITES)
@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        (None, 401, "unauthorized"),
        ("", 401, "unauthorized"),
        ("demo", 401, "unauthorized"),
        ("k" * 19 + "j", 401, "unauthorized"),
        ("k" * 21, 401, "unauthorized"),
        (KEY.upper(), 401, "unauthorized"),
    ],
)
async def test_lessons_19_a_write_without_the_right_key_is_401(
    api: Api, path: str, body: dict[str, Any], key: str | None, status: int, code: str
) -> None:
    assert_error(await api.post(path, body, key=key), status, code)
    assert (await api.get("/api/v1/jobs/history")).json()["count"] == 0  # nothing was started


@pytest.mark.parametrize(("path", "body"), WRITES)
@pytest.mark.parametrize("key", [None, "demo", KEY])
async def test_lessons_19_with_no_key_configured_every_write_is_refused_403(
    make_api: Callable[..., Awaitable[Api]], path: str, body: dict[str, Any], key: str | None
) -> None:
    api = await make_api(api_key=None)
    assert_error(await api.post(path, body, key=key), 403, "writes_disabled")
    assert (await api.get("/api/v1/jobs/history")).json()["count"] == 0


@pytest.mark.parametrize("path", [p for p, _ in WRITES])
async def test_a_body_over_the_limit_is_413(api: Api, path: str) -> None:
    big = orjson.dumps({"type": "pre-market", "pad": "x" * MAX_BODY_BYTES})
    declared = await api.post(path, content=big, headers={"Content-Type": "application/json"})
    assert_error(declared, 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the stream itself is counted
        for i in range(0, len(big), 1024):
            yield big[i : i + 1024]

    streamed = await api.post(path, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in streamed.request.headers
    assert_error(streamed, 413, "payload_too_large")


async def test_a_burst_of_triggers_is_rate_limited_with_429_and_retry_after(
    make_api: Callable[..., Awaitable[Api]],
) -> None:
    api = await make_api(trigger_burst=3, trigger_rate_per_second=0.01)
    # Refused callers spend no tokens: the limiter comes after the key check.
    for _ in range(5):
        assert (
            await api.post("/api/v1/jobs/trigger", {"type": "weekly"}, key="wrong" * 4)
        ).status_code == 401
    # Each authorized request spends one, even one whose body is then refused.
    for _ in range(3):
        assert (await api.post("/api/v1/jobs/trigger", {"type": "daily"})).status_code == 400

    limited = await api.post("/api/v1/jobs/trigger", {"type": "pre-market", "date": str(DAY)})

    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert (await api.get("/api/v1/jobs/history")).json()["count"] == 0
