"""The `marketbrief` command: a thin shell that parses, calls one function and formats."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

import click
import orjson

from marketbrief import __version__
from marketbrief.calendar import parse_date, utc_now
from marketbrief.config import Settings
from marketbrief.errors import (
    ConfigError,
    InvalidInput,
    MarketbriefError,
    NotFound,
    SchemaError,
    StoreUnavailable,
)
from marketbrief.models import ReportType
from marketbrief.results import Results
from marketbrief.services import Services
from marketbrief.store.sql import SQLStore, open_store

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="marketbrief")
@click.pass_context
@exits_cleanly
def main(ctx: click.Context) -> None:
    """marketbrief: a portfolio's four daily market moments, kept in SQL, served from a cache.

    Settings come from MARKETBRIEF_* environment variables (see README.md).
    """
    ctx.obj = Settings.from_env()


def _store(ctx: click.Context) -> SQLStore:
    store = open_store(settings_from(ctx).database_url)
    ctx.call_on_close(store.close)
    return store


@main.command()
@click.pass_context
@exits_cleanly
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the schema to the newest migration (safe to run again)."""
    before, after = _store(ctx).migrate()
    if before == after:
        click.echo(f"schema already at {after}; nothing to do")
    else:
        click.echo(f"schema migrated from {before or 'empty'} to {after}")


@main.command()
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    help="Also check that every slot of the last N days has a report (completeness).",
)
@click.option("--now", "now_text", hidden=True, help="Check as if it were this ISO instant.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
@exits_cleanly
def verify(ctx: click.Context, days: int | None, now_text: str | None, as_json: bool) -> None:
    """Check the schema (and with --days, every slot's report); exit 1 listing what is wrong."""
    from marketbrief import completeness
    from marketbrief.calendar import MarketCalendar

    store = _store(ctx)
    result = store.verify()
    found = None
    if days is not None and result.ok:
        settings = settings_from(ctx)
        now = completeness.parse_instant(now_text) if now_text else utc_now()
        grace = timedelta(minutes=settings.pending_grace_minutes)
        found = completeness.check(store, MarketCalendar(settings.slots), now, days, grace)
    healthy = result.ok and (found is None or found.ok)
    if as_json:
        payload = result.as_dict()
        if found is not None:
            payload["completeness"] = found.as_dict()
        emit_json({**payload, "ok": healthy})
    elif result.ok:
        click.echo(f"ok: schema at {result.head}, every table and index present")
    else:
        click.echo("schema problems:")
        for problem in result.problems:
            click.echo(f"  - {problem}")
    if found is not None and not as_json:
        expected, gaps = len(found.slots), found.gaps
        click.echo(
            f"{'ok' if found.ok else 'incomplete'}: {expected - len(gaps)} of {expected} slot(s) "
            f"of the last {days} day(s) have a report"
        )
        for gap in gaps:
            click.echo(
                f"  - {gap.status:<8} {gap.report_type.value:<11} {gap.day} "
                f"(slot {gap.scheduled_at.isoformat()})"
                + (f" run {gap.run_id}" if gap.run_id else "")
            )
    if not healthy:
        sys.exit(1)


def _with_results(ctx: click.Context, work: Callable[[Results], Awaitable[T]]) -> T:
    """Open the results core, run one coroutine against it, close it."""

    async def run() -> T:
        results = Results.open(settings_from(ctx))
        try:
            return await work(results)
        finally:
            await results.close()

    return asyncio.run(run())


def _date_option(value: str | None) -> date | None:
    return parse_date(value) if value is not None else None


def _with_services(ctx: click.Context, work: Callable[[Services], Awaitable[T]]) -> T:
    """Open every service (no background tasks), run one coroutine, close them."""

    async def run() -> T:
        services = Services.open(settings_from(ctx))
        try:
            return await work(services)
        finally:
            await services.stop()

    return asyncio.run(run())


def _register_commands() -> None:
    """Commands live in modules by theme; they join the group here."""
    from marketbrief import cli_jobs, cli_ops, cli_reports

    for module in (cli_reports, cli_jobs, cli_ops):
        for command in module.COMMANDS:
            main.add_command(command)


_register_commands()
