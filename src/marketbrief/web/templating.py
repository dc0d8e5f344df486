"""The page templates: one Jinja environment, autoescaped, with the filters the pages use."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from marketbrief.calendar import NEW_YORK
from marketbrief.web.shapes import fraction, number

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


def signed_percent(value: Any) -> str:
    """A change already in percent, for people: `+1.23%`, `-0.40%`, `—` when unknown."""
    found = number(value)
    return "—" if found is None else f"{found:+.2f}%"


def price(value: Any) -> str:
    """A price with two decimals and thousands separators: `1,234.50`."""
    found = number(value)
    return "—" if found is None else f"{found:,.2f}"


def share(value: Any) -> str:
    """A fraction from 0 to 1 as a whole percent: `67%`."""
    found = fraction(value)
    return "—" if found is None else f"{found * 100:.0f}%"


def decimal(value: Any, places: int = 2) -> str:
    """A number such as a confidence or a sentiment score: `0.73`, `-0.41`."""
    found = number(value)
    return "—" if found is None else f"{found:.{places}f}"


def k_of_n(value: Any) -> str:
    """A hit rate for people: `3 of 5 (60%)`; `0 of 0` says it was not measured."""
    if not isinstance(value, dict) or not isinstance(value.get("calls"), int):
        return "not measured"
    hits, calls = value.get("hits"), value["calls"]
    if calls == 0:
        return "0 of 0 (not measured)"
    return f"{hits} of {calls} ({share(hits / calls if isinstance(hits, int) else None)})"


_env.filters["ny"] = new_york
_env.filters["signed_pct"] = signed_percent
_env.filters["price"] = price
_env.filters["share"] = share
_env.filters["decimal"] = decimal
_env.filters["k_of_n"] = k_of_n
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
