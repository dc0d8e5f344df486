"""A static copy of a page: its saved bytes served as files, on the server `serve` ships with.

The dashboard's DOMContentLoaded is read against this copy of the same HTML (and the same
stylesheet) served by the same server stack (`python -m benchmarks.shipped
benchmarks.static_page:create_app PORT`): whatever the copy costs, the browser and the
server cost too; the rest is the dashboard's own work of making the page.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from benchmarks.ceiling import HEALTH

INDEX = "index.html"
TYPES = {".html": b"text/html; charset=utf-8", ".css": b"text/css; charset=utf-8"}


def save(directory: Path, html: bytes, assets: dict[str, bytes]) -> Path:
    """Write `html` as the index and each asset under its URL path; returns `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / INDEX).write_bytes(html)
    for url_path, body in assets.items():
        target = directory / url_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    return directory


def make_app(directory: Path) -> ASGIApp:
    """An ASGI app serving every file under `directory` ("/" is the index), read once."""
    files: dict[str, tuple[bytes, bytes]] = {"/healthz": (b"application/json", HEALTH)}
    for path in directory.rglob("*"):
        if path.is_file():
            url = "/" if path.name == INDEX else "/" + path.relative_to(directory).as_posix()
            files[url] = (TYPES.get(path.suffix, b"application/octet-stream"), path.read_bytes())
    missing = (b"text/plain", b"not found")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        found = files.get(scope["path"])
        content_type, body = found or missing
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        status = 200 if found else 404
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def create_app() -> ASGIApp:
    """The uvicorn factory: the files come from the folder named by BENCH_STATIC_DIR."""
    return make_app(Path(os.environ["BENCH_STATIC_DIR"]))
