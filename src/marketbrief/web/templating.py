"""The page templates: one Jinja environment, autoescaped, with the filters the pages use."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from marketbrief.calendar import NEW_YORK

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def new_york(value: str | None) -> str:
    """An ISO instant as New York wall time, e.g. `2026-11-24 08:30 ET`."""
    if not value:
        return "—"
    instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return instant.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M ET")


_env.filters["ny"] = new_york
_env.filters["pretty"] = lambda v: orjson.dumps(v, option=orjson.OPT_INDENT_2).decode()


def render_text(name: str, context: dict[str, Any]) -> str:
    """One template rendered to text (autoescaped)."""
    return _env.get_template(name).render(**context)


def render(
    name: str, context: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """Render one template (autoescaped: every field is text)."""
    body = _env.get_template(name).render(**context)
    return HTMLResponse(body, status_code=status, headers=headers)
