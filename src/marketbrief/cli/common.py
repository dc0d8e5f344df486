"""What every command shares: settings, the exit-code table, JSON output, opening services."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from functools import wraps
from typing import Any, TypeVar, cast

import click
import orjson

from marketbrief.calendar import parse_date, utc_now
from marketbrief.config import Settings
from marketbrief.errors import (
    ConfigError,
    InvalidInput,
    MarketbriefError,
    NotFound,
    SchemaError,
    StoreError,
    StoreUnavailable,
)
from marketbrief.models import ReportType
from marketbrief.results import Results
from marketbrief.services import Services
from marketbrief.store import SQLStore

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
REPORT_TYPES = click.Choice([t.value for t in ReportType])

# The one table mapping errors to exit codes (1 stays "the answer is no": verify, report).
EXIT_CODES: tuple[tuple[type[MarketbriefError], int], ...] = (
    (ConfigError, 2),
    (InvalidInput, 2),
    (NotFound, 4),
    (SchemaError, 5),
    (StoreUnavailable, 3),
    (MarketbriefError, 1),
)


def exits_cleanly(command: F) -> F:
    """Print marketbrief errors as one line on stderr with their exit code, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MarketbriefError as error:
            code = next(code for kind, code in EXIT_CODES if isinstance(error, kind))
            click.echo(f"error: {error}", err=True)
            sys.exit(code)

    return cast(F, wrapper)


def settings_from(ctx: click.Context) -> Settings:
    """The settings read once at start-up by the group."""
    return cast(Settings, ctx.obj)


def emit_json(value: Any) -> None:
    """Print a value as indented JSON."""
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def store_backend(ctx: click.Context) -> SQLStore:
    """The configured store backend, closed when the command ends (operator tools), once the
    store usage it counted is added to the store's totals (if the store takes it)."""
    settings = settings_from(ctx)
    store = SQLStore(
        settings.database_url, d1_token=settings.d1_token, d1_api_url=settings.d1_api_url
    )

    def close() -> None:
        with contextlib.suppress(StoreError):
            store.flush_usage(utc_now())
        store.close()

    ctx.call_on_close(close)
    return store


def with_results(ctx: click.Context, work: Callable[[Results], Awaitable[T]]) -> T:
    """Open the results core, run one coroutine against it, close it."""

    async def run() -> T:
        results = Results.open(settings_from(ctx))
        try:
            return await work(results)
        finally:
            await results.close()

    return asyncio.run(run())


def date_option(value: str | None) -> date | None:
    """A --date value as a date (None when absent)."""
    return parse_date(value) if value is not None else None


def with_services(ctx: click.Context, work: Callable[[Services], Awaitable[T]]) -> T:
    """Open every service (no background tasks), run one coroutine, close them."""

    async def run() -> T:
        services = Services.open(settings_from(ctx))
        try:
            return await work(services)
        finally:
            await services.stop()

    return asyncio.run(run())
