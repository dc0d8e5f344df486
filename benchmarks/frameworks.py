"""How much a web framework's own layers cost on a pre-serialized 20 KB body (in-process).

`python -m benchmarks.frameworks` calls each ASGI app directly (no server, no sockets) and
prints requests per second of pure dispatch: the check that chose Starlette for marketbrief.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

BODY = os.urandom(10_000).hex().encode()  # 20 KB, like a report
PATH = "/api/v1/reports/pre-market"


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ceiling: a bare ASGI app."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def starlette_app() -> Any:
    """Starlette returning the bytes."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        return Response(BODY, media_type="application/json")

    return Starlette(routes=[Route("/api/v1/reports/{report_type}", endpoint)])


def fastapi_apps() -> tuple[Any, Any]:
    """FastAPI returning the bytes, and FastAPI returning a dict (its usual style)."""
    from fastapi import FastAPI
    from fastapi.responses import Response

    as_bytes, as_dict = FastAPI(), FastAPI()
    data = {"symbols": ["x" * 50 for _ in range(300)]}

    @as_bytes.get("/api/v1/reports/{report_type}")
    async def raw(report_type: str) -> Response:
        return Response(BODY, media_type="application/json")

    @as_dict.get("/api/v1/reports/{report_type}")
    async def parsed(report_type: str) -> dict[str, Any]:
        return data

    return as_bytes, as_dict


async def dispatch_rate(app: Any, count: int = 20_000) -> float:
    """Requests per second of calling `app` directly."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    for _ in range(500):
        await app(dict(scope), receive, send)
    started = time.perf_counter()
    for _ in range(count):
        await app(dict(scope), receive, send)
    return count / (time.perf_counter() - started)


async def main() -> None:
    """Print each framework's dispatch rate and its share of the bare app's."""
    as_bytes, as_dict = fastapi_apps()
    apps = [
        ("bare ASGI", bare),
        ("Starlette, bytes", starlette_app()),
        ("FastAPI, bytes", as_bytes),
        ("FastAPI, dict", as_dict),
    ]
    ceiling = None
    for name, app in apps:
        rate = await dispatch_rate(app)
        ceiling = ceiling or rate
        print(f"{name:<18} {rate:>12,.0f} req/s  {100 * rate / ceiling:6.2f} % of bare")


if __name__ == "__main__":
    asyncio.run(main())
